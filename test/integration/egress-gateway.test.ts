/**
 * Istio's egress-gateway pattern with one meshgate in both roles: a VirtualService bound to
 * `[mesh, istio-egressgateway]` sends the workload's call from the mesh listener to the egress
 * gateway (`istio-egressgateway.istio-system.svc.cluster.local`, a ServiceEntry pointing at this
 * meshgate's own egress listener), whose rule sends it on to httpbin.org (resolution DNS).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpbin } from '../../samples/httpbin/httpbin-server.js';
import type { RunningServer } from '../../samples/common/http-util.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { dnsServerOption, startTestDns, type RunningDnsServer } from '../helpers/dns.js';
import { curl } from '../helpers/clients.js';
import { lineLog } from '../helpers/log-lines.js';

const HTTPBIN_ADDR = '127.0.0.71';

/** A TCP port that was free a moment ago (the egress listener's port must be known to the config). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function config(httpbinPort: number, egressPort: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: httpbin-ext }
spec:
  hosts: [httpbin.org]
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${httpbinPort} }]
  resolution: DNS
  location: MESH_EXTERNAL
---
# The egress gateway's Service, as Kubernetes would provide it: here, this meshgate's egress listener.
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: istio-egressgateway, namespace: istio-system }
spec:
  hosts: [istio-egressgateway.istio-system.svc.cluster.local]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints: [{ address: 127.0.0.1, ports: { http: ${egressPort} } }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: istio-egressgateway, namespace: istio-system }
spec:
  selector: { istio: egressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: [httpbin.org]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: direct-httpbin-through-egress-gateway }
spec:
  hosts: [httpbin.org]
  gateways: [istio-system/istio-egressgateway, mesh]
  http:
  - match: [{ gateways: [mesh], port: 80 }]
    route: [{ destination: { host: istio-egressgateway.istio-system.svc.cluster.local, port: { number: 80 } } }]
  - match: [{ gateways: [istio-system/istio-egressgateway], port: 80 }]
    timeout: 3s
    route: [{ destination: { host: httpbin.org, port: { number: 80 } }, weight: 100 }]
`;
}

describe('egress gateway pattern (mesh → egress gateway → external), one meshgate', () => {
  let dns: RunningDnsServer;
  let httpbin: RunningServer;
  let gw: TestGateway;
  let egressPort: number;
  const httpbinLog = lineLog();

  beforeAll(async () => {
    httpbin = await startHttpbin({ host: HTTPBIN_ADDR, log: httpbinLog.record });
    dns = await startTestDns({ 'httpbin.org': [HTTPBIN_ADDR] });
    egressPort = await freePort();
    gw = await startGateway(config(httpbin.port, egressPort), {
      meshPort: 0,
      portMap: new Map([[80, egressPort]]),
      dnsServer: dnsServerOption(dns),
    });
  });

  afterAll(async () => {
    await gw?.close();
    await httpbin?.close();
    await dns?.close();
  });

  it('curl -x <mesh> http://httpbin.org/headers goes through the egress gateway to httpbin.org', async () => {
    // The egress hop ends first, then the mesh hop: one record each, in that order.
    const records = [gw.nextRecord(), gw.nextRecord()];
    const out = await curl(['-x', `http://127.0.0.1:${gw.meshPort()}`, 'http://httpbin.org/headers']);
    const headers = (JSON.parse(out) as { headers: Record<string, string> }).headers;
    expect(headers['Host']).toBe('httpbin.org');
    // Two proxy hops appended the client address: the mesh listener, then the egress gateway.
    expect(headers['X-Forwarded-For']).toBe('127.0.0.1, 127.0.0.1');
    const [atEgress, atMesh] = await Promise.all(records);
    expect(atEgress!.upstreamCluster).toBe('outbound|80||httpbin.org');
    expect(atEgress!.routeName).toBe('default/direct-httpbin-through-egress-gateway.1');
    expect(atMesh!.upstreamCluster).toBe('outbound|80||istio-egressgateway.istio-system.svc.cluster.local');
    expect(atMesh!.routeName).toBe('default/direct-httpbin-through-egress-gateway.0');
    expect(atMesh!.upstreamHost).toBe(`127.0.0.1:${egressPort}`);
  });

  it("the egress gateway's 3 s timeout applies to calls made through the mesh", async () => {
    const records = [gw.nextRecord(), gw.nextRecord()];
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
    const [atEgress, atMesh] = await Promise.all(records);
    // The egress gateway's route timer cut the call to httpbin.org (UT)...
    expect(atEgress!.routeName).toBe('default/direct-httpbin-through-egress-gateway.1');
    expect([atEgress!.responseCode, atEgress!.responseFlags, atEgress!.upstreamCluster]).toEqual([
      504,
      'UT',
      'outbound|80||httpbin.org',
    ]);
    // ...not before its 3 s (a lower bound only; a timer may fire up to 1 ms early).
    expect(atEgress!.durationMs).toBeGreaterThanOrEqual(3000 - 1);
    // ...and the mesh hop, which has no timeout of its own, relayed that 504 as an upstream answer.
    expect(atMesh!.routeName).toBe('default/direct-httpbin-through-egress-gateway.0');
    expect([atMesh!.responseCode, atMesh!.responseFlags]).toEqual([504, '-']);
    // httpbin got the request and saw it cancelled before its 5 s were up.
    await httpbinLog.waitFor(/GET \/delay\/5: delaying 5 s$/);
    await httpbinLog.waitFor(/GET \/delay\/5: client went away before the delay ended$/);
  });
});
