/**
 * Everything observability the gateway owns, behind one object the `Gateway` creates: the Istio
 * metrics, Envoy stats, tracing, the data-path observer, and the admin (15000), Prometheus (15090),
 * status (15020) and health (15021) ports with the server state they report.
 *
 * Lifecycle (driven by `Gateway`): {@link Observability.start} binds the ports before the config is
 * compiled, so `/healthz/ready` answers 503 from the first moment; {@link markListenersBound} after
 * every listener of the first snapshot is bound makes the state `LIVE` (200); {@link beginDrain} on
 * shutdown makes it `DRAINING` (503) while listeners finish; {@link close} last.
 */
import { hostname, networkInterfaces } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Resource } from '../config/resources.js';
import type { SnapshotStore } from '../config/store.js';
import { MESH_LISTENER_NAME } from '../config/mesh-listener.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import {
  EnvoyPrometheus,
  EnvoyStats,
  isEjected,
  type StatEntry,
  type StatsFilter,
} from '../telemetry/envoy-stats.js';
import { GatewayObserver } from '../telemetry/gateway-observer.js';
import { IstioMetrics, MESHGATE_VERSION } from '../telemetry/metrics.js';
import { NO_OBSERVER, type StreamObserver } from '../telemetry/observer.js';
import type { StatStore } from '../telemetry/stats.js';
import { Tracer, type TracingOptions } from '../telemetry/tracing.js';
import { createAdminServer, LOG_LEVELS, type AdminBackend, type ServerState } from './admin-server.js';
import { buildConfigDump, clustersText } from './config-dump.js';
import { createStatsServer, type HealthBackend } from './health-server.js';
import {
  aggregateIstioMetrics,
  mergeClustersJson,
  mergeClustersText,
  sumStatEntries,
  type ClusterStatuses,
  type WorkerFleet,
  type WorkerStats,
  type WorkerStatsPart,
} from './worker-stats.js';

/** Istio's port numbers (istio-semantics §5.5); what the CLI uses by default. */
export const DEFAULT_PORTS = Object.freeze({ admin: 15000, status: 15020, health: 15021, prometheus: 15090 });

/**
 * Observability settings. A port left undefined means that server is not started (the library
 * default, so embedded and test gateways bind nothing extra); the CLI passes Istio's ports.
 * Port 0 binds a free port (see {@link Observability.address}).
 */
export interface ObservabilityOptions {
  /** Istio metrics and per-request Envoy stats (`--metrics on|off`); default true. */
  readonly metrics?: boolean;
  /** `source_workload` and the tracing service name (`--workload-name`); default `istio-ingressgateway`. */
  readonly workloadName?: string;
  /** `source_workload_namespace`; default `istio-system`. */
  readonly workloadNamespace?: string;
  /** `--admin-port` (Envoy 15000). */
  readonly adminPort?: number;
  /** `--admin-address`; default `127.0.0.1`. */
  readonly adminAddress?: string;
  /** `--admin-allow-remote`: serve admin requests from non-loopback clients. */
  readonly adminAllowRemote?: boolean;
  /** `--prometheus-port` (Envoy 15090). */
  readonly prometheusPort?: number;
  /** `--status-port` (pilot-agent 15020). */
  readonly statusPort?: number;
  /** `--health-port` (15021). */
  readonly healthPort?: number;
  /** Bind address of the Prometheus, status and health ports; default `0.0.0.0` (scrapers and probes are remote). */
  readonly statsAddress?: string;
  /** `--tracing-endpoint` / `--tracing-sampling`; undefined = tracing off (the default). */
  readonly tracing?: Omit<TracingOptions, 'serviceName' | 'nodeId' | 'isMeshListener'>;
  /** Envoy node id (`/server_info`, span tag `node_id`); default `router~<ip>~<host>.<ns>~<ns>.svc.cluster.local`. */
  readonly nodeId?: string;
  /**
   * `--concurrency` above 1, in the primary: the workers serve traffic and count it; this process
   * serves the ports and answers with the workers' numbers added up (no metrics or tracing of its own).
   */
  readonly fleet?: WorkerFleet;
}

