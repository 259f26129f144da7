/**
 * Runtime pieces of a cluster's DestinationRule traffic policy: the circuit breaker
 * (`connectionPool`), the outlier detector (`outlierDetection`), the consistent-hash request
 * policy (`loadBalancer.consistentHash`) and the mirror-copy budget. Each is decided once when a cluster state is built, so a
 * cluster without them carries `undefined` and its requests pay nothing.
 *
 * Breakers and detectors survive snapshot swaps while their cluster keeps the same name and the same
 * `connectionPool`/`outlierDetection` blocks (Envoy keeps a cluster whose config is unchanged), so a
 * reload does not forget ejections or let a burst past the limits.
 */
import type { LoadBalancer } from './load-balancer-contract.js';
import type { Cluster } from '../config/cluster.js';
import type { StatStore } from '../telemetry/stats.js';
import { breakerLimits, CircuitBreaker } from './circuit-breaker.js';
import { upstreamSpeaksHttp2 } from './upstream-protocol.js';
import { compileHashPolicy, type HashPolicy } from './hash-policy.js';
import { outlierConfig, OutlierDetector, type Clock } from './outlier-detector.js';
import type { EndpointState } from './endpoint-state.js';
import { MirrorBudget, mirrorLimit } from './mirror-budget.js';

/** What a cluster state carries for its traffic policy (all optional). */
interface PolicyTarget {
  readonly cluster: Cluster;
  readonly endpoints: readonly EndpointState[];
  breaker: CircuitBreaker | undefined;
  outlier: OutlierDetector | undefined;
  hashPolicy: HashPolicy | undefined;
  /** The balancer's candidates (endpoints minus ejected ones). */
  healthy: readonly EndpointState[];
  /** Mirror copies in flight when this cluster is a mirror target. */
  mirrorBudget: MirrorBudget;
  /** The cluster's balancer: its tables are rebuilt when the healthy set changes. */
  readonly lb?: Pick<LoadBalancer, 'prepare'>;
}

interface Entry {
  readonly fingerprint: string;
  readonly breaker: CircuitBreaker | undefined;
  readonly outlier: OutlierDetector | undefined;
}

/** Builds and keeps the policy runtimes of the cluster manager's states. */
export class PolicyRuntimes {
  private current = new Map<string, Entry>();
  private next: Map<string, Entry> | undefined;
  private stats: StatStore | undefined;

  constructor(private readonly clock?: Clock) {}

  /** Starts a snapshot reconcile: states attached until {@link commit} form the new set. */
  begin(): void {
    this.next = new Map();
  }

  /** Ends a reconcile: stops detectors of clusters that left or changed their policy. */
  commit(): void {
    const next = this.next;
    if (!next) return;
    for (const [name, e] of this.current) if (next.get(name) !== e) e.outlier?.stop();
    this.current = next;
    this.next = undefined;
  }

  /**
   * Keeps the runtimes of cluster `name` as they are for the reconcile under way (its state is kept
   * whole). @returns false outside a reconcile (the state must then be built).
   */
  carry(name: string): boolean {
    if (!this.next) return false;
    const e = this.current.get(name);
    if (e) this.next.set(name, e);
    return true;
  }

  /**
   * Gives a freshly built state its breaker, detector and hash policy, reusing the previous
   * snapshot's when unchanged. Outside a reconcile, or with `register` false (a request still
   * holding an older snapshot), an unknown cluster gets fresh, unregistered pieces without a timer.
   */
  attach(state: PolicyTarget, register = true): void {
    const c = state.cluster;
    state.hashPolicy = compileHashPolicy(c.policy.loadBalancer);
    const http2 = upstreamSpeaksHttp2(c);
    const limits = breakerLimits(c.policy.connectionPool, http2);
    if (limits) state.mirrorBudget = new MirrorBudget(mirrorLimit(limits));
    const od = outlierConfig(c.policy.outlierDetection);
    if (!limits && !od) return;
    const fingerprint = JSON.stringify([
      c.policy.connectionPool ?? null,
      c.policy.outlierDetection ?? null,
      http2,
    ]);
    let e = this.next?.get(c.name) ?? this.current.get(c.name);
    if (!e || e.fingerprint !== fingerprint) {
      e = {
        fingerprint,
        breaker: limits ? new CircuitBreaker(limits, c.name) : undefined,
        outlier: od ? new OutlierDetector(od, c.name, this.clock) : undefined,
      };
    }
    if (this.next && register) {
      this.next.set(c.name, e);
      e.outlier?.start();
    }
    state.breaker = e.breaker;
    const outlier = e.outlier;
    state.outlier = outlier;
    if (outlier) {
      outlier.setHosts(state.endpoints.map((ep) => ep.endpoint.key));
      const refresh = (): void => {
        state.healthy = outlier.healthyOf(state.endpoints);
        state.lb?.prepare?.(state.healthy);
      };
      outlier.onChange = refresh;
      refresh();
    }
    if (this.stats) this.bindEntry(e);
  }

  /** Binds the gateway's stat store (once; the data path passes it on its first request). */
  bindStats(stats: StatStore): void {
    this.stats = stats;
    for (const e of this.current.values()) this.bindEntry(e);
  }

  /** The store bound by {@link bindStats}. */
  get boundStats(): StatStore | undefined {
    return this.stats;
  }

  /** Stops every detector timer (shutdown). */
  close(): void {
    for (const e of this.current.values()) e.outlier?.stop();
    for (const e of this.next?.values() ?? []) e.outlier?.stop();
    this.current.clear();
  }

  private bindEntry(e: Entry): void {
    const s = this.stats!;
    e.breaker?.bindStats(s);
    e.outlier?.bindStats(s);
  }
}
