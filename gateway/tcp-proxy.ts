/**
 * Envoy's `tcp_proxy` network filter: one upstream connection per downstream connection, bytes
 * spliced both ways untouched. Used by TCP listeners (`protocol: TCP` servers with VirtualService
 * `tcp` routes), by TLS PASSTHROUGH chains (after the ClientHello was read, its bytes written first)
 * and by TLS-terminating `protocol: TLS` servers.
 *
 * Per connection: weighted cluster pick (Istio `weighted_clusters`, chosen per connection), endpoint
 * from the cluster's load balancer, `connectionPool.tcp.connectTimeout` on the upstream connect,
 * `connectionPool.tcp.idleTimeout` (default 1 h; 0 disables) on inactivity in both directions
 * (a byte-counter sweep, gateway/idle-sweep.ts, not a per-socket `setTimeout`).
 * Half-close is forwarded (a FIN is passed on after the buffered bytes, the other direction keeps
 * flowing); an error or reset on either side destroys both. Failures before the upstream is connected
 * close the downstream with Envoy's flag: `NC` (no cluster), `UH` (no endpoint), `UF` (connect
 * failure or timeout).
 *
 * Hot path: after the routing decision, downstream → upstream is `pipe()`d, exactly as in a bare
 * node:net proxy; upstream → downstream reads into reused buffers (below). No per-chunk work of ours
 * beyond one `write` per upstream read. Event handlers are module-level functions that find their
 * session through a symbol on the socket, so a connection costs one session object and one closure
 * (the upstream's read-buffer function, which node calls without a socket). Byte counts come from
 * `socket.bytesRead/bytesWritten` at close.
 *
 * Bulk cost against the bare pipe (bench `tcp-bulk/meshgate-vs-pipe`: iperf3 through both at once on
 * one core, CPU-s per GB read). Neither proxy runs JavaScript of its own per chunk; the difference was
 * the memory behind node's per-read 64 KiB buffers, in two parts, both fixed process-wide by the CLI:
 * - V8 counts those buffers against the old-generation limit until a young collection frees them, and
 *   reads their churn as fast allocation, so its heap growing factor fell to 1.1 and a full
 *   mark-compact (6–55 ms over meshgate's ~21 MB heap) ran every 20–30 MB forwarded: 9–28 per 5 s run.
 *   The pipe's ~4 MB heap is below V8's 8 MB threshold for incremental marking, so it never had any.
 *   cli/heap-growth.ts fixes the factor at 4.0 (0–1 per run since).
 * - glibc handed the freed buffers back to the kernel after each young collection and the next reads
 *   faulted them in again: 50–200k minor faults per GB (the pipe: 5–170k, by luck of its allocation
 *   history). cli/malloc-trim.ts raises glibc's trim threshold (0.1–3k faults per GB since).
 * Before: meshgate / pipe 0.39–0.67. With both, 6 s each, one machine shared with other work:
 * 0.97–1.03 in five harness runs (once 1.50: the pipe itself took 174k faults/GB), and 1.01, 1.07,
 * 0.91, 1.28, 1.07, 1.03 from `npm run bench -- --only tcp-pair`.
 *
 * Upstream reads use `onread` with a buffer of ours, reused while the downstream write of its bytes
 * completed synchronously (`writableLength === 0` right after `write`); a write still pending keeps
 * its buffer and the next read gets a new one; a `write` returning false pauses the upstream until the
 * downstream drains. 4 KiB buffers at first and after reads under 16 KiB, 64 KiB once a read fills
 * the small one: a connection holds 4 KiB, or 64 KiB while (and after, if its last read was large) it
 * moves bulk data; node's own reads hold nothing between reads. Download direction (iperf3 -R),
 * same method: 0.80–0.83 CPU-s/GB against the pipe's 1.01–1.06 (meshgate / pipe 1.22–1.32); a bare
 * pipe changed only this way cost 16–21% less per GB than the unchanged one. Accepted sockets
 * cannot do the same without node internals: `net.Server` has no `onread` option, and re-wrapping an
 * accepted socket (`new net.Socket({ handle, onread })`, or `{ fd }` with the accepted descriptor)
 * needs its private `_handle`; so downstream → upstream stays a `pipe()` with node's buffers.
 *
 * Short connections (bench `tcp-short/meshgate-vs-pipe`: 0.60–0.78, 0.76–0.78 when the machine was
 * quieter): per connection meshgate adds routing, stats, two address lookups (getpeername and
 * getsockname) and an access-log line; the access log alone measured 15% of meshgate's CPU per
 * connection (`--access-log off`: 0.84–0.85 of the cost).
 *
 * Stats (Envoy names): `listener.<l>.downstream_cx_total|downstream_cx_active|no_filter_chain_match`,
 * `tcp.<stat_prefix>.downstream_cx_total|downstream_cx_no_route|idle_timeout|downstream_cx_rx_bytes_total|downstream_cx_tx_bytes_total`,
 * `cluster.<c>.upstream_cx_total|upstream_cx_active|upstream_cx_connect_fail|upstream_cx_connect_timeout|upstream_cx_none_healthy|upstream_cx_rx_bytes_total|upstream_cx_tx_bytes_total`.
 * One access-log record per connection (Envoy TCP line: `"- - -" 0 <flags> ...`).
 */
