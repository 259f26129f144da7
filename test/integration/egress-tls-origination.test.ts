/**
 * TLS origination: a plain `http://` call through the mesh listener leaves as HTTPS because of a
 * DestinationRule `tls` (top-level or `portLevelSettings`), SIMPLE or MUTUAL, towards ServiceEntry
 * hosts resolved by DNS to an HTTPS stand-in that records the SNI and client certificate it saw.
 * Certificate paths in the DestinationRule are relative to its YAML file.
 */
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { dnsServerOption, startTestDns, type RunningDnsServer } from '../helpers/dns.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { curl } from '../helpers/clients.js';

const HTTPS_ADDR = '127.0.0.51';
const NAMES = ['auto.example', 'fixed.example', 'mutual.example', 'untrusted.example', 'skip.example'];

interface Seen {
  sni: string | undefined;
  host: string | undefined;
  clientCn: string | undefined;
  url: string | undefined;
}

function config(port: number): string {
  const se = NAMES.map(
    (n) => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${n.split('.')[0]} }
spec:
  hosts: [${n}]
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${port} }]
  resolution: DNS
  location: MESH_EXTERNAL
`,
  ).join('');
  // Relative paths: the CA and client pair sit next to this file.
  return `${se}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: auto }
spec:
  host: auto.example
  trafficPolicy:
    portLevelSettings:
    - port: { number: 80 }
      tls: { mode: SIMPLE, caCertificates: ca.crt }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: fixed }
spec:
  host: fixed.example
  trafficPolicy:
    tls: { mode: SIMPLE, caCertificates: ./ca.crt, sni: configured-sni.example, subjectAltNames: [fixed.example] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: mutual }
spec:
  host: mutual.example
  trafficPolicy:
    tls: { mode: MUTUAL, caCertificates: ca.crt, clientCertificate: client.crt, privateKey: client.key }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: untrusted }
spec:
  host: untrusted.example
  trafficPolicy:
    tls: { mode: SIMPLE }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: skip }
spec:
  host: skip.example
  trafficPolicy:
    tls: { mode: SIMPLE, insecureSkipVerify: true }
`;
}

describe('TLS origination towards ServiceEntry hosts', () => {
  let pki: TestPki;
  let server: https.Server;
  let dns: RunningDnsServer;
  let gw: TestGateway;
  const seen: Seen[] = [];
  const get = (host: string) =>
    curl([
      '-x',
      `http://127.0.0.1:${gw.meshPort()}`,
      '-s',
      '-w',
      '\n%{http_code}',
      `http://${host}/path?q=1`,
    ]);

  beforeAll(async () => {
    pki = createTestPki();
    const leaf = pki.issue('server', { cn: 'tls stand-in', dns: NAMES });
    pki.issue('client', { cn: 'meshgate-client', client: true });
    server = https.createServer(
      { cert: leaf.cert, key: leaf.key, ca: pki.ca, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const sock = req.socket as TLSSocket;
        const peer = sock.getPeerCertificate();
        seen.push({
          sni: sock.servername || undefined,
          host: req.headers.host,
          clientCn: peer && peer.subject ? String(peer.subject.CN) : undefined,
          url: req.url,
        });
        res.end('over tls');
      },
    );
    await new Promise<void>((r) => server.listen(0, HTTPS_ADDR, r));
    dns = await startTestDns(Object.fromEntries(NAMES.map((n) => [n, [HTTPS_ADDR]])));
    const file = join(pki.dir, 'egress-tls.yaml');
    writeFileSync(file, config((server.address() as AddressInfo).port));
    gw = await startGateway('', { meshPort: 0, dnsServer: dnsServerOption(dns), paths: [file] });
  });

  afterAll(async () => {
    await gw?.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await dns?.close();
    pki?.close();
  });

  it('SIMPLE (portLevelSettings): the stand-in saw TLS with SNI = the request Host', async () => {
    expect(await get('auto.example')).toBe('over tls\n200');
    expect(seen.at(-1)).toEqual({
      sni: 'auto.example',
      host: 'auto.example',
      clientCn: undefined,
      url: '/path?q=1',
    });
  });

  it('SIMPLE with `sni` and `subjectAltNames`: the configured SNI is sent', async () => {
    expect(await get('fixed.example')).toBe('over tls\n200');
    expect(seen.at(-1)!.sni).toBe('configured-sni.example');
  });

  it('MUTUAL: the client certificate from the DestinationRule is presented', async () => {
    expect(await get('mutual.example')).toBe('over tls\n200');
    expect(seen.at(-1)!.clientCn).toBe('meshgate-client');
  });

  it('SIMPLE without caCertificates verifies against the system roots: an unknown CA fails 503 UF', async () => {
    const rec = gw.nextRecord();
    const out = await get('untrusted.example');
    expect(out.endsWith('\n503')).toBe(true);
    expect((await rec).responseFlags).toMatch(/^UF/);
  });

  it('insecureSkipVerify accepts any certificate', async () => {
    expect(await get('skip.example')).toBe('over tls\n200');
  });
});
