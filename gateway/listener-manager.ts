/**
 * Opens, updates and closes listeners to follow the live snapshot. A listener whose address, port
 * and kind are unchanged keeps its socket and simply sees the new route table (no connection is
 * dropped on reload); removed ones stop accepting and let open connections finish.
 *
 * Shutdown is bounded: {@link ListenerManager.beginDrain} makes every response close its connection
 * while the listeners still accept; {@link ListenerManager.close} stops accepting, gives open
 * connections up to a deadline, then destroys what is left.
 */
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import type { Listener, ListenerKind } from '../config/listener.js';
import type { Snapshot } from '../config/snapshot.js';
import type { ProxyContext } from './http/proxy-context.js';
import { createHttpServer } from './http-listener.js';
import { attachMeshListener } from './connect-tunnel.js';
import { ConnectionDrain } from './connection-drain.js';

/** How long {@link ListenerManager.close} waits for open connections by default, ms. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 20_000;
/** How long after the deadline servers get to report closed, ms. */
const CLOSE_GRACE_MS = 1000;
/** How often idle keep-alive connections are closed while waiting for the others, ms. */
const CLOSE_IDLE_INTERVAL_MS = 200;

/** A bound listener of some kind. */
export interface BoundListener {
  /** Adopts the same-named listener of a newer snapshot. */
  update(next: Listener): void;
  /** Stops accepting; resolves once every connection of the listener has closed. */
  close(): Promise<void>;
  /**
   * Sends GOAWAY to every HTTP/2 session of the listener (streams in flight finish, no new ones);
   * returns the number of sessions told. Absent on listeners without HTTP/2.
   */
  goAway?(): number;
  /** Closes connections with no request in flight (HTTP keep-alive); absent for non-HTTP kinds. */
  closeIdle?(): void;
  readonly server: Server;
}

/** Builds the server for a listener kind; `undefined` when the kind is not served. */
export type ListenerFactory = (
  listener: Listener,
  ctx: ProxyContext,
  log: Logger,
) => BoundListener | undefined;

/** Error raised when a listener port cannot be bound; names the port and the remedy. */
export class ListenerBindError extends Error {
  constructor(
    readonly listener: Listener,
    override readonly cause: NodeJS.ErrnoException,
  ) {
    const how =
      cause.code === 'EACCES'
        ? `permission denied (ports below 1024 need privileges); use --port-map ${listener.port}=${listener.port < 1024 ? 8000 + listener.port : listener.port + 1} to bind another local port`
        : cause.code === 'EADDRINUSE'
          ? `address already in use; use --port-map ${listener.port}=<free port> to bind another local port`
          : `${cause.message}; use --port-map ${listener.port}=<port> to bind another local port`;
    super(`cannot bind listener ${listener.name} on ${listener.address}:${listener.bindPort}: ${how}`);
    this.name = 'ListenerBindError';
  }
}

const httpFactory: ListenerFactory = (listener, ctx, log) => {
  const rt = { listener, scheme: 'http' as const };
  const { server, http2 } = createHttpServer(rt, ctx, log);
  // The mesh (sidecar outbound) listener also tunnels CONNECT (issue 4).
  if (listener.mesh) attachMeshListener(server, rt, ctx, log);
  return {
    server,
    update(next) {
      rt.listener = next;
    },
    goAway: () => http2.goAway(),
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        http2.goAway();
      });
    },
    closeIdle() {
      server.closeIdleConnections();
      // HTTP/2's way to close idle: GOAWAY, sessions close once their streams finish.
      http2.goAway();
    },
  };
};

/** Downstream connection limits applied to every bound listener. */
interface DownstreamLimits {
  /** Open connections per listener; past it, accepted sockets are closed at once and counted. */
  readonly maxConnectionsPerListener?: number;
}

export class ListenerManager {
  private readonly bound = new Map<string, { bound: BoundListener; listener: Listener }>();
  private readonly factories = new Map<ListenerKind, ListenerFactory>([['HTTP', httpFactory]]);

