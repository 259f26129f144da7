/**
 * The connection pool of one HTTP/1.1 upstream endpoint, on node:net / node:tls with our own
 * response parser (http1-response-parser.ts). It takes requests through undici's
 * `Dispatcher.dispatch(opts, handler)` contract with the original handler callbacks
 * (upstream-handler.ts), as the HTTP/2 pool does, so the router and mirrors drive both alike.
 *
 * - One request at a time per connection (no pipelining, as Envoy's HTTP/1 pool). A request takes
 *   the most recently freed idle connection, else waits (FIFO) while a new one connects; a
 *   connection that comes up or frees serves the oldest waiting request. The circuit breaker
 *   (circuit-breaker.ts) bounds connections and pending requests before a request gets here.
 * - A connection is reused after a complete response unless the response said `connection:
 *   close`, was HTTP/1.0 without keep-alive, ran until the close, left unexpected bytes, ended
 *   before the request body was sent, or `maxRequestsPerConnection` was reached.
 * - Upstream `100 Continue` heads are dropped (Envoy's `proxy_100_continue` off, Istio's default);
 *   other 1xx go to the handler; a `101` the request did not ask for fails it as a bad upgrade.
 * - Errors: a connect failure keeps node's code (ECONNREFUSED …) or is undici's
 *   `ConnectTimeoutError`; a connection closed or reset mid-exchange is undici's `SocketError`; a
 *   malformed head has an `HPE_*` code — the router's UF, UC and UPE.
 * - An idle connection closes after `idleTimeoutMs` (`connectionPool.http.idleTimeout`), or one
 *   second before the upstream's own `Keep-Alive: timeout=N` runs out, so a request is never sent
 *   on a connection the upstream is closing (what undici's keep-alive threshold does).
 * - TLS (DR `tls`): the SNI is the DR `sni`, else the request's Host (Envoy's auto-SNI); an idle
 *   connection serves only requests with its SNI. ALPN offers `http/1.1`.
 */
