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

export class ConnectionDrain {
  private draining = false;
  private readonly sockets = new Set<Socket>();
  /** Responses whose headers may still be unwritten; emptied when the drain starts. */
  private readonly inflight = new Set<ServerResponse>();
  private idleWaiters: (() => void)[] = [];
  /** Shared 'close' listeners (called with the emitter as `this`): no closure per connection or request. */
  private readonly untrackSocket: (this: Socket) => void;
  private readonly untrackResponse: (this: ServerResponse) => void;

  constructor() {
    const sockets = this.sockets;
    const inflight = this.inflight;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the listeners below get the emitter as `this`
    const drain = this;
    this.untrackSocket = function (this: Socket) {
      sockets.delete(this);
      if (sockets.size === 0) drain.notifyIdle();
    };
    this.untrackResponse = function (this: ServerResponse) {
      inflight.delete(this);
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
   * Called where an HTTP response starts (the request handler): during the drain the response closes
   * its connection; before, it is remembered until it closes so a drain starting meanwhile can.
   */
  onResponse(res: ServerResponse): void {
    if (this.draining) {
      res.shouldKeepAlive = false;
      return;
    }
    this.inflight.add(res);
    res.once('close', this.untrackResponse);
  }

  /** Starts the drain: keep-alive ends for every response not yet started. */
  begin(): void {
    if (this.draining) return;
    this.draining = true;
    for (const res of this.inflight) if (!res.headersSent) res.shouldKeepAlive = false;
    this.inflight.clear();
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
