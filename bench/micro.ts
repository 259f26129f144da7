/**
 * Data-path micro measurements (`npm run bench -- --only micro`), each "before" and "after" in the
 * same process:
 * - wildcard virtual-host lookup at 10,000 `*.suffix` hosts: suffix-length buckets
 *   (RouteConfiguration) against a scan of every wildcard, longest first (the former lookup);
 * - consistent-hash first pick at 1,000 endpoints: table built on that pick (former) against built
 *   at reconcile (`prepare`), for RING_HASH and MAGLEV;
 * - heap and RSS per endpoint state over 10,000 endpoints: pool created on first use against a
 *   pool per endpoint at reload (the former eager pool).
 *
 * Run as `node --expose-gc dist/bench/micro.js`; prints one JSON line ({@link MicroResult}).
 */
import { performance } from 'node:perf_hooks';
import { RouteConfiguration, type VirtualHost } from '../routes/route-table.js';
import { EndpointState, type PoolSettings } from '../upstream/endpoint-state.js';
import { Maglev } from '../upstream/maglev.js';
import { RingHash } from '../upstream/ring-hash.js';
import type { ConsistentHashBalancer } from '../upstream/consistent-hash.js';

/** What the micro benchmarks measured. */
export interface MicroResult {
  wildcard: { hosts: number; bucketsUsPerLookup: number; scanUsPerLookup: number };
  firstPick: Array<{
    balancer: string;
    endpoints: number;
    lazyFirstPickMs: number;
    preparedFirstPickMs: number;
    prepareMs: number;
  }>;
  endpointMemory: {
    endpoints: number;
    lazyHeapBytesEach: number;
    lazyRssBytesEach: number;
    eagerHeapBytesEach: number;
    eagerRssBytesEach: number;
  };
}

const gc = (globalThis as { gc?: () => void }).gc;

function collect(): void {
  for (let i = 0; i < 3; i++) gc?.();
}

function wildcard(hosts: number): MicroResult['wildcard'] {
  const vhosts: VirtualHost[] = [];
  for (let i = 0; i < hosts; i++)
    vhosts.push({ name: `vh${i}`, domains: [`*.svc-${i}.example.com`], routes: [], requireTls: false });
  const rc = new RouteConfiguration('http.80', vhosts);
  // The former lookup: every wildcard, longest suffix first.
  const scan = vhosts
    .map((vh) => ({ suffix: vh.domains[0]!.slice(1), vh }))
    .sort((a, b) => b.suffix.length - a.suffix.length);
  const scanLookup = (host: string): VirtualHost | undefined => {
    for (let i = 0; i < scan.length; i++) {
      const s = scan[i]!;
      if (host.length > s.suffix.length && host.endsWith(s.suffix)) return s.vh;
    }
    return undefined;
  };
  const names = Array.from({ length: 1000 }, (_, i) => `api.svc-${(i * 7919) % hosts}.example.com`);
  const time = (f: (h: string) => VirtualHost | undefined, rounds: number): number => {
    let found = 0;
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) for (const n of names) if (f(n)) found++;
    const us = ((performance.now() - t0) * 1000) / (rounds * names.length);
    if (found !== rounds * names.length) throw new Error('wildcard lookup missed');
    return us;
  };
  time((h) => rc.virtualHostFor(h), 20);
  time(scanLookup, 2);
  return {
    hosts,
    bucketsUsPerLookup: round3(time((h) => rc.virtualHostFor(h), 200)),
    scanUsPerLookup: round3(time(scanLookup, 5)),
  };
}

const SETTINGS: PoolSettings = {
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 3_600_000,
  maxRequestsPerConnection: 0,
};

function endpointStates(n: number, basePort: number): EndpointState[] {
  return Array.from({ length: n }, (_, i) => {
    const port = basePort + (i % 50_000);
    const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    return new EndpointState(
      Object.freeze({ address, port, labels: {}, weight: 1, key: `${address}:${port}` }),
      SETTINGS,
    );
  });
}

function firstPick(n: number): MicroResult['firstPick'] {
  const out: MicroResult['firstPick'] = [];
  for (const [name, make] of [
    ['RING_HASH', () => new RingHash()],
    ['MAGLEV', () => new Maglev()],
  ] as const) {
    const list = endpointStates(n, 20_000);
    // Warm the code paths once so both sides time a JIT-compiled build.
    make().pick(list, undefined, 1);
    const lazy: ConsistentHashBalancer = make();
    let t0 = performance.now();
    lazy.pick(list, undefined, 42);
    const lazyMs = performance.now() - t0;
    const prepared: ConsistentHashBalancer = make();
    t0 = performance.now();
    prepared.prepare(list);
    const prepareMs = performance.now() - t0;
    t0 = performance.now();
    prepared.pick(list, undefined, 42);
    const preparedMs = performance.now() - t0;
    out.push({
      balancer: name,
      endpoints: n,
      lazyFirstPickMs: round3(lazyMs),
      preparedFirstPickMs: round3(preparedMs),
      prepareMs: round3(prepareMs),
    });
  }
  return out;
}

function memory(n: number, eager: boolean): { heap: number; rss: number } {
  collect();
  const h0 = process.memoryUsage().heapUsed;
  const r0 = process.memoryUsage().rss;
  const states = endpointStates(n, 30_000);
  if (eager) for (const s of states) void s.pool; // the former behaviour: a pool per endpoint at reload
  collect();
  const m = process.memoryUsage();
  const each = { heap: Math.round((m.heapUsed - h0) / n), rss: Math.round((m.rss - r0) / n) };
  // Keep the states alive until measured.
  if (states.length !== n) throw new Error('unreachable');
  return each;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  if (gc === undefined) throw new Error('run with node --expose-gc');
  const n = 10_000;
  const lazy = memory(n, false);
  const eager = memory(n, true);
  const result: MicroResult = {
    wildcard: wildcard(10_000),
    firstPick: firstPick(1_000),
    endpointMemory: {
      endpoints: n,
      lazyHeapBytesEach: lazy.heap,
      lazyRssBytesEach: lazy.rss,
      eagerHeapBytesEach: eager.heap,
      eagerRssBytesEach: eager.rss,
    },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
