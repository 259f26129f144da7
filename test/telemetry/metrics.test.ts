import { describe, expect, it } from 'vitest';
import { ClusterResolver, type Cluster } from '../../config/cluster.js';
import { buildRegistry } from '../../config/registry.js';
import type { StreamRecord } from '../../telemetry/access-log.js';
import {
  HTTP_LABEL_NAMES,
  IstioMetrics,
  serviceNameParts,
  TCP_LABEL_NAMES,
} from '../../telemetry/metrics.js';
import { res, serviceEntry } from '../helpers/resources.js';
import { sampleValue } from '../helpers/telemetry.js';

function clusters(): { reviewsV1: Cluster; reviewsAll: Cluster; httpbin: Cluster } {
  const resources = [
    serviceEntry('reviews', 9080, [
      { version: 'v1', port: 19082 },
      { version: 'v2', port: 19083 },
    ]),
    res('DestinationRule', 'reviews', {
      host: 'reviews',
      subsets: [{ name: 'v1', labels: { version: 'v1' } }],
    }),
    res('ServiceEntry', 'httpbin', {
      hosts: ['httpbin.org'],
      ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
      resolution: 'DNS',
      location: 'MESH_EXTERNAL',
    }),
  ];
  const resolver = new ClusterResolver(buildRegistry(resources), resources);
  return {
    reviewsV1: resolver.resolve({ host: 'reviews', subset: 'v1' }, 'default', 80).cluster!,
    reviewsAll: resolver.resolve({ host: 'reviews' }, 'default', 80).cluster!,
    httpbin: resolver.resolve({ host: 'httpbin.org' }, 'default', 80).cluster!,
  };
}

function rec(over: Partial<StreamRecord> = {}): StreamRecord {
  return {
    startTime: Date.now(),
    method: 'GET',
    path: '/reviews/0',
    protocol: 'HTTP/1.1',
    responseCode: 200,
    responseFlags: '-',
    responseCodeDetails: 'via_upstream',
    bytesReceived: 0,
    bytesSent: 120,
    durationMs: 3.2,
    upstreamServiceTimeMs: 3,
    xForwardedFor: undefined,
    userAgent: undefined,
    requestId: 'r',
    authority: 'bookinfo',
    upstreamHost: undefined,
    upstreamCluster: undefined,
    routeName: undefined,
    downstreamRemoteAddress: '127.0.0.1:1',
    downstreamLocalAddress: '127.0.0.1:2',
    requestedServerName: undefined,
    ...over,
  };
}

