/**
 * Plaintext HTTP listener: a node:http server whose request handler runs the router filter against
 * the listener's current route table. Malformed requests are answered as Envoy's HTTP/1 codec does
 * (400, or 431 for oversized headers), counted, and the connection closed.
 *
 * The data path uses node:http directly rather than fastify: a catch-all fastify route adds its
 * request/reply objects and hook chain to every request for nothing a gateway uses (measured in
 * the bench note); fastify serves the admin and health ports.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { HttpStream, type ListenerRuntime, type ProxyContext } from './http-stream.js';

/** Envoy's default `max_request_headers_kb` (60 KiB). */
export const MAX_REQUEST_HEADERS_BYTES = 60 * 1024;

/**
 * node:http server options shared by the plaintext listener and the TLS-terminating chains:
 * Envoy's 60 KiB header limit, no request timeout at the gateway, downstream idle timeout 1 h.
 */
export const HTTP_SERVER_OPTIONS: http.ServerOptions = {
  maxHeaderSize: MAX_REQUEST_HEADERS_BYTES,
  requestTimeout: 0,
  keepAliveTimeout: 3_600_000,
  headersTimeout: 60_000,
};

/**
 * The request handler of a listener (plaintext or TLS-terminated): one `HttpStream` per request; a
 * bug costs that request a 500 (or a reset once the response started), never the process.
 */
export function createRequestHandler(
  rt: ListenerRuntime,
  ctx: ProxyContext,
  log: Logger,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    // ---- drain hook: during shutdown every response closes its connection (gateway/connection-drain.ts).
    ctx.drain?.onResponse(res);
    try {
      new HttpStream(req, res, rt, ctx).run();
    } catch (err) {
      // A bug must cost one request, never the process.
      ctx.stats.inc(`listener.${rt.listener.name}.downstream_rq_internal_error`);
      log.error({ err, url: req.url }, 'request handler failed');
      if (!res.headersSent) {
        res.writeHead(500, { server: 'istio-envoy', 'content-length': 0 });
        res.end();
      } else {
        res.destroy();
      }
    }
  };
}

/**
 * The `clientError` handler: malformed requests are answered as Envoy's HTTP/1 codec does (400, or
 * 431 for oversized headers), counted once per connection, and the connection closed.
 */
export function createClientErrorHandler(
  rt: ListenerRuntime,
  ctx: ProxyContext,
  log: Logger,
): (err: NodeJS.ErrnoException, socket: Socket) => void {
  const statPrefix = () => `listener.${rt.listener.name}`;
  const answered = new WeakSet<Socket>();
  return (err, socket) => {
    // Node may report several parse errors for one connection; count and answer it once.
    if (answered.has(socket)) return void socket.destroy();
    answered.add(socket);
    if (err.code === 'ECONNRESET') {
      // The client reset its connection (e.g. a load generator stopping mid-request): nothing was
      // malformed and nobody is left to answer.
      ctx.stats.inc(`${statPrefix()}.downstream_cx_destroy_remote`);
      log.debug({ remote: socket.remoteAddress, listener: rt.listener.name }, 'client reset the connection');
      return void socket.destroy();
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    ctx.stats.inc(
      `${statPrefix()}.${tooLarge ? 'downstream_rq_header_overflow' : 'downstream_cx_protocol_error'}`,
    );
    log.warn(
      { code: err.code, remote: socket.remoteAddress, listener: rt.listener.name },
      'malformed HTTP request',
    );
    if (socket.writable) {
      // The request headers timeout (node's `headersTimeout`) is Envoy's `request_headers_timeout`: 408.
      const status = tooLarge
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
      const body = status.slice(4);
      socket.end(
        `HTTP/1.1 ${status}\r\n` +
          `server: istio-envoy\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
    } else {
      socket.destroy();
    }
  };
}

/** Creates (does not bind) the server for one HTTP listener. */
export function createHttpServer(rt: ListenerRuntime, ctx: ProxyContext, log: Logger): http.Server {
  const server = http.createServer(HTTP_SERVER_OPTIONS, createRequestHandler(rt, ctx, log));
  server.on('connection', (socket: Socket) => {
    ctx.stats.inc(`listener.${rt.listener.name}.downstream_cx_total`);
    // Read once per connection: Node caches them, and they are gone once the socket is destroyed.
    void socket.remoteAddress;
    void socket.localAddress;
  });
  server.on('clientError', createClientErrorHandler(rt, ctx, log));
  return server;
}
