/**
 * Load balancing through the gateway on real sockets (istio-semantics.md §3.3): LEAST_REQUEST
 * avoids an endpoint busy with slow requests; consistentHash on a header, a generated cookie, the
 * source IP and a query parameter; a removed endpoint remaps only its share of keys; weights.
 */
import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import type { TestUpstream } from '../helpers/upstream.js';
import { httpGet } from '../helpers/clients.js';
import { destination, gatewayBed, inBatches, meshServiceConfig } from '../helpers/httpbin-config.js';

/**
 * Service `svc` on the given upstreams behind the gateway, with a DestinationRule load balancer.
 *
 * @param ups the endpoints, in order
 * @param trafficPolicy the `loadBalancer:` body, YAML lines indented by six spaces
 * @param weights endpoint weights by index (1 where missing)
 */
function config(
  ups: readonly TestUpstream[],
  trafficPolicy: string,
  weights: readonly number[] = [],
): string {
  return meshServiceConfig({
    host: 'svc',
    port: 8080,
    endpoints: ups.map((u, i) => ({ port: u.port, weight: weights[i] ?? 1 })),
    http: `  - route: [{ destination: ${destination('svc', 8080)} }]`,
    destinationRule: `  trafficPolicy:\n    loadBalancer:\n${trafficPolicy}`,
  });
}

const served = (r: { headers: Record<string, string | string[] | undefined> }) =>
  r.headers['x-upstream'] as string;

describe('load balancing', () => {
  const bed = gatewayBed();

  it('LEAST_REQUEST (the default) sends new requests to the idle endpoint while the other holds slow ones', async () => {
    const held: http.ServerResponse[] = [];
    let allHeld: () => void;
    const threeHeld = new Promise<void>((resolve) => (allHeld = resolve));
    const ups = await bed.upstreams(2, (req, res) => {
      if (req.url !== '/slow') return false;
      res.writeHead(200, { 'x-upstream': 'held' });
      if (held.push(res) === 3) allHeld();
      return true;
    });
    const gw = await bed.gateway(config(ups, '      simple: LEAST_REQUEST'));
    const port = gw.port(80);
    // Three slow requests: the first lands anywhere, the next ones go to the other endpoint in turn.
    const slow = [httpGet(port, '/slow'), httpGet(port, '/slow'), httpGet(port, '/slow')];
    await threeHeld;
    const busy = ups.find((u) => u.seen.filter((s) => s.url === '/slow').length === 2)!;
    const idle = ups.find((u) => u !== busy)!;
    for (let i = 0; i < 50; i++) expect(served(await httpGet(port, '/fast'))).toBe(idle.name);
    for (const r of held) r.end();
    await Promise.all(slow);
  });

  it('consistentHash.httpHeaderName keeps 1,000 requests of one key on one endpoint; removing 1 of 5 moves ≤ 25% of 1,000 keys', async () => {
    const ups = await bed.upstreams(5);
    const policy = '      consistentHash: { httpHeaderName: x-user }';
    const gw = await bed.gateway(config(ups, policy));
    const port = gw.port(80);
    const one = new Set(
      await inBatches(1000, 50, async () => served(await httpGet(port, '/', { 'x-user': 'alice' }))),
    );
    expect(one.size).toBe(1);

    const keys = Array.from({ length: 1000 }, (_, k) => `user-${k}`);
    const placement = () =>
      inBatches(keys.length, 50, async (k) => served(await httpGet(port, '/', { 'x-user': keys[k]! })));
    const before = await placement();
    expect(new Set(before).size).toBe(5);
    const removed = ups[2]!.name;
    expect(
      await gw.reconfigure(
        config(
          ups.filter((u) => u.name !== removed),
          policy,
        ),
      ),
    ).toBe(true);
    const after = await placement();
    const moved = after.filter((u, k) => u !== before[k]).length;
    const movedFromOthers = after.filter((u, k) => u !== before[k] && before[k] !== removed).length;
    console.log(
      `consistent hash: ${before.filter((u) => u === removed).length} keys on the removed endpoint, ${moved} of 1000 moved`,
    );
    expect(moved).toBeLessThanOrEqual(250);
    expect(movedFromOthers).toBe(0);
  });

  it('consistentHash.httpCookie with ttl sets the cookie when absent and sticks to one endpoint with it', async () => {
    const ups = await bed.upstreams(4);
    const gw = await bed.gateway(
      config(ups, '      consistentHash: { httpCookie: { name: session, path: /, ttl: 3600s } }'),
    );
    const port = gw.port(80);
    const first = await httpGet(port, '/');
    const setCookie = first.headers['set-cookie'] as string | string[];
    const cookie = Array.isArray(setCookie) ? setCookie[0]! : setCookie;
    expect(cookie).toMatch(/^session="[0-9a-f]{16}"; Max-Age=3600; Path=\/; HttpOnly$/);
    const value = /^session=("[0-9a-f]+")/.exec(cookie)![1]!;
    const where = new Set<string>([served(first)]);
    for (let i = 0; i < 100; i++) {
      const r = await httpGet(port, '/', { cookie: `other=1; session=${value}` });
      expect(r.headers['set-cookie']).toBeUndefined();
      where.add(served(r));
    }
    expect(where.size).toBe(1);
  });

  it('consistentHash.useSourceIp and httpQueryParameterName pin a client and a parameter value', async () => {
    const ups = await bed.upstreams(4);
    const gw = await bed.gateway(config(ups, '      consistentHash: { useSourceIp: true }'));
    let port = gw.port(80);
    const byIp = new Set<string>();
    for (let i = 0; i < 100; i++) byIp.add(served(await httpGet(port, `/?r=${i}`)));
    expect(byIp.size).toBe(1);

    expect(
      await gw.reconfigure(config(ups, '      consistentHash: { httpQueryParameterName: tenant }')),
    ).toBe(true);
    port = gw.port(80);
    const spread = new Set<string>();
    for (let t = 0; t < 40; t++) {
      const where = new Set<string>();
      for (let i = 0; i < 5; i++) where.add(served(await httpGet(port, `/?x=${i}&tenant=t${t}`)));
      expect(where.size).toBe(1);
      spread.add([...where][0]!);
    }
    expect(spread.size).toBeGreaterThan(1);
  });

  it('ROUND_ROBIN honours endpoint weights (3:1 over 400 requests)', async () => {
    const ups = await bed.upstreams(2);
    const gw = await bed.gateway(config(ups, '      simple: ROUND_ROBIN', [3, 1]));
    const port = gw.port(80);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const u = served(await httpGet(port, '/'));
      counts[u] = (counts[u] ?? 0) + 1;
    }
    expect(counts['ep0']).toBe(300);
    expect(counts['ep1']).toBe(100);
  });
});
