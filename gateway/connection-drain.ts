/**
 * Downstream connection draining, as Envoy's drain manager does it when Istio's agent drains the
 * gateway on SIGTERM: from the moment the drain starts every HTTP/1 response closes its connection
 * (`Connection: close`, including responses already in flight whose headers are not yet written),
 * HTTP/2 sessions get GOAWAY (the listener manager sends it to its bound listeners), and at the deadline
 * whatever is still open (silent clients, half-sent requests, requests on hung upstreams) is destroyed,
 * so shutdown always ends.
 *
 * One instance serves every listener of the process: listeners hand it their servers ({@link track})
 * and the HTTP request handler reports each response as it starts ({@link onResponse}).
 */
import type { ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';

/** Per-connection slot: the connection's latest HTTP/1 response (kept on the socket, not in a set). */
const LATEST_RESPONSE = Symbol('meshgate.drain.latestResponse');
type ResponderSocket = Socket & { [LATEST_RESPONSE]?: ServerResponse };

/**
 * Whether an HTTP/1 connection has a response not yet finished (a request in flight, or pipelined
 * ones waiting): the slot {@link ConnectionDrain.onResponse} keeps on the connection.
 */
export function hasUnfinishedResponse(socket: Socket): boolean {
  const res = (socket as ResponderSocket)[LATEST_RESPONSE];
  return res !== undefined && !res.writableFinished;
}

export class ConnectionDrain {
  private draining = false;
  private readonly sockets = new Set<Socket>();
  /**
   * Connections that carried an HTTP/1 response, each added once (with its first response); each
   * holds its latest response in a slot. Emptied when the drain starts.
   *
   * Why not a set of responses: adding each response and a `close` listener to remove it again cost
   * a set entry, a listener and its removal per request (~0.5 µs of a proxied request's ~85 µs in a
   * CPU profile under wrk); a slot on the connection costs one property store per request.
   */
  private readonly responders = new Set<ResponderSocket>();
  private idleWaiters: (() => void)[] = [];
  /** Shared 'close' listeners (called with the emitter as `this`): no closure per connection. */
  private readonly untrackSocket: (this: Socket) => void;
  private readonly untrackResponder: (this: Socket) => void;

  constructor() {
    const sockets = this.sockets;
    const responders = this.responders;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the listeners below get the emitter as `this`
    const drain = this;
    this.untrackSocket = function (this: Socket) {
      sockets.delete(this);
      if (sockets.size === 0) drain.notifyIdle();
    };
    this.untrackResponder = function (this: ResponderSocket) {
      responders.delete(this);
      this[LATEST_RESPONSE] = undefined;
    };
  }

  /** True once {@link begin} ran. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Downstream connections currently open on tracked servers. */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Tracks every connection a listener's server accepts, so the deadline can close it. */
  track(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', this.untrackSocket);
    });
  }

  /**
   * Called where an HTTP/1 response starts (the request handler): during the drain the response
   * closes its connection; before, it is remembered on its connection so that a drain starting
   * before its head is written closes the connection too. Of pipelined responses only the latest
   * is remembered: it closes the connection after the ones before it.
   */
  onResponse(res: ServerResponse): void {
    if (this.draining) {
      res.shouldKeepAlive = false;
      return;
    }
    // `res.socket` is still null for a pipelined request waiting its turn; the request has it.
    const sock = (res.req?.socket ?? res.socket) as ResponderSocket | null;
    if (sock === null) return;
    if (sock[LATEST_RESPONSE] === undefined) {
      this.responders.add(sock);
      sock.once('close', this.untrackResponder);
    }
    sock[LATEST_RESPONSE] = res;
  }

  /** Starts the drain: keep-alive ends for every response not yet started. */
  begin(): void {
    if (this.draining) return;
    this.draining = true;
    for (const sock of this.responders) {
      const res = sock[LATEST_RESPONSE];
      if (res !== undefined && !res.headersSent) res.shouldKeepAlive = false;
    }
    this.responders.clear();
  }

  /**
   * Waits until no tracked connection is open, for at most `timeoutMs`.
   * @returns true when every connection closed in time.
   */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.sockets.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  /** Destroys every tracked connection (the drain deadline). @returns how many were still open. */
  destroyAll(): number {
    const n = this.sockets.size;
    for (const s of [...this.sockets]) s.destroy();
    return n;
  }

  private notifyIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
