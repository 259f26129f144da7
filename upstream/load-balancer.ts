/**
 * Load balancers over the endpoint states of one cluster (`DestinationRule.loadBalancer`): `simple`
 * ROUND_ROBIN, RANDOM, LEAST_REQUEST (Istio's default) and `consistentHash` (ring or Maglev, in
 * `ring-hash.ts` and `maglev.ts`). All honour endpoint weights and satisfy one contract
 * (test/upstream/load-balancer.test.ts).
 */
import type { LbPolicy } from '../config/cluster.js';
import type { LoadBalancerSettings } from '../config/resources.js';
import type { EndpointState } from './endpoint-state.js';
import type { LoadBalancer } from './load-balancer-contract.js';
import { DEFAULT_MINIMUM_RING_SIZE, RingHash } from './ring-hash.js';
import { DEFAULT_MAGLEV_TABLE_SIZE, Maglev } from './maglev.js';

export type { LoadBalancer } from './load-balancer-contract.js';

/** Weighted random choice (endpoint weights honoured). */
function weightedRandom(endpoints: readonly EndpointState[], total: number): EndpointState {
  let r = Math.random() * total;
  for (let i = 0; i < endpoints.length; i++) {
    r -= endpoints[i]!.endpoint.weight;
    if (r < 0) return endpoints[i]!;
  }
  return endpoints[endpoints.length - 1]!;
}

function totalWeight(endpoints: readonly EndpointState[]): number {
  let t = 0;
  for (let i = 0; i < endpoints.length; i++) t += endpoints[i]!.endpoint.weight;
  return t;
}

/**
 * Envoy LEAST_REQUEST with the default choice count 2 (power of two choices): two random picks,
 * the one with fewer active requests (per unit of weight) wins. Istio's default policy.
 * Unlike Envoy, the second pick is drawn from the *other* endpoints: with replacement, a
 * two-endpoint cluster would send a quarter of new requests to the busy endpoint.
 */
export class LeastRequest implements LoadBalancer {
  private totalsFor: readonly EndpointState[] | undefined;
  private total = 0;
  private equalWeights = true;

  pick(endpoints: readonly EndpointState[], exclude?: EndpointState): EndpointState | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (n === 1) return endpoints[0];
    if (this.totalsFor !== endpoints) {
      this.total = totalWeight(endpoints);
      this.equalWeights = endpoints.every((e) => e.endpoint.weight === endpoints[0]!.endpoint.weight);
      this.totalsFor = endpoints;
    }
    let a: EndpointState;
    let b: EndpointState;
    if (this.equalWeights) {
      const i = Math.floor(Math.random() * n);
      const j = (i + 1 + Math.floor(Math.random() * (n - 1))) % n;
      a = endpoints[i]!;
      b = endpoints[j]!;
    } else {
      a = weightedRandom(endpoints, this.total);
      b = weightedRandom(endpoints, this.total);
    }
    if (exclude) {
      if (a === exclude) a = b;
      if (b === exclude) b = a;
    }
    return b.active * a.endpoint.weight < a.active * b.endpoint.weight ? b : a;
  }
}

/**
 * Envoy ROUND_ROBIN. Equal weights: a rotating index. Different weights: smooth weighted round
 * robin (each pick, every endpoint gains its weight and the leader pays the total), which spreads
 * a heavy endpoint's turns evenly through the cycle as Envoy's EDF scheduler does.
 */
export class RoundRobin implements LoadBalancer {
  private next = 0;
  private weightsFor: readonly EndpointState[] | undefined;
  private current: Float64Array | undefined;
  private total = 0;

  pick(endpoints: readonly EndpointState[], exclude?: EndpointState): EndpointState | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (this.weightsFor !== endpoints) {
      const w0 = endpoints[0]!.endpoint.weight;
      const equal = endpoints.every((e) => e.endpoint.weight === w0);
      this.current = equal ? undefined : new Float64Array(n);
      this.total = totalWeight(endpoints);
      this.weightsFor = endpoints;
    }
    let e = this.current === undefined ? endpoints[this.next++ % n]! : this.weighted(endpoints);
    if (e === exclude && n > 1)
      e = this.current === undefined ? endpoints[this.next++ % n]! : this.weighted(endpoints);
    return e;
  }

  private weighted(endpoints: readonly EndpointState[]): EndpointState {
    const cur = this.current!;
    let best = 0;
    for (let i = 0; i < endpoints.length; i++) {
      cur[i] += endpoints[i]!.endpoint.weight;
      if (cur[i] > cur[best]) best = i;
    }
    cur[best] -= this.total;
    return endpoints[best]!;
  }
}

/**
 * Envoy RANDOM (weighted). A pick of the excluded endpoint is redrawn up to 5 times, as Envoy's
 * previous-hosts predicate does with Istio's `host_selection_retry_max_attempts: 5`.
 */
export class RandomLb implements LoadBalancer {
  pick(endpoints: readonly EndpointState[], exclude?: EndpointState): EndpointState | undefined {
    if (endpoints.length === 0) return undefined;
    const total = totalWeight(endpoints);
    let e = weightedRandom(endpoints, total);
    for (let i = 0; i < 5 && e === exclude && endpoints.length > 1; i++) e = weightedRandom(endpoints, total);
    return e;
  }
}

/**
 * The balancer for a cluster's policy. CONSISTENT_HASH uses Maglev when `consistentHash.maglev` is
 * set, else a ring (`ringHash.minimumRingSize`, legacy `minimumRingSize`, default 1024); PASSTHROUGH
 * clusters have one endpoint per target and use LEAST_REQUEST.
 * @param settings the effective `trafficPolicy.loadBalancer` (ring and table sizes).
 */
export function createLoadBalancer(policy: LbPolicy, settings?: LoadBalancerSettings): LoadBalancer {
  switch (policy) {
    case 'ROUND_ROBIN':
      return new RoundRobin();
    case 'RANDOM':
      return new RandomLb();
    case 'CONSISTENT_HASH': {
      const ch = settings?.consistentHash;
      if (ch?.maglev) return new Maglev(positive(ch.maglev.tableSize) ?? DEFAULT_MAGLEV_TABLE_SIZE);
      return new RingHash(
        positive(ch?.ringHash?.minimumRingSize) ?? positive(ch?.minimumRingSize) ?? DEFAULT_MINIMUM_RING_SIZE,
      );
    }
    default:
      return new LeastRequest();
  }
}

function positive(n: number | undefined): number | undefined {
  return typeof n === 'number' && n > 0 ? n : undefined;
}
