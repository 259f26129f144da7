/**
 * The mesh (sidecar outbound) listener: HTTP proxy and Host-header routing with the names a workload
 * uses, the outbound traffic policy (ALLOW_ANY / REGISTRY_ONLY), ServiceEntry resolutions (DNS,
 * STATIC, NONE), CONNECT tunnels routed by SNI, and bad input. Names resolve through a real DNS
 * server on loopback to stand-ins on 127.0.0.4x; clients are curl (`-x`) and raw sockets.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpbin } from '../../samples/httpbin/httpbin-server.js';
import type { RunningServer } from '../../samples/common/http-util.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { dnsServerOption, startTestDns, type RunningDnsServer } from '../helpers/dns.js';
import {
  httpVirtualService,
  JASON_TO_REVIEWS_V2,
  staticServiceEntry,
  subsetDestinationRule,
  versionedEndpoints,
} from '../helpers/bookinfo-config.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { curl, rawExchange } from '../helpers/clients.js';

const REGISTERED_ADDR = '127.0.0.41';
const UNKNOWN_ADDR = '127.0.0.42';
const GOOGLE_ADDR = '127.0.0.43';
const NONE_ADDR = '127.0.0.44';

interface Ports {
  registered: number;
  unknown: number;
  google: number;
  none: number;
  v1: number;
  v2: number;
}

/**
 * The mesh config: `registered.example` (DNS) and `none.example` (NONE) ServiceEntries, reviews
 * v1/v2 with a jason → v2 VirtualService, and www.google.com routed by SNI.
 *
 * @param p - The stand-ins' ports.
 * @returns The multi-document YAML.
 */
function config(p: Ports): string {
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: registered }
spec:
  hosts: [registered.example]
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${p.registered} }]
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: none }
spec:
  hosts: [none.example]
  ports: [{ number: ${p.none}, name: http, protocol: HTTP }]
  resolution: NONE
  location: MESH_EXTERNAL
---
${staticServiceEntry('reviews', versionedEndpoints({ v1: p.v1, v2: p.v2 }))}
---
${subsetDestinationRule('reviews')}
---
${httpVirtualService({
  name: 'reviews',
  hosts: ['reviews'],
  http: `${JASON_TO_REVIEWS_V2}
  - route: [{ destination: { host: reviews, subset: v1 } }]`,
})}
---
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: google
spec:
  hosts:
  - www.google.com
  ports:
  - number: 443
    name: https
    protocol: HTTPS
    targetPort: ${p.google}
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: google
spec:
  hosts:
  - www.google.com
  tls:
  - match:
    - port: 443
      sniHosts:
      - www.google.com
    route:
    - destination:
        host: www.google.com
        port:
          number: 443
      weight: 100
