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
 * These live in plain per-cluster / per-listener objects (a request bumps numbers, it builds no stat
 * name) and are merged with the {@link StatStore} when read. Everything in the store (retries, circuit
 * breakers, outlier detection, TCP proxy, listener counters) is written by the data path under
 * Envoy's names and exposed as is.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Cluster, ClusterEndpoint } from '../config/cluster.js';
import type { Snapshot } from '../config/snapshot.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import type { EndpointState } from '../upstream/endpoint-state.js';
import type { StreamRecord } from './access-log.js';
import type { StatStore } from './stats.js';

/** Admin `/stats?filter=`: a predicate on the stat name (an RE2 search in Envoy). */
export interface StatsFilter {
  test(name: string): boolean;
}

/** Per-endpoint request outcomes (Envoy host stats, shown by admin `/clusters`). */
export interface HostStats {
  rqTotal: number;
  /** Responses below 500. */
  rqSuccess: number;
  /** 5xx responses and resets (code 0). */
  rqError: number;
  rqTimeout: number;
}

/**
 * Request counters of one cluster, by cluster name (they survive snapshot swaps). Plain numbers:
 * the data path never builds a stat name or hashes a string per request.
 */
class ClusterCounters {
  total = 0;
  timeout = 0;
  noneHealthy = 0;
  /** Status code → count. */
  readonly codes = new Map<number, number>();
  /** Endpoint key → host stats. */
  readonly hosts = new Map<string, HostStats>();
}

/** Request counters of one HTTP connection manager (listener), by listener name. */
class HcmCounters {
  total = 0;
  /** Index = status class 1-5. */
  readonly classes = [0, 0, 0, 0, 0, 0];
}

/** Per-snapshot view of one cluster: its counters and its endpoints' host stats by object. */
interface ClusterEntry {
  readonly counters: ClusterCounters;
  readonly hosts: Map<ClusterEndpoint, HostStats>;
}

/** Resolves a listener name from a downstream local address (`ip:port`); undefined when unknown. */
type ListenerResolver = (localAddress: string) => string | undefined;

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
  /** Per-snapshot cache by cluster object. */
  private byCluster = new Map<Cluster, ClusterEntry>();
  private readonly counters = new Map<string, ClusterCounters>();
  /** Per-snapshot cache: downstream local address → the listener's counters (null: not a listener). */
  private byLocal = new Map<string, HcmCounters | null>();
  private readonly hcm = new Map<string, HcmCounters>();
  /** Most requests arrive on one listener: remember the last lookup. */
  private lastLocal: string | undefined;
  private lastHcm: HcmCounters | null = null;
  /** Every cluster name seen in a snapshot, to split `cluster.<name>.<stat>` keys (names contain dots). */
  private readonly knownClusters = new Set<string>();

  constructor(
    private readonly stats: StatStore,
    private readonly listenerOf: ListenerResolver,
  ) {}

  /** Adopts a new snapshot: drops per-snapshot caches, learns its cluster names. */
  onSnapshot(snapshot: Snapshot): void {
    this.byCluster = new Map();
    this.byLocal = new Map();
    this.lastLocal = undefined;
    this.lastHcm = null;
    for (const name of snapshot.clusters.keys()) this.knownClusters.add(name);
  }

  /** Counts one finished HTTP request (see the module comment for the names). */
  onHttp(r: StreamRecord, cluster: Cluster | undefined, endpoint: ClusterEndpoint | undefined): void {
    const code = r.responseCode;
    if (cluster !== undefined) {
      let e = this.byCluster.get(cluster);
      if (e === undefined) {
        let counters = this.counters.get(cluster.name);
        if (counters === undefined) {
          counters = new ClusterCounters();
          this.counters.set(cluster.name, counters);
        }
        e = { counters, hosts: new Map() };
        this.byCluster.set(cluster, e);
      }
      const c = e.counters;
      if (endpoint !== undefined) {
        c.total++;
        if (code > 0) c.codes.set(code, (c.codes.get(code) ?? 0) + 1);
        const flags = r.responseFlags;
        const timedOut = flags !== '-' && flags.includes('UT');
        if (timedOut) c.timeout++;
        let h = e.hosts.get(endpoint);
        if (h === undefined) {
          h = this.host(c, endpoint.key);
          if (e.hosts.size < MAX_HOSTS_PER_CLUSTER) e.hosts.set(endpoint, h);
        }
        h.rqTotal++;
        if (code === 0 || code >= 500) h.rqError++;
        else h.rqSuccess++;
        if (timedOut) h.rqTimeout++;
      } else if (r.responseFlags.includes('UH')) {
        c.noneHealthy++;
      }
    }
    const local = r.downstreamLocalAddress;
    if (local === undefined) return;
    let hcm: HcmCounters | null | undefined;
    if (local === this.lastLocal) {
      hcm = this.lastHcm;
    } else {
      hcm = this.byLocal.get(local);
      if (hcm === undefined) {
        hcm = this.hcmFor(local);
        if (this.byLocal.size >= MAX_LOCAL_ADDRESSES) this.byLocal.clear();
        this.byLocal.set(local, hcm);
      }
      this.lastLocal = local;
      this.lastHcm = hcm;
    }
    if (hcm !== null) {
      hcm.total++;
      const klass = (code / 100) | 0;
      if (klass >= 1 && klass <= 5) hcm.classes[klass]!++;
    }
  }

  private hcmFor(local: string): HcmCounters | null {
    const listener = this.listenerOf(local);
    if (listener === undefined) return null;
    // Istio's gateway HTTP connection manager stat prefix.
    const prefix = `outbound_${listener}`;
    let h = this.hcm.get(prefix);
    if (h === undefined) {
      h = new HcmCounters();
      this.hcm.set(prefix, h);
    }
    return h;
  }

  /** Host stats of one endpoint of a cluster (zeros when it served nothing yet). */
  hostStats(clusterName: string, endpointKey: string): HostStats {
    return (
      this.counters.get(clusterName)?.hosts.get(endpointKey) ?? {
        rqTotal: 0,
        rqSuccess: 0,
        rqError: 0,
        rqTimeout: 0,
      }
    );
  }

  private host(c: ClusterCounters, key: string): HostStats {
    let h = c.hosts.get(key);
    if (h === undefined) {
      h = { rqTotal: 0, rqSuccess: 0, rqError: 0, rqTimeout: 0 };
      // Original-destination clusters see arbitrary hosts: host stats stay bounded (extra hosts uncounted).
      if (c.hosts.size < MAX_HOSTS_PER_CLUSTER) c.hosts.set(key, h);
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
    const add = (k: string, v: number) => values.set(k, (values.get(k) ?? 0) + v);
    for (const [name, c] of this.counters) {
      const p = `cluster.${name}.`;
      add(`${p}upstream_rq_total`, c.total);
      add(`${p}upstream_rq_timeout`, c.timeout);
      add(`${p}upstream_cx_none_healthy`, c.noneHealthy);
      for (const [code, n] of c.codes) {
        add(`${p}upstream_rq_${code}`, n);
        add(`${p}upstream_rq_${Math.floor(code / 100)}xx`, n);
      }
    }
    for (const [prefix, h] of this.hcm) {
      const p = `http.${prefix}.`;
      add(`${p}downstream_rq_total`, h.total);
      for (let k = 1; k <= 5; k++) add(`${p}downstream_rq_${k}xx`, h.classes[k]!);
    }
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
  static text(entries: readonly StatEntry[], filter?: StatsFilter): string {
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
