/**
 * Istio's standard metrics (istio/proxy `istio_stats`), as an ingress/egress gateway reports them
 * (`reporter="source"`), exposed with prom-client from a registry of their own (never prom-client's
 * global one, so two gateways in one process never mix).
 *
 * | metric | type | unit / value |
 * |---|---|---|
 * | `istio_requests_total` | counter | one per finished HTTP request |
 * | `istio_request_duration_milliseconds` | histogram | request start → last byte, ms |
 * | `istio_request_bytes` | histogram | request body bytes received |
 * | `istio_response_bytes` | histogram | response body bytes sent |
 * | `istio_tcp_connections_opened_total` / `_closed_total` | counter | TCP proxy connections |
 * | `istio_tcp_sent_bytes_total` / `_received_bytes_total` | counter | bytes to / from downstream |
 * | `istio_build` | gauge | 1, labels `component="proxy"`, `tag=<meshgate version>` |
 *
 * Cost. prom-client's own `inc`/`observe` hash and validate all 25 labels on every call (measured:
 * ~6 µs per call, ~25 µs per request for the four HTTP metrics). Here the data path only bumps plain
 * numbers: label values are derived once per (cluster, endpoint) per snapshot and cached by object
 * identity (the cache is cleared on every snapshot swap), the series for a response code/flags pair
 * is found with one `Map` lookup, and histograms are `Float64Array` bucket counts. prom-client reads
 * those numbers at scrape time (`collect()` for counters, a histogram collector with prom-client's
 * metric contract for histograms), so the exposition format is still prom-client's.
 *
 * Cardinality is bounded by configuration: labels come from cluster and endpoint metadata, the
 * status code and Envoy's response-flag set; never from paths, hosts sent by clients or ids.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { Cluster, ClusterEndpoint } from '../config/cluster.js';
import type { StreamRecord } from './access-log.js';

/** Envoy's default histogram buckets, which Istio uses for all three HTTP histograms (ms or bytes). */
const ISTIO_BUCKETS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
]);

/** Label names of the HTTP metrics, in the order istio-semantics §5.1 lists them. */
export const HTTP_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

/** TCP metrics carry the same labels without `response_code` and `grpc_response_status`. */
export const TCP_LABEL_NAMES = HTTP_LABEL_NAMES.filter(
  (n) => n !== 'response_code' && n !== 'grpc_response_status',
);

type Labels = Readonly<Record<string, string>>;

/** Who the gateway is, for the `source_*` labels. */
interface MetricsOptions {
  /** `--workload-name`; default `istio-ingressgateway`. */
  readonly workloadName?: string;
  /** Namespace of the gateway workload; default `istio-system`. */
  readonly workloadNamespace?: string;
  /**
   * Tells whether a downstream local address (`ip:port`) is the mesh (sidecar outbound) listener's.
   * Its requests are labelled as a sidecar's outbound reports them: without service metadata
   * (no cluster, `PassthroughCluster`, `BlackHoleCluster`) `destination_service` falls back to the
   * Host header, which Istio turns off only for gateways and sidecar inbound (pilot
   * `disableHostHeaderFallback`). Default: no mesh listener.
   */
  readonly isMeshListener?: (localAddress: string) => boolean;
}

const UNKNOWN = 'unknown';

/** Istio's clusters without service metadata; `destination_service_name` names them. */
const PASSTHROUGH = 'PassthroughCluster';
const BLACKHOLE = 'BlackHoleCluster';
/** The mesh listener's `REGISTRY_ONLY` refusal route (a direct response standing for BlackHoleCluster). */
const BLOCK_ALL_ROUTE = 'block_all';

/**
 * Distinct Host-header destinations kept at most; later hosts count as `unknown`. The mesh listener
 * binds loopback only, so hosts come from local workloads, but a bound keeps a runaway client from
 * growing the series without limit.
 */
const MAX_HOST_FALLBACKS = 1024;

/** Endpoints cached per cluster at most (original-destination clusters have one per target). */
const MAX_CACHED_ENDPOINTS = 1024;

