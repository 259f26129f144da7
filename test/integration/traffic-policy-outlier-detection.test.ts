/**
 * Outlier detection through the gateway on real sockets (istio-semantics.md §3.5): an endpoint
 * answering consecutive 502s is ejected for baseEjectionTime and traffic goes to the others; it
 * returns afterwards; maxEjectionPercent caps ejections; connect failures count as gateway errors.
 */
import { describe, expect, it } from 'vitest';
import type { StatStore } from '../../telemetry/stats.js';
import { startUpstream } from '../helpers/upstream.js';
import { httpGet } from '../helpers/clients.js';
import { clusterName, destination, gatewayBed, meshServiceConfig } from '../helpers/httpbin-config.js';

const CLUSTER = clusterName('svc', 8080);

/**
 * Service `svc` on endpoints at the given local ports, ROUND_ROBIN, with an outlierDetection policy.
 *
 * @param ports local ports of the endpoints, in order
 * @param outlier the `outlierDetection:` value as a YAML flow mapping (`{ consecutive5xxErrors: 5, … }`)
 */
function config(ports: readonly number[], outlier: string): string {
  return meshServiceConfig({
    host: 'svc',
    port: 8080,
    endpoints: ports.map((port) => ({ port })),
    http: `  - route: [{ destination: ${destination('svc', 8080)} }]`,
    destinationRule: `  trafficPolicy:\n    loadBalancer: { simple: ROUND_ROBIN }\n    outlierDetection: ${outlier}`,
  });
}

/**
 * Calls `onChange` each time the gateway sets gauge `name` (the store's setter is wrapped for the
 * life of this test's gateway), so the test reacts to the change itself instead of polling.
 */
function watchGauge(stats: StatStore, name: string, onChange: (value: number) => void): void {
  const set = stats.set;
  stats.set = function (this: StatStore, n: string, v: number): void {
    set.call(this, n, v);
    if (n === name) onChange(v);
  };
}

describe('outlierDetection', () => {
  const bed = gatewayBed();

  it('ejects an endpoint after 5 consecutive 502s for baseEjectionTime, then takes it back', async () => {
    let broken = true;
    const bad = await bed.upstream('bad', (_req, res) => {
      if (!broken) return false;
      res.writeHead(502, { 'x-upstream': 'bad' });
      res.end('bad gateway');
      return true;
    });
    const ups = [bad, await bed.upstream('good1'), await bed.upstream('good2')];
    const gw = await bed.gateway(
      config(
        ups.map((u) => u.port),
        '{ consecutive5xxErrors: 5, interval: 50ms, baseEjectionTime: 1s, maxEjectionPercent: 50 }',
      ),
    );
    const port = gw.port(80);
    const stats = gw.gateway.stats;
    // The ejection and the return as they happen, on the detector's own clock (performance.now()).
    const ejection = { at: NaN, badSeen: NaN };
    const ret = { at: NaN, badSeen: NaN };
    watchGauge(stats, `cluster.${CLUSTER}.outlier_detection.ejections_active`, (v) => {
      if (v === 1 && Number.isNaN(ejection.at)) {
        Object.assign(ejection, { at: performance.now(), badSeen: bad.seen.length });
        broken = false; // healthy again: whatever reaches it from now on is answered 200
      } else if (v === 0 && !Number.isNaN(ejection.at) && Number.isNaN(ret.at)) {
        Object.assign(ret, { at: performance.now(), badSeen: bad.seen.length });
      }
    });
    // Traffic keeps flowing until the endpoint is back (each request waits on the one before).
    const statuses: number[] = [];
    while (Number.isNaN(ret.at)) statuses.push((await httpGet(port, '/')).status);
    // Ejected on its fifth consecutive 502; those five were the only errors clients saw.
    expect(ejection.badSeen).toBe(5);
    expect(statuses.filter((s) => s !== 200)).toEqual([502, 502, 502, 502, 502]);
    expect(stats.get(`cluster.${CLUSTER}.outlier_detection.ejections_enforced_total`)).toBe(1);
    // While it was out, requests went on (to the others only).
    const fifth502 = statuses.lastIndexOf(502);
    expect(statuses.length - fifth502 - 1).toBeGreaterThan(0);
    expect(ret.badSeen).toBe(5);
    // Out for at least baseEjectionTime (1 s × 1st ejection; a lower bound only, the slack being
    // the gap between the detector reading its clock and setting the gauge).
    expect(ret.at - ejection.at).toBeGreaterThanOrEqual(1000 - 5);
    // Back in the round robin: a third of the traffic again.
    const seenBefore = bad.seen.length;
    for (let i = 0; i < 30; i++) expect((await httpGet(port, '/')).status).toBe(200);
    expect(bad.seen.length - seenBefore).toBe(10);
  });

  it('respects maxEjectionPercent: of 4 failing endpoints at 50%, only 2 are ejected', async () => {
    const ups = await bed.upstreams(4, (_req, res) => {
      res.writeHead(503);
      res.end();
      return true;
    });
    const gw = await bed.gateway(
      config(
        ups.map((u) => u.port),
        '{ consecutiveGatewayErrors: 2, consecutive5xxErrors: 0, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50 }',
      ),
    );
    const port = gw.port(80);
    for (let i = 0; i < 40; i++) await httpGet(port, '/');
    const stats = gw.gateway.stats;
    expect(stats.get(`cluster.${CLUSTER}.outlier_detection.ejections_active`)).toBe(2);
    expect(stats.get(`cluster.${CLUSTER}.outlier_detection.ejections_overflow`)).toBeGreaterThan(0);
    // Traffic now only reaches the two endpoints left.
    const before = ups.map((u) => u.seen.length);
    for (let i = 0; i < 20; i++) await httpGet(port, '/');
    const got = ups.map((u, i) => u.seen.length - before[i]!);
    expect(got.filter((n) => n === 0)).toHaveLength(2);
    expect(got.filter((n) => n === 10)).toHaveLength(2);
  });

  it('counts connect failures of a stopped endpoint as gateway errors (legacy consecutiveErrors)', async () => {
    const stopped = await startUpstream('stopped');
    const deadPort = stopped.port;
    await stopped.close();
    const alive = await bed.upstream('alive');
    const gw = await bed.gateway(
      config(
        [deadPort, alive.port],
        '{ consecutiveErrors: 2, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100 }',
      ),
    );
    const port = gw.port(80);
    // Default retry policy retries connect failures on the other endpoint: clients only see 200.
    for (let i = 0; i < 10; i++) expect((await httpGet(port, '/')).status).toBe(200);
    const stats = gw.gateway.stats;
    expect(stats.get(`cluster.${CLUSTER}.outlier_detection.ejections_enforced_total`)).toBe(1);
    const retriesBefore = stats.get(`cluster.${CLUSTER}.upstream_rq_retry`);
    for (let i = 0; i < 10; i++) expect((await httpGet(port, '/')).status).toBe(200);
    // Ejected: no more tries on the dead endpoint, so no more retries.
    expect(stats.get(`cluster.${CLUSTER}.upstream_rq_retry`)).toBe(retriesBefore);
  });
});
