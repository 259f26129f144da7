/**
 * Mirroring through the gateway on real sockets (istio-semantics.md §2.11, §8.12): percentage
 * sampling, `-shadow` authority, legacy fields, request bodies, and a slow shadow that must not slow
 * the primary.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import type { TestUpstream } from '../helpers/upstream.js';
import type { TestGateway } from '../helpers/gateway.js';
import { httpGet } from '../helpers/clients.js';
import { DEFAULT_MIRRORS_IN_FLIGHT, type MirrorBudget } from '../../upstream/mirror-budget.js';
import {
  destination,
  gatewayBed,
  inBatches,
  meshServiceConfig,
  type GatewayBed,
} from '../helpers/httpbin-config.js';

/**
 * httpbin with subset v1 (the primary) and v2 (the shadow) behind the gateway.
 *
 * @param primary local port of the v1 endpoint
 * @param shadow local port of the v2 endpoint
 * @param rules the VirtualService `http:` list items, YAML lines indented by two spaces
 */
function config(primary: number, shadow: number, rules: string): string {
  return meshServiceConfig({
    host: 'httpbin',
    port: 8000,
    endpoints: [
      { port: primary, labels: { version: 'v1' } },
      { port: shadow, labels: { version: 'v2' } },
    ],
    http: rules,
    destinationRule: `  subsets:\n  - { name: v1, labels: { version: v1 } }\n  - { name: v2, labels: { version: v2 } }`,
  });
}

const V1 = destination('httpbin', 8000, 'v1');
const V2 = destination('httpbin', 8000, 'v2');
/** The shadow's cluster (subset v2). */
const SHADOW_CLUSTER = 'outbound|8000|v2|httpbin.default.svc.cluster.local';

/**
 * A VirtualService http rule for paths starting with `prefix` that routes to v1.
 *
 * @param fields more fields of the rule (`mirror: …`, `retries: …`), one per element, unindented
 * @returns YAML lines of one `http:` list item, indented by two spaces
 */
function prefixRule(prefix: string, ...fields: string[]): string {
  return [`  - match: [{ uri: { prefix: ${prefix} } }]`, `    route: [{ destination: ${V1} }]`]
    .concat(fields.map((f) => `    ${f}`))
    .join('\n');
}

/**
 * Starts upstreams `v1` (primary) and `v2` (shadow) and a gateway routing with `rules`.
 *
 * @param rules VirtualService `http:` list items (see {@link prefixRule}), joined one after another
 * @returns both upstreams, the gateway and its local port for server port 80
 */
async function primaryAndShadow(
  bed: GatewayBed,
  rules: string[],
): Promise<{ v1: TestUpstream; v2: TestUpstream; gw: TestGateway; port: number }> {
  const v1 = await bed.upstream('v1');
  const v2 = await bed.upstream('v2');
  const gw = await bed.gateway(config(v1.port, v2.port, rules.join('\n')));
  return { v1, v2, gw, port: gw.port(80) };
}

/**
 * Resolves once every copy the gateway took from the shadow cluster's mirror budget has finished
 * (its response read), so the shadow has seen them all. Call after the primaries were answered:
 * each copy is taken before its primary's response can arrive. Returns how many the shadow saw.
 */
async function copiesDone(gw: TestGateway, shadow: TestUpstream): Promise<number> {
  const cluster = gw.gateway.store.current.clusters.get(SHADOW_CLUSTER);
  if (!cluster) throw new Error(`no cluster ${SHADOW_CLUSTER}`);
  const budget = gw.gateway.clusters.get(cluster)!.mirrorBudget;
  if (budget.inFlight > 0) await inFlightReachesZero(budget);
  return shadow.seen.length;
}

/**
 * Resolves when the last copy gives its place back. The budget has no event of its own, so its
 * `inFlight` field is turned into an accessor that reports the change (and back into a plain field).
 */
function inFlightReachesZero(budget: MirrorBudget): Promise<void> {
  return new Promise((resolve) => {
    let n = budget.inFlight;
    Object.defineProperty(budget, 'inFlight', {
      configurable: true,
      enumerable: true,
      get: () => n,
      set: (v: number) => {
        n = v;
        if (v !== 0) return;
        Object.defineProperty(budget, 'inFlight', {
          value: v,
          writable: true,
          configurable: true,
          enumerable: true,
        });
        resolve();
      },
    });
  });
}

/**
 * A shadow service in a child process that answers every request after 10 s: it reads the request
 * and keeps the connection silent until then. `held()` asks how many requests it is holding.
 */
