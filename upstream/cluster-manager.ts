/**
 * The cluster manager: runtime state for the clusters of the live snapshot. Owns one connection
 * pool per endpoint (shared by every cluster that contains the endpoint), keeps pools across
 * snapshot swaps, and closes the pools of endpoints that left.
 */
import type { Cluster } from '../config/cluster.js';
import type { Snapshot } from '../config/snapshot.js';
import { parseDurationMs } from '../config/duration.js';
import { EndpointState, poolKey, type PoolSettings } from './endpoint-state.js';
import { upstreamSpeaksHttp2 } from './upstream-protocol.js';
import { createLoadBalancer, type LoadBalancer } from './load-balancer.js';
import type { StatStore } from '../telemetry/stats.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import type { OutlierDetector } from './outlier-detector.js';
import type { HashPolicy } from './hash-policy.js';
import { PolicyRuntimes } from './cluster-policy.js';
import { DEFAULT_MIRRORS_IN_FLIGHT, MirrorBudget } from './mirror-budget.js';
import { DnsCache } from './dns.js';
import { compileOriginationTls, type OriginationTls } from './tls-origination.js';

/** Envoy's default upstream idle timeout (1 h). */
const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;

/** Live state of one cluster. */
export class ClusterState {
  /** The balancer's candidates: `endpoints` minus outlier-ejected ones (all of them in panic mode). */
  healthy: readonly EndpointState[];
  /** DR `connectionPool` limits (issue 5, circuit-breaker.ts); undefined when none is set. */
  breaker: CircuitBreaker | undefined;
  /** DR `outlierDetection` (issue 5, outlier-detector.ts); undefined when not configured. */
  outlier: OutlierDetector | undefined;
  /** DR `consistentHash` request key (issue 5, hash-policy.ts); undefined for other balancers. */
  hashPolicy: HashPolicy | undefined;
  /** Mirror copies in flight to this cluster as a mirror target (issue 5, mirror-budget.ts). */
  mirrorBudget = new MirrorBudget(DEFAULT_MIRRORS_IN_FLIGHT);

  /**
   * @param poolKeys the pool key of each endpoint (same order), so a reconcile that keeps this state
   * re-registers its pools without recomputing them; default: none (a state never kept).
   */
  constructor(
    readonly cluster: Cluster,
    readonly endpoints: readonly EndpointState[],
    readonly lb: LoadBalancer,
    readonly poolKeys: readonly string[] = [],
  ) {
    this.healthy = endpoints;
    lb.prepare?.(endpoints);
  }

  /**
   * Original-destination cluster (ServiceEntry `resolution: NONE` without endpoints, or
   * `PassthroughCluster`): the endpoint is the request's own `host:port`, bound per request with
   * {@link ClusterManager.originalDestination}.
   */
  get originalDestination(): boolean {
    return this.endpoints.length === 0 && this.cluster.service.resolution === 'NONE';
  }

  /**
   * Picks an endpoint among the healthy ones; `undefined` means no healthy upstream (503 UH).
   * @param hash the request hash for consistent-hash balancers ({@link hashPolicy}).
   */
  pick(exclude?: EndpointState, hash?: number): EndpointState | undefined {
    return this.lb.pick(this.healthy, exclude, hash);
  }
}

/** Options of the {@link ClusterManager} (issue 4). */
interface ClusterManagerOptions {
  /** Resolver for DNS-named endpoints and original destinations (default: system resolver, cached). */
  readonly dns?: DnsCache;
  /** Receives configuration problems found while building pools (unreadable TLS files...). */
  readonly onWarning?: (message: string) => void;
}

/** Clusters {@link ClusterManager.prepare} handles between two pauses. */
const CLUSTERS_PER_STEP = 256;

/** Most original-destination pools kept at once; the least recently used one is closed beyond it. */
const MAX_ORIGINAL_DESTINATION_POOLS = 256;

export class ClusterManager {
  private states = new Map<string, ClusterState>();
  private pools = new Map<string, EndpointState>();
  /** Circuit breakers, outlier detectors and hash policies of the clusters (issue 5). */
  private readonly policies = new PolicyRuntimes();
  /** Original-destination states by `cluster|host:port`, in least-recently-used order. */
  private readonly originals = new Map<string, ClusterState>();
  private readonly tlsByCluster = new Map<string, OriginationTls | undefined>();
  /** Name resolution shared by every pool and tunnel. */
  readonly dns: DnsCache;

  constructor(private readonly opts: ClusterManagerOptions = {}) {
    this.dns = opts.dns ?? new DnsCache();
  }

  /**
   * Binds an original-destination cluster to the request's authority (`host[:port]`; the port
   * defaults to `defaultPort`). Pools are kept per target, at most
   * {@link MAX_ORIGINAL_DESTINATION_POOLS}, so repeated calls reuse connections.
   * @returns a state with exactly that endpoint, or undefined for an unusable authority.
   */
  originalDestination(state: ClusterState, authority: string, defaultPort = 80): ClusterState | undefined {
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(authority);
    const host = (m?.[1] ?? m?.[2])?.toLowerCase();
    const port = m?.[3] !== undefined ? Number(m[3]) : defaultPort;
    if (!host || port < 1 || port > 65535) return undefined;
    const key = `${state.cluster.name}|${host}:${port}`;
    const hit = this.originals.get(key);
    if (hit) {
      // Refresh its place in the LRU order.
      this.originals.delete(key);
      this.originals.set(key, hit);
      return hit;
    }
    const endpoint = Object.freeze({ address: host, port, labels: {}, weight: 1, key: `${host}:${port}` });
    const ep = new EndpointState(endpoint, this.settingsFor(state.cluster));
    const bound = new ClusterState(state.cluster, Object.freeze([ep]), state.lb);
    bound.breaker = state.breaker; // connectionPool limits are cluster-wide (issue 5)
    this.originals.set(key, bound);
    if (this.originals.size > MAX_ORIGINAL_DESTINATION_POOLS) {
      const [oldKey, old] = this.originals.entries().next().value as [string, ClusterState];
      this.originals.delete(oldKey);
      void old.endpoints[0]!.close().catch(() => undefined);
    }
    return bound;
  }