/** The label names of a sample line, in order. */
function labelNames(line: string): string[] {
  return [...line.matchAll(/([a-z_]+)="/g)].map((m) => m[1]!);
}

describe('IstioMetrics', () => {
  it('labels requests from cluster and endpoint metadata, Istio label names in order', async () => {
    const { reviewsV1 } = clusters();
    const m = new IstioMetrics();
    m.onHttp(rec(), reviewsV1, reviewsV1.endpoints[0]);
    const text = await m.text();
    const line = text.split('\n').find((l) => l.startsWith('istio_requests_total{'))!;
    expect(labelNames(line)).toEqual([...HTTP_LABEL_NAMES]);
    expect(line).toBe(
      'istio_requests_total{reporter="source",source_workload="istio-ingressgateway",source_workload_namespace="istio-system",' +
        'source_principal="unknown",source_app="istio-ingressgateway",source_version="unknown",' +
        'source_canonical_service="istio-ingressgateway",source_canonical_revision="latest",source_cluster="unknown",' +
        'destination_workload="reviews",destination_workload_namespace="default",destination_principal="unknown",' +
        'destination_app="reviews",destination_version="v1",destination_service="reviews.default.svc.cluster.local",' +
        'destination_service_name="reviews",destination_service_namespace="default",destination_canonical_service="reviews",' +
        'destination_canonical_revision="v1",destination_cluster="unknown",request_protocol="http",response_code="200",' +
        'grpc_response_status="",response_flags="-",connection_security_policy="unknown"} 1',
    );
  });

  it('uses the configured workload name and "unknown" without a cluster or endpoint labels', async () => {
    const { httpbin } = clusters();
    const m = new IstioMetrics({ workloadName: 'egressgateway', workloadNamespace: 'mesh' });
    m.onHttp(rec({ responseCode: 404, responseFlags: 'NR' }), undefined, undefined);
    m.onHttp(rec({ responseCode: 503, responseFlags: 'UF,URX' }), httpbin, httpbin.endpoints[0]);
    const text = await m.text();
    expect(
      sampleValue(
        text,
        'istio_requests_total',
        'source_workload="egressgateway"',
        'source_workload_namespace="mesh"',
        'destination_service="unknown"',
        'response_flags="NR"',
      ),
    ).toBe(1);
    expect(
      sampleValue(
        text,
        'istio_requests_total',
        'destination_workload="unknown"',
        'destination_version="unknown"',
        'destination_service="httpbin.org"',
        'destination_service_name="httpbin.org"',
        'destination_service_namespace="default"',
        'destination_canonical_revision="latest"',
        'response_code="503"',
        'response_flags="UF,URX"',
      ),
    ).toBe(1);
  });

  it('fills Istio buckets (le is inclusive) with cumulative counts, sum and count', async () => {
    const { reviewsV1 } = clusters();
    const m = new IstioMetrics();
    for (const ms of [0.5, 0.6, 1, 4000, 4_000_000])
      m.onHttp(rec({ durationMs: ms }), reviewsV1, reviewsV1.endpoints[0]);
    const text = await m.text();
    const h = 'istio_request_duration_milliseconds_bucket';
    expect(sampleValue(text, h, 'le="0.5"')).toBe(1);
    expect(sampleValue(text, h, 'le="1"')).toBe(3);
    expect(sampleValue(text, h, 'le="5000"')).toBe(4);
    expect(sampleValue(text, h, 'le="3600000"')).toBe(4);
    expect(sampleValue(text, h, 'le="+Inf"')).toBe(5);
    expect(sampleValue(text, 'istio_request_duration_milliseconds_count')).toBe(5);
    expect(sampleValue(text, 'istio_request_duration_milliseconds_sum')).toBeCloseTo(4_004_002.1, 5);
    expect(text).toContain('# TYPE istio_request_duration_milliseconds histogram');
    expect([...text.matchAll(/^istio_request_duration_milliseconds_bucket\{/gm)]).toHaveLength(20);
  });

  it('keeps counting the same series across snapshots (cache invalidated, series kept)', async () => {
    const first = clusters();
    const m = new IstioMetrics();
    m.onHttp(rec(), first.reviewsV1, first.reviewsV1.endpoints[0]);
    m.invalidate();
    // A new snapshot builds new cluster and endpoint objects with the same metadata.
    const second = clusters();
    expect(second.reviewsV1).not.toBe(first.reviewsV1);
    m.onHttp(rec(), second.reviewsV1, second.reviewsV1.endpoints[0]);
    // The subset-less cluster's v1 endpoint has the same labels: Istio labels carry no subset.
    m.onHttp(rec(), second.reviewsAll, second.reviewsAll.endpoints[0]);
    expect(sampleValue(await m.text(), 'istio_requests_total', 'destination_version="v1"')).toBe(3);
  });

  it('counts TCP connections and bytes with the TCP label set', async () => {
    const { reviewsV1 } = clusters();
    const m = new IstioMetrics();
    m.onTcpOpen(reviewsV1, reviewsV1.endpoints[0]);
    m.onTcpBytes(reviewsV1, 10, 20, reviewsV1.endpoints[0]);
    m.onTcpClose(reviewsV1, 100, 50, '-', reviewsV1.endpoints[0]);
    m.onTcpOpen(undefined);
    m.onTcpClose(undefined, 0, 0, 'UF');
    const text = await m.text();
    const opened = text
      .split('\n')
      .find((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('"v1"'))!;
    expect(labelNames(opened)).toEqual([...TCP_LABEL_NAMES]);
    expect(opened).toContain('request_protocol="tcp"');
    expect(opened.endsWith(' 1')).toBe(true);
    expect(sampleValue(text, 'istio_tcp_connections_closed_total', 'destination_version="v1"')).toBe(1);
    expect(sampleValue(text, 'istio_tcp_sent_bytes_total', 'destination_version="v1"')).toBe(110);
    expect(sampleValue(text, 'istio_tcp_received_bytes_total', 'destination_version="v1"')).toBe(70);
    expect(
      sampleValue(
        text,
        'istio_tcp_connections_closed_total',
        'destination_service="unknown"',
        'response_flags="UF"',
      ),
    ).toBe(1);
  });

  it('derives service name and namespace as Istio does', () => {
    expect(serviceNameParts('productpage.default.svc.cluster.local', 'x')).toEqual({
      name: 'productpage',
      namespace: 'default',
    });
    expect(serviceNameParts('httpbin.org', 'egress')).toEqual({ name: 'httpbin.org', namespace: 'egress' });
  });

  it('counts repeated requests on the cached series exactly (no series per request)', async () => {
    // How fast this path is belongs to `npm run bench` (the http/telemetry-cost row), not here.
    const { reviewsV1 } = clusters();
    const m = new IstioMetrics();
    const ep = reviewsV1.endpoints[0];
    const records = [
      rec(),
      rec({ responseCode: 503, responseFlags: 'UF' }),
      rec({ durationMs: 120, bytesSent: 5000 }),
    ];
    const n = 30_000;
    for (let i = 0; i < n; i++) m.onHttp(records[i % 3]!, reviewsV1, ep);
    const text = await m.text();
    const lines = text.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
    expect(lines).toHaveLength(2);
    const value = (code: string) =>
      Number(
        lines
          .find((l) => l.includes(`response_code="${code}"`))!
          .split(' ')
          .pop(),
      );
    expect([value('200'), value('503')]).toEqual([(2 * n) / 3, n / 3]);
  });
});
