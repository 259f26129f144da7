/**
 * Istio metrics of calls through the mesh (sidecar outbound) listener, labelled as a sidecar's
 * outbound reports them: a call to a registered service carries the service's labels, as at the
 * gateway; a call without service metadata falls back to the Host header (istio/proxy
 * `test/envoye2e/stats_plugin/stats_test.go` case `UseHostHeader`: `destination_service` and
 * `destination_service_name` = the Host sent), naming `PassthroughCluster` / `BlackHoleCluster` as
 * the service name. The gateway's own listener keeps `unknown` (pilot `disableHostHeaderFallback`
 * is true for gateways).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../helpers/clients.js';
import type { TestGateway } from '../helpers/gateway.js';
import { bookinfoConfig, sampleValue, startTelemetryGateway } from '../helpers/telemetry.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const REQUESTS = 'istio_requests_total';

describe('mesh listener metric labels', () => {
  let productpage: TestUpstream;
  let outside: TestUpstream;
  let allowAny: TestGateway;
  let registryOnly: TestGateway;

  beforeAll(async () => {
    productpage = await startUpstream('productpage');
    outside = await startUpstream('outside');
    const yaml = bookinfoConfig({ productpage: productpage.port });
    allowAny = await startTelemetryGateway(yaml, {}, { meshPort: 0 });
    registryOnly = await startTelemetryGateway(
      yaml,
      {},
      { meshPort: 0, outboundTrafficPolicy: 'REGISTRY_ONLY' },
    );
  });

  afterAll(async () => {
    await allowAny?.close();
    await registryOnly?.close();
    await productpage?.close();
    await outside?.close();
  });

  const text = (gw: TestGateway) => gw.gateway.observability.prometheusText();

  it('a registered service: its own labels, as at the gateway', async () => {
    const r = await httpGet(allowAny.meshPort(), '/productpage', { host: 'productpage:9080' });
    expect(r.status).toBe(200);
    expect(
      sampleValue(
        await text(allowAny),
        REQUESTS,
        'reporter="source"',
        'destination_service="productpage.default.svc.cluster.local"',
        'destination_service_name="productpage"',
        'response_code="200"',
      ),
    ).toBe(1);
  });

  it('ALLOW_ANY to an unknown host: destination_service is the Host sent, the name PassthroughCluster', async () => {
    const host = `127.0.0.1:${outside.port}`;
    for (let i = 0; i < 2; i++) expect((await httpGet(allowAny.meshPort(), '/x', { host })).status).toBe(200);
    expect(
      sampleValue(
        await text(allowAny),
        REQUESTS,
        `destination_service="${host}"`,
        'destination_service_name="PassthroughCluster"',
        'response_code="200"',
      ),
    ).toBe(2);
  });

  it('REGISTRY_ONLY refusal: the Host sent, the name BlackHoleCluster', async () => {
    const r = await httpGet(registryOnly.meshPort(), '/', { host: 'nowhere.example:8000' });
    expect(r.status).toBe(502);
    expect(
      sampleValue(
        await text(registryOnly),
        REQUESTS,
        'destination_service="nowhere.example:8000"',
        'destination_service_name="BlackHoleCluster"',
        'response_code="502"',
      ),
    ).toBe(1);
  });

  it('the gateway listener never falls back to the Host header (404 NR stays unknown)', async () => {
    const r = await httpGet(allowAny.port(8080), '/no-such-route', { host: 'bookinfo.example' });
    expect(r.status).toBe(404);
    const t = await text(allowAny);
    expect(
      sampleValue(t, REQUESTS, 'destination_service="unknown"', 'response_code="404"', 'response_flags="NR"'),
    ).toBe(1);
    expect(t).not.toContain('destination_service="bookinfo.example"');
  });
});