  /** State for a cluster of the live snapshot. */
  get(cluster: Cluster, stats?: StatStore): ClusterState | undefined {
    // The data path hands over the gateway's stat store: circuit-breaker and outlier stats go there.
    if (stats !== undefined && this.policies.boundStats !== stats) this.policies.bindStats(stats);
    const s = this.states.get(cluster.name);
    // A request that holds an older snapshot may name a cluster that changed; build lazily then.
    if (s && s.cluster === cluster) return s;
    return s ?? this.build(cluster, this.pools, false);
  }

  /**
   * Adopts a new snapshot: builds cluster states, reuses unchanged pools, closes the rest. A cluster
   * that is the same object as in the live snapshot (the snapshot builder reuses unchanged ones)
   * keeps its state as it is: nothing is rebuilt or allocated for it.
   */
  reconcile(snapshot: Snapshot): void {
    const steps = this.prepare(snapshot);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value();
    }
  }

  /**
   * {@link reconcile} in steps: builds the cluster states of `snapshot`, pausing (yield) every
   * {@link CLUSTERS_PER_STEP} clusters while the data path keeps using the current states, and
   * returns the function that adopts them (call it when `snapshot` is swapped in, in the same turn).
   */
  *prepare(snapshot: Snapshot): Generator<void, () => void, void> {
    const nextPools = new Map<string, EndpointState>();
    const nextStates = new Map<string, ClusterState>();
    this.policies.begin();
    let n = 0;
    for (const cluster of snapshot.clusters.values()) {
      if (++n % CLUSTERS_PER_STEP === 0) yield;
      const kept = this.states.get(cluster.name);
      if (kept !== undefined && kept.cluster === cluster && this.policies.carry(cluster.name)) {
        nextStates.set(cluster.name, kept);
        for (let i = 0; i < kept.endpoints.length; i++) nextPools.set(kept.poolKeys[i]!, kept.endpoints[i]!);
        continue;
      }
      nextStates.set(cluster.name, this.build(cluster, nextPools, true));
    }
    return () => {
      this.policies.commit();
      const old = this.pools;
      this.pools = nextPools;
      this.states = nextStates;
      for (const [key, st] of old) {
        if (!nextPools.has(key)) void st.close().catch(() => undefined);
      }
    };
  }

  private settingsFor(cluster: Cluster): PoolSettings {
    const http = cluster.policy.connectionPool?.http;
    return {
      connectTimeoutMs: cluster.connectTimeoutMs,
      // Envoy: `tcp.idleTimeout` also applies to HTTP when `http.idleTimeout` is unset.
      idleTimeoutMs:
        parseDurationMs(http?.idleTimeout) ??
        parseDurationMs(cluster.policy.connectionPool?.tcp?.idleTimeout) ??
        DEFAULT_IDLE_TIMEOUT_MS,
      maxRequestsPerConnection: http?.maxRequestsPerConnection ?? 0,
      maxConcurrentStreams: http?.maxConcurrentStreams ?? 0,
      maxConnections: cluster.policy.connectionPool?.tcp?.maxConnections ?? 0,
      lookup: this.dns.lookup,
      tls: this.originationTls(cluster),
      http2: upstreamSpeaksHttp2(cluster),
    };
  }

  /** DR `tls` of a cluster compiled once per cluster object; problems reported once. */
  private originationTls(cluster: Cluster): OriginationTls | undefined {
    if (!cluster.policy.tls) return undefined;
    const key = `${cluster.name}|${JSON.stringify(cluster.policy.tls)}|${cluster.policyBaseDir ?? ''}`;
    if (this.tlsByCluster.has(key)) return this.tlsByCluster.get(key);
    const r = compileOriginationTls(cluster.policy.tls, cluster.policyBaseDir ?? process.cwd());
    if (r.problem) this.opts.onWarning?.(`cluster ${cluster.name}: ${r.problem}`);
    this.tlsByCluster.set(key, r.tls);
    return r.tls;
  }

  /**
   * @param register whether the state's breaker and detector join the reconcile under way (a state
   * built for a request on an older snapshot, between two steps of {@link prepare}, must not).
   */
  private build(cluster: Cluster, into: Map<string, EndpointState>, register: boolean): ClusterState {
    const settings = this.settingsFor(cluster);
    const keys = cluster.endpoints.map((ep) => poolKey(ep, settings));
    const eps = cluster.endpoints.map((ep, i) => {
      const key = keys[i]!;
      let st = into.get(key) ?? this.pools.get(key);
      if (!st) st = new EndpointState(ep, settings);
      into.set(key, st);
      return st;
    });
    const state = new ClusterState(
      cluster,
      Object.freeze(eps),
      createLoadBalancer(cluster.lbPolicy, cluster.policy.loadBalancer),
      keys,
    );
    this.policies.attach(state, register);
    return state;
  }

  /** Closes every pool (shutdown). */
  async close(): Promise<void> {
    const all = [...this.pools.values(), ...[...this.originals.values()].map((s) => s.endpoints[0]!)];
    this.pools.clear();
    this.originals.clear();
    this.states.clear();
    this.policies.close();
    await Promise.all(all.map((s) => s.destroy().catch(() => undefined)));
  }
}
