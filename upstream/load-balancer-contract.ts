/**
 * The contract every load balancer satisfies, apart from the factory in `load-balancer.ts` so the
 * consistent-hash balancers it builds can implement it without importing their own factory.
 */
import type { EndpointState } from './endpoint-state.js';

/** Chooses the endpoint of one try. */
export interface LoadBalancer {
  /**
   * @param endpoints the candidates: the cluster's endpoints minus outlier-ejected ones. The cluster
   *   replaces the array whenever the set changes, so a balancer may cache tables per array identity.
   * @param exclude the endpoint of the previous try, avoided when another exists (Envoy's
   *   previous-hosts retry predicate); consistent-hash balancers ignore it, as Istio configures.
   * @param hash the request's unsigned 32-bit hash (`consistentHash` only; see hash-policy.ts);
   *   other balancers ignore it.
   * @returns the endpoint, or undefined when there is none (503 UH).
   */
  pick(
    endpoints: readonly EndpointState[],
    exclude?: EndpointState,
    hash?: number,
  ): EndpointState | undefined;

  /**
   * Precomputes what picks over `endpoints` need (consistent-hash tables), off the request path:
   * called when a cluster state is built and when its healthy set changes. Optional.
   */
  prepare?(endpoints: readonly EndpointState[]): void;
}
