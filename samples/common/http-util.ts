/**
 * Small node:http helpers shared by the sample workloads (Bookinfo, httpbin). Kept dependency-free
 * on purpose: the samples must run with nothing but Node.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A started sample server: the port it is bound to and a way to stop it. */
export interface RunningServer {
  /** The TCP port actually bound (useful when started with port 0). */
  readonly port: number;
  /** Stops accepting, drops open connections (keep-alive and in-flight) and resolves once closed. */
  close(): Promise<void>;
}

/** Default cap on request bodies read by the samples, in bytes. */
const MAX_BODY_BYTES = 1024 * 1024;

/** Sends `value` as a JSON body with `status` and any `extraHeaders`. */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  value: unknown,
  extraHeaders: http.OutgoingHttpHeaders = {},
): void {
  const body = `${JSON.stringify(value, null, 2)}\n`;
  res.writeHead(status, {
    ...extraHeaders,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Sends a plain-text body. */
export function sendText(
  res: http.ServerResponse,
  status: number,
  text: string,
  extraHeaders: http.OutgoingHttpHeaders = {},
): void {
  res.writeHead(status, {
    ...extraHeaders,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Reads the whole request body (up to `limit` bytes).
 * @throws Error when the body exceeds `limit` or the request is aborted.
 */
export function readBody(req: http.IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error(`request body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('request aborted')));
  });
}

/**
 * Binds `server` on `host:port` (port 0 = any free port) and wraps it as a {@link RunningServer}.
 * `onClose` runs before the server stops (e.g. to cancel timers).
 * @throws Error from `listen` (EADDRINUSE, EACCES...).
 */
export async function listen(
  server: http.Server,
  port: number,
  host: string,
  onClose?: () => void,
): Promise<RunningServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port: bound,
    close() {
      // Idempotent: tests and signal handlers may both ask.
      closing ??= new Promise<void>((resolve) => {
        onClose?.();
        server.close(() => resolve());
        // Keep-alive and hung requests would otherwise hold close() open forever.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Parses an integer `--port` value; 0 means "any free port". @throws Error when out of range. */
export function parsePort(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid port "${text}" (0-65535)`);
  return n;
}
