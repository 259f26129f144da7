/**
 * Load balancers over the endpoint states of one cluster (`DestinationRule.loadBalancer.simple`).
 * Each takes the candidate list and returns an index, or -1 when the list is empty.
 */
import type { LbPolicy } from '../config/cluster.js';
import type { EndpointState } from './endpoint-state.js';

export interface LoadBalancer {
  pick(endpoints: readonly EndpointState[], exclude?: EndpointState): EndpointState | undefined;
}

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
 * the one with fewer active requests wins. Istio's default policy.
 */
export class LeastRequest implements LoadBalancer {
  pick(endpoints: readonly EndpointState[], exclude?: EndpointState): EndpointState | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (n === 1) return endpoints[0];
    const total = totalWeight(endpoints);
    let a = weightedRandom(endpoints, total);
    let b = weightedRandom(endpoints, total);
    if (exclude) {
      if (a === exclude) a = b;
      if (b === exclude) b = a;
    }
    return b.active < a.active ? b : a;
  }
}

/** Envoy ROUND_ROBIN (weights honoured by repetition over a cycle). */
export class RoundRobin implements LoadBalancer {
  private next = 0;
  pick(endpoints: readonly EndpointState[], exclude?: EndpointState): EndpointState | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    let e = endpoints[this.next++ % n]!;
    if (e === exclude && n > 1) e = endpoints[this.next++ % n]!;
    return e;
  }
}

/** Envoy RANDOM (weighted). */
export class RandomLb implements LoadBalancer {
  pick(endpoints: readonly EndpointState[], exclude?: EndpointState): EndpointState | undefined {
    if (endpoints.length === 0) return undefined;
    const e = weightedRandom(endpoints, totalWeight(endpoints));
    if (e === exclude && endpoints.length > 1) return weightedRandom(endpoints, totalWeight(endpoints));
    return e;
  }
}

/** The balancer for a policy; consistent hash and passthrough fall back to LEAST_REQUEST until implemented. */
export function createLoadBalancer(policy: LbPolicy): LoadBalancer {
  switch (policy) {
    case 'ROUND_ROBIN':
      return new RoundRobin();
    case 'RANDOM':
      return new RandomLb();
    default:
      return new LeastRequest();
  }
}
