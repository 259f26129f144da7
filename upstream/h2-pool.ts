/**
 * The connection pool of one HTTP/2 upstream endpoint (GRPC/HTTP2 ports, `h2UpgradePolicy:
 * UPGRADE`), built on node:http2 and multiplexing streams as Envoy's HTTP/2 pool does. It takes
 * requests through undici's `Dispatcher.dispatch(opts, handler)` contract with its original handler
 * callbacks (upstream-handler.ts), so the router and mirrors use it as they use an undici Pool.
 *
 * - A request goes on the first session with room: fewer streams than the peer's
 *   SETTINGS_MAX_CONCURRENT_STREAMS and DestinationRule `connectionPool.http.maxConcurrentStreams`
 *   (Envoy `max_concurrent_streams`), and fewer streams carried than
 *   `maxRequestsPerConnection` (Envoy `max_requests_per_connection`, counted in streams). With
 *   none, it opens another session; requests wait on a session while it connects.
 * - At most `maxConnections` sessions (DR `connectionPool.tcp.maxConnections`, Envoy's
 *   `max_connections` circuit breaker) are open, draining ones included, as Envoy never exceeds it:
 *   with every one full, a request waits (FIFO) for the first stream that ends or session that
 *   closes. It has no stream yet, so the circuit breaker still counts it pending and bounds it by
 *   `http1MaxPendingRequests` (circuit-breaker.ts). The limit holds per endpoint (pools are per
 *   endpoint); the breaker's stream slots cap the cluster when `maxConcurrentStreams` is set.
 * - A spent session takes no new stream and is closed once its last stream ends.
 * - GOAWAY with NO_ERROR (a graceful shutdown): streams in flight finish, new requests go to a new
 *   session. A GOAWAY with an error code or a session error fails the streams in flight with
 *   undici's `SocketError` (the router's reset, UC / `reset` retry) and the requests still waiting
 *   for the session with the connect error itself (ECONNREFUSED, `ConnectTimeoutError`, a TLS
 *   verification error: the router's connect failure, UF / `connect-failure` retry).
 * - A stream the upstream refuses (REFUSED_STREAM, e.g. past a GOAWAY's last stream id) was never
 *   processed: its request is sent once more when its body is in memory (none, or a Buffer).
 * - Aborting a request (retry, timeout, client gone) resets its stream with CANCEL.
 * - A session without streams closes after the idle timeout (`connectionPool.http.idleTimeout`).
 *
 * Why not undici's HTTP/2 client: undici 7 puts a non-idempotent request or a streamed body (every
 * request the router sends) alone on a connection, so concurrent calls each opened a connection,
 * and its per-request cost on HTTP/2 is about twice this pool's (bench/h2-upstream-clients.ts).
 */