/** What the observability layer reads from the gateway. */
interface GatewayView {
  readonly store: SnapshotStore;
  readonly stats: StatStore;
  readonly clusters: ClusterManager;
  readonly listeners: { addressOf(name: string): { address: string; port: number } | undefined };
  readonly log: Logger;
}

/** The four extra servers. */
export type ServerKind = 'admin' | 'prometheus' | 'status' | 'health';

const FLAG: Record<ServerKind, string> = {
  admin: '--admin-port',
  prometheus: '--prometheus-port',
  status: '--status-port',
  health: '--health-port',
};

/** A telemetry port that could not be bound; the message names the port and the flag to change it. */
export class PortBindError extends Error {
  constructor(
    readonly server: ServerKind,
    readonly address: string,
    readonly port: number,
    override readonly cause: NodeJS.ErrnoException,
  ) {
    const why =
      cause.code === 'EADDRINUSE'
        ? 'address already in use'
        : cause.code === 'EACCES'
          ? 'permission denied'
          : cause.message;
    super(
      `cannot bind the ${server} port on ${address}:${port}: ${why}; choose another with ${FLAG[server]} <port> (0 picks a free one)`,
    );
    this.name = 'PortBindError';
  }
}

/** Envoy's `server.state` gauge values. */
const STATE_CODE: Record<ServerState, number> = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2 };

/**
 * The gateway's observability: built once per `Gateway`, read by the data path (`observer`,
 * `tracer`) and by the admin, Prometheus, status and health servers it binds.
 */