import net from 'node:net';
import type { Logger } from 'pino';
import type { Listener } from '../config/listener.js';
import {
  selectTcpRoute,
  type TcpFilterChain,
  type TcpProxyRoute,
  type WeightedL4Cluster,
} from '../routes/filter-chains.js';
import type { StatStore } from '../telemetry/stats.js';
import type { EndpointState } from '../upstream/endpoint-state.js';
import type { ProxyContext } from './http/proxy-context.js';
import type { BoundListener, ListenerFactory } from './listener-manager.js';
import { armIdleTimeout, disarmIdleTimeout, type IdleWatched } from './idle-sweep.js';
import { ResponseFlag } from './response-flags.js';
import { pickWeighted } from '../routes/weighted-pick.js';

/** How long a removed or closing L4 listener lets open connections finish before destroying them (Istio `terminationDrainDuration`, 5 s). */
const L4_DRAIN_MS = 5_000;

/** Stat names of one listener, built once per listener name. */
interface ListenerStatNames {
  readonly cxTotal: string;
  readonly cxActive: string;
  readonly noFilterChainMatch: string;
}

const listenerNames = new Map<string, ListenerStatNames>();

/** Envoy's listener stat names for `listener.<name>.*` (cached). */
export function listenerStatNames(listenerName: string): ListenerStatNames {
  let n = listenerNames.get(listenerName);
  if (!n) {
    const p = `listener.${listenerName}.`;
    n = {
      cxTotal: `${p}downstream_cx_total`,
      cxActive: `${p}downstream_cx_active`,
      noFilterChainMatch: `${p}no_filter_chain_match`,
    };
    listenerNames.set(listenerName, n);
  }
  return n;
}

interface TcpStatNames {
  readonly cxTotal: string;
  readonly noRoute: string;
  readonly idleTimeout: string;
  readonly rxBytes: string;
  readonly txBytes: string;
}

interface ClusterStatNames {
  readonly cxTotal: string;
  readonly cxActive: string;
  readonly connectFail: string;
  readonly connectTimeout: string;
  readonly noneHealthy: string;
  readonly rxBytes: string;
  readonly txBytes: string;
}

const tcpNames = new Map<string, TcpStatNames>();
const clusterNames = new Map<string, ClusterStatNames>();

function tcpStatNames(prefix: string): TcpStatNames {
  let n = tcpNames.get(prefix);
  if (!n) {
    const p = `tcp.${prefix}.`;
    n = {
      cxTotal: `${p}downstream_cx_total`,
      noRoute: `${p}downstream_cx_no_route`,
      idleTimeout: `${p}idle_timeout`,
      rxBytes: `${p}downstream_cx_rx_bytes_total`,
      txBytes: `${p}downstream_cx_tx_bytes_total`,
    };
    tcpNames.set(prefix, n);
  }
  return n;
}