import net, { type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { errors, type Dispatcher } from 'undici';
import { Http1ResponseParser, type Http1ResponseSink } from './http1-response-parser.js';
import type { OriginationTls } from './tls-origination.js';
import type { UpstreamHandler } from './upstream-handler.js';

/** Settings of one {@link H1Pool}. */
export interface H1PoolOptions {
  /** Endpoint address (IP or DNS name) and port. */
  readonly host: string;
  readonly port: number;
  /** TCP (and TLS handshake) connect timeout, ms (`connectionPool.tcp.connectTimeout`). */
  readonly connectTimeoutMs: number;
  /** An idle connection is closed after this long, ms; 0 = never (`connectionPool.http.idleTimeout`). */
  readonly idleTimeoutMs: number;
  /** Requests per connection over its lifetime; 0 = unlimited (`http.maxRequestsPerConnection`). */
  readonly maxRequestsPerConnection: number;
  /** Name resolution for DNS-named endpoints; undefined = Node's default. */
  readonly lookup?: LookupFunction;
  /** DR `tls` SIMPLE/MUTUAL: connections are TLS. */
  readonly tls?: OriginationTls;
}

/** Counters the gateway reads (circuit breaker, stats, config dump), as undici's Pool names them. */
export interface H1PoolStats {
  /** Connections up. */
  readonly connected: number;
  /** Connections up and idle. */
  readonly free: number;
  /** Requests waiting for a connection. */
  readonly pending: number;
  /** Requests on a connection. */
  readonly running: number;
}

/** Methods whose bodiless request still says `content-length: 0` (as undici and curl send them). */
const EXPECTS_BODY = new Set(['POST', 'PUT', 'PATCH']);
/** What a request target may not contain (it would end or split the request line). */
const BAD_TARGET = /[\x00-\x20\x7f]/;
/** Closing this much before the upstream's advertised keep-alive timeout avoids the close race, ms. */
const KEEP_ALIVE_MARGIN_MS = 1000;

/** One request handed to the pool. */
class H1Request {
  /** The response ended or failed, or the request was aborted: no more callbacks. */
  done = false;
  /** The request (head and body) has been written whole. */
  sent = false;
  conn: H1Connection | undefined = undefined;
  /** Chunked request framing (a streamed body without content-length). */
  chunked = false;
  /** Stops sending a streamed body (set while one is being sent). */
  stopBody: (() => void) | undefined = undefined;
  /** The request line and header section, built at dispatch. */
  head = '';

  constructor(
    readonly opts: Dispatcher.DispatchOptions,
    readonly handler: UpstreamHandler,
    readonly servername: string,
  ) {}

  readonly abort = (err?: Error): void => {
    if (this.done) return;
    const conn = this.conn;
    if (conn !== undefined) conn.fail(this, err ?? new errors.RequestAbortedError());
    else {
      this.done = true;
      this.handler.onError(err ?? new errors.RequestAbortedError());
    }
  };

  readonly resume = (): void => {
    if (!this.done) this.conn?.resumeResponse();
  };
}

/** One connection to the endpoint. */
class H1Connection implements Http1ResponseSink {
  readonly socket: net.Socket;
  readonly parser: Http1ResponseParser;
  connected = false;
  /** Requests this connection carried (`maxRequestsPerConnection`). */
  served = 0;
  req: H1Request | undefined = undefined;
  /** Must not carry another request (unexpected bytes, a closed side, pool closing). */
  spent = false;
  closed = false;
  /** Why the connection failed (socket error, connect timeout). */
  error: Error | undefined = undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  /** This connection's idle timeout, ms (0: none); shortened by the upstream's `Keep-Alive` hint. */
  idleMs: number;
  /** When an idle connection is closed (performance.now() ms); Infinity while it is busy. */
  idleDeadline = Infinity;
  /** Whether the handler paused the response (onHeaders or onData returned false). */
  paused = false;
  /** Inside the parser: a response that ends there frees the connection only after the read. */
  private reading = false;

  constructor(
    readonly pool: H1Pool,
    readonly servername: string,
  ) {
    const o = pool.opts;
    this.idleMs = o.idleTimeoutMs;
    if (o.tls === undefined) {
      this.socket = net.connect({ host: o.host, port: o.port, lookup: o.lookup, noDelay: true });
      this.socket.once('connect', this.onConnected);
    } else {
      this.socket = tls.connect({
        ...o.tls.connect,
        host: o.host,
        port: o.port,
        lookup: o.lookup,
        servername: servername === '' ? undefined : servername,
        ALPNProtocols: ['http/1.1'],
      });
      this.socket.setNoDelay(true);
      this.socket.once('secureConnect', this.onConnected);
    }
    this.parser = new Http1ResponseParser(this);
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
    if (o.connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => {
        this.connectTimer = undefined;
        this.error ??= new errors.ConnectTimeoutError(
          `connect to ${o.host}:${o.port} timed out after ${o.connectTimeoutMs} ms`,
        );
        this.socket.destroy();
      }, o.connectTimeoutMs);
    }
  }

  private readonly onConnected = (): void => {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.connected = true;
    this.pool.connectedOne(this);
  };

  /** Writes `req` on this (connected, idle) connection. */
  start(req: H1Request): void {
    this.req = req;
    req.conn = this;
    this.served++;
    const { opts, handler, head } = req;
    this.parser.expect(opts.method === 'HEAD');
    handler.onConnect(req.abort);
    if (req.done) return;
    const body = opts.body;
    const socket = this.socket;
    if (body == null) {
      socket.write(head, 'latin1');
      req.sent = true;
      return;
    }
    if (typeof body === 'string' || body instanceof Uint8Array) {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
      req.sent = true;
      return;
    }
    socket.write(head, 'latin1');
    this.pipeBody(req, body as Readable);
  }

  /** @internal */
  resumeResponse(): void {
    this.paused = false;
    if (this.socket.isPaused()) this.socket.resume();
  }

  /**
   * The request line and header section; adds `host`, and `content-length` or chunked framing.
   * @throws RequestContentLengthMismatchError when a whole body disagrees with its content-length.
   */
  static requestHead(req: H1Request, authority: string): string {
    const opts = req.opts;
    if (BAD_TARGET.test(opts.path)) throw new errors.InvalidArgumentError('invalid request path');
    let head = `${opts.method} ${opts.path} HTTP/1.1\r\n`;
    let host = false;
    let length = -1;
    let h = opts.headers;
    if (h != null && !Array.isArray(h)) h = flatHeaders(h as Record<string, unknown>);
    const list = (h ?? []) as readonly unknown[];
    for (let i = 0; i + 1 < list.length; i += 2) {
      const name = String(list[i]);
      const value = String(list[i + 1]);
      // Names the pool must know about, found by length before any lower-casing.
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === 'host') host = true;
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') length = Number(value);
          break;
        case 17:
          // The pool frames the body itself.
          if (name.toLowerCase() === 'transfer-encoding') continue;
          break;
        default:
      }
      head += `${name}: ${value}\r\n`;
    }
    if (!host) head += `host: ${authority}\r\n`;
    const body = opts.body;
    if (body == null) {
      if (length < 0 && EXPECTS_BODY.has(opts.method)) head += 'content-length: 0\r\n';
    } else if (typeof body === 'string' || body instanceof Uint8Array) {
      const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      if (length < 0) head += `content-length: ${size}\r\n`;
      else if (length !== size) throw new errors.RequestContentLengthMismatchError();
    } else if (length < 0) {
      req.chunked = true;
      head += 'transfer-encoding: chunked\r\n';
    }
    return `${head}\r\n`;
  }

  /** Streams a request body with backpressure, chunk-framed when its length is unknown. */
  private pipeBody(req: H1Request, source: Readable): void {
    const socket = this.socket;
    const onData = (chunk: Buffer | string): void => {
      if (req.done || req.conn !== this) return;
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      if (size === 0) return;
      let ok: boolean;
      if (req.chunked) {
        socket.cork();
        socket.write(`${size.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else ok = socket.write(chunk);
      if (!ok) {
        source.pause();
        socket.once('drain', onDrain);
      }
    };
    const onDrain = (): void => {
      if (!req.done) source.resume();
    };
    const onEnd = (): void => {
      cleanup();
      if (req.done || req.conn !== this) return;
      if (req.chunked) socket.write('0\r\n\r\n', 'latin1');
      req.sent = true;
    };
    const onError = (err: Error): void => {
      cleanup();
      if (!req.done) this.fail(req, err);
    };
    const cleanup = (): void => {
      req.stopBody = undefined;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      socket.off('drain', onDrain);
    };
    req.stopBody = cleanup;
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onError);
    if (source.isPaused()) source.resume();
  }

  readonly onData = (buf: Buffer): void => {
    const req = this.req;
    if (req === undefined || !this.parser.busy) {
      // Bytes nobody asked for: the connection can no longer be trusted.
      this.spent = true;
      this.socket.destroy();
      return;
    }
    let used: number;
    this.reading = true;
    try {
      used = this.parser.execute(buf);
    } catch (err) {
      return this.fail(req, err as Error);
    } finally {
      this.reading = false;
    }
    if (used < buf.length) {
      if (this.paused && this.parser.busy) {
        // Paused inside the read: the rest goes back to the socket (ahead of any EOF), read on resume.
        this.socket.pause();
        this.socket.unshift(buf.subarray(used));
        return;
      }
      // Data after the response (or after a 101 not asked for).
      this.spent = true;
      if (this.req !== undefined) return this.fail(this.req, new errors.SocketError('bad upgrade'));
      this.socket.destroy();
      return;
    }
    if (this.req === undefined) this.reuse();
    else if (this.paused) this.socket.pause();
  };

  onResponseHead(status: number, reason: string, raw: string[]): void {
    const req = this.req!;
    if (status === 100) return;
    if (status === 101) return this.fail(req, new errors.SocketError('bad upgrade'));
    const hint = this.parser.keepAliveHintS;
    if (hint > 0) {
      const ms = Math.max(hint * 1000 - KEEP_ALIVE_MARGIN_MS, 0);
      const base = this.pool.opts.idleTimeoutMs;
      const idle = base > 0 ? Math.min(base, ms) : ms;
      if (idle === 0) this.spent = true;
      else this.idleMs = idle;
    }
    this.paused = req.handler.onHeaders(status, raw as unknown as Buffer[], req.resume, reason) === false;
  }

  onResponseBody(chunk: Buffer): void {
    const req = this.req!;
    if (req.done) return;
    if (req.handler.onData(chunk) === false) this.paused = true;
  }

  onResponseEnd(trailers: string[] | null): void {
    const req = this.req!;
    this.paused = false;
    if (!this.parser.keepAlive) this.spent = true;
    if (!req.sent) {
      // Answered before the body was sent (e.g. a 413): Envoy stops the request and the
      // connection cannot carry another.
      this.spent = true;
      req.stopBody?.();
    }
    req.done = true;
    this.release(req);
    req.handler.onComplete(trailers);
  }

  /** The response to `req` is complete: take the next request or go idle. */
  release(req: H1Request): void {
    if (this.req !== req) return;
    this.detach(req);
    // While reading, bytes after the response may follow in the same read: onData decides.
    if (!this.reading) this.reuse();
  }

  /** Free: serves the next request, or idles, or closes when it may not carry another. */
  private reuse(): void {
    if (this.socket.isPaused()) this.socket.resume();
    const max = this.pool.opts.maxRequestsPerConnection;
    if (this.spent || (max > 0 && this.served >= max) || this.closed) {
      this.spent = true;
      this.socket.destroy();
      return;
    }
    this.pool.idleOne(this);
  }

  /**
   * Fails `req` and, when the exchange is on the wire, the connection with it (HTTP/1.1 has no way
   * to cancel one request).
   */
  fail(req: H1Request, err: Error): void {
    if (req.done) return;
    req.done = true;
    req.stopBody?.();
    if (this.req === req) {
      this.detach(req);
      this.spent = true;
      this.socket.destroy();
    }
    req.handler.onError(err);
  }

  private detach(req: H1Request): void {
    this.req = undefined;
    req.conn = undefined;
    this.paused = false;
    this.pool.running--;
  }

  private readonly onEnd = (): void => {
    // The upstream closed its side: a response read until the close is complete now.
    this.spent = true;
    const req = this.req;
    if (req !== undefined && this.parser.eof()) return;
    if (req !== undefined) this.fail(req, new errors.SocketError('other side closed'));
  };

  private readonly onError = (err: Error): void => {
    this.error ??= err;
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.spent = true;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    const req = this.req;
    if (req !== undefined) {
      const err = this.error;
      // After the connection was up, any failure is a reset (UC); before, the connect error (UF).
      this.fail(
        req,
        err !== undefined && !this.connected
          ? err
          : new errors.SocketError(`upstream connection closed${err ? `: ${err.message}` : ''}`),
      );
    }
    this.pool.closedOne(this);
  };
}

/** An HTTP/1.1 endpoint pool (see the module comment). */
export class H1Pool {
  /** `host[:port]` for requests without a Host header. */
  readonly authority: string;
  /** @internal Requests on a connection. */
  running = 0;
  private readonly idle: H1Connection[] = [];
  private readonly all = new Set<H1Connection>();
  private readonly pending: H1Request[] = [];
  private connecting = 0;
  private connectedCount = 0;
  private closing = false;
  private readonly closeWaiters: (() => void)[] = [];
  /** Closes idle connections whose idle timeout ran out; armed while any is idle. */
  private sweepTimer: NodeJS.Timeout | undefined;
  /** When {@link sweepTimer} fires (performance.now() ms). */
  private sweepAt = Infinity;

  constructor(readonly opts: H1PoolOptions) {
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    const defaultPort = opts.tls ? 443 : 80;
    this.authority = opts.port === defaultPort ? host : `${host}:${opts.port}`;
  }

  get stats(): H1PoolStats {
    return {
      connected: this.connectedCount,
      free: this.idle.length,
      pending: this.pending.length,
      running: this.running,
    };
  }

  /**
   * Sends a request (undici's `Dispatcher.dispatch` contract). `opts.headers` is a flat
   * `[name, value, …]` list (or an object); `opts.body` null, a Buffer/string or a Readable.
   * A head that cannot be sent (a whole body disagreeing with its content-length) fails the
   * request through `handler.onError`.
   * @returns true (the pool never asks the caller to wait for a drain).
   */
  dispatch(opts: Dispatcher.DispatchOptions, handler: UpstreamHandler): boolean {
    const req = new H1Request(opts, handler, this.servernameOf(opts));
    if (this.closing) {
      req.done = true;
      handler.onError(new errors.ClientClosedError());
      return true;
    }
    try {
      req.head = H1Connection.requestHead(req, this.authority);
    } catch (err) {
      req.done = true;
      handler.onError(err as Error);
      return true;
    }
    const conn = this.takeIdle(req.servername);
    if (conn !== undefined) this.run(conn, req);
    else {
      this.pending.push(req);
      if (this.connecting < this.pending.length) this.open(req.servername);
    }
    return true;
  }

  /** SNI of a request's connection: DR `sni`, else the Host header's name (not an IP), else ''. */
  private servernameOf(opts: Dispatcher.DispatchOptions): string {
    const t = this.opts.tls;
    if (t === undefined) return '';
    if (t.sni) return t.sni;
    const host = hostHeaderOf(opts.headers) ?? this.opts.host;
    const name = host.startsWith('[') ? '' : host.replace(/:\d+$/, '');
    return net.isIP(name) === 0 ? name : '';
  }

  private takeIdle(servername: string): H1Connection | undefined {
    const idle = this.idle;
    const last = idle.length - 1;
    let conn: H1Connection | undefined;
    // The common case: no TLS (one SNI), the most recently freed connection.
    if (last >= 0 && idle[last]!.servername === servername) conn = idle.pop();
    else {
      for (let i = last - 1; i >= 0; i--) {
        if (idle[i]!.servername === servername) {
          conn = idle.splice(i, 1)[0];
          break;
        }
      }
    }
    if (conn !== undefined) conn.idleDeadline = Infinity;
    return conn;
  }

  /**
   * Envoy's idle timeout counts only while a connection carries no request. One timer per pool,
   * not a socket timeout: a socket timeout is re-armed on every read and write of every request.
   */
  private goIdle(conn: H1Connection): void {
    this.idle.push(conn);
    if (conn.idleMs <= 0) return;
    const deadline = performance.now() + conn.idleMs;
    conn.idleDeadline = deadline;
    if (deadline < this.sweepAt) this.armSweep(deadline);
  }

  private armSweep(at: number): void {
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = setTimeout(this.sweep, Math.max(0, at - performance.now()) + 1);
    // Idle connections alone do not hold the process up.
    this.sweepTimer.unref();
  }

  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const c of [...this.idle]) {
      if (c.idleDeadline <= now) c.socket.destroy();
      else if (c.idleDeadline < next) next = c.idleDeadline;
    }
    if (next !== Infinity) this.armSweep(next);
  };

  private run(conn: H1Connection, req: H1Request): void {
    this.running++;
    conn.start(req);
  }

  private open(servername: string): void {
    this.connecting++;
    this.all.add(new H1Connection(this, servername));
  }

  /** The oldest waiting request with this SNI, removed from the queue (aborted ones dropped). */
  private nextPending(servername: string): H1Request | undefined {
    const q = this.pending;
    for (let i = 0; i < q.length; i++) {
      const r = q[i]!;
      if (r.done) {
        q.splice(i--, 1);
        continue;
      }
      if (r.servername === servername) {
        q.splice(i, 1);
        return r;
      }
    }
    return undefined;
  }

  private dropAborted(): void {
    const q = this.pending;
    for (let i = q.length - 1; i >= 0; i--) if (q[i]!.done) q.splice(i, 1);
  }

  /** @internal A new connection is up. */
  connectedOne(conn: H1Connection): void {
    this.connecting--;
    this.connectedCount++;
    this.idleOne(conn);
  }

  /** @internal A connection is free: it serves the oldest waiting request with its SNI, or idles. */
  idleOne(conn: H1Connection): void {
    if (this.closing) return void conn.socket.destroy();
    const req = this.nextPending(conn.servername);
    if (req !== undefined) this.run(conn, req);
    else this.goIdle(conn);
  }

  /** @internal A connection closed. */
  closedOne(conn: H1Connection): void {
    this.all.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    if (conn.connected) this.connectedCount--;
    else {
      this.connecting--;
      // It never came up: the oldest waiting request with its SNI fails with the connect error.
      const req = this.nextPending(conn.servername);
      if (req !== undefined) {
        req.done = true;
        req.handler.onError(
          conn.error ?? new errors.SocketError('upstream connection closed before it connected'),
        );
      }
    }
    // Requests still waiting need connections of their own.
    if (!this.closing) {
      this.dropAborted();
      while (this.connecting < this.pending.length) this.open(this.pending[this.connecting]!.servername);
    }
    if (this.closing && this.all.size === 0) for (const w of this.closeWaiters.splice(0)) w();
  }

  /** Graceful: waiting requests fail, requests in flight finish, then every connection closes. */
  close(): Promise<void> {
    this.closing = true;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.failPending(new errors.ClientClosedError());
    for (const c of this.idle.splice(0)) c.socket.destroy();
    for (const c of this.all) if (!c.connected) c.socket.destroy();
    return this.whenEmpty();
  }

  /** At once: every request fails, every connection is destroyed. */
  destroy(): Promise<void> {
    this.closing = true;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.failPending(new errors.ClientDestroyedError());
    for (const c of this.all) {
      c.error ??= new errors.ClientDestroyedError();
      c.socket.destroy();
    }
    return this.whenEmpty();
  }

  private failPending(err: Error): void {
    for (const req of this.pending.splice(0)) {
      if (req.done) continue;
      req.done = true;
      req.handler.onError(err);
    }
  }

  private whenEmpty(): Promise<void> {
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }
}

/** Dispatch headers given as an object, as a flat `[name, value, …]` list. */
function flatHeaders(h: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(h)) {
    if (Array.isArray(v)) for (const x of v) out.push(k, String(x));
    else if (v !== undefined) out.push(k, String(v));
  }
  return out;
}

/** The Host header's value in dispatch headers (flat list or object), if any. */
function hostHeaderOf(h: Dispatcher.DispatchOptions['headers']): string | undefined {
  if (Array.isArray(h)) {
    for (let i = 0; i + 1 < h.length; i += 2)
      if (String(h[i]).toLowerCase() === 'host') return String(h[i + 1]);
    return undefined;
  }
  if (h != null && typeof h === 'object') {
    for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
      if (k.toLowerCase() === 'host') return String(Array.isArray(v) ? v[0] : v);
    }
  }
  return undefined;
}
