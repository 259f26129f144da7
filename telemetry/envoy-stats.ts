/**
 * Envoy-style stats: the per-request cluster, host and HTTP connection-manager counters the router
 * would keep, the gauges read from live state at scrape time, and the two ways Envoy exposes them:
 * admin `/stats` (`name: value` lines) and `/stats/prometheus` (`envoy_<family>{tags}` with Istio's
 * tag extraction: `cluster_name`, `listener_address`, `http_conn_manager_prefix`, `response_code`,
 * `response_code_class`).
 *
 * Counted here per finished HTTP request (only when telemetry is on):
 * - `cluster.<c>.upstream_rq_total`, `upstream_rq_<code>`, `upstream_rq_<N>xx`, `upstream_rq_timeout`
 *   (flag UT), `upstream_cx_none_healthy` (flag UH) — when the request reached a cluster;
 * - `http.<stat_prefix>.downstream_rq_total`, `downstream_rq_<N>xx` with Istio's gateway stat prefix
 *   `outbound_<address>_<port>`.
 * Everything else in the {@link StatStore} (retries, circuit breakers, outlier detection, TCP proxy,
 * listener counters) is written by the data path under Envoy's names and exposed as is.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Cluster, ClusterEndpoint } from '../config/cluster.js';
import type { Snapshot } from '../config/snapshot.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import type { EndpointState } from '../upstream/endpoint-state.js';
import type { StreamRecord } from './access-log.js';
import type { StatStore } from './stats.js';

/** Per-endpoint request outcomes (Envoy host stats, shown by admin `/clusters`). */
export interface HostStats {
  rqTotal: number;
  /** Responses below 500. */
  rqSuccess: number;
  /** 5xx responses and resets (code 0). */
  rqError: number;
  rqTimeout: number;
}

/** Stat names of one cluster, built once per cluster object. */
class ClusterStatNames {
  readonly total: string;
  readonly timeout: string;
  readonly noneHealthy: string;
  private readonly codes = new Map<number, readonly [string, string]>();

  constructor(readonly prefix: string) {
    this.total = `${prefix}.upstream_rq_total`;
    this.timeout = `${prefix}.upstream_rq_timeout`;
    this.noneHealthy = `${prefix}.upstream_cx_none_healthy`;
  }

  /** `[upstream_rq_<code>, upstream_rq_<N>xx]` for a status code. */
  code(code: number): readonly [string, string] {
    let n = this.codes.get(code);
    if (n === undefined) {
      n = [`${this.prefix}.upstream_rq_${code}`, `${this.prefix}.upstream_rq_${Math.floor(code / 100)}xx`];
      this.codes.set(code, n);
    }
    return n;
  }
}

/** Stat names of one HTTP connection manager (listener). */
class HcmStatNames {
  readonly total: string;
  /** Index = status class 1-5. */
  readonly classes: readonly string[];
  constructor(prefix: string) {
    this.total = `http.${prefix}.downstream_rq_total`;
    this.classes = [0, 1, 2, 3, 4, 5].map((c) => `http.${prefix}.downstream_rq_${c}xx`);
  }
}

/** Resolves a listener name from a downstream local address (`ip:port`); undefined when unknown. */
export type ListenerResolver = (localAddress: string) => string | undefined;

/** Endpoints whose host stats are kept per cluster at most. */
const MAX_HOSTS_PER_CLUSTER = 1024;

/** Most distinct local addresses remembered for the listener lookup (bounded; cleared per snapshot). */
const MAX_LOCAL_ADDRESSES = 1024;

/** One exposed stat: Envoy name, value, and whether it is a gauge. */
export interface StatEntry {
  readonly name: string;
  readonly value: number;
  readonly gauge: boolean;
}

