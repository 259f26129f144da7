/**
 * The `kubernetes` source when the API server misbehaves, through the stand-in: stopped and
 * restarted (watches resume by resourceVersion, a change made meanwhile arrives), history
 * compacted (410 Gone → relist), a watch cut half-way through an event, a kind RBAC forbids
 * (403), and a cluster that serves networking.istio.io only as v1beta1. The gateway keeps
 * serving throughout.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bookinfoVirtualService,
  captureLog,
  pod,
  KubeTestBed,
  type CapturedLog,
} from '../helpers/kube-fixtures.js';

const bed = new KubeTestBed();
let captured: CapturedLog;
afterEach(() => bed.close());

async function setUp(opts: { istioVersions?: string[]; forbid?: string } = {}): Promise<void> {
  await bed.setUp(opts);
  captured = captureLog();
  await bed.startGateway({ log: captured.log });
  // Synced means listed; the watches open right after. Tests that act on open watches wait for them.
  await watchesOpen(opts.forbid ? 8 : 9);
}

/** Resolves once `n` watches are open on the stand-in (checked on each watch it opens). */
async function watchesOpen(n: number): Promise<void> {
  while (bed.api.openWatches < n) await once(bed.api, 'watch');
}

async function upstreamOf(path: string): Promise<string> {
  return (await bed.upstreamOf(path)).upstream;
}

/** Sends `/reviews` to v2 only. */
const REVIEWS_V2 = bookinfoVirtualService([{ host: 'reviews', subset: 'v2' }]);
const VS_PATH = '/apis/networking.istio.io/v1/virtualservices';

function listsOf(path: string): number {
  return bed.api.requests.filter((q) => q.path === path && q.query.watch === undefined && q.status === 200)
    .length;
}

