/**
 * Consistent hashing on a ring (Envoy `RING_HASH`, Istio `consistentHash` with `ringHash` or no
 * algorithm named): every endpoint owns points on a 32-bit ring in proportion to its weight; a
 * request hash is served by the first point at or after it. Removing an endpoint only remaps the
 * keys that landed on its points (about 1/N of them).
 */
import type { EndpointState } from './endpoint-state.js';
import type { LoadBalancer } from './load-balancer.js';

/** Istio/Envoy default `ringHash.minimumRingSize`. */
export const DEFAULT_MINIMUM_RING_SIZE = 1024;
/**
 * Most points on one ring (unless `minimumRingSize` asks for more): keeps the lazy build around
 * tens of milliseconds for large clusters (Envoy's own cap is 8M).
 */
export const RING_POINTS_CAP = 1 << 17;

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
 * The ring hash balancer. The ring is built lazily for the endpoint list it is given and rebuilt
 * whenever the cluster hands it a different list (endpoints changed, or outlier ejection changed
 * the healthy set), so lookups are a binary search with no allocation.
 */
export class RingHash implements LoadBalancer {
  private builtFor: readonly EndpointState[] | undefined;
  private points = new Uint32Array(0);
  private owners: EndpointState[] = [];

  /**
   * @param minimumRingSize `consistentHash.ringHash.minimumRingSize` (legacy
   *   `consistentHash.minimumRingSize`), default 1024 points.
   */
  constructor(private readonly minimumRingSize = DEFAULT_MINIMUM_RING_SIZE) {}

  /**
   * Picks the owner of `hash`; without a hash (no header, cookie or parameter in the request) a
   * random point, as Envoy does. `exclude` is ignored: consistent-hash routes do not retry on other
   * hosts (Istio skips the previous-hosts predicate for them).
   */
  pick(
    endpoints: readonly EndpointState[],
    _exclude?: EndpointState,
    hash?: number,
  ): EndpointState | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (n === 1) return endpoints[0];
    if (this.builtFor !== endpoints) this.build(endpoints);
    const h = hash ?? randomHash();
    const pts = this.points;
    // First point >= h, wrapping to the start of the ring.
    let lo = 0;
    let hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === pts.length ? 0 : lo];
  }

  /** Number of points of the current ring (tests). */
  get size(): number {
    return this.points.length;
  }

  private build(endpoints: readonly EndpointState[]): void {
    // Every endpoint owns `minimumRingSize` points per unit of weight, whatever the other endpoints
    // are, so adding or removing one endpoint moves only the keys it takes or owned. (Envoy instead
    // sizes the whole ring to the minimum, so each endpoint's share of points changes with the
    // endpoint count and a removal of 1 in 5 remaps ~35% of keys instead of ~20%.) Large clusters
    // are scaled down to stay within RING_POINTS_CAP, at least one point per endpoint.
    let total = 0;
    for (const e of endpoints) total += e.endpoint.weight;
    const cap = Math.max(this.minimumRingSize, RING_POINTS_CAP);
    const perWeight = Math.min(this.minimumRingSize, cap / total);
    // Point and owner index packed in one float (point · 2^20 + index) for a native numeric sort.
    const packed: number[] = [];
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i]!.endpoint;
      const count = Math.max(1, Math.round(perWeight * e.weight));
      for (let r = 0; r < count; r++) packed.push(hashString(`${e.key}_${r}`) * OWNER_SPACE + i);
    }
    const sorted = Float64Array.from(packed).sort();
    this.points = Uint32Array.from(sorted, (v) => Math.floor(v / OWNER_SPACE));
    this.owners = Array.from(sorted, (v) => endpoints[v % OWNER_SPACE]!);
    this.builtFor = endpoints;
  }
}

/** Owner indexes packed below the point (2^20 endpoints; point · 2^20 stays below 2^53). */
const OWNER_SPACE = 2 ** 20;