/** The per-request Envoy counters and the read side of every Envoy stat. */
export class EnvoyStats {
  private clusterNames = new Map<Cluster, ClusterStatNames>();
  private hcmNames = new Map<string, HcmStatNames | null>();
  /** Host stats by `cluster name` → `endpoint key`; persist across snapshots. */
  private readonly hosts = new Map<string, Map<string, HostStats>>();
  /** Every cluster name seen in a snapshot, to split `cluster.<name>.<stat>` keys (names contain dots). */
  private readonly knownClusters = new Set<string>();

  constructor(
    private readonly stats: StatStore,
    private readonly listenerOf: ListenerResolver,
  ) {}

  /** Adopts a new snapshot: drops per-snapshot caches, learns its cluster names. */
  onSnapshot(snapshot: Snapshot): void {
    this.clusterNames = new Map();
    this.hcmNames = new Map();
    for (const name of snapshot.clusters.keys()) this.knownClusters.add(name);
  }

  /** Counts one finished HTTP request (see the module comment for the names). */
  onHttp(r: StreamRecord, cluster: Cluster | undefined, endpoint: ClusterEndpoint | undefined): void {
    const stats = this.stats;
    const code = r.responseCode;
    if (cluster !== undefined) {
      let names = this.clusterNames.get(cluster);
      if (names === undefined) {
        names = new ClusterStatNames(`cluster.${cluster.name}`);
        this.clusterNames.set(cluster, names);
      }
      if (endpoint !== undefined) {
        stats.inc(names.total);
        if (code > 0) {
          const [exact, klass] = names.code(code);
          stats.inc(exact);
          stats.inc(klass);
        }
        const flags = r.responseFlags;
        const timedOut = flags !== '-' && flags.includes('UT');
        if (timedOut) stats.inc(names.timeout);
        const h = this.host(cluster.name, endpoint.key);
        h.rqTotal++;
        if (code === 0 || code >= 500) h.rqError++;
        else h.rqSuccess++;
        if (timedOut) h.rqTimeout++;
      } else if (r.responseFlags.includes('UH')) {
        stats.inc(names.noneHealthy);
      }
    }
    const local = r.downstreamLocalAddress;
    if (local !== undefined) {
      let hcm = this.hcmNames.get(local);
      if (hcm === undefined) {
        const listener = this.listenerOf(local);
        hcm = listener === undefined ? null : new HcmStatNames(`outbound_${listener}`);
        if (this.hcmNames.size >= MAX_LOCAL_ADDRESSES) this.hcmNames.clear();
        this.hcmNames.set(local, hcm);
      }
      if (hcm !== null) {
        stats.inc(hcm.total);
        const klass = Math.floor(code / 100);
        if (klass >= 1 && klass <= 5) stats.inc(hcm.classes[klass]!);
      }
    }
  }

  /** Host stats of one endpoint of a cluster (zeros when it served nothing yet). */
  hostStats(clusterName: string, endpointKey: string): HostStats {
    return (
      this.hosts.get(clusterName)?.get(endpointKey) ?? { rqTotal: 0, rqSuccess: 0, rqError: 0, rqTimeout: 0 }
    );
  }

  private host(clusterName: string, key: string): HostStats {
    let byKey = this.hosts.get(clusterName);
    if (byKey === undefined) {
      byKey = new Map();
      this.hosts.set(clusterName, byKey);
    }
    let h = byKey.get(key);
    if (h === undefined) {
      h = { rqTotal: 0, rqSuccess: 0, rqError: 0, rqTimeout: 0 };
      // Original-destination clusters see arbitrary hosts: host stats stay bounded (extra hosts uncounted).
      if (byKey.size < MAX_HOSTS_PER_CLUSTER) byKey.set(key, h);
    }
    return h;
  }