describe('kubernetes source: API server trouble', () => {
  it('API server stopped: traffic keeps flowing; restarted: watches resume from their resourceVersion and a change made meanwhile arrives', async () => {
    await setUp();
    expect(await upstreamOf('/reviews/1')).toBe('reviews-v1');
    await bed.api.stop();
    // The last snapshot keeps serving while the informers retry.
    for (let i = 0; i < 20; i++) expect(await upstreamOf('/productpage')).toBe('productpage-v1');
    await captured.waitFor((r) => r.kind === 'VirtualService' && /list\/watch failed/.test(r.msg));
    const rvBefore = bed.api.resourceVersion;
    const reviewsV2 = bed.api.upsert(REVIEWS_V2);
    await bed.api.restart();
    await bed.gw.applied(reviewsV2);
    expect(await upstreamOf('/reviews/1')).toBe('reviews-v2');
    await captured.waitFor((r) => r.kind === 'VirtualService' && r.msg === 'Kubernetes watch resumed');
    // Resumed, not relisted: one list, then watches from the last seen resourceVersion.
    expect(listsOf(VS_PATH)).toBe(1);
    const resumed = bed.api.requests.filter((q) => q.path === VS_PATH && q.query.watch === 'true');
    expect(resumed.length).toBeGreaterThanOrEqual(2);
    expect(resumed.at(-1)!.query.resourceVersion).toBe(String(rvBefore));
    expect(await upstreamOf('/productpage')).toBe('productpage-v1');
  });

  it('history compacted while away: the resumed watch gets 410 Gone and the informer relists', async () => {
    await setUp();
    await bed.api.stop();
    const reviewsV2 = bed.api.upsert(REVIEWS_V2);
    bed.api.compact();
    await bed.api.restart();
    await bed.gw.applied(reviewsV2);
    expect(await upstreamOf('/reviews/1')).toBe('reviews-v2');
    expect(listsOf(VS_PATH)).toBe(2);
    await captured.waitFor((r) => r.kind === 'VirtualService' && /410 Gone/.test(r.msg));
  });

  it('bookmarks keep a quiet watch current: after compaction it resumes without 410 and without a relist', async () => {
    await setUp();
    // Other kinds move the cluster's resourceVersion on; the VirtualService watch sees none of it.
    const reviewsPod = pod('reviews', 'v1');
    for (let i = 0; i < 5; i++) {
      bed.api.upsert({
        ...reviewsPod,
        metadata: { ...reviewsPod.metadata, annotations: { touched: String(i) } },
      });
    }
    const latest = String(bed.api.resourceVersion);
    bed.api.bookmark();
    const vsState = () => bed.gw.source.informerStates().find((s) => s.name === 'VirtualService')!;
    await captured.waitFor((r) => r.kind === 'VirtualService' && r.msg === 'Kubernetes watch bookmark');
    expect(vsState().resourceVersion).toBe(latest);
    await bed.api.stop();
    bed.api.compact();
    const reviewsV2 = bed.api.upsert(REVIEWS_V2);
    await bed.api.restart();
    await bed.gw.applied(reviewsV2);
    expect(await upstreamOf('/reviews/1')).toBe('reviews-v2');
    expect(listsOf(VS_PATH)).toBe(1);
    expect(
      bed.api.requests.filter((q) => q.path === VS_PATH && q.query.watch === 'true').at(-1)!.query
        .resourceVersion,
    ).toBe(latest);
  });

  it('an open watch ended by an ERROR event with Status 410: relist, nothing lost', async () => {
    await setUp();
    bed.api.expireWatches();
    const reviewsV2 = bed.api.upsert(REVIEWS_V2);
    await bed.gw.applied(reviewsV2);
    expect(await upstreamOf('/reviews/1')).toBe('reviews-v2');
    expect(listsOf(VS_PATH)).toBe(2);
    // A deletion made while relisting is seen too (the relist replaces the cache).
    bed.api.remove('VirtualService', 'default', 'bookinfo');
    await bed.gw.removed('VirtualService', 'default', 'bookinfo');
    expect(await upstreamOf('/productpage')).toBe('-404');
  });

  it('a watch cut half-way through an event is logged with its kind; the event arrives on the resumed watch', async () => {
    await setUp();
    bed.api.cutNextEvent('virtualservices');
    const reviewsV2 = bed.api.upsert(REVIEWS_V2);
    const cut = await captured.waitFor((r) => r.kind === 'VirtualService' && r.level === 40);
    expect(String(cut.err)).toMatch(/premature close/i);
    await bed.gw.applied(reviewsV2);
    expect(await upstreamOf('/reviews/1')).toBe('reviews-v2');
    expect(listsOf(VS_PATH)).toBe(1);
    expect(await upstreamOf('/productpage')).toBe('productpage-v1');
  });

  it('a kind RBAC forbids (403) is logged with the kind and the API message; the gateway is ready and serves', async () => {
    await setUp({ forbid: 'secrets' });
    const denied = await captured.waitFor((r) => r.status === 403);
    expect(denied.kind).toBe('Secret in istio-system');
    expect(denied.level).toBe(50);
    expect(String(denied.err)).toContain('cannot list resource "secrets"');
    expect(await upstreamOf('/productpage')).toBe('productpage-v1');
    expect(bed.gw.gateway.observability.state()).toBe('LIVE');
    // Granted later: the informer, still retrying, lists and watches the kind.
    bed.api.allow('secrets');
    await captured.waitFor((r) => r.kind === 'Secret in istio-system' && /succeeded again/.test(r.msg));
    await watchesOpen(9);
  });

  it('networking.istio.io/v1 not served: the v1beta1 resources are watched instead', async () => {
    await setUp({ istioVersions: ['v1beta1'] });
    expect(await upstreamOf('/productpage')).toBe('productpage-v1');
    const istioPaths = new Set(
      bed.api.requests.filter((q) => q.path.startsWith('/apis/networking.istio.io/')).map((q) => q.path),
    );
    expect([...istioPaths].every((p) => p.startsWith('/apis/networking.istio.io/v1beta1/'))).toBe(true);
    await captured.waitFor((r) => /v1 is not served; watching v1beta1/.test(r.msg));
    const reviewsV2 = bed.api.upsert({ ...REVIEWS_V2, apiVersion: 'networking.istio.io/v1beta1' });
    await bed.gw.applied(reviewsV2);
    expect(await upstreamOf('/reviews/1')).toBe('reviews-v2');
  });
});
