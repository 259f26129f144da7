/**
 * Bookinfo as `kubectl apply -f` users write it: Kubernetes Services, Deployments and
 * ServiceAccounts next to the Istio Gateway, VirtualServices and DestinationRules, plus the Pods
 * and EndpointSlices the cluster would create, pointing at real upstreams on 127.0.0.1. Traffic
 * goes through the gateway on real sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { httpGet } from '../helpers/clients.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { yamlDocuments } from '../helpers/resources.js';
import {
  BOOKINFO_GATEWAY,
  bookinfoKubeObjects,
  DESTINATION_RULE_ALL,
  type KubeWorkload,
} from '../helpers/kube-bookinfo.js';

/** Routes `/reviews` by the `x-version` header to each reviews subset, and `/ratings` to ratings. */
const BY_VERSION = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: by-version }
spec:
  hosts: [by-version.example]
  gateways: [bookinfo-gateway]
  http:
${['v1', 'v2', 'v3']
  .map(
    (v) => `  - match: [{ uri: { prefix: /reviews }, headers: { x-version: { exact: ${v} } } }]
    route: [{ destination: { host: reviews, subset: ${v} } }]`,
  )
  .join('\n')}
  - match: [{ uri: { prefix: /reviews } }]
    route: [{ destination: { host: reviews.default.svc.cluster.local } }]
  - match: [{ uri: { prefix: /ratings } }]
    route: [{ destination: { host: ratings } }]`;

interface Bed {
  gw: TestGateway;
  upstreams: TestUpstream[];
}

/**
 * Starts one upstream per running workload (named `<service>-<version>`) and the gateway over the
 * Bookinfo objects. `ratings` has a Deployment but no Pod; `notReady` workloads have a Pod whose
 * Ready condition is False.
 */
async function startBed(opts: { slices: boolean; notReady?: string[] }): Promise<Bed> {
  const running = ['productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3'];
  const upstreams = await Promise.all(running.map((n) => startUpstream(n)));
  const workloads: KubeWorkload[] = [
    ...upstreams.map((u) => {
      const [service, version] = u.name.split('-') as [string, string];
      return { service, version, port: u.port, ready: !opts.notReady?.includes(u.name) };
    }),
    { service: 'ratings', version: 'v1' },
  ];
  const yaml = yamlDocuments(
    ...bookinfoKubeObjects(workloads, opts.slices ? {} : { slices: false, targetPort: 'http' }),
    BOOKINFO_GATEWAY,
    DESTINATION_RULE_ALL,
    BY_VERSION,
  );
  const gw = await startGateway(yaml);
  return { gw, upstreams };
}

async function closeBed(bed: Bed | undefined): Promise<void> {
  await bed?.gw.close();
  await Promise.all(bed?.upstreams.map((u) => u.close()) ?? []);
}

describe('Bookinfo from Kubernetes objects, endpoints from EndpointSlices', () => {
  let bed: Bed;
  beforeAll(async () => {
    bed = await startBed({ slices: true, notReady: ['reviews-v3'] });
  });
  afterAll(() => closeBed(bed));

  it('serves /productpage through the gateway from the productpage Service (200)', async () => {
    const [r, rec] = await Promise.all([
      httpGet(bed.gw.port(8080), '/productpage', { host: 'bookinfo.example' }),
      bed.gw.nextRecord(),
    ]);
    expect(r.status).toBe(200);
    expect(r.headers['x-upstream']).toBe('productpage-v1');
    expect(rec.upstreamCluster).toBe('outbound|9080||productpage.default.svc.cluster.local');
    expect(rec.responseFlags).toBe('-');
  });

  it('routes each reviews subset to the Pods with that version label', async () => {
    for (const v of ['v1', 'v2']) {
      const r = await httpGet(bed.gw.port(8080), '/reviews/0', {
        host: 'by-version.example',
        'x-version': v,
      });
      expect(r.status).toBe(200);
      expect(r.headers['x-upstream']).toBe(`reviews-${v}`);
    }
  });

  it('leaves out an endpoint whose slice says not ready: its subset answers 503 UH', async () => {
    const [r, rec] = await Promise.all([
      httpGet(bed.gw.port(8080), '/reviews/0', { host: 'by-version.example', 'x-version': 'v3' }),
      bed.gw.nextRecord(),
    ]);
    expect(r.status).toBe(503);
    expect(rec.responseFlags).toBe('UH');
    expect(rec.upstreamCluster).toBe('outbound|9080|v3|reviews.default.svc.cluster.local');
  });

  it('balances the whole reviews Service over its ready Pods only', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await httpGet(bed.gw.port(8080), '/reviews/0', { host: 'by-version.example' });
      expect(r.status).toBe(200);
      seen.add(String(r.headers['x-upstream']));
    }
    // Never the not-ready reviews-v3 Pod (which upstreams were picked is the load balancer's business).
    expect([...seen].filter((u) => u !== 'reviews-v1' && u !== 'reviews-v2')).toEqual([]);
  });

  it('answers 503 UH for a Service whose Deployment has no Pods', async () => {
    const [r, rec] = await Promise.all([
      httpGet(bed.gw.port(8080), '/ratings/0', { host: 'by-version.example' }),
      bed.gw.nextRecord(),
    ]);
    expect(r.status).toBe(503);
    expect(rec.responseFlags).toBe('UH');
    expect(rec.upstreamCluster).toBe('outbound|9080||ratings.default.svc.cluster.local');
  });
});

describe('Bookinfo from Kubernetes objects, endpoints derived from Pods (no EndpointSlices)', () => {
  let bed: Bed;
  beforeAll(async () => {
    bed = await startBed({ slices: false });
  });
  afterAll(() => closeBed(bed));

  it('serves /productpage from the Pod its Service selects, at the named targetPort (200)', async () => {
    const r = await httpGet(bed.gw.port(8080), '/productpage', { host: 'bookinfo.example' });
    expect(r.status).toBe(200);
    expect(r.headers['x-upstream']).toBe('productpage-v1');
  });

  it('routes each reviews subset by the Pods’ version label', async () => {
    for (const v of ['v1', 'v2', 'v3']) {
      const r = await httpGet(bed.gw.port(8080), '/reviews/0', {
        host: 'by-version.example',
        'x-version': v,
      });
      expect(r.status).toBe(200);
      expect(r.headers['x-upstream']).toBe(`reviews-${v}`);
    }
  });

  it('answers 503 UH for ratings (a Deployment, no Pod)', async () => {
    const r = await httpGet(bed.gw.port(8080), '/ratings/0', { host: 'by-version.example' });
    expect(r.status).toBe(503);
  });
});