function clusterStatNames(cluster: string): ClusterStatNames {
  let n = clusterNames.get(cluster);
  if (!n) {
    const p = `cluster.${cluster}.`;
    n = {
      cxTotal: `${p}upstream_cx_total`,
      cxActive: `${p}upstream_cx_active`,
      connectFail: `${p}upstream_cx_connect_fail`,
      connectTimeout: `${p}upstream_cx_connect_timeout`,
      noneHealthy: `${p}upstream_cx_none_healthy`,
      rxBytes: `${p}upstream_cx_rx_bytes_total`,
      txBytes: `${p}upstream_cx_tx_bytes_total`,
    };
    clusterNames.set(cluster, n);
  }
  return n;
}

/** What a TCP session needs to know about its downstream connection. */
export interface DownstreamInfo {
  /** The listener (of the snapshot read at accept) that took the connection. */
  readonly listener: Listener;
  /** SNI of the ClientHello (passthrough and terminated TLS); undefined for plain TCP. */
  readonly requestedServerName: string | undefined;
  /** Bytes already read from the downstream (the ClientHello of a passthrough), written upstream first. */
  readonly initial: Buffer | undefined;
  /** Epoch ms and `performance.now()` at accept. */
  readonly startTime: number;
  readonly startHr: number;
  /**
   * Open accepted sockets of the listener (for draining on close). When set, the session owns the
   * accepted socket's bookkeeping: it removes it and decrements `downstream_cx_active` at close.
   * Undefined when the downstream is a TLS socket whose raw socket the listener tracks itself.
   */
  readonly tracker: Set<net.Socket> | undefined;
}

const kSession = Symbol('meshgate.tcpSession');
type SessionSocket = net.Socket & { [kSession]?: TcpSession };

/** One proxied connection. */
class TcpSession implements IdleWatched {
  upstream: SessionSocket | undefined;
  endpoint: EndpointState | undefined;
  cluster: WeightedL4Cluster | undefined;
  clusterStats: ClusterStatNames | undefined;
  flags: string | undefined;
  details = '-';
  connected = false;
  /** Sockets of this session not yet closed. */
  open = 1;
  /**
   * The buffer the upstream socket reads into (`onread`, see {@link onUpstreamRead}), the bytes its
   * last read brought, and whether the downstream took those bytes synchronously (then the buffer can
   * take the next read; otherwise the pending write still refers to it and a fresh one is handed out).
   */
  readBuf: Buffer | undefined;
  lastRead = 0;
  readBufFree = true;
  /** Idle detection (gateway/idle-sweep.ts): the sweep timer, bytes seen at the last sweep, and sweeps without traffic. */
  idleTimer: NodeJS.Timeout | undefined;
  idleSeen = -1;
  idleQuiet = 0;
  readonly remote: string | undefined;
  readonly local: string | undefined;

  constructor(
    readonly down: SessionSocket,
    readonly route: TcpProxyRoute | undefined,
    readonly ctx: ProxyContext,
    readonly info: DownstreamInfo,
    readonly names: TcpStatNames | undefined,
  ) {
    // Addresses are only readable while the socket is open: capture them for the log line.
    if (ctx.accessLog.enabled) {
      if (down.remoteAddress !== undefined) this.remote = `${down.remoteAddress}:${down.remotePort}`;
      if (down.localAddress !== undefined) this.local = `${down.localAddress}:${down.localPort}`;
    }
  }

  /**
   * The buffer for the upstream's next read (node calls this at connect and after every read): the
   * current one while it is free and the right size, else a new one. Small (4 KiB) at first, large
   * (64 KiB, node's own read size) once a read fills the small one, small again after a read under
   * 16 KiB: request/response traffic keeps 4 KiB per connection, a bulk flow keeps 64 KiB while its
   * reads stay large (and after it, if its last read was: the memory an idle connection may hold).
   */
  nextReadBuffer(): Buffer {
    const cur = this.readBuf;
    const grow = cur !== undefined && this.lastRead >= (cur.length === READ_SMALL ? READ_SMALL : READ_KEEP);
    const size = grow ? READ_LARGE : READ_SMALL;
    if (cur !== undefined && this.readBufFree && cur.length === size) return cur;
    const next = Buffer.allocUnsafeSlow(size);
    this.readBuf = next;
    this.readBufFree = true;
    return next;
  }

  addFlag(flag: string): void {
    this.flags = this.flags === undefined ? flag : `${this.flags},${flag}`;
  }

