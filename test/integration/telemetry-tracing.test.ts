/**
 * Tracing through the real gateway: B3 and W3C context continued upstream with a new span id, and
 * spans exported as Zipkin v2 JSON to a local receiver (a node:http server standing in for Zipkin
 * or Jaeger's Zipkin endpoint).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZipkinSpan } from '../../telemetry/zipkin-exporter.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { httpGet } from '../helpers/clients.js';
import { bookinfoConfig, startTelemetryGateway } from '../helpers/telemetry.js';

interface Receiver {
  readonly url: string;
  readonly spans: ZipkinSpan[];
  readonly posts: number;
  /** Resolves once at least `n` spans arrived in total. */
  waitFor(n: number): Promise<ZipkinSpan[]>;
  close(): Promise<void>;
}

async function startZipkinReceiver(): Promise<Receiver> {
  const spans: ZipkinSpan[] = [];
  let posts = 0;
  const waiters: { n: number; resolve: (s: ZipkinSpan[]) => void }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (
        req.method === 'POST' &&
        req.url === '/api/v2/spans' &&
        req.headers['content-type'] === 'application/json'
      ) {
        posts++;
        spans.push(...(JSON.parse(body) as ZipkinSpan[]));
        res.writeHead(202).end();
        for (const w of waiters.splice(0)) {
          if (spans.length >= w.n) w.resolve(spans.slice());
          else waiters.push(w);
        }
      } else {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/spans`,
    spans,
    get posts() {
      return posts;
    },
    waitFor: (n) =>
      spans.length >= n
        ? Promise.resolve(spans.slice())
        : new Promise((resolve) => waiters.push({ n, resolve })),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

type Echo = { headers: Record<string, string> };

describe('tracing on (Zipkin v2 export)', () => {
  let productpage: TestUpstream;
  let zipkin: Receiver;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    productpage = await startUpstream('productpage');
    zipkin = await startZipkinReceiver();
    gw = await startTelemetryGateway(bookinfoConfig({ productpage: productpage.port }), {
      tracing: { endpoint: zipkin.url, samplingPercent: 100, flushIntervalMs: 50 },
    });
    port = gw.port(8080);
  });

  afterAll(async () => {
    await gw?.close();
    await productpage?.close();
    await zipkin?.close();
  });

  it('keeps an incoming B3 trace id upstream, with a new span id whose parent is the caller span', async () => {
    const traceId = '463ac35c9f6413ad48485a3953bb6124';
    const callerSpan = 'a2fb4a1d1a96d312';
    const r = await httpGet(port, '/productpage', {
      'x-b3-traceid': traceId,
      'x-b3-spanid': callerSpan,
      'x-b3-sampled': '1',
    });
    expect(r.status).toBe(200);
    const h = (JSON.parse(r.body) as Echo).headers;
    expect(h['x-b3-traceid']).toBe(traceId);
    expect(h['x-b3-spanid']).toMatch(/^[0-9a-f]{16}$/);
    expect(h['x-b3-spanid']).not.toBe(callerSpan);
    expect(h['x-b3-parentspanid']).toBe(callerSpan);
    expect(h['x-b3-sampled']).toBe('1');
    expect(h['traceparent']).toBe(`00-${traceId}-${h['x-b3-spanid']}-01`);

    const spans = await zipkin.waitFor(1);
    const span = spans.find((s) => s.traceId === traceId)!;
    expect(span).toMatchObject({
      traceId,
      id: h['x-b3-spanid'],
      parentId: callerSpan,
      name: 'productpage.default.svc.cluster.local:9080/*',
      kind: 'CLIENT',
      localEndpoint: { serviceName: 'istio-ingressgateway.istio-system' },
      remoteEndpoint: { ipv4: '127.0.0.1', port: productpage.port },
    });
    expect(span.tags).toMatchObject({
      'http.method': 'GET',
      'http.url': `http://127.0.0.1:${port}/productpage`,
      'http.status_code': '200',
      route_name: 'default/bookinfo.0',
      upstream_cluster: 'outbound|9080||productpage.default.svc.cluster.local',
      response_flags: '-',
      'guid:x-request-id': h['x-request-id'],
    });
    expect(span.tags['node_id']).toMatch(/^router~/);
    expect(span.duration).toBeGreaterThan(0);
  });

  it("traces a local reply (404 NR) too, in the caller's trace, without an upstream", async () => {
    const traceId = 'b7ad6b7169203331b7ad6b7169203331';
    const callerSpan = '0102030405060708';
    const r = await httpGet(port, '/no-such-route', {
      'x-b3-traceid': traceId,
      'x-b3-spanid': callerSpan,
      'x-b3-sampled': '1',
    });
    expect(r.status).toBe(404);
    const spans = await zipkin.waitFor(zipkin.spans.length + 1);
    const span = spans.find((s) => s.traceId === traceId)!;
    expect(span).toMatchObject({
      traceId,
      parentId: callerSpan,
      name: `egress 127.0.0.1:${port}`,
      kind: 'CLIENT',
    });
    expect(span.id).toMatch(/^[0-9a-f]{16}$/);
    expect(span.id).not.toBe(callerSpan);
    expect(span.remoteEndpoint).toBeUndefined();
    expect(span.tags).toMatchObject({
      'http.url': `http://127.0.0.1:${port}/no-such-route`,
      'http.status_code': '404',
      response_flags: 'NR',
      upstream_cluster: '-',
    });
    expect(span.tags['guid:x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('continues a W3C traceparent (trace id kept, new parent id upstream)', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const r = await httpGet(port, '/productpage', {
      traceparent: `00-${traceId}-b7ad6b7169203331-01`,
      tracestate: 'congo=t61rcWkgMzE',
    });
    const h = (JSON.parse(r.body) as Echo).headers;
    expect(h['traceparent']).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(h['traceparent']).not.toContain('b7ad6b7169203331');
    expect(h['tracestate']).toBe('congo=t61rcWkgMzE');
    expect(h['x-b3-traceid']).toBe(traceId);
    expect(h['x-b3-parentspanid']).toBe('b7ad6b7169203331');
  });

  it('exports one span per request with route, cluster and status', async () => {
    const start = zipkin.spans.length;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await httpGet(port, '/productpage');
      ids.push((JSON.parse(r.body) as Echo).headers['x-b3-spanid']!);
    }
    // Spans of earlier tests may still arrive: wait until these five are all in.
    let spans: ZipkinSpan[] = [];
    for (let n = start + 5; spans.length < 5;) {
      const all = await zipkin.waitFor(n);
      spans = all.filter((s) => ids.includes(s.id));
      n = all.length + 1;
    }
    expect(spans.map((s) => s.id).sort()).toEqual(ids.sort());
    for (const s of spans) {
      expect(s.name).toBe('productpage.default.svc.cluster.local:9080/*');
      expect(s.tags['upstream_cluster']).toBe('outbound|9080||productpage.default.svc.cluster.local');
      expect(s.tags['http.status_code']).toBe('200');
      expect(s.parentId).toBeUndefined();
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
    }
  });

  it('keeps a 64-bit B3 trace id 64-bit and honours x-b3-sampled: 0 (no span)', async () => {
    const sent = zipkin.spans.length;
    const r = await httpGet(port, '/productpage', {
      'x-b3-traceid': '80f198ee56343ba8',
      'x-b3-spanid': 'e457b5a2e4d86bd1',
      'x-b3-sampled': '0',
    });
    const h = (JSON.parse(r.body) as Echo).headers;
    expect(h['x-b3-traceid']).toBe('80f198ee56343ba8');
    expect(h['x-b3-sampled']).toBe('0');
    expect(h['traceparent']).toBe(`00-000000000000000080f198ee56343ba8-${h['x-b3-spanid']}-00`);
    // A later sampled request flushes; the unsampled one never shows up.
    await httpGet(port, '/productpage');
    const spans = await zipkin.waitFor(sent + 1);
    expect(spans.some((s) => s.traceId === '80f198ee56343ba8')).toBe(false);
  });

  it('sent every span the receiver holds and counted them, once the gateway has flushed', async () => {
    await gw.close();
    expect(gw.gateway.stats.get('tracing.zipkin.spans_sent')).toBe(zipkin.spans.length);
    expect(gw.gateway.stats.get('tracing.zipkin.reports_sent')).toBe(zipkin.posts);
    expect(new Set(zipkin.spans.map((s) => s.id)).size).toBe(zipkin.spans.length);
  });
});

