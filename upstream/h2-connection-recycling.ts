/**
 * DestinationRule `connectionPool.http.maxRequestsPerConnection` for HTTP/2 upstreams (Envoy
 * cluster `max_requests_per_connection`, which counts streams on HTTP/2): once a connection has
 * carried that many requests it takes no more, and the next request goes out on a new connection.
 * undici's `maxRequestsPerClient` only applies to its HTTP/1 client, so HTTP/2 pools with the limit
 * use {@link RecyclingH2Client} as their pool's client factory.
 *
 * An undici Client carries one request at a time here (the pool's `pipelining: 1`: undici 7 does not
 * multiplex a non-idempotent request or a streamed body onto a session with a stream in flight, and
 * the router's requests are both), so a retired connection is idle; it is closed when its Client
 * next needs a connection, and the request waits for the new one. Envoy closes it as soon as its
 * last stream ends; the requests and connections counted upstream are the same.
 */
import type { Socket } from 'node:net';
import { Client, errors, type buildConnector, type Dispatcher } from 'undici';

/** One undici Client whose HTTP/2 connections each carry at most `maxRequests` requests. */
export class RecyclingH2Client extends Client {
  /** The current connection, and the requests handed to it so far. */
  private readonly current: { socket: Socket | undefined; served: number };

  /**
   * @param opts the pool's client options; `connect` must be a connector function (upstream
   *   endpoint-state.ts builds one).
   * @param maxRequests requests per connection, ≥ 1.
   */
  constructor(
    origin: URL,
    opts: Client.Options,
    private readonly maxRequests: number,
  ) {
    const current: { socket: Socket | undefined; served: number } = { socket: undefined, served: 0 };
    const connect = opts.connect as buildConnector.connector;
    super(origin, {
      ...opts,
      connect: (o, callback) =>
        connect(o, (err, socket) => {
          if (socket) {
            current.socket = socket;
            // A connection the upstream closed early starts the count again on the next one.
            socket.once('close', () => {
              if (current.socket !== socket) return;
              current.socket = undefined;
              current.served = 0;
            });
          }
          if (err) callback(err, null);
          else callback(null, socket!);
        }),
    });
    this.current = current;
  }

  /** Counts the request against the current connection; retires the connection when it is spent. */
  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const c = this.current;
    if (c.served >= this.maxRequests && c.socket !== undefined) {
      // Spent: undici sees the socket destroyed, holds this request, and connects anew once the
      // close event has cleared the old session. An informational error is the one undici neither
      // passes to queued requests nor lacks (a bare destroy makes its session-close handler throw).
      c.socket.destroy(new errors.InformationalError('maxRequestsPerConnection reached'));
      c.socket = undefined;
      c.served = 0;
    }
    c.served++;
    return super.dispatch(opts, handler);
  }
}