import http2 from 'node:http2';
import net, { type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { errors, type Dispatcher } from 'undici';
import type { UpstreamHandler } from './upstream-handler.js';
import type { OriginationTls } from './tls-origination.js';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/**
 * Flow-control windows we grant the upstream, bytes. HTTP/2's 64 KiB defaults would hold every
 * stream of a session behind one 64 KiB connection window; a paused stream (slow client) still
 * buffers at most its stream window.
 */
const STREAM_WINDOW = 1024 * 1024;
const CONNECTION_WINDOW = 8 * 1024 * 1024;

/** Request header names HTTP/2 forbids (connection-specific, RFC 9113 §8.2.2) or carries as `:authority`. */
const NOT_SENT: ReadonlySet<string> = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Settings of one {@link H2Pool}. */
export interface H2PoolOptions {
  /** Endpoint address (IP or DNS name) and port. */
  readonly host: string;
  readonly port: number;
  /** TCP (and TLS handshake) connect timeout, ms (`connectionPool.tcp.connectTimeout`). */
  readonly connectTimeoutMs: number;
  /** A session without streams is closed after this long, ms (`connectionPool.http.idleTimeout`). */
  readonly idleTimeoutMs: number;
  /** Streams per session over its lifetime; 0 = unlimited (`http.maxRequestsPerConnection`). */
  readonly maxRequestsPerConnection: number;
  /** Streams open at once per session; 0 = only the peer's limit (`http.maxConcurrentStreams`). */
  readonly maxConcurrentStreams: number;
  /** Sessions open at once, draining ones included; 0 = unlimited (`tcp.maxConnections`). */
  readonly maxConnections?: number;
  /** Name resolution for DNS-named endpoints; undefined = Node's default. */
  readonly lookup?: LookupFunction;
  /** DR `tls` SIMPLE/MUTUAL: sessions are TLS with ALPN `h2`. */
  readonly tls?: OriginationTls;
}

/** The counters undici's Pool exposes that the gateway reads (circuit breaker, stats, config dump). */
export interface H2PoolStats {
  /** Sessions connected. */
  readonly connected: number;
  /** Connected sessions with room for another stream. */
  readonly free: number;
  /** Requests waiting for a session to connect, or for a stream under `maxConnections`. */
  readonly pending: number;
  /** Streams open. */
  readonly running: number;
}

/** One request handed to the pool. */
interface H2Request {
  readonly opts: Dispatcher.DispatchOptions;
  readonly handler: UpstreamHandler;
  /** The response ended or failed, or the request was aborted: no more callbacks. */
  done: boolean;
  /** Already sent again once after REFUSED_STREAM. */
  resent: boolean;
}

/** One HTTP/2 session to the endpoint and its stream accounting. */
class H2Session {
  connected = false;
  /** Streams open. */
  active = 0;
  /** Streams given to this session over its life (`maxRequestsPerConnection`). */
  served = 0;
  /** No new stream may start: GOAWAY received, spent, or the pool is closing. */
  draining = false;
  closed = false;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until its SETTINGS arrive). */
  peerMaxStreams = Infinity;
  /** Why the session failed (connect error, session error, GOAWAY with an error code). */
  error: Error | undefined;
  /** Requests given to the session before it connected. */
  readonly waiting: H2Request[] = [];
  idleTimer: NodeJS.Timeout | undefined;
  connectTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly session: http2.ClientHttp2Session,
    /** TLS server name the session was opened with ('' in plaintext). */
    readonly servername: string,
  ) {}
}

/** An HTTP/2 connection pool for one endpoint; see the module comment. */
export class H2Pool {
  private readonly sessions: H2Session[] = [];
  /** Requests waiting for a stream: every session is full and `maxConnections` are open. */
  private readonly queue: { readonly req: H2Request; readonly servername: string }[] = [];
  private readonly scheme: 'http' | 'https';
  private readonly defaultAuthority: string;
  private closing = false;
  private closeWaiters: (() => void)[] = [];

  constructor(private readonly o: H2PoolOptions) {
    this.scheme = o.tls ? 'https' : 'http';
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    this.defaultAuthority = `${host}:${o.port}`;
  }

  /** Counters in undici Pool's shape (`stats.free`, `stats.connected`, …). */
  get stats(): H2PoolStats {
    let connected = 0;
    let free = 0;
    let pending = this.queue.length;
    let running = 0;
    for (const s of this.sessions) {
      if (s.connected) connected++;
      if (s.connected && this.hasRoom(s)) free++;
      pending += s.waiting.length;
      running += s.active;
    }
    return { connected, free, pending, running };
  }

  /**
   * undici's dispatch: sends the request on a session with room (opening one when none has).
   * `opts.headers` is a flat `[name, value, …]` list (or an object); `opts.body` null, a Buffer or
   * string, or a Readable. Errors reach the handler's onError, never the caller.
   * @returns true (the pool never asks the caller to wait).
   */
  dispatch(opts: Dispatcher.DispatchOptions, handler: UpstreamHandler): boolean {
    const req: H2Request = { opts, handler, done: false, resent: false };
    if (this.closing) {
      this.fail(req, new errors.ClientClosedError());
      return true;
    }
    this.assign(req, this.servernameOf(opts));
    return true;
  }

  /** Puts the request on the first session with room, or a new one. */
  private assign(req: H2Request, servername: string): void {
    let s: H2Session | undefined;
    for (const c of this.sessions) {
      if (c.servername === servername && this.hasRoom(c)) {
        s = c;
        break;
      }
    }
    if (s === undefined) {
      const max = this.o.maxConnections ?? 0;
      if (max > 0 && this.sessions.length >= max) {
        this.queue.push({ req, servername });
        return;
      }
      s = this.open(servername);
    }
    s.served++;
    if (s.connected) this.start(s, req);
    else s.waiting.push(req);
  }

