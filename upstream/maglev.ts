/**
 * Maglev consistent hashing (Envoy `MAGLEV`, Istio `consistentHash.maglev`): a lookup table of a
 * prime size filled from per-endpoint permutations, so every endpoint owns a share of slots in
 * proportion to its weight and removing one endpoint moves little more than its own share.
 * Lookups are one modulo and one array read.
 */
import type { EndpointState } from './endpoint-state.js';
import { ConsistentHashBalancer, hashString } from './consistent-hash.js';

/** Istio/Envoy default `maglev.tableSize` (a prime). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

/** Seeds of the two independent hashes that give each endpoint its offset and skip. */
const OFFSET_SEED = 0x6d61676c;
const SKIP_SEED = 0x65763031;

/** The Maglev balancer; the table is rebuilt when the cluster hands it a different endpoint list. */
export class Maglev extends ConsistentHashBalancer {
  private table = new Int32Array(0);

  /** @param tableSize `consistentHash.maglev.tableSize`; must be prime (validation checks), default 65537. */
  constructor(private readonly tableSize = DEFAULT_MAGLEV_TABLE_SIZE) {
    super();
  }

  /** One modulo and one array read. */
  protected ownerOf(hash: number): number {
    return this.table[hash % this.tableSize]!;
  }

  protected build(endpoints: readonly EndpointState[]): void {
    const m = this.tableSize;
    const n = endpoints.length;
    const offset = new Float64Array(n);
    const skip = new Float64Array(n);
    const next = new Float64Array(n);
    const credit = new Float64Array(n);
    let maxWeight = 0;
    for (let i = 0; i < n; i++) {
      const key = endpoints[i]!.endpoint.key;
      offset[i] = hashString(key, OFFSET_SEED) % m;
      skip[i] = (hashString(key, SKIP_SEED) % (m - 1)) + 1;
      maxWeight = Math.max(maxWeight, endpoints[i]!.endpoint.weight);
    }
    const table = new Int32Array(m).fill(-1);
    let filled = 0;
    // Each round, an endpoint earns weight/maxWeight of a turn; on a whole turn it claims the next
    // free slot of its permutation (offset + j·skip mod m). Heaviest endpoints claim every round.
    while (filled < m) {
      for (let i = 0; i < n && filled < m; i++) {
        credit[i] += endpoints[i]!.endpoint.weight / maxWeight;
        if (credit[i] < 1) continue;
        credit[i] -= 1;
        let slot: number;
        do {
          slot = (offset[i] + next[i] * skip[i]) % m;
          next[i]++;
        } while (table[slot] !== -1);
        table[slot] = i;
        filled++;
      }
    }
    this.table = table;
  }
}