  /**
   * Every stat: the store's counters and gauges plus gauges computed from live state for the
   * snapshot's clusters (`membership_total`, `membership_healthy`, `upstream_rq_active`,
   * `upstream_cx_active` — added to what the TCP proxy keeps under the same name), sorted by name.
   */
  entries(
    snapshot: Snapshot | undefined,
    clusters: ClusterManager,
    extra: readonly StatEntry[] = [],
  ): StatEntry[] {
    const values = new Map<string, number>();
    for (const [k, v] of this.stats.entries()) values.set(k, v);
    if (snapshot) {
      for (const cluster of snapshot.clusters.values()) {
        const state = clusters.get(cluster);
        const eps: readonly EndpointState[] = state?.endpoints ?? [];
        let rqActive = 0;
        let cxActive = 0;
        let healthy = 0;
        for (const ep of eps) {
          rqActive += ep.active;
          cxActive += connectedOf(ep);
          if (!isEjected(ep)) healthy++;
        }
        const p = `cluster.${cluster.name}.`;
        values.set(`${p}membership_total`, eps.length);
        values.set(`${p}membership_healthy`, healthy);
        values.set(`${p}upstream_rq_active`, rqActive);
        values.set(`${p}upstream_cx_active`, (values.get(`${p}upstream_cx_active`) ?? 0) + cxActive);
      }
    }
    for (const e of extra) values.set(e.name, e.value);
    return [...values.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => ({ name, value, gauge: isGauge(name) }));
  }

  /** Envoy admin `/stats` text: `name: value` lines; `filter` is a regex on the name. */
  static text(entries: readonly StatEntry[], filter?: RegExp): string {
    const lines: string[] = [];
    for (const e of entries) if (!filter || filter.test(e.name)) lines.push(`${e.name}: ${e.value}`);
    return lines.length > 0 ? `${lines.join('\n')}\n` : '';
  }

  /**
   * Converts an Envoy stat name to its Prometheus family and tags, as Istio's bootstrap tag
   * extraction does: `cluster.<c>.upstream_rq_200` → `envoy_cluster_upstream_rq{cluster_name=c,
   * response_code="200"}`, `..._2xx` → `{response_code_class="2xx"}`, `listener.<addr>.<stat>` →
   * `envoy_listener_<stat>{listener_address}`, `http.<prefix>.<stat>` →
   * `envoy_http_<stat>{http_conn_manager_prefix}`, anything else `envoy_<name>` without tags.
   */
  toPrometheus(name: string): { family: string; labels: Record<string, string> } {
    let scope: 'cluster' | 'listener' | 'http' | undefined;
    let tagName = '';
    let tagValue = '';
    let stat = name;
    if (name.startsWith('cluster.')) {
      const split = this.splitCluster(name.slice(8));
      if (split) {
        scope = 'cluster';
        tagName = 'cluster_name';
        [tagValue, stat] = split;
      }
    } else if (name.startsWith('listener.') || name.startsWith('http.')) {
      const head = name.startsWith('http.') ? 'http' : 'listener';
      const rest = name.slice(head.length + 1);
      // Listener addresses and HCM prefixes end in `_<port>` and may contain dots (`0.0.0.0_8080`).
      const m = /^(.+_\d+)\.([a-z_][a-z0-9_.]*)$/.exec(rest) ?? /^([^.]+)\.(.+)$/.exec(rest);
      if (m) {
        scope = head;
        tagName = head === 'http' ? 'http_conn_manager_prefix' : 'listener_address';
        tagValue = m[1]!;
        stat = m[2]!;
      }
    }
    const labels: Record<string, string> = {};
    if (scope) labels[tagName] = tagValue;
    const code = /^(.*upstream_rq|.*downstream_rq)_(\d{3}|\dxx)$/.exec(stat);
    if (code) {
      stat = code[1]!;
      if (code[2]!.endsWith('xx')) labels['response_code_class'] = code[2]!;
      else labels['response_code'] = code[2]!;
    }
    const family = `envoy_${scope ? `${scope}_` : ''}${stat}`.replace(/[^a-zA-Z0-9_]/g, '_');
    return { family, labels };
  }

