/**
 * The undici Client behind every HTTP/2 upstream pool, giving its connections Envoy's lifecycle
 * where undici 7's differs:
 *
 * - DestinationRule `connectionPool.http.maxRequestsPerConnection` (Envoy cluster
 *   `max_requests_per_connection`, which counts streams on HTTP/2): once a connection has carried
 *   that many requests it takes no more and the next request goes out on a new connection. undici's
 *   `maxRequestsPerClient` only applies to its HTTP/1 client.
 * - A GOAWAY with NO_ERROR from the upstream (a graceful shutdown: Node's `session.close()`, Envoy's
 *   drain) lets the streams in flight finish, as Envoy does, while new requests go to a new
 *   connection. undici destroys the socket on any GOAWAY and fails the request in flight (503 to
 *   the client). A GOAWAY with an error code keeps undici's handling (Envoy resets those streams too).
 *
 * An undici Client carries one request at a time here (the pool's `pipelining: 1`: undici 7 does not
 * multiplex a non-idempotent request or a streamed body onto a session with a stream in flight, and
 * the router's requests are both), so a connection that is spent or going away is idle as soon as
 * its one request ends: it is closed then, and the Client connects anew for its next request.
 */
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { Client, errors, type buildConnector, type Dispatcher } from 'undici';

/** The current connection of a {@link H2UpstreamClient}. */
interface ConnectionState {
  socket: Socket | undefined;
  /** Requests handed to the Client since this connection's count started. */
  served: number;
  /** The upstream sent GOAWAY (NO_ERROR): no new stream may start on it. */
  goingAway: boolean;
}

/** Options of {@link H2UpstreamClient} beyond undici's. */
export interface H2ConnectionLimits {
  /** `maxRequestsPerConnection`: requests per connection; 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
}

/**
 * The HTTP/2 session undici built on `socket`. undici keeps it under its `http2Session` symbol and
 * exposes no other way to reach it; undefined if a later undici stores it differently (the GOAWAY
 * handling then stays undici's own).
 */
function sessionOf(socket: Socket): http2.ClientHttp2Session | undefined {
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    if (sym.description !== 'http2Session') continue;
    const s = (socket as unknown as Record<symbol, unknown>)[sym] as http2.ClientHttp2Session | null;
    if (s && typeof s.request === 'function' && typeof s.listeners === 'function') return s;
  }
  return undefined;
}

/** An undici Client for one HTTP/2 upstream endpoint; see the module comment. */
export class H2UpstreamClient extends Client {
  private readonly conn: ConnectionState;

  /**
   * @param opts the pool's client options; `connect` must be a connector function (upstream
   *   endpoint-state.ts builds one).
   */
  constructor(
    origin: URL,
    opts: Client.Options,
    private readonly limits: H2ConnectionLimits,
  ) {
    const conn: ConnectionState = { socket: undefined, served: 0, goingAway: false };
    const connect = opts.connect as buildConnector.connector;
    super(origin, {
      ...opts,
      connect: (o, callback) =>
        connect(o, (err, socket) => {
          if (err || !socket) return callback(err ?? new Error('no socket'), null);
          conn.socket = socket;
          conn.goingAway = false;
          // A connection the upstream closed early starts the count again on the next one.
          socket.once('close', () => {
            if (conn.socket !== socket) return;
            conn.socket = undefined;
            conn.served = 0;
          });
          callback(null, socket);
          // undici has built its session on the socket by now (when ALPN or h2c chose HTTP/2).
          const session = sessionOf(socket);
          if (session) this.keepStreamsOnGoAway(session, conn);
        }),
    });
    this.conn = conn;
    // The one request in flight ended: a connection going away is closed before the next request.
    this.on('drain', () => {
      if (conn.goingAway) this.retire('upstream sent GOAWAY');
    });
  }

  /** Counts the request against the current connection; retires the connection when it is spent. */
  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const c = this.conn;
    const max = this.limits.maxRequestsPerConnection;
    if (c.goingAway || (max > 0 && c.served >= max)) this.retire('maxRequestsPerConnection reached');
    c.served++;
    return super.dispatch(opts, handler);
  }

  /**
   * Closes the current connection. undici sees the socket destroyed, holds the next request and
   * connects anew once the close event has cleared the old session. An informational error is the
   * kind undici neither passes to queued requests nor lacks (a bare destroy makes its session-close
   * handler throw).
   */
  private retire(reason: string): void {
    const c = this.conn;
    c.served = 0;
    c.goingAway = false;
    const socket = c.socket;
    if (socket === undefined) return;
    c.socket = undefined;
    socket.destroy(new errors.InformationalError(reason));
  }

  /**
   * Replaces undici's GOAWAY listener: NO_ERROR with a request in flight marks the connection as
   * going away (Node closes the session once its streams end; the `drain` listener closes the
   * socket); anything else goes to undici's listener as before.
   */
  private keepStreamsOnGoAway(session: http2.ClientHttp2Session, conn: ConnectionState): void {
    const undiciListeners = session.listeners('goaway') as ((...args: unknown[]) => void)[];
    session.removeAllListeners('goaway');
    session.on('goaway', (...args: unknown[]) => {
      if (
        args[0] === http2.constants.NGHTTP2_NO_ERROR &&
        conn.socket !== undefined &&
        this.stats.running > 0
      ) {
        conn.goingAway = true;
        return;
      }
      for (const l of undiciListeners) Reflect.apply(l, session, args);
    });
  }
}
