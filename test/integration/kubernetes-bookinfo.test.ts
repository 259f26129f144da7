/**
 * `meshgate run --kubernetes` against the API-server stand-in, driven through
 * `@kubernetes/client-node` with a kubeconfig file: Bookinfo objects as a cluster holds them
 * (Services, Pods, EndpointSlices, DestinationRule, Gateway, VirtualService) served through the
 * gateway to real upstreams; live changes (weights, a pod leaving, an invalid object) and readiness.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeKubeApiServer, makeApiServerCert, type ApiServerCert } from '../helpers/kube-apiserver.js';
import {
  bookinfoVirtualService,
  captureLog,
  endpointSlice,
  istio,
  startBookinfo,
  startKubeGateway,
  type BookinfoApp,
  type KubeGateway,
} from '../helpers/kube-fixtures.js';
import { httpGet } from '../helpers/clients.js';
import { EPHEMERAL_PORTS, fetchText } from '../helpers/telemetry.js';

let cert: ApiServerCert | undefined;
let api: FakeKubeApiServer | undefined;
let app: BookinfoApp | undefined;
let kgw: KubeGateway | undefined;

async function setUp(reviews?: Parameters<typeof startBookinfo>[1]): Promise<void> {
  cert ??= makeApiServerCert();
  api = await FakeKubeApiServer.start({ tls: cert });
  app = await startBookinfo(api, reviews);
}

afterEach(async () => {
  await kgw?.close();
  await api?.close();
  await app?.close();
  kgw = api = app = undefined;
});

/** Which upstream answered. */
async function upstreamOf(path: string): Promise<{ status: number; upstream: string }> {
  const r = await httpGet(kgw!.port(80), path);
  const u = r.headers['x-upstream'];
  return { status: r.status, upstream: typeof u === 'string' ? u : `-${r.status}` };
}

