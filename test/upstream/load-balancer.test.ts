/**
 * One behavioural contract for every load balancer (the hono `common.case.test.ts` pattern), then
 * what is particular to each: LEAST_REQUEST prefers idle endpoints, consistent hashing keeps keys
 * on one endpoint and remaps little when an endpoint leaves, weights are honoured.
 */
import { describe, expect, it } from 'vitest';
import type { EndpointState } from '../../upstream/endpoint-state.js';
import { LeastRequest, RandomLb, RoundRobin, type LoadBalancer } from '../../upstream/load-balancer.js';
import { hashString, RingHash } from '../../upstream/ring-hash.js';
import { Maglev } from '../../upstream/maglev.js';

/** An endpoint state without a pool: balancers only read `endpoint` and `active`. */
function ep(port: number, weight = 1): EndpointState {
  const endpoint = { address: '10.0.0.1', port, labels: {}, weight, key: `10.0.0.1:${port}` };
  return { endpoint, active: 0, refs: 0 } as unknown as EndpointState;
}

function eps(n: number, weight = (_i: number) => 1): EndpointState[] {
  return Array.from({ length: n }, (_, i) => ep(8000 + i, weight(i)));
}

interface Case {
  name: string;
  make: () => LoadBalancer;
  /** Consistent-hash balancers ignore `exclude` (Istio: no previous-hosts predicate for them). */
  honoursExclude: boolean;
}

const CASES: Case[] = [
  { name: 'ROUND_ROBIN', make: () => new RoundRobin(), honoursExclude: true },
  { name: 'RANDOM', make: () => new RandomLb(), honoursExclude: true },
  { name: 'LEAST_REQUEST', make: () => new LeastRequest(), honoursExclude: true },
  { name: 'RING_HASH', make: () => new RingHash(), honoursExclude: false },
  { name: 'MAGLEV', make: () => new Maglev(), honoursExclude: false },
];

/** Picks `n` times with a fresh random hash each time (hash balancers) and counts per port. */
function spread(lb: LoadBalancer, list: readonly EndpointState[], n: number): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const e = lb.pick(list, undefined, hashString(`key-${i}`))!;
    out.set(e.endpoint.port, (out.get(e.endpoint.port) ?? 0) + 1);
  }
  return out;
}

describe.each(CASES)('LoadBalancer contract: $name', ({ make, honoursExclude }) => {
  it('returns undefined for no endpoints and the only endpoint for one', () => {
    const lb = make();
    expect(lb.pick([])).toBeUndefined();
    const one = [ep(1)];
    for (let i = 0; i < 10; i++) expect(lb.pick(one, one[0], i)).toBe(one[0]);
  });

  it('only returns members of the list it is given, and follows a changed list', () => {
    const lb = make();
    const a = eps(5);
    for (let i = 0; i < 200; i++) expect(a).toContain(lb.pick(a, undefined, hashString(String(i))));
    const b = a.slice(1);
    for (let i = 0; i < 200; i++) expect(b).toContain(lb.pick(b, undefined, hashString(String(i))));
  });

  it('spreads 10,000 picks over 4 equal endpoints within ±15% of even', () => {
    const counts = spread(make(), eps(4), 10_000);
    expect(counts.size).toBe(4);
    for (const c of counts.values()) {
      expect(c).toBeGreaterThan(2500 * 0.85);
      expect(c).toBeLessThan(2500 * 1.15);
    }
  });

  it('honours endpoint weights (3:1) within ±15%', () => {
    const list = eps(2, (i) => (i === 0 ? 3 : 1));
    const counts = spread(make(), list, 20_000);
    const share = (counts.get(8000) ?? 0) / 20_000;
    expect(share).toBeGreaterThan(0.75 * 0.85);
    expect(share).toBeLessThan(0.75 * 1.15);
  });

  it(honoursExclude ? 'avoids the excluded endpoint when another exists' : 'ignores exclude', () => {
    const lb = make();
    const list = eps(3);
    let hitExcluded = 0;
    for (let i = 0; i < 300; i++) if (lb.pick(list, list[1], hashString(`k${i}`)) === list[1]) hitExcluded++;
    if (honoursExclude) expect(hitExcluded).toBeLessThan(300 * 0.05);
    else expect(hitExcluded).toBeGreaterThan(0);
  });
});

describe('LEAST_REQUEST', () => {
  it('sends every new request to the idle endpoint of two while the other holds requests', () => {
    const lb = new LeastRequest();
    const [busy, idle] = eps(2);
    busy!.active = 5;
    for (let i = 0; i < 1000; i++) expect(lb.pick([busy!, idle!])).toBe(idle);
  });

  it('prefers less loaded endpoints among many (power of two choices)', () => {
    const lb = new LeastRequest();
    const list = eps(5);
    list.forEach((e, i) => (e.active = i * 10));
    const counts = spread(lb, list, 5000);
    expect(counts.get(8000)!).toBeGreaterThan(counts.get(8004) ?? 0);
    expect(counts.get(8004) ?? 0).toBe(0); // the busiest one only wins against itself, never drawn twice
  });
});

describe.each([
  { name: 'RING_HASH', make: () => new RingHash() },
  { name: 'MAGLEV', make: () => new Maglev() },
])('consistent hash: $name', ({ make }) => {
  it('keeps 1,000 requests of one key on one endpoint', () => {
    const lb = make();
    const list = eps(5);
    const h = hashString('user-42');
    const first = lb.pick(list, undefined, h);
    for (let i = 0; i < 1000; i++) expect(lb.pick(list, undefined, h)).toBe(first);
  });

  it('moves at most 25% of 1,000 keys (only the removed endpoint’s) when one of 5 endpoints leaves', () => {
    const lb = make();
    const list = eps(5);
    const before = new Map<number, EndpointState>();
    for (let k = 0; k < 1000; k++) before.set(k, lb.pick(list, undefined, hashString(`key-${k}`))!);
    const removed = list[2]!;
    const after = list.filter((e) => e !== removed);
    let moved = 0;
    let movedFromSurvivors = 0;
    for (let k = 0; k < 1000; k++) {
      const now = lb.pick(after, undefined, hashString(`key-${k}`))!;
      if (now !== before.get(k)) {
        moved++;
        if (before.get(k) !== removed) movedFromSurvivors++;
      }
    }
    expect(moved).toBeLessThanOrEqual(250);
    expect(moved).toBeGreaterThan(100); // the removed endpoint did own about a fifth
    // Ring: exactly only the removed endpoint's keys move; Maglev: almost only them.
    expect(movedFromSurvivors).toBeLessThanOrEqual(30);
  });
});

describe('RingHash', () => {
  it('builds at least minimumRingSize points', () => {
    const lb = new RingHash(2048);
    lb.pick(eps(3), undefined, 1);
    expect(lb.size).toBeGreaterThanOrEqual(2048);
  });
});