  /** Tracks the connections of every listener for draining; the HTTP request handler reports to it too. */
  readonly drain: ConnectionDrain;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly log: Logger,
    private readonly limits: DownstreamLimits = {},
  ) {
    this.drain = ctx.drain ?? new ConnectionDrain();
  }

  /** Registers the server factory for a listener kind (TLS and TCP listeners plug in here). */
  register(kind: ListenerKind, factory: ListenerFactory): void {
    this.factories.set(kind, factory);
  }

  /**
   * Sends GOAWAY to every HTTP/2 session of every bound listener (drain: streams in flight finish,
   * clients open new connections elsewhere). Returns the number of sessions told.
   */
  goAwayHttp2(): number {
    let n = 0;
    for (const { bound } of this.bound.values()) n += bound.goAway?.() ?? 0;
    return n;
  }

  /** The local address a listener is bound to (ephemeral ports resolved), by listener name. */
  addressOf(name: string): { address: string; port: number } | undefined {
    for (const { bound, listener } of this.bound.values()) {
      if (listener.name !== name) continue;
      const a = bound.server.address();
      if (a && typeof a === 'object') return { address: a.address, port: a.port };
    }
    return undefined;
  }

  /**
   * Makes the bound listeners match the snapshot.
   * @returns bind errors (the other listeners are still brought up).
   */
  async reconcile(snapshot: Snapshot): Promise<ListenerBindError[]> {
    const wanted = new Map<string, Listener>();
    for (const l of snapshot.listeners) wanted.set(`${l.name}|${l.bindPort}|${l.kind}`, l);
    const errors: ListenerBindError[] = [];
    for (const [key, entry] of [...this.bound]) {
      const next = wanted.get(key);
      if (next) {
        entry.bound.update(next);
        entry.listener = next;
      } else {
        this.bound.delete(key);
        this.log.info({ listener: entry.listener.name, port: entry.listener.bindPort }, 'listener removed');
        void entry.bound.close();
      }
    }
    for (const [key, l] of wanted) {
      if (this.bound.has(key)) continue;
      const factory = this.factories.get(l.kind);
      const b = factory?.(l, this.ctx, this.log);
      if (!b) {
        this.log.warn(
          { listener: l.name, protocol: l.protocol },
          `${l.protocol} servers are not supported yet; port ${l.port} not bound`,
        );
        continue;
      }
      try {
        await listen(b.server, l.address, l.bindPort);
      } catch (err) {
        errors.push(new ListenerBindError(l, err as NodeJS.ErrnoException));
        continue;
      }
      this.bound.set(key, { bound: b, listener: l });
      this.drain.track(b.server);
      this.applyLimits(l, b.server);
      const addr = b.server.address();
      const port = addr && typeof addr === 'object' ? addr.port : l.bindPort;
      this.log.info(
        {
          listener: l.name,
          address: l.address,
          port,
          serverPort: l.port,
          protocol: l.protocol,
          gateways: l.gateways,
        },
        'listener bound',
      );
    }
    return errors;
  }

  private applyLimits(l: Listener, server: Server): void {
    const max = this.limits.maxConnectionsPerListener;
    if (max === undefined) return;
    // node closes sockets past `maxConnections` right after accept and emits 'drop' for each.
    server.maxConnections = max;
    server.on('drop', () => {
      this.ctx.stats.inc(`listener.${l.name}.downstream_cx_overflow`);
    });
  }

  /**
   * Starts draining (SIGTERM): listeners keep accepting, but every HTTP/1 response from now on, and
   * every in-flight one not yet started, carries `Connection: close`; HTTP/2 sessions get GOAWAY.
   */
  beginDrain(): void {
    this.drain.begin();
    this.goAwayHttp2();
    this.log.info({ connections: this.drain.openConnections }, 'draining listeners');
  }

  /**
   * Stops accepting on every listener, waits up to `timeoutMs` for open connections to finish, then
   * destroys the rest (silent clients, half-sent requests, requests on hung upstreams).
   * @param timeoutMs deadline for open connections, ms (`--drain-timeout`).
   */
  async close(timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    const all = [...this.bound.values()];
    this.bound.clear();
    const closed = Promise.all(all.map((e) => e.bound.close()));
    // Keep-alive connections whose response started before the drain turn idle later: close them then.
    const sweep = setInterval(() => {
      for (const e of all) e.bound.closeIdle?.();
    }, CLOSE_IDLE_INTERVAL_MS);
    sweep.unref();
    try {
      if (!(await this.drain.whenIdle(timeoutMs))) {
        const n = this.drain.destroyAll();
        this.log.warn({ connections: n, timeoutMs }, 'drain deadline reached; closing remaining connections');
      }
      // Servers report closed once their last connection is gone; a listener kind that fails to report
      // must not hold shutdown past the deadline.
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((r) => (grace = setTimeout(r, CLOSE_GRACE_MS)))]);
      clearTimeout(grace);
    } finally {
      clearInterval(sweep);
    }
  }
}

function listen(server: Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, address);
  });
}
