/**
 * Plaintext HTTP listener: HTTP/1.1 (node:http) and h2c with prior knowledge (node:http2) on one
 * port, whose requests go to the HTTP connection manager (gateway/http/connection-manager.ts) with
 * the listener's current route table. Malformed HTTP/1 requests are answered as Envoy's HTTP/1 codec
 * does (400, or 431 for oversized headers), counted, and the connection closed.
 *
 * The data path uses node:http directly rather than fastify: a catch-all fastify route adds its
 * request/reply objects and hook chain to every request for nothing a gateway uses (measured in
 * the bench note); fastify serves the admin and health ports.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { createStreamHandler } from './http/connection-manager.js';
import { CountingIncomingMessage, HTTP1_CODEC } from './http/http1-codec.js';
import { DOWNSTREAM_IDLE_TIMEOUT_STAT, watchDownstreamIdle } from './http/downstream-idle.js';
import { createUpgradeHandler } from './http/upgrade.js';
import { HTTP2_CODEC } from './http/http2-codec.js';
import { Http2Downstream } from './http/http2-downstream.js';
import { sniffPreface } from './http/h2c-preface.js';
import type { ListenerRuntime, ProxyContext } from './http/proxy-context.js';

/** Envoy's default `max_request_headers_kb` (60 KiB). */
const MAX_REQUEST_HEADERS_BYTES = 60 * 1024;

/**
 * node:http server options shared by the plaintext listener and the TLS-terminating chains:
 * Envoy's 60 KiB header limit, no request timeout at the gateway. No `keepAliveTimeout`: the
 * downstream idle timeout (1 h) is kept by `watchDownstreamIdle` without a timer per request.
 */
export const HTTP_SERVER_OPTIONS: http.ServerOptions = {
  IncomingMessage: CountingIncomingMessage,
  maxHeaderSize: MAX_REQUEST_HEADERS_BYTES,
  requestTimeout: 0,
  keepAliveTimeout: 0,
  headersTimeout: 60_000,
};

/** A request line `<METHOD> <target> HTTP/1.0` ending in LF or CRLF, read from node's `rawPacket`. */
const HTTP10_REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\s]+ HTTP\/1\.0\r?\n/;

function isHttp10RequestLine(err: NodeJS.ErrnoException): boolean {
  const raw = (err as { rawPacket?: unknown }).rawPacket;
  return (
    Buffer.isBuffer(raw) && HTTP10_REQUEST_LINE.test(raw.toString('latin1', 0, Math.min(raw.length, 8192)))
  );
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
      // An HTTP/1.0 request that llhttp refuses only for its bare-LF line endings (Envoy's parser
      // takes them) gets the answer Envoy gives any HTTP/1.0 request: 426.
      const status = tooLarge
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : isHttp10RequestLine(err)
            ? '426 Upgrade Required'
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

/** The servers of one plaintext HTTP listener: the bound HTTP/1.1 server and its HTTP/2 sessions. */
interface HttpListenerServers {
  /** The node:http server that is bound; it also peeks each connection for the h2c preface. */
  readonly server: http.Server;
  /** HTTP/2 (h2c prior knowledge) sessions of this listener; `goAway()` drains them. */
  readonly http2: Http2Downstream;
}

/**
 * Creates (does not bind) the servers for one HTTP listener: HTTP/1.1 and h2c with prior knowledge on
 * the same port (Envoy `codec_type: AUTO`), told apart per connection by the first bytes
 * (gateway/http/h2c-preface.ts). Node's own HTTP/1 connection handling is kept and called for
 * connections that are not HTTP/2.
 */
export function createHttpServer(rt: ListenerRuntime, ctx: ProxyContext, log: Logger): HttpListenerServers {
  const handler = createStreamHandler(HTTP1_CODEC, rt, ctx, log);
  const server = http.createServer(HTTP_SERVER_OPTIONS, handler);
  server.on('upgrade', createUpgradeHandler(handler));
  const statPrefix = () => `listener.${rt.listener.name}`;
  const h2 = new Http2Downstream(createStreamHandler(HTTP2_CODEC, rt, ctx, log), ctx.stats, statPrefix, log);
  const http1Connection = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const countIdleTimeout = (): void => ctx.stats.inc(`${statPrefix()}.${DOWNSTREAM_IDLE_TIMEOUT_STAT}`);
  const onH1 = (socket: Socket) => {
    watchDownstreamIdle(socket, ctx.downstreamIdleTimeoutMs, countIdleTimeout);
    for (const l of http1Connection) l.call(server, socket);
  };
  const onH2 = (socket: Socket) => h2.accept(socket);
  server.on('connection', (socket: Socket) => {
    ctx.stats.inc(`${statPrefix()}.downstream_cx_total`);
    // Read once per connection: Node caches them, and they are gone once the socket is destroyed.
    void socket.remoteAddress;
    void socket.localAddress;
    sniffPreface(socket, onH1, onH2, HTTP_SERVER_OPTIONS.headersTimeout);
  });
  server.on('clientError', createClientErrorHandler(rt, ctx, log));
  return { server, http2: h2 };
}