  /** Splits `<cluster name>.<stat>`: known names first (longest wins), else before the first Envoy stat root. */
  private splitCluster(rest: string): [string, string] | undefined {
    // Try each dot from the right: the first prefix that is a known cluster is the longest one.
    for (let dot = rest.lastIndexOf('.'); dot > 0; dot = rest.lastIndexOf('.', dot - 1)) {
      const name = rest.slice(0, dot);
      if (this.knownClusters.has(name)) return [name, rest.slice(dot + 1)];
    }
    const m =
      /^(.+?)\.((?:upstream_|outlier_detection|circuit_breakers|membership_|lb_|retry_|internal\.|external\.|canary\.).*)$/.exec(
        rest,
      );
    return m ? [m[1]!, m[2]!] : undefined;
  }
}

/** Envoy gauges among our stat names (everything else is a counter). */
export function isGauge(name: string): boolean {
  return /(?:_active|_open|_buffered|_healthy|_degraded|membership_total|\.live|\.state|\.uptime|\.concurrency)$/.test(
    name,
  );
}

/** Open upstream connections of an endpoint's pool (undici `Pool.stats.connected`; 0 when not exposed). */
function connectedOf(ep: EndpointState): number {
  const stats = (ep.pool as { stats?: { connected?: number } }).stats;
  return typeof stats?.connected === 'number' ? stats.connected : 0;
}

/**
 * Whether outlier detection ejected the endpoint. Read structurally so this module does not depend
 * on the outlier detector's shape: an `ejected` boolean or an `ejectedUntil` epoch-ms on the state.
 */
export function isEjected(ep: EndpointState, now = Date.now()): boolean {
  const s = ep as unknown as { ejected?: unknown; ejectedUntil?: unknown };
  if (typeof s.ejected === 'boolean') return s.ejected;
  if (typeof s.ejectedUntil === 'number') return s.ejectedUntil > now;
  return false;
}

/** Tag names Istio's bootstrap extracts from Envoy stat names (the label set of every family). */
const ENVOY_TAGS = [
  'cluster_name',
  'listener_address',
  'http_conn_manager_prefix',
  'response_code',
  'response_code_class',
] as const;

interface FamilySample {
  readonly labels: Record<string, string>;
  readonly value: number;
}

/**
 * Exposes Envoy stats as prom-client metric families (`envoy_cluster_upstream_rq_total{...}`) in a
 * registry shared with the `istio_*` metrics. Families appear as stats appear; their values are
 * loaded by {@link EnvoyPrometheus.load} right before each scrape and read by `collect()`.
 */
export class EnvoyPrometheus {
  private readonly families = new Map<string, { readonly gauge: boolean }>();
  private samples = new Map<string, FamilySample[]>();

  constructor(
    private readonly registry: Registry,
    private readonly stats: EnvoyStats,
  ) {}

  /** Loads the current stat values (call immediately before `registry.metrics()`). */
  load(entries: readonly StatEntry[]): void {
    const next = new Map<string, FamilySample[]>();
    for (const e of entries) {
      const { family, labels } = this.stats.toPrometheus(e.name);
      let known = this.families.get(family);
      if (known === undefined) {
        known = { gauge: e.gauge || e.value < 0 };
        this.register(family, known.gauge);
        this.families.set(family, known);
      }
      // A counter family never goes down; a negative value here is a misnamed gauge: skip it.
      if (!known.gauge && e.value < 0) continue;
      let list = next.get(family);
      if (list === undefined) {
        list = [];
        next.set(family, list);
      }
      list.push({ labels, value: e.value });
    }
    this.samples = next;
  }

  private register(family: string, gauge: boolean): void {
    const read = () => this.samples.get(family) ?? [];
    const help = `Envoy stat ${family.slice(6)}`;
    if (gauge) {
      new Gauge({
        name: family,
        help,
        labelNames: ENVOY_TAGS,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const s of read()) this.set(s.labels, s.value);
        },
      });
    } else {
      new Counter({
        name: family,
        help,
        labelNames: ENVOY_TAGS,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const s of read()) this.inc(s.labels, s.value);
        },
      });
    }
  }
}
