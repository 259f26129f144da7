/**
 * Istio standard metrics and Envoy stats through the real gateway: requests in, `/stats/prometheus`
 * scraped from the Prometheus (15090-style) and status (15020-style) ports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import type { TestGateway } from '../helpers/gateway.js';
import { httpGet } from '../helpers/clients.js';
import {
  baseUrl,
  bookinfoConfig,
  fetchText,
  sampleValue,
  startTelemetryGateway,
} from '../helpers/telemetry.js';

const PRODUCTPAGE = 'destination_service="productpage.default.svc.cluster.local"';
const CLUSTER = 'outbound|9080||productpage.default.svc.cluster.local';

describe('Istio metrics on /stats/prometheus', () => {
  let productpage: TestUpstream;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    productpage = await startUpstream('productpage');
    gw = await startTelemetryGateway(bookinfoConfig({ productpage: productpage.port }));
    port = gw.port(8080);
  });

  afterAll(async () => {
    await gw?.close();
    await productpage?.close();
  });

  it('counts 10 requests to /productpage with Istio labels and a histogram of the same count', async () => {
    for (let i = 0; i < 10; i++) expect((await httpGet(port, '/productpage')).status).toBe(200);
    const r = await fetchText(`${baseUrl(gw, 'prometheus')}/stats/prometheus`);
    expect(r.status).toBe(200);
    expect(r.type).toContain('text/plain; version=0.0.4');
    const line = r.body
      .split('\n')
      .find((l) => l.startsWith('istio_requests_total{') && l.includes(PRODUCTPAGE));
    expect(line).toBeDefined();
    for (const label of [
      'reporter="source"',
      'source_workload="istio-ingressgateway"',
      'source_workload_namespace="istio-system"',
      'destination_service_name="productpage"',
      'destination_service_namespace="default"',
      'destination_version="v1"',
      'destination_workload="productpage"',
      'response_code="200"',
      'response_flags="-"',
      'request_protocol="http"',
      'grpc_response_status=""',
      'connection_security_policy="unknown"',
    ]) {
      expect(line).toContain(label);
    }
    expect(line!.endsWith(' 10')).toBe(true);
    expect(
      sampleValue(r.body, 'istio_request_duration_milliseconds_count', PRODUCTPAGE, 'response_code="200"'),
    ).toBe(10);
    expect(sampleValue(r.body, 'istio_request_duration_milliseconds_bucket', PRODUCTPAGE, 'le="+Inf"')).toBe(
      10,
    );
    expect(r.body).toContain('le="3600000"');
    expect(sampleValue(r.body, 'istio_request_bytes_count', PRODUCTPAGE)).toBe(10);
    expect(sampleValue(r.body, 'istio_response_bytes_count', PRODUCTPAGE)).toBe(10);
    // Each upstream answer is a JSON echo of a few hundred bytes: all ten in one bucket range, sum > 0.
    expect(sampleValue(r.body, 'istio_response_bytes_sum', PRODUCTPAGE)).toBeGreaterThan(1000);
    expect(r.body).toMatch(/^istio_build\{component="proxy",tag="[^"]+"\} 1$/m);
    // No path or request id ever becomes a label.
    expect(r.body).not.toContain('/productpage');
  });

  it('labels a request that matches no route destination_service="unknown", response_flags="NR"', async () => {
    expect((await httpGet(port, '/nothing-here')).status).toBe(404);
    const r = await fetchText(`${baseUrl(gw, 'prometheus')}/stats/prometheus`);
    expect(
      sampleValue(
        r.body,
        'istio_requests_total',
        'destination_service="unknown"',
        'destination_service_name="unknown"',
        'response_code="404"',
        'response_flags="NR"',
      ),
    ).toBe(1);
  });

  it('exposes Envoy cluster, listener and HTTP stats next to istio_* (status port too)', async () => {
    const before = await fetchText(`${baseUrl(gw, 'status')}/stats/prometheus`);
    const base =
      sampleValue(before.body, 'envoy_cluster_upstream_rq_total', `cluster_name="${CLUSTER}"`) ?? 0;
    for (let i = 0; i < 3; i++) await httpGet(port, '/productpage');
    const r = await fetchText(`${baseUrl(gw, 'status')}/stats/prometheus`);
    expect(r.status).toBe(200);
    expect(sampleValue(r.body, 'envoy_cluster_upstream_rq_total', `cluster_name="${CLUSTER}"`)).toBe(
      base + 3,
    );
    expect(
      sampleValue(r.body, 'envoy_cluster_upstream_rq', `cluster_name="${CLUSTER}"`, 'response_code="200"'),
    ).toBe(base + 3);
    expect(
      sampleValue(
        r.body,
        'envoy_cluster_upstream_rq',
        `cluster_name="${CLUSTER}"`,
        'response_code_class="2xx"',
      ),
    ).toBe(base + 3);
    expect(sampleValue(r.body, 'envoy_cluster_membership_total', `cluster_name="${CLUSTER}"`)).toBe(1);
    expect(r.body).toMatch(/^# TYPE envoy_cluster_upstream_rq_active gauge$/m);
    expect(
      sampleValue(
        r.body,
        'envoy_http_downstream_rq',
        'http_conn_manager_prefix="outbound_0.0.0.0_8080"',
        'response_code_class="4xx"',
      ),
    ).toBe(1);
    expect(
      sampleValue(r.body, 'envoy_listener_downstream_cx_total', 'listener_address="0.0.0.0_8080"'),
    ).toBeGreaterThan(0);
    expect(sampleValue(r.body, 'envoy_server_live')).toBe(1);
    // The same numbers in Envoy's admin text form.
    const stats = await fetchText(`${baseUrl(gw, 'admin')}/stats`);
    expect(stats.body).toContain(`cluster.${CLUSTER}.upstream_rq_200: ${base + 3}\n`);
    expect(stats.body).toContain('http.outbound_0.0.0.0_8080.downstream_rq_4xx: 1\n');
    const filtered = await fetchText(`${baseUrl(gw, 'admin')}/stats?filter=upstream_rq_total`);
    expect(
      filtered.body
        .trim()
        .split('\n')
        .every((l) => l.includes('upstream_rq_total')),
    ).toBe(true);
    expect((await fetchText(`${baseUrl(gw, 'admin')}/stats?filter=(`)).status).toBe(400);
  });

  it('keeps answering scrapes, with monotonic counters, while the config reloads', async () => {
    const yaml = bookinfoConfig({ productpage: productpage.port });
    const url = `${baseUrl(gw, 'prometheus')}/stats/prometheus`;
    let reloads = 0;
    const reloading = (async () => {
      for (let i = 0; i < 15; i++) {
        // Alternate two equivalent configs so every reload builds and swaps a new snapshot.
        expect(await gw.reconfigure(i % 2 === 0 ? `${yaml}\n# reload ${i}\n` : yaml)).toBe(true);
        reloads++;
      }
    })();
    const seen: number[] = [];
    const scraping = (async () => {
      for (let i = 0; i < 40; i++) {
        const [page, r] = await Promise.all([httpGet(port, '/productpage'), fetchText(url)]);
        expect(page.status).toBe(200);
        expect(r.status).toBe(200);
        const v = sampleValue(r.body, 'istio_requests_total', PRODUCTPAGE, 'response_code="200"');
        expect(v).toBeDefined();
        seen.push(v!);
      }
    })();
    await Promise.all([reloading, scraping]);
    expect(reloads).toBe(15);
    expect(gw.gateway.snapshot.version).toBeGreaterThanOrEqual(16);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    const last = await fetchText(url);
    // Same label set across snapshots: one series, counting every request.
    expect(sampleValue(last.body, 'istio_requests_total', PRODUCTPAGE, 'response_code="200"')).toBe(
      10 + 3 + 40,
    );
  });
});

describe('--metrics off', () => {
  it('records nothing per request but still serves the Envoy stats', async () => {
    const up = await startUpstream('productpage');
    const gw = await startTelemetryGateway(bookinfoConfig({ productpage: up.port }), { metrics: false });
    try {
      expect(gw.gateway.observability.observer.enabled).toBe(false);
      expect((await httpGet(gw.port(8080), '/productpage')).status).toBe(200);
      const r = await fetchText(`${baseUrl(gw, 'prometheus')}/stats/prometheus`);
      expect(r.status).toBe(200);
      expect(r.body).not.toContain('istio_requests_total');
      expect(r.body).toContain('envoy_listener_downstream_cx_total');
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