  /**
   * A stream ended or a session closed under `maxConnections`: the oldest queued requests take the
   * room (a stream on a session with room, else a new session while under the limit).
   */
  private serveQueue(): void {
    while (this.queue.length > 0) {
      const { req, servername } = this.queue[0]!;
      if (req.done) {
        this.queue.shift();
        continue;
      }
      const n = this.sessions.length;
      const full = !this.sessions.some((c) => c.servername === servername && this.hasRoom(c));
      if (full && n >= (this.o.maxConnections ?? 0)) return;
      this.queue.shift();
      this.assign(req, servername);
    }
  }

  /** Closes every session once its streams (and waiting requests) are done; resolves when all are closed. */
  close(): Promise<void> {
    this.closing = true;
    for (const { req } of this.queue.splice(0)) this.fail(req, new errors.ClientClosedError());
    for (const s of this.sessions) {
      s.draining = true;
      this.maybeRetire(s);
    }
    return this.whenEmpty();
  }

  /** Destroys every session at once; streams in flight and waiting requests fail. */
  destroy(): Promise<void> {
    this.closing = true;
    for (const { req } of this.queue.splice(0)) this.fail(req, new errors.ClientDestroyedError());
    for (const s of [...this.sessions]) {
      s.draining = true;
      s.error ??= new errors.ClientDestroyedError();
      s.session.destroy();
    }
    return this.whenEmpty();
  }

