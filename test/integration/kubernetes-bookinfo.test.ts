/**
 * `meshgate run --kubernetes` against the API-server stand-in, driven through
 * `@kubernetes/client-node` with a kubeconfig file: Bookinfo objects as a cluster holds them
 * (Services, Pods, EndpointSlices, DestinationRule, Gateway, VirtualService) served through the
 * gateway to real upstreams; live changes (weights, a pod leaving, an invalid object) and readiness.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  bookinfoVirtualService,
  captureLog,
  endpointSlice,
  gatewayRoute,
  KubeTestBed,
  pod,
  type RouteTo,
} from '../helpers/kube-fixtures.js';
import { httpGet } from '../helpers/clients.js';
import { EPHEMERAL_PORTS, fetchText } from '../helpers/telemetry.js';

const bed = new KubeTestBed();
afterEach(() => bed.close());

const setUp = (reviews?: readonly RouteTo[]) => bed.setUp({ reviews });
const upstreamOf = (path: string) => bed.upstreamOf(path);

describe('meshgate run --kubernetes: Bookinfo', () => {
  it('serves /productpage from the Pod behind the Service, found through its EndpointSlice', async () => {
    await setUp();
    await bed.startGateway();
    const r = await httpGet(bed.gw.port(80), '/productpage');
    expect(r.status).toBe(200);
    expect(r.headers['x-upstream']).toBe('productpage-v1');
    expect(JSON.parse(r.body).url).toBe('/productpage');
    expect((await upstreamOf('/reviews/1')).upstream).toBe('reviews-v1');
    // One list, then one watch from the list's resourceVersion, per informer.
    const vs = bed.api.requests.filter((q) => q.path === '/apis/networking.istio.io/v1/virtualservices');
    expect(vs.map((q) => q.query.watch ?? 'list')).toEqual(['list', 'true']);
    expect(vs[1]!.query.resourceVersion).toBe(String(bed.api.resourceVersion));
  });

  it('applies a VirtualService weight change while requests run: none fails, the new split shows', async () => {
    await setUp();
    await bed.startGateway();
    const seen: { status: number; upstream: string }[] = [];
    let stop = false;
    const waiters: { n: number; resolve: () => void }[] = [];
    /** Resolves once `n` answers were seen. */
    const reached = (n: number) =>
      new Promise<void>((resolve) => {
        if (seen.length >= n) resolve();
        else waiters.push({ n, resolve });
      });
    const load = (async () => {
      // A bounded loop: at most 4000 requests, two at a time.
      for (let i = 0; i < 2000 && !stop; i++) {
        seen.push(...(await Promise.all([upstreamOf('/reviews/1'), upstreamOf('/reviews/2')])));
        for (const w of waiters.filter((x) => seen.length >= x.n)) w.resolve();
      }
    })();
    await reached(20);
    expect(new Set(seen.map((s) => s.upstream))).toEqual(new Set(['reviews-v1']));
    const vs = bed.api.upsert(
      bookinfoVirtualService([
        { host: 'reviews', subset: 'v1', weight: 20 },
        { host: 'reviews', subset: 'v2', weight: 80 },
      ]),
    );
    await bed.gw.applied(vs);
    // The pair in flight at the swap may have used the old routes; count from the next one.
    const start = seen.length + 2;
    await reached(start + 400);
    stop = true;
    await load;
    expect(seen.filter((s) => s.status !== 200)).toEqual([]);
    const after = seen.slice(start, start + 400);
    const v2 = after.filter((s) => s.upstream === 'reviews-v2').length;
    // 80 % of 400 = 320; ±4 standard deviations (8 each) of the binomial.
    expect(v2).toBeGreaterThanOrEqual(288);
    expect(v2).toBeLessThanOrEqual(352);
    expect(after.length - v2).toBe(after.filter((s) => s.upstream === 'reviews-v1').length);
  });

  it('debounces a burst of changes into one new snapshot (istiod: 100 ms quiet)', async () => {
    await setUp();
    await bed.startGateway();
    const before = bed.gw.gateway.snapshot.version;
    // 30 writes in one go, as `kubectl apply` of a big file or a controller's resync produces.
    for (let i = 0; i < 29; i++) {
      bed.api.upsert(bookinfoVirtualService([{ host: 'reviews', subset: i % 2 ? 'v2' : 'v1' }]));
    }
    const last = bed.api.upsert(gatewayRoute('last', { prefix: '/last' }, { host: 'reviews', subset: 'v2' }));
    await bed.gw.applied(last);
    expect((await upstreamOf('/last')).upstream).toBe('reviews-v2');
    expect(bed.gw.gateway.snapshot.version).toBe(before + 1);
    expect((await upstreamOf('/reviews/1')).upstream).toBe('reviews-v1');
  });

  it('a Pod update that touches only status the gateway ignores causes no reload', async () => {
    await setUp();
    await bed.startGateway();
    let changes = 0;
    bed.gw.source.on('change', () => changes++);
    const p = pod('reviews', 'v1');
    // Both on the Pod watch, in this order: a restart count (ignored), then a label (read).
    bed.api.upsert({
      ...p,
      status: { ...(p.status as object), containerStatuses: [{ name: 'reviews', restartCount: 1 }] },
    });
    const labelled = bed.api.upsert({
      ...p,
      metadata: { ...p.metadata, labels: { ...p.metadata.labels, canary: 'yes' } },
    });
    await bed.gw.applied(labelled);
    expect(changes).toBe(1);
  });

  it('a deleted Pod (its EndpointSlice emptied) leaves the endpoints', async () => {
    await setUp([{ host: 'reviews' }]);
    await bed.startGateway();
    const both = new Set<string>();
    for (let i = 0; i < 200 && both.size < 2; i++) both.add((await upstreamOf('/reviews/1')).upstream);
    expect(both).toEqual(new Set(['reviews-v1', 'reviews-v2']));
    // The kubelet deletes the Pod; the endpoint-slice controller drops its endpoint.
    bed.api.remove('Pod', 'default', 'reviews-v2-0');
    const slice = endpointSlice('reviews', {
      version: 'v2',
      port: bed.app.upstreams.get('reviews-v2')!.port,
    });
    bed.api.upsert({ ...slice, endpoints: [] });
    await bed.gw.until(() => bed.gw.gateway.snapshot.version > 1);
    const after: string[] = [];
    for (let i = 0; i < 100; i++) after.push((await upstreamOf('/reviews/1')).upstream);
    expect(new Set(after)).toEqual(new Set(['reviews-v1']));
  });

  it('rejects an invalid VirtualService alone (logged with its diagnostics) while a valid one applies', async () => {
    await setUp();
    const captured = captureLog();
    await bed.startGateway({ log: captured.log });
    // Istio's webhook would refuse this one: a route destination without a host.
    bed.api.upsert(gatewayRoute('broken', { prefix: '/broken' }, { subset: 'v1' }));
    const ratings = bed.api.upsert(
      gatewayRoute('ratings', { prefix: '/ratings' }, { host: 'reviews', subset: 'v2' }),
    );
    await bed.gw.applied(ratings);
    expect((await upstreamOf('/ratings/1')).upstream).toBe('reviews-v2');
    expect((await upstreamOf('/productpage')).upstream).toBe('productpage-v1');
    expect((await httpGet(bed.gw.port(80), '/broken')).status).toBe(404);
    const rejected = await captured.waitFor((r) => r.resource === 'VirtualService/default/broken');
    expect(rejected.level).toBe(50);
    expect(String(rejected.msg)).toContain('rejected');
    expect((rejected.diagnostics as string[]).join('\n')).toMatch(
      /IST0106 VirtualService\/default\/broken.*host/,
    );
    expect(bed.gw.source.rejected.map((r) => r.resource)).toEqual(['VirtualService/default/broken']);
    expect(bed.gw.gateway.store.rejectedCount).toBe(0);

    // A bad update of a valid object: its last valid version stays served, as when the webhook
    // refuses an update; the good change made with it applies.
    bed.api.upsert(gatewayRoute('ratings', { regex: '/ratings(' }, { host: 'reviews' }));
    const reviews = bed.api.upsert(bookinfoVirtualService([{ host: 'reviews', subset: 'v2' }]));
    const kept = await captured.waitFor((r) => r.resource === 'VirtualService/default/ratings');
    expect(String(kept.msg)).toContain('last valid version');
    await bed.gw.applied(reviews);
    expect((await upstreamOf('/reviews/1')).upstream).toBe('reviews-v2');
    expect((await upstreamOf('/ratings/1')).upstream).toBe('reviews-v2');

    // Fixed: it applies like any other change.
    const fixed = bed.api.upsert(gatewayRoute('broken', { prefix: '/broken' }, { host: 'productpage' }));
    await bed.gw.applied(fixed);
    expect((await upstreamOf('/broken')).upstream).toBe('productpage-v1');
    expect(bed.gw.source.rejected.map((r) => r.resource)).toEqual(['VirtualService/default/ratings']);
  });

  it('/healthz/ready answers 503 until every informer has listed, then 200', async () => {
    await setUp();
    const captured = captureLog();
    bed.api.hold('endpointslices');
    const starting = bed.startGateway({
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
    await bed.api.waitForRequest((q) => q.path === '/apis/discovery.k8s.io/v1/endpointslices');
    // Every other informer has listed by now or soon; the slices are still held.
    expect((await fetchText(ready)).status).toBe(503);
    expect(bed.started).toBe(false);
    bed.api.release('endpointslices');
    await starting;
    expect((await fetchText(ready)).status).toBe(200);
    expect((await upstreamOf('/productpage')).upstream).toBe('productpage-v1');
  });
});