  /** Closes the downstream before any upstream exists (or after a connect failure). */
  fail(flag: string, details: string): void {
    this.addFlag(flag);
    this.details = details;
    this.upstream?.destroy();
    this.down.destroy();
  }

  destroyBoth(): void {
    this.upstream?.destroy();
    this.down.destroy();
  }

  /** Bytes moved on both sockets (the idle sweep's activity counter). */
  idleActivity(): number {
    const up = this.upstream;
    return this.down.bytesRead + this.down.bytesWritten + (up ? up.bytesRead + up.bytesWritten : 0);
  }

  /** Envoy tcp_proxy `idle_timeout` expired: counted, both sides closed. */
  onIdle(): void {
    if (this.names) this.ctx.stats.inc(this.names.idleTimeout);
    this.details = 'idle_timeout';
    this.destroyBoth();
  }

  /** Both sockets closed: release the endpoint, count bytes, write the access log. */
  finish(): void {
    const { ctx, down } = this;
    disarmIdleTimeout(this);
    const stats = ctx.stats;
    const tracker = this.info.tracker;
    if (tracker) {
      // The session owns the accepted socket's bookkeeping (see DownstreamInfo.tracker).
      tracker.delete(down);
      stats.inc(listenerStatNames(this.info.listener.name).cxActive, -1);
    }
    const rx = down.bytesRead;
    const tx = down.bytesWritten;
    if (this.names) {
      stats.inc(this.names.rxBytes, rx);
      stats.inc(this.names.txBytes, tx);
    }
    const ep = this.endpoint;
    if (ep) {
      ep.active--;
      const cs = this.clusterStats!;
      stats.inc(cs.cxActive, -1);
      const up = this.upstream!;
      stats.inc(cs.rxBytes, up.bytesRead);
      stats.inc(cs.txBytes, up.bytesWritten);
    }
    const obs = ctx.observer;
    if (obs.enabled && ep && this.cluster) {
      obs.onTcpClose?.(this.cluster.destination.cluster, tx, rx, this.flags ?? '-', ep.endpoint);
    }
    const al = ctx.accessLog;
    if (!al.enabled) return;
    al.log({
      startTime: this.info.startTime,
      method: '-',
      path: '-',
      protocol: '-',
      responseCode: 0,
      responseFlags: this.flags ?? '-',
      responseCodeDetails: this.details,
      bytesReceived: rx,
      bytesSent: tx,
      durationMs: performance.now() - this.info.startHr,
      upstreamServiceTimeMs: undefined,
      xForwardedFor: undefined,
      userAgent: undefined,
      requestId: undefined,
      authority: undefined,
      upstreamHost: ep?.endpoint.key,
      upstreamCluster: this.cluster?.destination.name,
      routeName: this.route?.name,
      downstreamRemoteAddress: this.remote,
      downstreamLocalAddress: this.local,
      requestedServerName: this.info.requestedServerName,
    });
  }
}

function sessionOf(s: SessionSocket): TcpSession | undefined {
  return s[kSession];
}

function onSocketClose(this: SessionSocket, hadError: boolean): void {
  const s = sessionOf(this);
  if (!s) return;
  // A side that ends abnormally takes the other one with it; a clean close of one side after both
  // FINs means the other is closing too.
  if (hadError) s.destroyBoth();
  else if (this === s.down && s.upstream && !s.connected) s.upstream.destroy();
  if (--s.open === 0) s.finish();
}

function onDownstreamError(this: SessionSocket): void {
  sessionOf(this)?.destroyBoth();
}

function onUpstreamError(this: SessionSocket, err: NodeJS.ErrnoException): void {
  const s = sessionOf(this);
  if (!s) return;
  if (!s.connected) {
    s.ctx.stats.inc(s.clusterStats!.connectFail);
    s.fail(ResponseFlag.UpstreamConnectionFailure, `upstream_connect_failure{${err.code ?? 'error'}}`);
    return;
  }
  s.destroyBoth();
}

/** Sizes of the upstream read buffers and the shortest read that keeps the large one (see {@link TcpSession.nextReadBuffer}), bytes. */
const READ_SMALL = 4 * 1024;
const READ_LARGE = 64 * 1024;
const READ_KEEP = 16 * 1024;

