import { describe, expect, it } from 'vitest';
import type { StreamRecord } from '../../telemetry/access-log.js';
import { EnvoyStats } from '../../telemetry/envoy-stats.js';
import { GatewayObserver, OBSERVER_BATCH } from '../../telemetry/gateway-observer.js';
import { IstioMetrics } from '../../telemetry/metrics.js';
import { StatStore } from '../../telemetry/stats.js';

const record = (code: number): StreamRecord => ({
  startTime: Date.now(),
  method: 'GET',
  path: '/nope',
  protocol: 'HTTP/1.1',
  responseCode: code,
  responseFlags: 'NR',
  responseCodeDetails: 'route_not_found',
  bytesReceived: 0,
  bytesSent: 0,
  durationMs: 1,
  upstreamServiceTimeMs: undefined,
  xForwardedFor: undefined,
  userAgent: undefined,
  requestId: undefined,
  authority: 'x',
  upstreamHost: undefined,
  upstreamCluster: undefined,
  routeName: undefined,
  downstreamRemoteAddress: undefined,
  downstreamLocalAddress: undefined,
  requestedServerName: undefined,
});

/** The value of `istio_requests_total` for response code 404 (0 when absent). */
async function count404(metrics: IstioMetrics): Promise<number> {
  const m = /^istio_requests_total\{[^}]*response_code="404"[^}]*\} (\d+)$/m.exec(await metrics.text());
  return m === null ? 0 : Number(m[1]);
}

describe('GatewayObserver batching', () => {
  it('applies requests in batches of OBSERVER_BATCH, and everything pending on drain()', async () => {
    const metrics = new IstioMetrics();
    const observer = new GatewayObserver(
      metrics,
      new EnvoyStats(new StatStore(), () => undefined),
      undefined,
    );
    for (let i = 0; i < 5; i++) observer.onHttp(record(404), undefined, undefined);
    expect(await count404(metrics)).toBe(0);
    observer.drain();
    expect(await count404(metrics)).toBe(5);
    for (let i = 0; i < OBSERVER_BATCH; i++) observer.onHttp(record(404), undefined, undefined);
    // The batch filled up: counted without a drain.
    expect(await count404(metrics)).toBe(5 + OBSERVER_BATCH);
    observer.drain();
    expect(await count404(metrics)).toBe(5 + OBSERVER_BATCH);
  });
});