  private whenEmpty(): Promise<void> {
    if (this.sessions.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  private hasRoom(s: H2Session): boolean {
    if (s.draining || s.closed) return false;
    const max = this.o.maxRequestsPerConnection;
    if (max > 0 && s.served >= max) return false;
    const dr = this.o.maxConcurrentStreams;
    const limit = dr > 0 && dr < s.peerMaxStreams ? dr : s.peerMaxStreams;
    return s.active + s.waiting.length < limit;
  }

  /**
   * TLS server name of a request: DR `sni` (dispatch `servername`), else the Host header's name
   * (Envoy's auto-SNI, as undici derives it), never an IP address; '' in plaintext.
   */
  private servernameOf(opts: Dispatcher.DispatchOptions): string {
    if (!this.o.tls) return '';
    const fixed = this.o.tls.sni ?? (opts as { servername?: string | null }).servername;
    if (fixed) return fixed;
    const authority = authorityOf(opts.headers);
    const name = authority === undefined ? this.o.host : hostnameOf(authority);
    return net.isIP(name) === 0 ? name : '';
  }

  private open(servername: string): H2Session {
    const o = this.o;
    const socket = o.tls
      ? tls.connect({
          ...o.tls.connect,
          host: o.host,
          port: o.port,
          lookup: o.lookup,
          servername: servername || undefined,
          ALPNProtocols: ['h2'],
        })
      : net.connect({ host: o.host, port: o.port, lookup: o.lookup });
    // Small frames (a gRPC call's HEADERS, DATA, WINDOW_UPDATE) must not wait for Nagle.
    socket.setNoDelay(true);
    const session = http2.connect(`${this.scheme}://${this.defaultAuthority}`, {
      createConnection: () => socket,
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
    });
    const s = new H2Session(session, servername);
    this.sessions.push(s);
    if (o.connectTimeoutMs > 0) {
      s.connectTimer = setTimeout(() => {
        s.error ??= new errors.ConnectTimeoutError(
          `Connect Timeout Error (attempted address: ${this.defaultAuthority}, timeout: ${o.connectTimeoutMs}ms)`,
        );
        session.destroy();
      }, o.connectTimeoutMs);
      s.connectTimer.unref();
    }
    session.on('connect', () => {
      clearTimeout(s.connectTimer);
      s.connected = true;
      session.setLocalWindowSize(CONNECTION_WINDOW);
      const waiting = s.waiting.splice(0);
      for (const req of waiting) this.start(s, req);
      this.maybeRetire(s);
    });
    session.on('remoteSettings', (settings) => {
      s.peerMaxStreams = settings.maxConcurrentStreams ?? Infinity;
    });
    session.on('goaway', (code: number) => {
      s.draining = true;
      if (code !== NGHTTP2_NO_ERROR) s.error ??= new Error(`upstream sent GOAWAY with error code ${code}`);
      // Node closes the session itself: gracefully on NO_ERROR, at once otherwise.
    });
    session.on('error', (err: Error) => {
      s.error ??= err;
    });
    session.on('close', () => this.onSessionClose(s));
    return s;
  }

  private onSessionClose(s: H2Session): void {
    s.closed = true;
    s.draining = true;
    clearTimeout(s.connectTimer);
    clearTimeout(s.idleTimer);
    const i = this.sessions.indexOf(s);
    if (i >= 0) this.sessions.splice(i, 1);
    // Requests that never got a stream: the connect failure as it happened (UF), else a reset.
    const err = s.connected
      ? new errors.SocketError(`upstream HTTP/2 session closed: ${s.error?.message ?? 'closed'}`)
      : (s.error ?? new errors.SocketError('upstream HTTP/2 session closed before it connected'));
    for (const req of s.waiting.splice(0)) this.fail(req, err);
    if (!this.closing) this.serveQueue();
    if (this.sessions.length === 0 && this.closeWaiters.length > 0) {
      const waiters = this.closeWaiters;
      this.closeWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** A stream of `s` ended: close a spent or draining session once it is idle, else arm the idle timer. */
  private maybeRetire(s: H2Session): void {
    if (s.closed || !s.connected || s.active > 0 || s.waiting.length > 0) return;
    const max = this.o.maxRequestsPerConnection;
    if (s.draining || this.closing || (max > 0 && s.served >= max)) {
      s.draining = true;
      s.session.close();
      return;
    }
    s.session.unref();
    if (this.o.idleTimeoutMs > 0 && s.idleTimer === undefined) {
      s.idleTimer = setTimeout(() => {
        s.idleTimer = undefined;
        if (s.active === 0 && s.waiting.length === 0) {
          s.draining = true;
          s.session.close();
        }
      }, this.o.idleTimeoutMs);
      s.idleTimer.unref();
    }
  }

  private fail(req: H2Request, err: Error): void {
    if (req.done) return;
    req.done = true;
    req.handler.onError(err);
  }

  /** Opens the request's stream on connected session `s` and wires its events to the handler. */
  private start(s: H2Session, req: H2Request): void {
    const { handler, opts } = req;
    if (s.idleTimer !== undefined) {
      clearTimeout(s.idleTimer);
      s.idleTimer = undefined;
    }
    const body = opts.body;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = s.session.request(this.requestHeaders(opts), { endStream: body == null });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION') {
        // The session is going away (its GOAWAY not seen yet): the request takes another.
        s.draining = true;
        this.maybeRetire(s);
        return this.assign(req, this.servernameOf(opts));
      }
      // A head node:http2 refuses (an invalid header value): the request fails, as undici's would.
      this.fail(req, err as Error);
      return this.maybeRetire(s);
    }
    s.session.ref();
    s.active++;
    let streamError: Error | undefined;
    const abort = (err?: Error): void => {
      if (req.done) return;
      req.done = true;
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
      handler.onError(err ?? new errors.RequestAbortedError());
    };
    stream.on('error', (err: Error) => {
      streamError = err;
    });
    handler.onConnect(abort);
    const st = stream;
    const resume = (): void => {
      if (!req.done) st.resume();
    };
    let trailers: string[] | null = null;
    let final = false;
    st.on('headers', (headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) => {
      if (!req.done) handler.onHeaders(Number(headers[':status']), flatten(headers), resume, '');
    });
    st.on('response', (headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) => {
      if (req.done) return;
      final = true;
      if (handler.onHeaders(Number(headers[':status']), flatten(headers), resume, '') === false) st.pause();
    });
    st.on('data', (chunk: Buffer) => {
      if (!req.done && handler.onData(chunk) === false) st.pause();
    });
    st.on('trailers', (headers: http2.IncomingHttpHeaders) => {
      trailers = flatten(headers) as unknown as string[];
    });
    st.on('end', () => {
      // Node also ends the readable side of a stream its session tore down (RST code set by then):
      // only an END_STREAM after a final head completes the response; the rest fails at 'close'.
      const rst = st.rstCode;
      if (req.done || !final || (rst !== undefined && rst !== NGHTTP2_NO_ERROR)) return;
      req.done = true;
      handler.onComplete(trailers);
    });
    st.on('close', () => {
      s.active--;
      if (this.queue.length > 0) this.serveQueue();
      if (!req.done && !final && st.rstCode === NGHTTP2_REFUSED_STREAM && !req.resent && replayable(body)) {
        // RFC 9113 §8.7: a refused stream was not processed (typically one past a GOAWAY's last
        // stream id), so it is sent again, once, on a session with room, as Envoy retries it.
        req.resent = true;
        this.maybeRetire(s);
        return this.assign(req, this.servernameOf(opts));
      }
      if (!req.done) {
        // A session failure shows as a reset of the connection (undici's SocketError); a stream
        // reset by the upstream keeps Node's stream error.
        const err =
          s.error !== undefined || streamError === undefined
            ? new errors.SocketError(
                `upstream HTTP/2 stream closed: ${s.error?.message ?? streamError?.message ?? `code ${st.rstCode}`}`,
              )
            : streamError;
        this.fail(req, err);
      }
      this.maybeRetire(s);
    });
    if (body == null || req.done) return;
    if (typeof body === 'string' || body instanceof Uint8Array) {
      st.end(body);
      return;
    }
    const source = body as Readable;
    source.on('error', (err: Error) => {
      if (req.done) return;
      if (!st.destroyed) st.close(NGHTTP2_CANCEL);
      this.fail(req, err);
    });
    source.pipe(st);
  }

  /** The request head as node:http2 takes it: pseudo-headers, names lowercase, repeats as arrays. */
  private requestHeaders(opts: Dispatcher.DispatchOptions): http2.OutgoingHttpHeaders {
    const out: http2.OutgoingHttpHeaders = {
      ':method': opts.method,
      ':scheme': this.scheme,
      ':path': opts.path,
      ':authority': this.defaultAuthority,
    };
    const add = (rawName: string, value: string): void => {
      const name = rawName.toLowerCase();
      if (name === 'host') {
        out[':authority'] = value;
        return;
      }
      if (NOT_SENT.has(name) || name.charCodeAt(0) === 58 /* ':' */) return;
      if (name === 'te' && value !== 'trailers') return;
      const had = out[name];
      if (had === undefined) out[name] = value;
      else if (Array.isArray(had)) had.push(value);
      else out[name] = [String(had), value];
    };
    const h = opts.headers;
    if (Array.isArray(h)) {
      for (let i = 0; i + 1 < h.length; i += 2) add(String(h[i]), String(h[i + 1]));
    } else if (h != null && typeof h === 'object') {
      for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
        if (Array.isArray(v)) for (const x of v) add(k, String(x));
        else if (v !== undefined) add(k, String(v));
      }
    }
    return out;
  }
}

/** A response head (or trailers) as undici's flat `[name, value, …]` list, without pseudo-headers. */
function flatten(headers: http2.IncomingHttpHeaders): Buffer[] {
  const out: string[] = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const v = headers[name];
    if (Array.isArray(v)) for (const x of v) out.push(name, x);
    else if (v !== undefined) out.push(name, v);
  }
  // Strings where undici gives Buffers: the handlers read either (RawHeaderItem).
  return out as unknown as Buffer[];
}

/** Whether a request body can be sent again (none, or held whole in memory). */
function replayable(body: Dispatcher.DispatchOptions['body']): boolean {
  return body == null || typeof body === 'string' || body instanceof Uint8Array;
}

/** The Host header of a request head (flat list or object), if any. */
function authorityOf(headers: Dispatcher.DispatchOptions['headers']): string | undefined {
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === 'host') return String(headers[i + 1]);
    }
    return undefined;
  }
  if (headers != null && typeof headers === 'object') {
    for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
      if (k.toLowerCase() === 'host') return String(v);
    }
  }
  return undefined;
}

/** The host name of an authority (`name:port`, `[v6]:port`). */
function hostnameOf(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(1, authority.indexOf(']'));
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}
