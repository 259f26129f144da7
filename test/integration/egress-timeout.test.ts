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

describe('egress: httpbin.org with a 3 s timeout through the mesh listener', () => {
  let dns: RunningDnsServer;
  let httpbin: RunningServer;
  let gw: TestGateway;
  const httpbinLog: string[] = [];

  beforeAll(async () => {
    httpbin = await startHttpbin({ host: HTTPBIN_ADDR, port: 0, log: (l) => httpbinLog.push(l) });
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

  it('answers `curl -x <mesh> http://httpbin.org/delay/5` 504 UT after 3.0-3.3 s and cancels the upstream request', async () => {
    const rec = gw.nextRecord();
    const out = await curl([
      '-x',
      `http://127.0.0.1:${gw.meshPort()}`,
      '-o',
      '-',
      '-w',
      '\n%{http_code} %{time_total}',
      'http://httpbin.org/delay/5',
    ]);
    const [body, last] = [out.slice(0, out.lastIndexOf('\n')), out.slice(out.lastIndexOf('\n') + 1)];
    const [code, seconds] = last.split(' ');
    expect(code).toBe('504');
    expect(body).toBe('upstream request timeout');
    expect(Number(seconds)).toBeGreaterThanOrEqual(3.0);
    expect(Number(seconds)).toBeLessThan(3.3);
    const log = await rec;
    expect(log.responseFlags).toBe('UT');
    expect(log.upstreamCluster).toBe('outbound|80||httpbin.org');
    expect(log.upstreamHost).toBe('httpbin.org:' + httpbin.port);
    expect(log.routeName).toBe('default/httpbin-ext.0');
    // The gateway cancelled the upstream request: the stand-in saw its client go away.
    await expect.poll(() => httpbinLog.some((l) => l.includes('/delay/5: client went away'))).toBe(true);
    expect(dns.queries).toContain('httpbin.org A');
  });

  it('without the VirtualService the same call answers 200 after about 5 s (default route to the ServiceEntry)', async () => {
    expect(await gw.reconfigure(serviceEntry(httpbin.port))).toBe(true);
    const rec = gw.nextRecord();
    const started = Date.now();
    const out = await curl([
      '-x',
      `http://127.0.0.1:${gw.meshPort()}`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      'http://httpbin.org/delay/5',
    ]);
    const seconds = (Date.now() - started) / 1000;
    expect(out).toBe('200');
    expect(seconds).toBeGreaterThanOrEqual(5.0);
    expect(seconds).toBeLessThan(5.5);
    const log = await rec;
    expect(log.routeName).toBe('default');
    expect(log.responseFlags).toBe('-');
  });
});
