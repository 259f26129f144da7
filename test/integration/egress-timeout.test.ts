/**
 * The user's egress notes end to end: ServiceEntry `httpbin-ext` (httpbin.org, port 80, resolution
 * DNS, MESH_EXTERNAL) and the 3 s VirtualService, reached through the mesh listener as an HTTP proxy
 * (`curl -x`). httpbin.org is resolved by a real DNS server on loopback to a local httpbin stand-in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpbin } from '../../samples/httpbin/httpbin-server.js';
import type { RunningServer } from '../../samples/common/http-util.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { dnsServerOption, startTestDns, type RunningDnsServer } from '../helpers/dns.js';
import { curl } from '../helpers/clients.js';
import { lineLog } from '../helpers/log-lines.js';

/** httpbin.org's stand-in address (unique to this file so parallel test files never collide). */
const HTTPBIN_ADDR = '127.0.0.31';

function serviceEntry(targetPort: number): string {
  // The notes' ServiceEntry; `targetPort` points port 80 at the stand-in's ephemeral port.
  return `
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: httpbin-ext
spec:
  hosts:
  - httpbin.org
  ports:
  - number: 80
    name: http
    protocol: HTTP
    targetPort: ${targetPort}
  resolution: DNS
  location: MESH_EXTERNAL
`;
}

const TIMEOUT_VS = `
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin-ext
spec:
  hosts:
    - httpbin.org
  http:
  - timeout: 3s
    route:
      - destination:
          host: httpbin.org
        weight: 100
`;

/** Lower bounds on a timer's duration allow for the timer firing up to 1 ms early (ms-granular). */
const TIMER_SLACK_MS = 1;

describe('egress: httpbin.org with a 3 s timeout through the mesh listener', () => {
  let dns: RunningDnsServer;
  let httpbin: RunningServer;
  let gw: TestGateway;
  const httpbinLog = lineLog();

  beforeAll(async () => {
    httpbin = await startHttpbin({ host: HTTPBIN_ADDR, port: 0, log: httpbinLog.record });
    dns = await startTestDns({ 'httpbin.org': [HTTPBIN_ADDR] });
    gw = await startGateway(serviceEntry(httpbin.port) + TIMEOUT_VS, {
      meshPort: 0,
      dnsServer: dnsServerOption(dns),
    });
  });

  afterAll(async () => {
    await gw?.close();
    await httpbin?.close();
    await dns?.close();
  });

  it('answers `curl -x <mesh> http://httpbin.org/delay/5` 504 UT at the 3 s timeout and cancels the upstream request', async () => {
    const rec = gw.nextRecord();
    const out = await curl([
      '-x',
      `http://127.0.0.1:${gw.meshPort()}`,
      '-o',
      '-',
      '-w',
      '\n%{http_code}',
      'http://httpbin.org/delay/5',
    ]);
    expect(out).toBe('upstream request timeout\n504');
    const log = await rec;
    expect([log.responseCode, log.responseFlags, log.responseCodeDetails]).toEqual([
      504,
      'UT',
      'upstream_response_timeout',
    ]);
    expect(log.upstreamCluster).toBe('outbound|80||httpbin.org');
    expect(log.upstreamHost).toBe('httpbin.org:' + httpbin.port);
    expect(log.routeName).toBe('default/httpbin-ext.0');
    // The route's timer cut it, not anything sooner (no upper bound: speed is the bench's).
    expect(log.durationMs).toBeGreaterThanOrEqual(3000 - TIMER_SLACK_MS);
    expect(log.upstreamServiceTimeMs).toBeUndefined();
    // The stand-in got the request, then saw the gateway cancel it before its 5 s were up.
    await httpbinLog.waitFor(/GET \/delay\/5: delaying 5 s$/);
    await httpbinLog.waitFor(/GET \/delay\/5: client went away before the delay ended$/);
    expect(httpbinLog.lines.filter((l) => / 200 \d+ms$/.test(l))).toEqual([]);
    expect(dns.queries).toContain('httpbin.org A');
  });

  it('without the VirtualService the same call answers 200 once httpbin has waited its 5 s (no route timeout)', async () => {
    expect(await gw.reconfigure(serviceEntry(httpbin.port))).toBe(true);
    const rec = gw.nextRecord();
    const out = await curl([
      '-x',
      `http://127.0.0.1:${gw.meshPort()}`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      'http://httpbin.org/delay/5',
    ]);
    expect(out).toBe('200');
    const log = await rec;
    expect([log.responseCode, log.responseFlags, log.routeName]).toEqual([200, '-', 'default']);
    expect(log.durationMs).toBeGreaterThanOrEqual(5000 - TIMER_SLACK_MS);
    expect(
      httpbinLog.lines.filter((l) => /GET \/delay\/5 host=httpbin\.org 200 \d+ms$/.test(l)),
    ).toHaveLength(1);
  });
});