describe('tracing sampling and failures', () => {
  it('samples --tracing-sampling percent of new traces but honours an incoming decision', async () => {
    const up = await startUpstream('productpage');
    const zipkin = await startZipkinReceiver();
    const gw = await startTelemetryGateway(bookinfoConfig({ productpage: up.port }), {
      tracing: { endpoint: zipkin.url, samplingPercent: 0, flushIntervalMs: 50 },
    });
    try {
      const r = await httpGet(gw.port(8080), '/productpage');
      expect((JSON.parse(r.body) as Echo).headers['x-b3-sampled']).toBe('0');
      const forced = await httpGet(gw.port(8080), '/productpage', { 'x-b3-flags': '1' });
      const h = (JSON.parse(forced.body) as Echo).headers;
      expect(h['x-b3-flags']).toBe('1');
      expect(h['x-b3-sampled']).toBeUndefined();
      const spans = await zipkin.waitFor(1);
      expect(spans).toHaveLength(1);
      expect(spans[0]).toMatchObject({ id: h['x-b3-spanid'], debug: true });
    } finally {
      await gw.close();
      await zipkin.close();
      await up.close();
    }
  });

  it('never lets an unreachable collector affect requests', async () => {
    const up = await startUpstream('productpage');
    const gone = await startZipkinReceiver();
    await gone.close();
    const gw = await startTelemetryGateway(bookinfoConfig({ productpage: up.port }), {
      tracing: { endpoint: gone.url, samplingPercent: 100, flushIntervalMs: 20 },
    });
    try {
      for (let i = 0; i < 5; i++) expect((await httpGet(gw.port(8080), '/productpage')).status).toBe(200);
    } finally {
      // close() sends what is queued: a refused connection is a failed report before it returns.
      await gw.close();
      await up.close();
    }
    expect(gw.gateway.stats.get('tracing.zipkin.reports_failed')).toBeGreaterThan(0);
    expect(gw.gateway.stats.get('tracing.zipkin.spans_sent')).toBe(0);
  });
});

describe('tracing off (the default)', () => {
  it('leaves trace headers exactly as the client sent them', async () => {
    const up = await startUpstream('productpage');
    const gw = await startGateway(bookinfoConfig({ productpage: up.port }));
    try {
      expect(gw.gateway.observability.tracer).toBeUndefined();
      const r = await httpGet(gw.port(8080), '/productpage', { 'x-b3-traceid': 'abc', 'x-b3-spanid': 'def' });
      const h = (JSON.parse(r.body) as Echo).headers;
      expect(h['x-b3-traceid']).toBe('abc');
      expect(h['x-b3-spanid']).toBe('def');
      expect(h['traceparent']).toBeUndefined();
      expect(h['x-b3-sampled']).toBeUndefined();
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
