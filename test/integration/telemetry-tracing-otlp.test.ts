/**
 * OTLP/HTTP span export through the real gateway to an OTLP receiver stand-in (a node:http server
 * decoding the protobuf request, as Jaeger's or the Collector's port 4318 does): one SERVER span per
 * request, named and tagged as Envoy's OpenTelemetry tracer names a gateway request in Istio.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../helpers/clients.js';
import { OTLP_KIND, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { bookinfoConfig, startTelemetryGateway } from '../helpers/telemetry.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import type { TestGateway } from '../helpers/gateway.js';

const CLUSTER = 'outbound|9080||productpage.default.svc.cluster.local';

describe('tracing on (OTLP/HTTP protobuf export)', () => {
  let productpage: TestUpstream;
  let otlp: OtlpReceiver;
  let gw: TestGateway;
  let port: number;
  const traced: string[] = [];

  beforeAll(async () => {
    productpage = await startUpstream('productpage');
    otlp = await startOtlpReceiver();
    gw = await startTelemetryGateway(
      bookinfoConfig({ productpage: productpage.port }),
      {
        tracing: { endpoint: otlp.url, samplingPercent: 100, flushIntervalMs: 50 },
      },
      { meshPort: 0 },
    );
    port = gw.port(8080);
  });

  afterAll(async () => {
    await gw?.close();
    await productpage?.close();
    await otlp?.close();
  });

  it('picks OTLP from the /v1/traces path', () => {
    expect(gw.gateway.observability.tracer?.format).toBe('otlp');
  });

  it('exports a SERVER span per forwarded request with route, cluster and status', async () => {
    const ids: { traceId: string; spanId: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const traceId = `463ac35c9f6413ad48485a3953bb612${i}`;
      const r = await httpGet(port, '/productpage', {
        'x-b3-traceid': traceId,
        'x-b3-spanid': 'a2fb4a1d1a96d312',
        'x-b3-sampled': '1',
        'user-agent': 'otlp-test',
      });
      expect(r.status).toBe(200);
      const h = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
      ids.push({ traceId, spanId: h['x-b3-spanid']! });
      traced.push(traceId);
    }
    for (const { traceId, spanId } of ids) {
      const s = await otlp.waitForSpan((x) => x.traceId === traceId);
      expect(s).toMatchObject({
        spanId,
        parentSpanId: 'a2fb4a1d1a96d312',
        name: 'productpage.default.svc.cluster.local:9080/*',
        kind: OTLP_KIND.SERVER,
        statusCode: 0,
        serviceName: 'istio-ingressgateway.istio-system',
      });
      expect(s.attributes).toMatchObject({
        component: 'proxy',
        'http.method': 'GET',
        'http.url': `http://127.0.0.1:${port}/productpage`,
        'http.status_code': '200',
        'http.protocol': 'HTTP/1.1',
        upstream_cluster: CLUSTER,
        'upstream_cluster.name': CLUSTER,
        upstream_address: `127.0.0.1:${productpage.port}`,
        route_name: 'default/bookinfo.0',
        response_flags: '-',
        user_agent: 'otlp-test',
        'peer.address': '127.0.0.1',
      });
      expect(s.attributes['node_id']).toMatch(/^router~/);
      expect(s.endTimeUnixNano).toBeGreaterThan(s.startTimeUnixNano);
    }
  });

  it('exports a local reply (404 NR) without a cluster, named as Envoy names an unrouted egress request', async () => {
    const traceId = 'b7ad6b7169203331b7ad6b7169203331';
    const r = await httpGet(port, '/no-such-route', { traceparent: `00-${traceId}-0102030405060708-01` });
    expect(r.status).toBe(404);
    traced.push(traceId);
    const s = await otlp.waitForSpan((x) => x.traceId === traceId);
    expect(s).toMatchObject({
      parentSpanId: '0102030405060708',
      name: `egress 127.0.0.1:${port}`,
      kind: OTLP_KIND.SERVER,
      statusCode: 0,
    });
    expect(s.attributes).toMatchObject({
      'http.status_code': '404',
      response_flags: 'NR',
      upstream_cluster: '-',
    });
    expect(s.attributes['upstream_address']).toBeUndefined();
  });

  it('a call through the mesh listener is a CLIENT span, as a sidecar outbound span is', async () => {
    const traceId = 'c7ad6b7169203331b7ad6b7169203331';
    const r = await httpGet(gw.meshPort(), '/productpage', {
      host: 'productpage:9080',
      traceparent: `00-${traceId}-0102030405060708-01`,
    });
    expect(r.status).toBe(200);
    traced.push(traceId);
    const s = await otlp.waitForSpan((x) => x.traceId === traceId);
    expect(s).toMatchObject({
      name: 'productpage.default.svc.cluster.local:9080/*',
      kind: OTLP_KIND.CLIENT,
      parentSpanId: '0102030405060708',
    });
    expect(s.attributes['upstream_cluster']).toBe(CLUSTER);
  });

  it('pads a 64-bit B3 trace id to 128 bits and marks no span for x-b3-sampled: 0', async () => {
    await httpGet(port, '/productpage', {
      'x-b3-traceid': '80f198ee56343ba8',
      'x-b3-spanid': 'e457b5a2e4d86bd1',
      'x-b3-sampled': '0',
    });
    await httpGet(port, '/productpage', {
      'x-b3-traceid': '90f198ee56343ba8',
      'x-b3-spanid': 'e457b5a2e4d86bd1',
      'x-b3-sampled': '1',
    });
    traced.push('000000000000000090f198ee56343ba8');
    const s = await otlp.waitForSpan((x) => x.traceId === '000000000000000090f198ee56343ba8');
    expect(s.parentSpanId).toBe('e457b5a2e4d86bd1');
  });

  it('sent exactly one span per sampled request, nothing else, once the gateway has flushed', async () => {
    await gw.close();
    expect(otlp.rejected).toBe(0);
    expect(otlp.spans.map((s) => s.traceId).sort()).toEqual([...traced].sort());
    expect(gw.gateway.stats.get('tracing.opentelemetry.spans_sent')).toBe(traced.length);
    expect(gw.gateway.stats.get('tracing.opentelemetry.http_reports_failed')).toBe(0);
  });
});

describe('OTLP export failures', () => {
  it('never lets an unreachable collector affect requests', async () => {
    const up = await startUpstream('productpage');
    const gone = await startOtlpReceiver();
    await gone.close();
    const gw = await startTelemetryGateway(bookinfoConfig({ productpage: up.port }), {
      tracing: { endpoint: gone.url, samplingPercent: 100, flushIntervalMs: 20 },
    });
    try {
      for (let i = 0; i < 3; i++) expect((await httpGet(gw.port(8080), '/productpage')).status).toBe(200);
    } finally {
      // The SDK's exporter retries with backoff; close() gives up on the queue after its bound.
      await gw.close();
      await up.close();
    }
    expect(gw.gateway.stats.get('tracing.opentelemetry.spans_sent')).toBe(0);
  });
});
