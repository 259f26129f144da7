/**
 * Benchmark upstream: the cheapest useful origin, so the proxy under test is what gets measured.
 *
 * Modes:
 * - `--mode http` (default): a keep-alive node:http server answering every request with the same
 *   50-byte `text/plain` body.
 * - `--mode echo`: a TCP echo server (half-close aware), used by the short-connection TCP bench.
 * - `--mode grpc`: an h2c server answering every gRPC unary call with one 50-byte message and
 *   `grpc-status: 0` trailers (raw node:http2: the gRPC framing, not a gRPC library, is measured).
 * - `--mode ws`: a WebSocket (`ws`) echo server.
 *
 * Usage: `node dist/bench/upstream.js [--mode http|echo|grpc|ws] [--port 0] [--host 127.0.0.1]`.
 * Once listening it prints one JSON line `{"port":N}` on stdout so a runner can read the bound port.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { WebSocketServer } from 'ws';
import { parseArgs } from 'node:util';
import { UPSTREAM_BODY, exitWithParent, printPort } from './child-io.js';

/**
 * Starts the HTTP upstream.
 * @param port - TCP port to bind; 0 picks a free one.
 * @param host - address to bind (loopback by default).
 * @returns the listening server.
 */
export async function startHttpUpstream(port: number, host = '127.0.0.1'): Promise<http.Server> {
  // Precomputed flat header list: writeHead with an array skips object key iteration.
  const headers = ['content-type', 'text/plain', 'content-length', String(UPSTREAM_BODY.length)];
  const server = http.createServer((req, res) => {
    // Drain any request body so the keep-alive connection stays reusable.
    req.resume();
    res.writeHead(200, headers);
    res.end(UPSTREAM_BODY);
  });
  // Proxies keep pooled connections idle between bursts; don't let node close them after 5 s.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await listen(server, port, host);
  return server;
}

/**
 * Starts the TCP echo upstream: every byte read is written back; the peer's FIN is answered with a FIN
 * once everything has been echoed.
 * @param port - TCP port to bind; 0 picks a free one.
 * @param host - address to bind.
 */
export async function startEchoUpstream(port: number, host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    // pipe() ends the writable side after the readable side ended: a clean half-close echo.
    socket.pipe(socket);
  });
  await listen(server, port, host);
  return server;
}

/** One gRPC message frame: flag 0 (uncompressed), 4-byte big-endian length, the bench body. */
export const GRPC_BODY_FRAME = Buffer.concat([
  Buffer.from([0, 0, 0, 0, UPSTREAM_BODY.length]),
  UPSTREAM_BODY,
]);

/**
 * Starts the gRPC (h2c) upstream: every stream is answered 200 `application/grpc`, one message, then
 * `grpc-status: 0` trailers, once the request body ended.
 * @param port - TCP port to bind; 0 picks a free one.
 */
export async function startGrpcUpstream(port: number, host = '127.0.0.1'): Promise<net.Server> {
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  // gRPC servers turn Nagle off (grpc-go, netty); node:http2 leaves it on. With it on, the small
  // HEADERS, DATA and trailer writes of streams sharing a connection wait for ACKs.
  server.on('connection', (socket: net.Socket) => socket.setNoDelay(true));
  server.on('stream', (stream) => {
    stream.on('error', () => stream.destroy());
    stream.resume();
    stream.once('end', () => {
      // A proxy may reset the stream after sending its request (client gone).
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(GRPC_BODY_FRAME);
    });
  });
  await listen(server, port, host);
  return server;
}

/** Starts the WebSocket echo upstream (every message sent back as received). */
export async function startWsUpstream(port: number, host = '127.0.0.1'): Promise<net.Server> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('error', () => ws.terminate());
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await listen(server, port, host);
  return server;
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A deep backlog: the short-connection bench opens thousands of connections per second.
    server.listen({ port, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'http' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  const port = Number(values.port);
  let server: net.Server;
  if (values.mode === 'http') server = await startHttpUpstream(port, values.host);
  else if (values.mode === 'echo') server = await startEchoUpstream(port, values.host);
  else if (values.mode === 'grpc') server = await startGrpcUpstream(port, values.host);
  else if (values.mode === 'ws') server = await startWsUpstream(port, values.host);
  else throw new Error(`unknown --mode ${values.mode} (expected http, echo, grpc or ws)`);
  printPort(server);
  exitWithParent(() => server.close());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