/**
 * Upstream → downstream without a buffer per read (`onread` of the upstream socket). The bytes are
 * written downstream at once; when that write returns false the upstream stops reading (returning
 * false pauses it) until the downstream drains, as `pipe()` would.
 */
function onUpstreamRead(this: SessionSocket, nread: number, buf: Buffer): boolean {
  const s = sessionOf(this);
  if (!s) return false;
  const down = s.down;
  s.lastRead = nread;
  // A closed downstream is torn down with the session (onSocketClose); the bytes have nowhere to go.
  if (down.destroyed || down.writableEnded) return true;
  const ok = down.write(nread === buf.length ? buf : buf.subarray(0, nread));
  // Written through to the kernel already: nothing refers to the buffer any more.
  s.readBufFree = down.writableLength === 0;
  return ok;
}

/** The downstream took the backlog: the upstream reads again. */
function onDownstreamDrain(this: SessionSocket): void {
  const up = sessionOf(this)?.upstream;
  if (up && !up.destroyed) up.resume();
}

/** The upstream's FIN, passed on once the bytes before it are written (what `pipe()` does). */
function onUpstreamEnd(this: SessionSocket): void {
  const s = sessionOf(this);
  if (s && !s.down.destroyed) s.down.end();
}

function onUpstreamConnect(this: SessionSocket): void {
  const s = sessionOf(this);
  if (!s) return;
  s.connected = true;
  this.setTimeout(0);
}

/** Upstream `timeout` only fires while connecting: the connect timeout. */
function onUpstreamTimeout(this: SessionSocket): void {
  const s = sessionOf(this);
  if (!s || s.connected) return;
  const stats = s.ctx.stats;
  stats.inc(s.clusterStats!.connectTimeout);
  stats.inc(s.clusterStats!.connectFail);
  s.fail(ResponseFlag.UpstreamConnectionFailure, 'upstream_connect_timeout');
}

/**
 * Proxies one accepted downstream connection along `route`. The caller has already counted the
 * connection on its listener (`downstream_cx_total`/`downstream_cx_active`); this function owns the
 * socket from here on (error handling, close, access log). Never throws.
 */
