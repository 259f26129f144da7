/**
 * The cluster manager: runtime state for the clusters of the live snapshot. Owns one undici pool
 * per endpoint (shared by every cluster that contains the endpoint), keeps pools across snapshot
 * swaps, and closes the pools of endpoints that left.
 */
import type { Cluster } from '../config/cluster.js';
import type { Snapshot } from '../config/snapshot.js';
import { parseDurationMs } from '../config/duration.js';
import { EndpointState, poolKey, type PoolSettings } from './endpoint-state.js';
import { createLoadBalancer, type LoadBalancer } from './load-balancer.js';

/** Envoy's default upstream idle timeout (1 h). */
const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;

/** Live state of one cluster. */
export class ClusterState {
  constructor(
    readonly cluster: Cluster,
    readonly endpoints: readonly EndpointState[],
    readonly lb: LoadBalancer,
  ) {}

  /** Picks an endpoint; `undefined` means no healthy upstream (503 UH). */
  pick(exclude?: EndpointState): EndpointState | undefined {
    return this.lb.pick(this.endpoints, exclude);
  }
}

export class ClusterManager {
  private states = new Map<string, ClusterState>();
  private pools = new Map<string, EndpointState>();

  /** State for a cluster of the live snapshot. */
  get(cluster: Cluster): ClusterState | undefined {
    const s = this.states.get(cluster.name);
    // A request that holds an older snapshot may name a cluster that changed; build lazily then.
    if (s && s.cluster === cluster) return s;
    return s ?? this.build(cluster, this.pools);
  }

  /** Adopts a new snapshot: builds cluster states, reuses unchanged pools, closes the rest. */
  reconcile(snapshot: Snapshot): void {
    const nextPools = new Map<string, EndpointState>();
    const nextStates = new Map<string, ClusterState>();
    for (const cluster of snapshot.clusters.values())
      nextStates.set(cluster.name, this.build(cluster, nextPools));
    const old = this.pools;
    this.pools = nextPools;
    this.states = nextStates;
    for (const [key, st] of old) {
      if (!nextPools.has(key)) void st.pool.close().catch(() => undefined);
    }
  }

  private build(cluster: Cluster, into: Map<string, EndpointState>): ClusterState {
    const http = cluster.policy.connectionPool?.http;
    const settings: PoolSettings = {
      connectTimeoutMs: cluster.connectTimeoutMs,
      idleTimeoutMs: parseDurationMs(http?.idleTimeout) ?? DEFAULT_IDLE_TIMEOUT_MS,
      maxRequestsPerConnection: http?.maxRequestsPerConnection ?? 0,
    };
    const eps = cluster.endpoints.map((ep) => {
      const key = poolKey(ep, settings);
      let st = into.get(key) ?? this.pools.get(key);
      if (!st) st = new EndpointState(ep, settings);
      into.set(key, st);
      return st;
    });
    const state = new ClusterState(cluster, Object.freeze(eps), createLoadBalancer(cluster.lbPolicy));
    return state;
  }

  /** Closes every pool (shutdown). */
  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    this.states.clear();
    await Promise.all(all.map((s) => s.pool.destroy().catch(() => undefined)));
  }
}