export class Observability implements AdminBackend, HealthBackend {
  readonly metrics: IstioMetrics | undefined;
  readonly envoy: EnvoyStats;
  /** Set when tracing is on; the data path's `ProxyContext.tracing`. */
  readonly tracer: Tracer | undefined;
  /** The data path's `ProxyContext.observer`. */
  readonly observer: StreamObserver;
  readonly nodeId: string;
  private readonly registry: Registry;
  private readonly envoyProm: EnvoyPrometheus;
  private readonly servers: { kind: ServerKind; app: FastifyInstance; address: string; port: number }[] = [];
  private readonly bound = new Map<ServerKind, { address: string; port: number }>();
  private listenersBound = false;
  private draining = false;
  private resources: readonly Resource[] | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly opts: ObservabilityOptions,
    private readonly gw: GatewayView,
  ) {
    const workload = opts.workloadName ?? 'istio-ingressgateway';
    const ns = opts.workloadNamespace ?? 'istio-system';
    this.nodeId = opts.nodeId ?? `router~${primaryAddress()}~${hostname()}.${ns}~${ns}.svc.cluster.local`;
    // In a primary the workers count and trace; what it shows is theirs, added up.
    const metricsOn = opts.metrics !== false && opts.fleet === undefined;
    this.metrics = metricsOn
      ? new IstioMetrics({
          workloadName: workload,
          workloadNamespace: ns,
          isMeshListener: (local) => this.isMeshListener(local),
        })
      : undefined;
    this.registry = this.metrics?.registry ?? new Registry();
    this.envoy = new EnvoyStats(gw.stats, (local) => this.listenerAt(local));
    this.envoyProm = new EnvoyPrometheus(this.registry, this.envoy);
    this.tracer =
      opts.tracing && opts.fleet === undefined
        ? new Tracer(
            {
              ...opts.tracing,
              serviceName: `${workload}.${ns}`,
              nodeId: this.nodeId,
              isMeshListener: (local) => this.isMeshListener(local),
            },
            gw.stats,
          )
        : undefined;
    this.observer =
      metricsOn || this.tracer
        ? new GatewayObserver(this.metrics, metricsOn ? this.envoy : undefined, this.tracer)
        : NO_OBSERVER;
    gw.store.on('snapshot', (s) => {
      // Gateway.install drains before the swap; this catches a swap made by anyone else.
      this.observer.drain?.();
      // Label and stat-name caches are per snapshot: clusters and endpoints are new objects.
      this.metrics?.invalidate();
      this.envoy.onSnapshot(s);
    });
  }

  /**
   * Binds every configured port (admin on `adminAddress`, the others on `statsAddress`).
   * @returns one error per port that could not be bound (the others are closed again then).
   */
  async start(): Promise<PortBindError[]> {
    const o = this.opts;
    const statsAddress = o.statsAddress ?? '0.0.0.0';
    const plan: [ServerKind, number | undefined, string, () => FastifyInstance][] = [
      [
        'admin',
        o.adminPort,
        o.adminAddress ?? '127.0.0.1',
        () => createAdminServer(this, { allowRemote: o.adminAllowRemote === true }),
      ],
      [
        'prometheus',
        o.prometheusPort,
        statsAddress,
        () => createStatsServer(this, { health: false, prometheus: true }),
      ],
      [
        'status',
        o.statusPort,
        statsAddress,
        () => createStatsServer(this, { health: true, prometheus: true }),
      ],
      [
        'health',
        o.healthPort,
        statsAddress,
        () => createStatsServer(this, { health: true, prometheus: false }),
      ],
    ];
    const errors: PortBindError[] = [];
    for (const [kind, port, address, create] of plan) {
      if (port === undefined) continue;
      const app = create();
      try {
        await app.listen({ port, host: address });
      } catch (err) {
        errors.push(new PortBindError(kind, address, port, err as NodeJS.ErrnoException));
        await app.close().catch(() => undefined);
        continue;
      }
      const a = app.server.address();
      const actual = a && typeof a === 'object' ? { address: a.address, port: a.port } : { address, port };
      this.servers.push({ kind, app, ...actual });
      this.bound.set(kind, actual);
      this.gw.log.info({ server: kind, address: actual.address, port: actual.port }, `${kind} port bound`);
    }
    if (errors.length > 0) await this.closeServers();
    return errors;
  }

  /** The bound address of a server (the real port when 0 was asked); undefined when not running. */
  address(kind: ServerKind): { address: string; port: number } | undefined {
    return this.bound.get(kind);
  }

  adminAddress(): { address: string; port: number } | undefined {
    return this.address('admin');
  }

  /** Every listener of the first snapshot is bound: the server becomes LIVE. */
  markListenersBound(): void {
    this.listenersBound = true;
  }

  /** Shutdown began (SIGTERM): readiness turns 503 while listeners drain. */
  beginDrain(): void {
    this.draining = true;
  }

  /** The resources of the snapshot being installed (`/config_dump` match summaries). */
  setResources(resources: readonly Resource[] | undefined): void {
    this.resources = resources;
  }

  /** Closes the servers and flushes queued spans. */
  async close(): Promise<void> {
    this.draining = true;
    await this.closeServers();
    await this.tracer?.close();
  }

  private async closeServers(): Promise<void> {
    const all = this.servers.splice(0);
    this.bound.clear();
    await Promise.all(all.map((s) => s.app.close().catch(() => undefined)));
  }

  // ---- AdminBackend / HealthBackend

  state(): ServerState {
    if (this.draining) return 'DRAINING';
    return this.listenersBound && this.gw.store.hasSnapshot ? 'LIVE' : 'PRE_INITIALIZING';
  }

  notReadyReason(): string {
    if (this.draining) return 'meshgate is draining (shutting down)';
    if (!this.gw.store.hasSnapshot) return 'meshgate is not ready: no configuration snapshot installed yet';
    return 'meshgate is not ready: listeners are not bound yet';
  }

  readonly prometheusContentType = Registry.PROMETHEUS_CONTENT_TYPE;

  /** `istio_*` and `envoy_*` in one Prometheus text document. */
  async prometheusText(): Promise<string> {
    const fleet = this.opts.fleet;
    if (fleet) {
      const all = await fleet.collect(['metrics', 'entries']);
      this.envoyProm.load(sumStatEntries(all, this.primaryEntries()));
      const istio = await aggregateIstioMetrics(all).metrics();
      const envoy = await this.registry.metrics();
      return istio === '' ? envoy : `${istio.endsWith('\n') ? istio : `${istio}\n`}${envoy}`;
    }
    this.observer.drain?.();
    this.envoyProm.load(this.statEntries());
    return this.registry.metrics();
  }

  async statsText(filter: StatsFilter | undefined): Promise<string> {
    const fleet = this.opts.fleet;
    if (fleet) {
      const all = await fleet.collect(['entries']);
      return EnvoyStats.text(sumStatEntries(all, this.primaryEntries()), filter);
    }
    this.observer.drain?.();
    return EnvoyStats.text(this.statEntries(), filter);
  }

  /**
   * What a worker reports to its primary (see `worker-stats.ts`), only the parts asked for: its
   * Istio metrics, its Envoy stats without `server.*`, its `/clusters` views.
   */
  async workerStats(id: number, parts: readonly WorkerStatsPart[]): Promise<WorkerStats> {
    const want = new Set(parts);
    if (want.has('metrics') || want.has('entries')) this.observer.drain?.();
    const metrics =
      want.has('metrics') && this.metrics
        ? (await this.metrics.registry.getMetricsAsJSON()).filter((m) => !m.name.startsWith('envoy_'))
        : undefined;
    const snapshot = this.gw.store.hasSnapshot ? this.gw.store.current : undefined;
    return {
      id,
      ...(want.has('metrics') ? { metrics: metrics ?? [] } : {}),
      ...(want.has('entries') ? { entries: this.envoy.entries(snapshot, this.gw.clusters, []) } : {}),
      ...(want.has('clustersText') ? { clustersText: this.localClustersText() } : {}),
      ...(want.has('clustersJson') ? { clustersJson: this.localClustersJson() } : {}),
    };
  }

  private statEntries(): StatEntry[] {
    const snapshot = this.gw.store.hasSnapshot ? this.gw.store.current : undefined;
    return this.envoy.entries(snapshot, this.gw.clusters, this.serverEntries());
  }

  /** A primary's own stats: its server gauges and its stat store (config reloads, rejections). */
  private primaryEntries(): StatEntry[] {
    const own = [...this.gw.stats.entries()].map(([name, value]) => ({ name, value, gauge: false }));
    return [...this.serverEntries(), ...own];
  }

  private serverEntries(): StatEntry[] {
    const state = this.state();
    return [
      { name: 'server.live', value: state === 'LIVE' ? 1 : 0, gauge: true },
      { name: 'server.state', value: STATE_CODE[state], gauge: true },
      { name: 'server.uptime', value: Math.floor((Date.now() - this.startedAt) / 1000), gauge: true },
      { name: 'server.concurrency', value: this.opts.fleet?.concurrency ?? 1, gauge: true },
    ];
  }

  serverInfo(): Record<string, unknown> {
    const o = this.opts;
    return {
      version: `meshgate/${MESHGATE_VERSION}`,
      state: this.state(),
      uptime_current_epoch: `${Math.floor((Date.now() - this.startedAt) / 1000)}s`,
      node: {
        id: this.nodeId,
        cluster: `${o.workloadName ?? 'istio-ingressgateway'}.${o.workloadNamespace ?? 'istio-system'}`,
      },
      snapshot_version: this.gw.store.hasSnapshot ? this.gw.store.current.version : null,
      ...(o.fleet ? { workers: o.fleet.workers() } : {}),
      command_line_options: {
        metrics: o.metrics !== false,
        concurrency: o.fleet?.concurrency ?? 1,
        workload_name: o.workloadName ?? 'istio-ingressgateway',
        workload_namespace: o.workloadNamespace ?? 'istio-system',
        admin: this.bound.get('admin') ?? null,
        admin_allow_remote: o.adminAllowRemote === true,
        prometheus: this.bound.get('prometheus') ?? null,
        status: this.bound.get('status') ?? null,
        health: this.bound.get('health') ?? null,
        tracing: o.tracing
          ? {
              endpoint: o.tracing.endpoint,
              format: o.tracing.format ?? null,
              sampling_percent: o.tracing.samplingPercent ?? 1,
            }
          : null,
      },
    };
  }

  configDump(): Record<string, unknown> | undefined {
    if (!this.gw.store.hasSnapshot) return undefined;
    return buildConfigDump({
      snapshot: this.gw.store.current,
      resources: this.resources,
      boundAddress: (name) => this.gw.listeners.addressOf(name),
    });
  }

  async clustersText(): Promise<string> {
    const fleet = this.opts.fleet;
    if (fleet)
      return mergeClustersText((await fleet.collect(['clustersText'])).map((s) => s.clustersText ?? ''));
    return this.localClustersText();
  }

  /** `/clusters?format=json`, shaped like Envoy's `cluster_statuses`. */
  async clustersJson(): Promise<ClusterStatuses> {
    const fleet = this.opts.fleet;
    if (fleet)
      return mergeClustersJson(
        (await fleet.collect(['clustersJson'])).flatMap((s) => (s.clustersJson ? [s.clustersJson] : [])),
      );
    return this.localClustersJson();
  }

  private localClustersText(): string {
    if (!this.gw.store.hasSnapshot) return '';
    this.observer.drain?.();
    return clustersText(this.gw.store.current, this.gw.clusters, (c, e) => this.envoy.hostStats(c, e));
  }

  private localClustersJson(): ClusterStatuses {
    if (!this.gw.store.hasSnapshot) return { cluster_statuses: [] };
    this.observer.drain?.();
    const snapshot = this.gw.store.current;
    return {
      cluster_statuses: [...snapshot.clusters.values()].map((c) => ({
        name: c.name,
        added_via_api: true,
        host_statuses: (this.gw.clusters.get(c)?.endpoints ?? []).map((ep) => {
          const s = this.envoy.hostStats(c.name, ep.endpoint.key);
          const ejected = isEjected(ep);
          return {
            address: { socket_address: { address: ep.endpoint.address, port_value: ep.endpoint.port } },
            stats: [
              { name: 'rq_active', value: ep.active },
              { name: 'rq_total', value: s.rqTotal },
              { name: 'rq_success', value: s.rqSuccess },
              { name: 'rq_error', value: s.rqError },
              { name: 'rq_timeout', value: s.rqTimeout },
            ],
            health_status: ejected
              ? { eds_health_status: 'HEALTHY', failed_outlier_check: true }
              : { eds_health_status: 'HEALTHY' },
            weight: ep.endpoint.weight,
            labels: ep.endpoint.labels,
          };
        }),
      })),
    };
  }

  listenersText(): string {
    if (!this.gw.store.hasSnapshot) return '';
    return this.gw.store.current.listeners
      .map((l) => {
        const a = this.gw.listeners.addressOf(l.name);
        return `${l.name}::${a ? `${a.address}:${a.port}` : 'not bound'}`;
      })
      .map((s) => `${s}\n`)
      .join('');
  }

  logLevel(): string {
    return this.gw.log.level;
  }

  setLogLevel(level: string): boolean {
    const mapped = LOG_LEVELS[level.toLowerCase()];
    if (mapped === undefined) return false;
    this.gw.log.level = mapped;
    this.opts.fleet?.setLogLevel(mapped);
    return true;
  }

  /** The listener a downstream local address (`ip:port`) belongs to (for `http.<prefix>.*` stats). */
  /** Whether a downstream local address (`ip:port`) is the mesh listener's (one map lookup). */
  private isMeshListener(local: string): boolean {
    const a = this.gw.listeners.addressOf(MESH_LISTENER_NAME);
    return a !== undefined && local.endsWith(`:${a.port}`);
  }

  private listenerAt(local: string): string | undefined {
    if (!this.gw.store.hasSnapshot) return undefined;
    const colon = local.lastIndexOf(':');
    const port = Number(local.slice(colon + 1));
    let ip = local.slice(0, colon);
    if (ip.startsWith('::ffff:')) ip = ip.slice(7);
    for (const l of this.gw.store.current.listeners) {
      const a = this.gw.listeners.addressOf(l.name);
      if (!a || a.port !== port) continue;
      if (a.address === ip || a.address === '0.0.0.0' || a.address === '::') return l.name;
    }
    return undefined;
  }
}

/** First non-internal IPv4 address (Envoy's node id carries the pod IP), else 127.0.0.1. */
function primaryAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  }
  return '127.0.0.1';
}
