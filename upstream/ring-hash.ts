/**
 * Consistent hashing on a ring (Envoy `RING_HASH`, Istio `consistentHash` with `ringHash` or no
 * algorithm named): every endpoint owns points on a 32-bit ring in proportion to its weight; a
 * request hash is served by the first point at or after it. Removing an endpoint only remaps the
 * keys that landed on its points (about 1/N of them).
 */
import type { EndpointState } from './endpoint-state.js';
import { ConsistentHashBalancer, hashString } from './consistent-hash.js';

export { hashString, randomHash } from './consistent-hash.js';

/** Istio/Envoy default `ringHash.minimumRingSize`. */
export const DEFAULT_MINIMUM_RING_SIZE = 1024;
/**
 * Most points on one ring (unless `minimumRingSize` asks for more): keeps the build at reconcile
 * around tens of milliseconds for large clusters (Envoy's own cap is 8M).
 */
const RING_POINTS_CAP = 1 << 17;

/**
 * The ring hash balancer. The ring is built when the cluster state is (see
 * {@link ConsistentHashBalancer.prepare}) and rebuilt for a different list (endpoints changed, or
 * outlier ejection changed the healthy set), so lookups are a binary search with no allocation.
 */
export class RingHash extends ConsistentHashBalancer {
  private points = new Uint32Array(0);
  /** Endpoint index of each point. */
  private owners = new Int32Array(0);

  /**
   * @param minimumRingSize `consistentHash.ringHash.minimumRingSize` (legacy
   *   `consistentHash.minimumRingSize`), default 1024 points.
   */
  constructor(private readonly minimumRingSize = DEFAULT_MINIMUM_RING_SIZE) {
    super();
  }

  /** The first point at or after `h`, wrapping to the start of the ring. */
  protected ownerOf(h: number): number {
    const pts = this.points;
    let lo = 0;
    let hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === pts.length ? 0 : lo]!;
  }

  /** Number of points of the current ring (tests). */
  get size(): number {
    return this.points.length;
  }

  protected build(endpoints: readonly EndpointState[]): void {
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
    this.owners = Int32Array.from(sorted, (v) => v % OWNER_SPACE);
  }
}

/** Owner indexes packed below the point (2^20 endpoints; point · 2^20 stays below 2^53). */
const OWNER_SPACE = 2 ** 20;