export function proxyTcp(
  downstream: net.Socket,
  route: TcpProxyRoute,
  ctx: ProxyContext,
  info: DownstreamInfo,
): void {
  const down = downstream as SessionSocket;
  const names = tcpStatNames(route.statPrefix);
  const s = new TcpSession(down, route, ctx, info, names);
  down[kSession] = s;
  down.on('error', onDownstreamError);
  down.on('close', onSocketClose);
  const stats = ctx.stats;
  stats.inc(names.cxTotal);

  const wc = pickWeighted(route.clusters, route.totalWeight)!;
  s.cluster = wc;
  const cluster = wc.destination.cluster;
  if (!cluster) {
    stats.inc(names.noRoute);
    return s.fail(ResponseFlag.NoClusterFound, 'cluster_not_found');
  }
  const cs = clusterStatNames(cluster.name);
  s.clusterStats = cs;
  const ep = ctx.clusters.get(cluster)?.pick();
  if (!ep) {
    stats.inc(cs.noneHealthy);
    return s.fail(ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream');
  }
  ep.active++;
  s.endpoint = ep;
  if (ctx.observer.enabled) ctx.observer.onTcpOpen?.(cluster, ep.endpoint);
  stats.inc(cs.cxTotal);
  stats.inc(cs.cxActive);

  // kSession is set before any read can happen: connect() only creates the handle (and calls the
  // buffer function), reads start once connected.
  const up = net.connect({
    host: ep.endpoint.address,
    port: ep.endpoint.port,
    allowHalfOpen: true,
    noDelay: true,
    onread: { buffer: () => s.nextReadBuffer(), callback: onUpstreamRead },
  }) as SessionSocket;
  up[kSession] = s;
  s.upstream = up;
  s.open = 2;
  up.setTimeout(cluster.connectTimeoutMs);
  up.on('timeout', onUpstreamTimeout);
  up.once('connect', onUpstreamConnect);
  up.on('error', onUpstreamError);
  up.on('close', onSocketClose);
  if (wc.idleTimeoutMs > 0) armIdleTimeout(s, wc.idleTimeoutMs);
  // Bytes written before the connect completes are queued by net.Socket.
  if (info.initial !== undefined && info.initial.length > 0) up.write(info.initial);
  // pipe() ends the destination when the source ends: that forwards the client's FIN (half-close).
  down.pipe(up);
  // The other direction reads into reused buffers (onUpstreamRead); its FIN is passed on here.
  up.on('end', onUpstreamEnd);
  down.on('drain', onDownstreamDrain);
}

/**
 * Closes a connection no chain or route accepts, as Envoy does (`NR filter_chain_not_found` in the
 * access log): counted, logged, and reset (`RST`) when `reset`, else closed.
 */
export function rejectConnection(
  socket: net.Socket,
  ctx: ProxyContext,
  info: DownstreamInfo,
  flag: string | undefined,
  details: string,
  reset: boolean,
): void {
  const down = socket as SessionSocket;
  const s = new TcpSession(down, undefined, ctx, info, undefined);
  if (flag) s.addFlag(flag);
  s.details = details;
  down[kSession] = s;
  // A socket whose 'close' was already emitted (peer gone during the ClientHello wait) is finished now.
  if (down.closed) return s.finish();
  down.on('error', onDownstreamError);
  down.on('close', onSocketClose);
  if (reset && !down.destroyed) down.resetAndDestroy();
  else down.destroy();
}

/** Counts an accepted connection on its listener (Envoy `downstream_cx_total`, `downstream_cx_active`). */
export function countAccepted(stats: StatStore, listenerName: string): void {
  const n = listenerStatNames(listenerName);
  stats.inc(n.cxTotal);
  stats.inc(n.cxActive);
}

/**
 * Stops accepting on `server`, lets open connections finish for `drainMs`, then destroys the rest.
 * Resolves once the server is closed.
 */
export function drainAndClose(
  server: net.Server,
  open: Set<net.Socket>,
  drainMs = L4_DRAIN_MS,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      for (const s of open) s.destroy();
    }, drainMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    if (open.size === 0) clearTimeout(timer);
  });
}

/**
 * The factory for `TCP` listeners (`protocol: TCP` servers): a node:net server whose connections take
 * the listener's TCP chain, first rule admitting the client address (`sourceSubnet`), else closed NR.
 */
export function createTcpListenerFactory(): ListenerFactory {
  return (listener, ctx, log: Logger): BoundListener | undefined => {
    if (!listener.filterChains) return undefined;
    let current = listener;
    const open = new Set<net.Socket>();
    // allowHalfOpen: a client's FIN must not close our side before the upstream has answered.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      const l = current;
      const startTime = Date.now();
      const startHr = performance.now();
      countAccepted(ctx.stats, l.name);
      open.add(socket);
      const info: DownstreamInfo = {
        listener: l,
        requestedServerName: undefined,
        initial: undefined,
        startTime,
        startHr,
        tracker: open,
      };
      const chain = l.filterChains?.chains[0] as TcpFilterChain | undefined;
      const routes = chain?.routes ?? [];
      const needsSource = routes.length > 1 || routes[0]?.sourceSubnets !== undefined;
      const route = selectTcpRoute(routes, needsSource ? socket.remoteAddress : undefined);
      if (!route) {
        ctx.stats.inc(listenerStatNames(l.name).noFilterChainMatch);
        log.debug(
          { listener: l.name, remote: socket.remoteAddress },
          'no tcp route admits this client; connection closed (NR)',
        );
        return rejectConnection(socket, ctx, info, ResponseFlag.NoRouteFound, 'filter_chain_not_found', true);
      }
      try {
        proxyTcp(socket, route, ctx, info);
      } catch (err) {
        // A bug must cost one connection, never the process.
        log.error({ err, listener: l.name }, 'tcp proxy failed');
        socket.destroy();
      }
    });
    server.on('error', (err) => log.error({ err, listener: listener.name }, 'tcp listener error'));
    return {
      server,
      update(next) {
        // New connections use the new routes; open ones keep the upstream they have.
        current = next;
      },
      close: () => drainAndClose(server, open),
    };
  };
}