async function slowShadow(): Promise<{ port: number; held(): Promise<number>; kill(): void }> {
  const code = `
    const net = require('node:net');
    let held = 0;
    const s = net.createServer((sock) => {
      held++;
      sock.on('error', () => {});
      sock.on('data', () => {});
      setTimeout(() => { held--; sock.end('HTTP/1.1 200 OK\\r\\ncontent-length: 0\\r\\nconnection: close\\r\\n\\r\\n'); }, 10000);
    });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));
    process.stdin.on('data', () => console.log(held));
    process.stdin.on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => Number((await lines.next()).value);
  const port = await next();
  return {
    port,
    held: () => {
      child.stdin.write('?\n');
      return next();
    },
    kill: () => child.kill(),
  };
}

describe('mirroring', () => {
  const bed = gatewayBed();

  it('mirrors 50% of 1,000 requests (±5 points) with the authority suffixed -shadow before the port', async () => {
    const { v1, v2, gw, port } = await primaryAndShadow(bed, [
      `  - route: [{ destination: ${V1} }]\n    mirror: ${V2}\n    mirrorPercentage: { value: 50 }`,
    ]);
    const rs = await inBatches(1000, 50, (i) => httpGet(port, `/get?i=${i}`, { host: 'httpbin:8000' }));
    for (const r of rs) expect(r.headers['x-upstream']).toBe('v1');
    const mirrored = await copiesDone(gw, v2);
    console.log(`mirroring: ${mirrored} of 1000 requests mirrored at 50%`);
    expect(mirrored).toBeGreaterThanOrEqual(450);
    expect(mirrored).toBeLessThanOrEqual(550);
    expect(v1.seen).toHaveLength(1000);
    for (const s of v2.seen) expect(s.headers.host).toBe('httpbin-shadow:8000');
    // The copies are the primary's requests (same path and request id).
    const ids = new Set(v1.seen.map((s) => s.headers['x-request-id']));
    for (const s of v2.seen) expect(ids.has(s.headers['x-request-id'])).toBe(true);
  });

  it('mirrors 100% without a percentage, none at 0, honours legacy mirrorPercent and the mirrors list', async () => {
    const { v2, gw, port } = await primaryAndShadow(bed, [
      prefixRule('/all', `mirror: ${V2}`),
      prefixRule('/none', `mirror: ${V2}`, 'mirrorPercentage: { value: 0 }'),
      prefixRule('/legacy', `mirror: ${V2}`, 'mirrorPercent: 0'),
      prefixRule(
        '/list',
        `mirrors: [{ destination: ${V2} }, { destination: ${V2}, percentage: { value: 0 } }]`,
      ),
    ]);
    for (const p of ['/all', '/none', '/legacy', '/list'])
      for (let i = 0; i < 20; i++) await httpGet(port, p);
    await copiesDone(gw, v2);
    const by = (p: string) => v2.seen.filter((s) => s.url === p).length;
    expect([by('/all'), by('/none'), by('/legacy'), by('/list')]).toEqual([20, 0, 0, 20]);
    for (const s of v2.seen) expect(s.headers.host).toBe(`127.0.0.1-shadow:${port}`);
  });

  it('mirrors small request bodies, buffered (default retries) and streamed (retries off)', async () => {
    const { v1, v2, gw, port } = await primaryAndShadow(bed, [
      prefixRule('/buffered', `mirror: ${V2}`),
      prefixRule('/streamed', `mirror: ${V2}`, 'retries: { attempts: 0 }'),
    ]);
    const small = 'x'.repeat(10_000);
    const big = 'y'.repeat(100 * 1024);
    for (const p of ['/buffered', '/streamed']) {
      expect((await httpGet(port, p, { 'content-type': 'text/plain' }, 'POST', small)).status).toBe(200);
      expect((await httpGet(port, `${p}-big`, { 'content-type': 'text/plain' }, 'POST', big)).status).toBe(
        200,
      );
    }
    await copiesDone(gw, v2);
    expect(v1.seen.map((s) => s.body.length)).toEqual([10_000, 100 * 1024, 10_000, 100 * 1024]);
    // Bodies over 64 KiB are not mirrored; small ones are, whole.
    expect(v2.seen.map((s) => [s.url, s.method, s.body])).toEqual([
      ['/buffered', 'POST', small],
      ['/streamed', 'POST', small],
    ]);
  });

  it('a shadow that takes 10 s never holds up the primary; copies beyond the mirror budget are dropped and counted', async () => {
    // The shadow runs in its own process, as a remote service would: its work is not ours. How
    // much a mirror costs the primary's latency is a speed claim for the benchmark, not asserted here.
    const shadow = await slowShadow();
    try {
      const v1 = await bed.upstream('v1');
      const gw = await bed.gateway(
        config(
          v1.port,
          shadow.port,
          [prefixRule('/mirrored', `mirror: ${V2}`), `  - route: [{ destination: ${V1} }]`].join('\n'),
        ),
      );
      const port = gw.port(80);
      const extra = 20;
      const total = DEFAULT_MIRRORS_IN_FLIGHT + extra;
      // Sequential: each primary answer arrives while every earlier copy is still held by the
      // shadow (10 s), so a primary that waited for its copy would time the test out.
      for (let i = 0; i < total; i++) {
        const r = await httpGet(port, `/mirrored?i=${i}`);
        expect(r.status).toBe(200);
        expect(r.headers['x-upstream']).toBe('v1');
      }
      expect(v1.seen).toHaveLength(total);
      // Each question is a round trip to the shadow process; the copies in flight connect meanwhile.
      let held = await shadow.held();
      for (let i = 0; i < 1000 && held < DEFAULT_MIRRORS_IN_FLIGHT; i++) held = await shadow.held();
      expect(held).toBe(DEFAULT_MIRRORS_IN_FLIGHT);
      const dropped = gw.gateway.stats.get(`cluster.${SHADOW_CLUSTER}.upstream_rq_pending_overflow`);
      expect(dropped).toBe(extra);
    } finally {
      shadow.kill();
    }
  });
});
