/**
 * The HTTP yardstick: the best a minimal Node.js reverse proxy does on one core.
 *
 * A node:http server forwards every request (method, path, headers minus hop-by-hop, body streamed) to
 * one upstream through a single undici `Pool`, and streams the response back. No routing, no logging,
 * no header rewriting: whatever meshgate costs above this is the price of its features.
 *
 * Usage: `node dist/bench/minimal-proxy.js --upstream 127.0.0.1:PORT [--port 0] [--connections 128]`.
 * Prints `{"port":N}` on stdout once listening.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { exitWithParent, printPort } from './child-io.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1 plus the legacy ones): they describe one connection, not the message. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Result of filtering a request's raw headers. */
interface ForwardedRequestHeaders {
  /** Flat `[name, value, name, value, …]` list, hop-by-hop headers removed. */
  headers: string[];
  /** Whether the request announces a body (non-zero content-length or any transfer-encoding). */
  hasBody: boolean;
}

/**
 * Filters a flat raw header list (as node:http's `req.rawHeaders`) for forwarding.
 * Reads `rawHeaders` rather than `req.headers`, which node builds lazily: that object is never needed here.
 * @param raw - flat `[name, value, …]` list with the client's original casing.
 */
export function forwardRequestHeaders(raw: readonly string[]): ForwardedRequestHeaders {
  const headers: string[] = [];
  let hasBody = false;
  let connectionTokens: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'transfer-encoding') hasBody = true;
      else if (lower === 'connection') connectionTokens = extraConnectionTokens(value, connectionTokens);
      continue;
    }
    if (lower === 'content-length' && value !== '0') hasBody = true;
    headers.push(name, value);
  }
  // Rare: `Connection: foo` makes `foo` hop-by-hop too; only then pay for a second pass.
  return { headers: connectionTokens === null ? headers : dropNamed(headers, connectionTokens), hasBody };
}

/** Tokens of a Connection header other than keep-alive/close, appended to `acc`; null when there are none. */
function extraConnectionTokens(value: string, acc: string[] | null): string[] | null {
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t === '' || t === 'keep-alive' || t === 'close') continue;
    (acc ??= []).push(t);
  }
  return acc;
}

function dropNamed(headers: string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!names.includes(headers[i]!.toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
  }
  return out;
}

function uncork(res: http.ServerResponse): void {
  res.uncork();
}

/**
 * Streams one upstream response into a node:http response.
 *
 * Uses undici's legacy handler callbacks (`onConnect/onHeaders/onData/onComplete/onError`) on purpose:
 * they are what undici 7 calls internally, whereas the new controller API is adapted through a wrapper
 * that also parses the raw headers into an object on every response; we only need the raw list.
 */
class ProxyHandler implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private readonly res: http.ServerResponse;

  constructor(res: http.ServerResponse) {
    this.res = res;
    // The client may go away mid-response: stop the upstream exchange too.
    res.once('close', this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    if (!this.res.writableFinished) this.abortUpstream?.(new Error('client closed the connection'));
  };

  private readonly onDrain = (): void => {
    this.resumeUpstream?.();
  };

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx interim responses are not forwarded; wait for the final one.
    if (statusCode < 200) return true;
    this.resumeUpstream = resume;
    const headers: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1');
      if (HOP_BY_HOP.has(name.toLowerCase())) continue;
      headers.push(name, rawHeaders[i + 1]!.toString('latin1'));
    }
    const res = this.res;
    // undici parses headers, body and end of a small response in one go: cork so that status line,
    // headers and body leave in one write, and uncork on the next tick so streaming bodies aren't held.
    res.cork();
    process.nextTick(uncork, res);
    res.writeHead(statusCode, statusText, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    // Backpressure: undici pauses the upstream socket until we call resume.
    this.res.once('drain', this.onDrain);
    return false;
  }

  onComplete(): void {
    this.res.end();
  }

  onError(err: Error): void {
    const res = this.res;
    if (res.destroyed) return;
    if (res.headersSent) {
      res.destroy(err);
      return;
    }
    res.writeHead(502, ['content-type', 'text/plain']);
    res.end('bad gateway\n');
  }
}

/**
 * Starts the minimal proxy.
 * @param upstream - origin URL of the upstream, e.g. `http://127.0.0.1:8080`.
 * @param port - port to listen on (0 picks a free one), on 127.0.0.1.
 * @param connections - maximum pooled keep-alive connections to the upstream.
 */
export async function startMinimalProxy(
  upstream: string,
  port: number,
  connections = 128,
): Promise<http.Server> {
  const pool = new Pool(upstream, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const server = http.createServer((req, res) => {
    const { headers, hasBody } = forwardRequestHeaders(req.rawHeaders);
    pool.dispatch(
      {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers,
        // Streaming the request as-is: undici reads it with backpressure. No body → no stream overhead.
        body: hasBody ? req : null,
      },
      new ProxyHandler(res),
    );
  });
  server.keepAliveTimeout = 65_000;
  server.once('close', () => void pool.close());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', backlog: 4096 }, resolve);
  });
  return server;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      upstream: { type: 'string' },
      port: { type: 'string', default: '0' },
      connections: { type: 'string', default: '128' },
    },
  });
  if (values.upstream === undefined) throw new Error('--upstream HOST:PORT is required');
  const origin = values.upstream.includes('://') ? values.upstream : `http://${values.upstream}`;
  const server = await startMinimalProxy(origin, Number(values.port), Number(values.connections));
  printPort(server);
  exitWithParent(() => server.close());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
