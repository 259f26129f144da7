/**
 * What Envoy's two consistent-hash balancers (`RING_HASH`, `MAGLEV`) share: the 32-bit string
 * hash, the random hash used when a request has no hash key, and the pick itself (a lookup table
 * built per endpoint list when the cluster is reconciled, then one lookup per request). `ring-hash.ts` and `maglev.ts`
 * differ only in how they build the table and look a hash up.
 */
import type { EndpointState } from './endpoint-state.js';
import type { LoadBalancer } from './load-balancer-contract.js';

/**
 * A 32-bit string hash: FNV-1a over UTF-16 code units, then a multiply-xorshift finalizer so that
 * nearby inputs (`host_0`, `host_1`) land far apart on the ring.
 * @param seed distinct seeds give independent hash functions (Maglev needs two).
 * @returns an unsigned 32-bit integer.
 */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Random unsigned 32-bit value: what a hash balancer uses when the request has no hash key. */
export function randomHash(): number {
  return (Math.random() * 0x1_0000_0000) >>> 0;
}

/**
 * A consistent-hash balancer: the table is built by {@link prepare} when the cluster state is
 * created (a reload or an outlier ejection changing the healthy set), so the first request after a
 * reload does not pay for it (a ring of 1,000 endpoints took 65–154 ms to build on that request).
 * A pick with a list it was not prepared for still builds the table first. `exclude` is ignored: consistent-hash routes do not retry on other hosts (Istio skips the
 * previous-hosts predicate for them). Without a hash (no header, cookie or parameter in the
 * request) a random one is used, as Envoy does.
 */
export abstract class ConsistentHashBalancer implements LoadBalancer {
  private builtFor: readonly EndpointState[] | undefined;

  pick(
    endpoints: readonly EndpointState[],
    _exclude?: EndpointState,
    hash?: number,
  ): EndpointState | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (n === 1) return endpoints[0];
    if (this.builtFor !== endpoints) this.prepare(endpoints);
    return endpoints[this.ownerOf(hash ?? randomHash())];
  }

  /** Builds the table for `endpoints` now (no-op when it is already built for that list). */
  prepare(endpoints: readonly EndpointState[]): void {
    if (this.builtFor === endpoints || endpoints.length < 2) return;
    this.build(endpoints);
    this.builtFor = endpoints;
  }

  /** Whether the table for `endpoints` is built (tests: present before the first pick). */
  isPreparedFor(endpoints: readonly EndpointState[]): boolean {
    return this.builtFor === endpoints;
  }

  /** Builds the lookup table for `endpoints` (called once per endpoint list). */
  protected abstract build(endpoints: readonly EndpointState[]): void;

  /** The index (into the list the table was built for) of the endpoint owning `hash`. */
  protected abstract ownerOf(hash: number): number;
}