`;
}

describe('mesh listener', () => {
  let dns: RunningDnsServer;
  let registered: RunningServer;
  let unknown: RunningServer;
  let none: RunningServer;
  let v1: TestUpstream;
  let v2: TestUpstream;
  let pki: TestPki;
  let google: https.Server;
  const googleSni: (string | undefined)[] = [];
  let ports: Ports;
  let allowAny: TestGateway;
  let registryOnly: TestGateway;
  const proxy = (gw: TestGateway) => `http://127.0.0.1:${gw.meshPort()}`;

  beforeAll(async () => {
    registered = await startHttpbin({ host: REGISTERED_ADDR, version: 'registered' });
    unknown = await startHttpbin({ host: UNKNOWN_ADDR, version: 'unknown' });
    none = await startHttpbin({ host: NONE_ADDR, version: 'none' });
    v1 = await startUpstream('reviews-v1');
    v2 = await startUpstream('reviews-v2');
    pki = createTestPki();
    const leaf = pki.issue('google', { cn: 'www.google.com', dns: ['www.google.com'] });
    google = https.createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
      googleSni.push((req.socket as import('node:tls').TLSSocket).servername || undefined);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('google stand-in\n');
    });
    await new Promise<void>((r) => google.listen(0, GOOGLE_ADDR, r));
    dns = await startTestDns({
      'registered.example': [REGISTERED_ADDR],
      'unknown.example': [UNKNOWN_ADDR],
      'www.google.com': [GOOGLE_ADDR],
      'none.example': [NONE_ADDR],
    });
    ports = {
      registered: registered.port,
      unknown: unknown.port,
      google: (google.address() as AddressInfo).port,
      none: none.port,
      v1: v1.port,
      v2: v2.port,
    };
    allowAny = await startGateway(config(ports), { meshPort: 0, dnsServer: dnsServerOption(dns) });
    registryOnly = await startGateway(config(ports), {
      meshPort: 0,
      dnsServer: dnsServerOption(dns),
      outboundTrafficPolicy: 'REGISTRY_ONLY',
    });
  });

  afterAll(async () => {
    await allowAny?.close();
    await registryOnly?.close();
    google?.closeAllConnections();
    await new Promise<void>((r) => (google ? google.close(() => r()) : r()));
    await Promise.all([
      registered?.close(),
      unknown?.close(),
      none?.close(),
      v1?.close(),
      v2?.close(),
      dns?.close(),
    ]);
    pki?.close();
  });

  const status = (gw: TestGateway, url: string, extra: string[] = []) =>
    curl(['-x', proxy(gw), '-o', '/dev/null', '-w', '%{http_code} %{size_download}', ...extra, url]);
  /** The response headers curl prints (`-s -D - -o /dev/null`) for `args` (options, then the URL). */
  const headers = (...args: string[]) => curl(['-s', '-D', '-', '-o', '/dev/null', ...args]);

  it('ALLOW_ANY: registered host → 200 (default route), unknown host → 200 through PassthroughCluster', async () => {
    let rec = allowAny.nextRecord();
    expect(await status(allowAny, 'http://registered.example/headers')).toMatch(/^200 /);
    let log = await rec;
    expect(log.routeName).toBe('default');
    expect(log.upstreamCluster).toBe('outbound|80||registered.example');
    rec = allowAny.nextRecord();
    expect(await status(allowAny, `http://unknown.example:${ports.unknown}/headers`)).toMatch(/^200 /);
    log = await rec;
    expect(log.routeName).toBe('allow_any');
    expect(log.upstreamCluster).toBe('PassthroughCluster');
    expect(log.upstreamHost).toBe(`unknown.example:${ports.unknown}`);
  });

  it('REGISTRY_ONLY: unknown host → 502 with an empty body (block_all), registered host → 200', async () => {
    let rec = registryOnly.nextRecord();
    expect(await status(registryOnly, `http://unknown.example:${ports.unknown}/headers`)).toBe('502 0');
    expect((await rec).routeName).toBe('block_all');
    rec = registryOnly.nextRecord();
    expect(await status(registryOnly, 'http://registered.example/headers')).toMatch(/^200 /);
    expect((await rec).upstreamCluster).toBe('outbound|80||registered.example');
  });

  it('answers every name a workload uses for a service, by proxy URL and by Host header', async () => {
    const mesh = allowAny.meshPort();
    for (const host of [
      'reviews:9080',
      'reviews',
      'reviews.default:9080',
      'reviews.default.svc:9080',
      'reviews.default.svc.cluster.local:9080',
      'REVIEWS.default.svc.cluster.local.:9080',
    ]) {
      const byHost = await headers('-H', `Host: ${host}`, `http://127.0.0.1:${mesh}/reviews/0`);
      expect(byHost, host).toMatch(/x-upstream: reviews-v1/);
      const jason = await headers(
        '-H',
        `Host: ${host}`,
        '-H',
        'end-user: jason',
        `http://127.0.0.1:${mesh}/reviews/0`,
      );
      expect(jason, host).toMatch(/x-upstream: reviews-v2/);
    }
    const viaProxy = await headers('-x', proxy(allowAny), 'http://reviews:9080/reviews/0');
    expect(viaProxy).toMatch(/x-upstream: reviews-v1/);
    expect(v1.seen.at(-1)!.headers.host).toBe('reviews:9080');
    expect(v1.seen.at(-1)!.url).toBe('/reviews/0');
  });

  it('resolution NONE forwards to the original host:port (resolved by DNS)', async () => {
    const rec = allowAny.nextRecord();
    const out = await headers('-x', proxy(allowAny), `http://none.example:${ports.none}/get`);
    expect(out).toMatch(/x-served-by: httpbin-none/);
    const log = await rec;
    expect(log.upstreamCluster).toBe(`outbound|${ports.none}||none.example`);
    expect(log.upstreamHost).toBe(`none.example:${ports.none}`);
  });

  it('CONNECT www.google.com:443 is tunnelled and routed by the SNI through the tls rule', async () => {
    const rec = allowAny.nextRecord();
    const out = await curl(['-x', proxy(allowAny), '--cacert', pki.caFile, 'https://www.google.com/']);
    expect(out).toBe('google stand-in\n');
    expect(googleSni.at(-1)).toBe('www.google.com');
    const log = await rec;
    expect(log.method).toBe('CONNECT');
    expect(log.responseCode).toBe(200);
    expect(log.routeName).toBe('default/google.tls.0');
    expect(log.upstreamCluster).toBe('outbound|443||www.google.com');
    expect(log.requestedServerName).toBe('www.google.com');
    expect(log.bytesSent).toBeGreaterThan(0);
  });

  it('bad input: CONNECT to a forbidden host (403), a malformed absolute URI (400), no Host (400); then still serves', async () => {
    const rec = registryOnly.nextRecord();
    const connect = await curl([
      '-x',
      proxy(registryOnly),
      '-o',
      '/dev/null',
      '-w',
      '%{http_connect}',
      'https://forbidden.example/',
    ]).catch((e: Error) => e.message);
    expect(connect).toContain('403');
    const log = await rec;
    expect(log.method).toBe('CONNECT');
    expect(log.responseCode).toBe(403);
    expect(log.upstreamCluster).toBe('BlackHoleCluster');
    const mesh = registryOnly.meshPort();
    const rec2 = registryOnly.nextRecord();
    const bad = await rawExchange(
      mesh,
      'GET http:///nohost HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    expect((await rec2).responseFlags).toBe('DPE');
    const rec3 = registryOnly.nextRecord();
    const noHost = await rawExchange(
      mesh,
      'GET http://registered.example/headers HTTP/1.1\r\nConnection: close\r\n\r\n',
    );
    expect(noHost).toMatch(/^HTTP\/1\.1 400 /);
    expect((await rec3).responseFlags).toBe('DPE');
    const self = await rawExchange(
      mesh,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${mesh}\r\nConnection: close\r\n\r\n`,
    );
    expect(self).toMatch(/^HTTP\/1\.1 404 /);
    expect(await status(registryOnly, 'http://registered.example/headers')).toMatch(/^200 /);
  });
});
