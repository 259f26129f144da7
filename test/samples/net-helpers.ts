/**
 * Helpers for the sample tests: a plain HTTP client (no redirects, no pooling), recording stub
 * servers and a port that is known to refuse connections.
 */
import http from 'node:http';
import net from 'node:net';

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP request to 127.0.0.1:`port`; resolves with the whole response. */
export function request(
  port: number,
  path: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface Seen {
  readonly requestLine: string;
  readonly headers: http.IncomingHttpHeaders;
}

export interface Stub {
  readonly port: number;
  readonly seen: Seen[];
  close(): Promise<void>;
}

/**
 * An HTTP server that records `METHOD url` and headers of every request, then lets `answer` reply.
 * `answer` returning without ending the response leaves the request hanging (for timeout tests).
 */
export async function startStub(
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end(),
): Promise<Stub> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ requestLine: `${req.method} ${req.url}`, headers: req.headers });
    answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Writes `value` as JSON with status 200. */
export function json(res: http.ServerResponse, value: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** A local port nothing listens on (bound once, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