/** Cumulative-on-read histogram state: per-bucket (non-cumulative) counts, sum and count. */
class HistogramData {
  /** One slot per bucket plus the +Inf overflow slot. */
  readonly counts = new Float64Array(ISTIO_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(v: number): void {
    let i = 0;
    const n = ISTIO_BUCKETS.length;
    // Linear scan: most values fall in the first few buckets (fast requests, small bodies).
    while (i < n && v > ISTIO_BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** The counter and three histograms of one HTTP label set. */
class HttpSeries {
  requests = 0;
  readonly duration = new HistogramData();
  readonly requestBytes = new HistogramData();
  readonly responseBytes = new HistogramData();
  constructor(readonly labels: Labels) {}
}

/** The four TCP counters of one TCP label set. */
class TcpSeries {
  opened = 0;
  closed = 0;
  sent = 0;
  received = 0;
  constructor(readonly labels: Labels) {}
}

/**
 * Every series of one destination (cluster service + endpoint labels): only `response_code` and
 * `response_flags` (HTTP) or `response_flags` (TCP) vary below it.
 */
class DestinationSeries {
  /** Flags `-` (the common case) keyed by status code: a numeric Map lookup, no string building. */
  private readonly plain = new Map<number, HttpSeries>();
  private readonly flagged = new Map<string, HttpSeries>();
  private readonly grpc = new Map<string, HttpSeries>();
  private readonly tcp = new Map<string, TcpSeries>();

  constructor(
    private readonly owner: IstioMetrics,
    /** Every label except the per-request ones. */
    readonly base: Labels,
  ) {}

  http(code: number, flags: string, grpcStatus?: string): HttpSeries {
    if (grpcStatus !== undefined) {
      // gRPC streams: request_protocol "grpc" and their grpc_response_status.
      const key = `${code}|${flags}|${grpcStatus}`;
      let g = this.grpc.get(key);
      if (g === undefined) {
        g = this.owner.newHttpSeries(this.base, code, flags, grpcStatus);
        this.grpc.set(key, g);
      }
      return g;
    }
    if (flags === '-') {
      let s = this.plain.get(code);
      if (s === undefined) {
        s = this.owner.newHttpSeries(this.base, code, flags);
        this.plain.set(code, s);
      }
      return s;
    }
    const key = `${code}|${flags}`;
    let s = this.flagged.get(key);
    if (s === undefined) {
      s = this.owner.newHttpSeries(this.base, code, flags);
      this.flagged.set(key, s);
    }
    return s;
  }

  tcpSeries(flags: string): TcpSeries {
    let s = this.tcp.get(flags);
    if (s === undefined) {
      s = this.owner.newTcpSeries(this.base, flags);
      this.tcp.set(flags, s);
    }
    return s;
  }
}

/**
 * `destination_service_name` and `_namespace` as Istio derives them: for a Kubernetes-style FQDN
 * `<name>.<ns>.svc.<domain>` the first two labels; otherwise (ServiceEntry hosts such as
 * `httpbin.org`) the host itself and the namespace of the ServiceEntry.
 */
export function serviceNameParts(hostname: string, namespace: string): { name: string; namespace: string } {
  const parts = hostname.split('.');
  if (parts.length >= 3 && parts[2] === 'svc') return { name: parts[0]!, namespace: parts[1]! };
  return { name: hostname, namespace };
}

/**
 * The Istio standard metrics of one gateway. Feed it with {@link onHttp} (one call per finished
 * request) and the TCP proxy calls; read it with {@link registry} (`/stats/prometheus`).
 */
export class IstioMetrics {
  /** prom-client registry holding only this gateway's `istio_*` metrics. */
  readonly registry = new Registry();
  private readonly source: Labels;
  /** Per-snapshot cache: cluster → endpoint → destination series. Cleared by {@link invalidate}. */
  private cache = new Map<Cluster, Map<ClusterEndpoint | null, DestinationSeries>>();
  /** Destination series by their base label values; persists across snapshots (counters never reset). */
  private readonly destinations = new Map<string, DestinationSeries>();
  private readonly noCluster: DestinationSeries;
  private readonly httpSeries: HttpSeries[] = [];
  private readonly tcpSeries: TcpSeries[] = [];
  private readonly isMesh: ((localAddress: string) => boolean) | undefined;
  /** Host-header destinations of mesh-listener requests, by `<cluster name>|<host>`. */
  private readonly hostFallbacks = new Map<string, DestinationSeries>();

  constructor(opts: MetricsOptions = {}) {
    this.isMesh = opts.isMeshListener;
    const workload = opts.workloadName ?? 'istio-ingressgateway';
    const ns = opts.workloadNamespace ?? 'istio-system';
    this.source = Object.freeze({
      reporter: 'source',
      source_workload: workload,
      source_workload_namespace: ns,
      source_principal: UNKNOWN,
      source_app: workload,
      source_version: UNKNOWN,
      source_canonical_service: workload,
      source_canonical_revision: 'latest',
      source_cluster: UNKNOWN,
    });
    this.noCluster = this.destinationFor(undefined, undefined);
    this.registerMetrics();
  }

  /** Drops the per-snapshot label cache (call on every snapshot swap). Series are kept. */
  invalidate(): void {
    this.cache = new Map();
  }

  /**
   * Records one finished HTTP request. `cluster` undefined (no route, local reply, cluster not
   * found) gives `destination_service="unknown"`, as gateways never fall back to the Host header.
   */
  onHttp(r: StreamRecord, cluster: Cluster | undefined, endpoint: ClusterEndpoint | undefined): void {
    const dest =
      cluster !== undefined && cluster.name !== PASSTHROUGH
        ? this.cached(cluster, endpoint)
        : (this.meshFallback(r, cluster) ??
          (cluster === undefined ? this.noCluster : this.cached(cluster, endpoint)));
    const s = dest.http(r.responseCode, r.responseFlags, r.grpcStatus);
    s.requests++;
    s.duration.observe(r.durationMs);
    s.requestBytes.observe(r.bytesReceived);
    s.responseBytes.observe(r.bytesSent);
  }

  /**
   * A TCP proxy connection was accepted and routed to `cluster` (undefined when no route/cluster).
   * Counts `istio_tcp_connections_opened_total` with `response_flags="-"`.
   */
  onTcpOpen(cluster: Cluster | undefined, endpoint?: ClusterEndpoint): void {
    this.tcpDest(cluster, endpoint).tcpSeries('-').opened++;
  }

  /**
   * A TCP proxy connection closed. Counts `istio_tcp_connections_closed_total` and adds the bytes
   * sent to (`sentBytes`) and received from (`receivedBytes`) the downstream client, labelled with
   * the connection's Envoy response flags (`-` when none, e.g. `UF` or `UH`).
   */
  onTcpClose(
    cluster: Cluster | undefined,
    sentBytes: number,
    receivedBytes: number,
    flags = '-',
    endpoint?: ClusterEndpoint,
  ): void {
    const s = this.tcpDest(cluster, endpoint).tcpSeries(flags || '-');
    s.closed++;
    s.sent += sentBytes;
    s.received += receivedBytes;
  }

  /**
   * Adds bytes of a still-open TCP connection (Istio reports long connections periodically, not only
   * at close). Bytes passed here must not be passed to {@link onTcpClose} again.
   */
  onTcpBytes(
    cluster: Cluster | undefined,
    sentBytes: number,
    receivedBytes: number,
    endpoint?: ClusterEndpoint,
  ): void {
    const s = this.tcpDest(cluster, endpoint).tcpSeries('-');
    s.sent += sentBytes;
    s.received += receivedBytes;
  }

  /** The Prometheus text of every `istio_*` metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** @internal series factory for {@link DestinationSeries}. */
  newHttpSeries(base: Labels, code: number, flags: string, grpcStatus?: string): HttpSeries {
    const labels = Object.freeze({
      ...base,
      request_protocol: grpcStatus === undefined ? 'http' : 'grpc',
      // A status outside 0-999 cannot come from node:http; guard the label set anyway.
      response_code: code >= 0 && code < 1000 ? String(code) : '0',
      grpc_response_status: grpcStatus ?? '',
      response_flags: flags,
      connection_security_policy: UNKNOWN,
    });
    const s = new HttpSeries(labels);
    this.httpSeries.push(s);
    return s;
  }

  /** @internal series factory for {@link DestinationSeries}. */
  newTcpSeries(base: Labels, flags: string): TcpSeries {
    const labels = Object.freeze({
      ...base,
      request_protocol: 'tcp',
      response_flags: flags,
      connection_security_policy: UNKNOWN,
    });
    const s = new TcpSeries(labels);
    this.tcpSeries.push(s);
    return s;
  }

  private tcpDest(cluster: Cluster | undefined, endpoint: ClusterEndpoint | undefined): DestinationSeries {
    return cluster === undefined ? this.noCluster : this.cached(cluster, endpoint);
  }

  private cached(cluster: Cluster, endpoint: ClusterEndpoint | undefined): DestinationSeries {
    let byEndpoint = this.cache.get(cluster);
    if (byEndpoint === undefined) {
      byEndpoint = new Map();
      this.cache.set(cluster, byEndpoint);
    }
    const key = endpoint ?? null;
    let d = byEndpoint.get(key);
    if (d === undefined) {
      d = this.destinationFor(cluster, endpoint);
      // Original-destination clusters make endpoints per request target: keep the cache bounded.
      if (byEndpoint.size >= MAX_CACHED_ENDPOINTS) byEndpoint.clear();
      byEndpoint.set(key, d);
    }
    return d;
  }

  /**
   * A mesh-listener request without service metadata: the sidecar's Host-header fallback
   * (`destination_service` = the authority as sent; `destination_service_name` = the cluster's
   * name for Passthrough/BlackHole, else the authority too). Undefined for gateway requests.
   */
  private meshFallback(r: StreamRecord, cluster: Cluster | undefined): DestinationSeries | undefined {
    const local = r.downstreamLocalAddress;
    const host = r.authority;
    if (this.isMesh === undefined || local === undefined || host === undefined || host === '')
      return undefined;
    // The stream knows its listener; asking by address costs a getsockname per request.
    if (!(r.meshListener ?? this.isMesh(local))) return undefined;
    const clusterName =
      cluster !== undefined ? cluster.name : r.routeName === BLOCK_ALL_ROUTE ? BLACKHOLE : undefined;
    const key = `${clusterName ?? ''}|${host}`;
    let d = this.hostFallbacks.get(key);
    if (d === undefined) {
      if (this.hostFallbacks.size >= MAX_HOST_FALLBACKS) return undefined;
      d = this.destinationFor(undefined, undefined, { service: host, name: clusterName ?? host });
      this.hostFallbacks.set(key, d);
    }
    return d;
  }

  /** Derives the destination labels (slow path: once per cluster/endpoint per snapshot). */
  private destinationFor(
    cluster: Cluster | undefined,
    endpoint: ClusterEndpoint | undefined,
    hostFallback?: { readonly service: string; readonly name: string },
  ): DestinationSeries {
    const app = endpoint?.labels['app'];
    const version = endpoint?.labels['version'];
    let service = UNKNOWN;
    let serviceName = UNKNOWN;
    let serviceNamespace = UNKNOWN;
    if (cluster) {
      service = cluster.service.hostname;
      const parts = serviceNameParts(cluster.service.hostname, cluster.service.namespace);
      serviceName = parts.name;
      serviceNamespace = parts.namespace;
    } else if (hostFallback !== undefined) {
      service = hostFallback.service;
      serviceName = hostFallback.name;
    }
    const base: Labels = Object.freeze({
      ...this.source,
      // Peer metadata is not exchanged with upstreams: workload identity comes from endpoint labels.
      destination_workload: app ?? UNKNOWN,
      destination_workload_namespace: app !== undefined && cluster ? cluster.service.namespace : UNKNOWN,
      destination_principal: UNKNOWN,
      destination_app: app ?? UNKNOWN,
      destination_version: version ?? UNKNOWN,
      destination_service: service,
      destination_service_name: serviceName,
      destination_service_namespace: serviceNamespace,
      destination_canonical_service: app ?? UNKNOWN,
      destination_canonical_revision: version ?? 'latest',
      destination_cluster: UNKNOWN,
    });
    const key = Object.values(base).join('\u0000');
    let d = this.destinations.get(key);
    if (d === undefined) {
      d = new DestinationSeries(this, base);
      this.destinations.set(key, d);
    }
    return d;
  }

  private registerMetrics(): void {
    const reg = [this.registry];
    const http = this.httpSeries;
    const tcp = this.tcpSeries;
    new Counter({
      name: 'istio_requests_total',
      help: 'Total requests handled by the gateway (Istio standard metric).',
      labelNames: HTTP_LABEL_NAMES,
      registers: reg,
      collect() {
        // Copy the accumulated totals in at scrape time (public prom-client API; no hot-path cost).
        this.reset();
        for (const s of http) this.inc(s.labels, s.requests);
      },
    });
    const histograms: [string, string, (s: HttpSeries) => HistogramData][] = [
      [
        'istio_request_duration_milliseconds',
        'Request duration, start to last byte, in milliseconds (Istio standard metric).',
        (s) => s.duration,
      ],
      ['istio_request_bytes', 'Request body size in bytes (Istio standard metric).', (s) => s.requestBytes],
      [
        'istio_response_bytes',
        'Response body size in bytes (Istio standard metric).',
        (s) => s.responseBytes,
      ],
    ];
    for (const [name, help, pick] of histograms) {
      // prom-client has no API to load precomputed bucket counts into its Histogram, so this
      // collector implements the metric contract its Registry reads (`get()` → name/help/type/values).
      const collector = new AccumulatedHistogram(name, help, () =>
        http.map((s) => [s.labels, pick(s)] as const),
      );
      this.registry.registerMetric(collector as unknown as Metric);
    }
    const tcpCounters: [string, string, (s: TcpSeries) => number][] = [
      [
        'istio_tcp_connections_opened_total',
        'TCP connections opened (Istio standard metric).',
        (s) => s.opened,
      ],
      [
        'istio_tcp_connections_closed_total',
        'TCP connections closed (Istio standard metric).',
        (s) => s.closed,
      ],
      [
        'istio_tcp_sent_bytes_total',
        'Bytes sent to the downstream over TCP (Istio standard metric).',
        (s) => s.sent,
      ],
      [
        'istio_tcp_received_bytes_total',
        'Bytes received from the downstream over TCP (Istio standard metric).',
        (s) => s.received,
      ],
    ];
    for (const [name, help, pick] of tcpCounters) {
      new Counter({
        name,
        help,
        labelNames: TCP_LABEL_NAMES,
        registers: reg,
        collect() {
          this.reset();
          for (const s of tcp) {
            const v = pick(s);
            // A series exists once its connection opened; skip counters still at zero for it.
            if (v > 0) this.inc(s.labels, v);
          }
        },
      });
    }
    const build = new Gauge({
      name: 'istio_build',
      help: 'Istio component build info (meshgate version as tag).',
      labelNames: ['component', 'tag'],
      registers: reg,
      // One build per gateway, however many workers report it.
      aggregator: 'first',
    });
    build.set({ component: 'proxy', tag: MESHGATE_VERSION }, 1);
  }
}

/** One exposed sample, in the shape prom-client's Registry formats. */
interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/**
 * A histogram whose data is kept elsewhere (cumulated here at scrape time), exposed through
 * prom-client's Registry: the same object shape prom-client's own metrics return from `get()`.
 */
class AccumulatedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => readonly (readonly [Labels, HistogramData])[],
  ) {}

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [labels, h] of this.read()) {
      if (h.count === 0) continue;
      let acc = 0;
      for (let i = 0; i < ISTIO_BUCKETS.length; i++) {
        acc += h.counts[i]!;
        values.push({ value: acc, labels: { ...labels, le: ISTIO_BUCKETS[i]! }, metricName: bucket });
      }
      values.push({ value: h.count, labels: { ...labels, le: '+Inf' }, metricName: bucket });
      values.push({ value: h.sum, labels: { ...labels }, metricName: `${this.name}_sum` });
      values.push({ value: h.count, labels: { ...labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Registry.resetMetrics() calls it; the data belongs to the series, which are never reset. */
  reset(): void {}
}

/** meshgate's version from package.json (walks up from this module: works from source and dist/). */
function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'meshgate' && pkg.version) return pkg.version;
      } catch {
        // Unreadable package.json: keep looking up.
      }
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** The `tag` of `istio_build` and the version `/server_info` reports. */
export const MESHGATE_VERSION = readVersion();