describe('meshgate run --kubernetes: Bookinfo', () => {
  it('serves /productpage from the Pod behind the Service, found through its EndpointSlice', async () => {
    await setUp();
    kgw = await startKubeGateway(api!);
    const r = await httpGet(kgw.port(80), '/productpage');
    expect(r.status).toBe(200);
    expect(r.headers['x-upstream']).toBe('productpage-v1');
    expect(JSON.parse(r.body).url).toBe('/productpage');
    expect((await upstreamOf('/reviews/1')).upstream).toBe('reviews-v1');
    // One list, then one watch from the list's resourceVersion, per informer.
    const vs = api!.requests.filter((q) => q.path === '/apis/networking.istio.io/v1/virtualservices');
    expect(vs.map((q) => q.query.watch ?? 'list')).toEqual(['list', 'true']);
    expect(vs[1]!.query.resourceVersion).toBe(String(api!.resourceVersion));
  });

  it('applies a VirtualService weight change while requests run: none fails, the new split shows', async () => {
    await setUp();
    kgw = await startKubeGateway(api!);
    const seen: { status: number; upstream: string }[] = [];
    let stop = false;
    const load = (async () => {
      // A bounded loop: at most 4000 requests, two at a time.
      for (let i = 0; i < 2000 && !stop; i++) {
        seen.push(...(await Promise.all([upstreamOf('/reviews/1'), upstreamOf('/reviews/2')])));
      }
    })();
    await expect.poll(() => seen.length).toBeGreaterThan(20);
    expect(new Set(seen.map((s) => s.upstream))).toEqual(new Set(['reviews-v1']));
    api!.upsert(
      bookinfoVirtualService([
        { host: 'reviews', subset: 'v1', weight: 20 },
        { host: 'reviews', subset: 'v2', weight: 80 },
      ]),
    );
    await expect.poll(() => seen.some((s) => s.upstream === 'reviews-v2'), { timeout: 2000 }).toBe(true);
    const firstV2 = seen.findIndex((s) => s.upstream === 'reviews-v2');
    await expect.poll(() => seen.length, { timeout: 20_000 }).toBeGreaterThan(firstV2 + 400);
    stop = true;
    await load;
    expect(seen.filter((s) => s.status !== 200)).toEqual([]);
    const after = seen.slice(firstV2, firstV2 + 400);
    const v2 = after.filter((s) => s.upstream === 'reviews-v2').length;
    // 80 % of 400 = 320; ±4 standard deviations (8 each) of the binomial.
    expect(v2).toBeGreaterThanOrEqual(288);
    expect(v2).toBeLessThanOrEqual(352);
    expect(after.length - v2).toBe(after.filter((s) => s.upstream === 'reviews-v1').length);
  });

  it('debounces a burst of changes into one new snapshot (istiod: 100 ms quiet)', async () => {
    await setUp();
    kgw = await startKubeGateway(api!);
    const before = kgw.gateway.snapshot.version;
    // 30 writes in one go, as `kubectl apply` of a big file or a controller's resync produces.
    for (let i = 0; i < 29; i++) {
      api!.upsert(bookinfoVirtualService([{ host: 'reviews', subset: i % 2 ? 'v2' : 'v1' }]));
    }
    api!.upsert(
      istio('VirtualService', 'last', {
        hosts: ['*'],
        gateways: ['bookinfo-gateway'],
        http: [
          {
            match: [{ uri: { prefix: '/last' } }],
            route: [{ destination: { host: 'reviews', subset: 'v2' } }],
          },
        ],
      }),
    );
    await expect.poll(async () => (await upstreamOf('/last')).upstream, { timeout: 5000 }).toBe('reviews-v2');
    expect(kgw.gateway.snapshot.version).toBe(before + 1);
    expect((await upstreamOf('/reviews/1')).upstream).toBe('reviews-v1');
  });

  it('a deleted Pod (its EndpointSlice emptied) leaves the endpoints', async () => {
    await setUp([{ host: 'reviews' }]);
    kgw = await startKubeGateway(api!);
    const both = new Set<string>();
    for (let i = 0; i < 200 && both.size < 2; i++) both.add((await upstreamOf('/reviews/1')).upstream);
    expect(both).toEqual(new Set(['reviews-v1', 'reviews-v2']));
    // The kubelet deletes the Pod; the endpoint-slice controller drops its endpoint.
    api!.remove('Pod', 'default', 'reviews-v2-0');
    const slice = endpointSlice('reviews', { version: 'v2', port: app!.upstreams.get('reviews-v2')!.port });
    api!.upsert({ ...slice, endpoints: [] });
    await kgw.until(() => kgw!.gateway.snapshot.version > 1);
    const after: string[] = [];
    for (let i = 0; i < 100; i++) after.push((await upstreamOf('/reviews/1')).upstream);
    expect(new Set(after)).toEqual(new Set(['reviews-v1']));
  });

  it('rejects an invalid VirtualService alone (logged with its diagnostics) while a valid one applies', async () => {
    await setUp();
    const captured = captureLog();
    kgw = await startKubeGateway(api!, { log: captured.log });
    // Istio's webhook would refuse this one: a route destination without a host.
    api!.upsert(
      istio('VirtualService', 'broken', {
        hosts: ['*'],
        gateways: ['bookinfo-gateway'],
        http: [{ match: [{ uri: { prefix: '/broken' } }], route: [{ destination: { subset: 'v1' } }] }],
      }),
    );
    api!.upsert(
      istio('VirtualService', 'ratings', {
        hosts: ['*'],
        gateways: ['bookinfo-gateway'],
        http: [
          {
            match: [{ uri: { prefix: '/ratings' } }],
            route: [{ destination: { host: 'reviews', subset: 'v2' } }],
          },
        ],
      }),
    );
    await expect
      .poll(async () => (await upstreamOf('/ratings/1')).upstream, { timeout: 5000 })
      .toBe('reviews-v2');
    expect((await upstreamOf('/productpage')).upstream).toBe('productpage-v1');
    expect((await httpGet(kgw.port(80), '/broken')).status).toBe(404);
    const rejected = await captured.waitFor((r) => r.resource === 'VirtualService/default/broken');
    expect(rejected.level).toBe(50);
    expect(String(rejected.msg)).toContain('rejected');
    expect((rejected.diagnostics as string[]).join('\n')).toMatch(
      /IST0106 VirtualService\/default\/broken.*host/,
    );
    expect(kgw.source.rejected.map((r) => r.resource)).toEqual(['VirtualService/default/broken']);
    expect(kgw.gateway.store.rejectedCount).toBe(0);

    // Fixed: it applies like any other change.
    api!.upsert(
      istio('VirtualService', 'broken', {
        hosts: ['*'],
        gateways: ['bookinfo-gateway'],
        http: [
          { match: [{ uri: { prefix: '/broken' } }], route: [{ destination: { host: 'productpage' } }] },
        ],
      }),
    );
    await expect
      .poll(async () => (await upstreamOf('/broken')).upstream, { timeout: 5000 })
      .toBe('productpage-v1');
    expect(kgw.source.rejected).toEqual([]);
  });

  it('/healthz/ready answers 503 until every informer has listed, then 200', async () => {
    await setUp();
    const captured = captureLog();
    api!.hold('endpointslices');
    const starting = startKubeGateway(api!, {
      log: captured.log,
      telemetry: {
        ...EPHEMERAL_PORTS,
        adminPort: undefined,
        prometheusPort: undefined,
        statusPort: undefined,
      },
    });
    const bound = await captured.waitFor((r) => r.server === 'health' && typeof r.port === 'number');
    const ready = `http://127.0.0.1:${bound.port as number}/healthz/ready`;
    await api!.waitForRequest((q) => q.path === '/apis/discovery.k8s.io/v1/endpointslices');
    // Every other informer has listed by now or soon; the slices are still held.
    expect((await fetchText(ready)).status).toBe(503);
    expect(kgw).toBeUndefined();
    api!.release('endpointslices');
    kgw = await starting;
    expect((await fetchText(ready)).status).toBe(200);
    expect((await upstreamOf('/productpage')).upstream).toBe('productpage-v1');
  });
});
