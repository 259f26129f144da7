/**
 * HTTPS MUTUAL and OPTIONAL_MUTUAL: client certificates verified against the credential's CA or
 * `caCertificates`, handshakes failing without (or with a bad) certificate, and the verified identity
 * sent upstream in `x-forwarded-client-cert` as Envoy formats it (SANITIZE_SET).
 */
import { createHash, X509Certificate } from 'node:crypto';
import https from 'node:https';
import type tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpbin } from '../../samples/httpbin/httpbin-server.js';
import type { RunningServer } from '../../samples/common/http-util.js';
import { createTestPki, writeCredential, type IssuedCert, type TestPki } from '../helpers/certs.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  CURL_STATUS_ONLY,
  curlResolveArgs,
  gatewayYaml,
  localServiceEntryYaml,
  makeCredentialsDir,
  removeCredentialsDir,
  runCommand,
  virtualServiceYaml,
  yamlDocuments,
  type CommandResult,
} from '../helpers/tls-gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/** curl with `-sS` and the given arguments. */
function curl(args: string[]): Promise<CommandResult> {
  return runCommand('curl', ['-sS', ...args]);
}

/** One request on a fresh connection; resolves with the status and the upstream's view, or the error code. */
function request(
  port: number,
  sni: string,
  path: string,
  opts: { ca: string; client?: IssuedCert; headers?: Record<string, string> },
): Promise<{ status: number; seen: Record<string, string> } | { error: string }> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: sni,
        ca: opts.ca,
        cert: opts.client?.cert,
        key: opts.client?.key,
        headers: { host: sni, ...opts.headers },
        agent: false,
      } satisfies https.RequestOptions & tls.ConnectionOptions,
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          let seen: Record<string, string> = {};
          try {
            seen = (JSON.parse(body) as { headers: Record<string, string> }).headers;
          } catch {
            // Not the echo upstream.
          }
          resolve({ status: res.statusCode ?? 0, seen });
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

describe('HTTPS MUTUAL / OPTIONAL_MUTUAL', () => {
  let pki: TestPki;
  let rogue: TestPki;
  let creds: string;
  let client: IssuedCert;
  let badClient: IssuedCert;
  let httpbin: RunningServer;
  let echo: TestUpstream;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    pki = createTestPki();
    rogue = createTestPki({ org: 'rogue', cn: 'rogue.example.com' });
    creds = makeCredentialsDir();
    const server = pki.issue('httpbin', {
      cn: 'httpbin.example.com',
      dns: ['httpbin.example.com'],
      uris: ['spiffe://cluster.local/ns/istio-system/sa/ingressgateway'],
    });
    writeCredential(creds, 'httpbin-credential', server, pki.ca);
    client = pki.issue('client', {
      cn: 'client.example.com',
      org: 'client organization',
      dns: ['client.example.com'],
      uris: ['spiffe://cluster.local/ns/default/sa/client'],
      client: true,
    });
    badClient = rogue.issue('bad-client', { cn: 'client.example.com', client: true });
    httpbin = await startHttpbin();
    echo = await startUpstream('echo');
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('mygateway', [
          {
            port: 443,
            name: 'https',
            protocol: 'HTTPS',
            tls: '{ mode: MUTUAL, credentialName: httpbin-credential }',
            hosts: ['httpbin.example.com'],
          },
          {
            port: 8443,
            name: 'https-optional',
            protocol: 'HTTPS',
            tls: `{ mode: OPTIONAL_MUTUAL, serverCertificate: ${server.certFile}, privateKey: ${server.keyFile}, caCertificates: ${pki.caFile} }`,
            hosts: ['httpbin.example.com'],
          },
          {
            port: 9443,
            name: 'https-san',
            protocol: 'HTTPS',
            tls: '{ mode: MUTUAL, credentialName: httpbin-credential, subjectAltNames: [spiffe://cluster.local/ns/default/sa/someone-else] }',
            hosts: ['httpbin.example.com'],
          },
        ]),
        virtualServiceYaml(
          'httpbin',
          ['httpbin.example.com'],
          ['mygateway'],
          [
            'http:',
            '- match: [{ uri: { prefix: /status } }]',
            '  route: [{ destination: { host: httpbin, port: { number: 8000 } } }]',
            '- match: [{ uri: { prefix: /echo } }]',
            '  route: [{ destination: { host: echo, port: { number: 8080 } } }]',
          ],
        ),
        localServiceEntryYaml('httpbin', { number: 8000, name: 'http', protocol: 'HTTP' }, httpbin.port),
        localServiceEntryYaml('echo', { number: 8080, name: 'http', protocol: 'HTTP' }, echo.port),
      ),
      { credentialsDir: creds },
    );
    port = gw.port(443);
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([httpbin?.close(), echo?.close()]);
    pki?.close();
    rogue?.close();
    removeCredentialsDir(creds);
  });

  const resolve = () => curlResolveArgs('httpbin.example.com', port, pki.caFile);

  it('answers 418 to curl with --cert/--key', async () => {
    const r = await curl([
      ...resolve(),
      '--cert',
      client.certFile,
      '--key',
      client.keyFile,
      ...CURL_STATUS_ONLY,
      `https://httpbin.example.com:${port}/status/418`,
    ]);
    expect(r.stdout).toBe('418');
  });

  it('fails the handshake without a client certificate, and with one from another CA', async () => {
    // --http1.1: offered h2 (ALPN), curl writes its preface right after a TLS 1.3 handshake and may
    // read the server's reset instead of its alert.
    const none = await curl([...resolve(), '--http1.1', `https://httpbin.example.com:${port}/status/418`]);
    expect(none.code).not.toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/alert|certificate required|handshake/i);
    expect(gw.gateway.stats.get('listener.0.0.0.0_443.ssl.fail_verify_no_cert')).toBeGreaterThanOrEqual(1);

    const bad = await request(port, 'httpbin.example.com', '/status/418', { ca: pki.ca, client: badClient });
    expect('error' in bad).toBe(true);
    expect(gw.gateway.stats.get('listener.0.0.0.0_443.ssl.fail_verify_error')).toBeGreaterThanOrEqual(1);
    // The gateway keeps serving good clients.
    const ok = await request(port, 'httpbin.example.com', '/status/418', { ca: pki.ca, client });
    expect(ok).toMatchObject({ status: 418 });
  });

  it('sends the verified identity upstream in x-forwarded-client-cert, replacing a forged one', async () => {
    const r = await request(port, 'httpbin.example.com', '/echo', {
      ca: pki.ca,
      client,
      headers: { 'x-forwarded-client-cert': 'By=forged' },
    });
    if ('error' in r) throw new Error(r.error);
    const xfcc = r.seen['x-forwarded-client-cert']!;
    const der = new X509Certificate(client.cert).raw;
    const hash = createHash('sha256').update(der).digest('hex');
    const pem = new X509Certificate(client.cert).toString();
    expect(xfcc).toBe(
      [
        'By=spiffe://cluster.local/ns/istio-system/sa/ingressgateway',
        `Hash=${hash}`,
        `Cert="${encodeURIComponent(pem)}"`,
        'Subject="O=client organization,CN=client.example.com"',
        'URI=spiffe://cluster.local/ns/default/sa/client',
        'DNS=client.example.com',
      ].join(';'),
    );
    expect(r.seen['x-forwarded-proto']).toBe('https');
  });

  it('OPTIONAL_MUTUAL: no certificate is served without XFCC, a valid one gets XFCC, a bad one is refused', async () => {
    const p = gw.port(8443);
    const anon = await request(p, 'httpbin.example.com', '/echo', {
      ca: pki.ca,
      headers: { 'x-forwarded-client-cert': 'By=forged' },
    });
    if ('error' in anon) throw new Error(anon.error);
    expect(anon.status).toBe(200);
    expect(anon.seen['x-forwarded-client-cert']).toBeUndefined();
    const known = await request(p, 'httpbin.example.com', '/echo', { ca: pki.ca, client });
    if ('error' in known) throw new Error(known.error);
    expect(known.seen['x-forwarded-client-cert']).toMatch(
      /^By=spiffe:\/\/.*;Hash=[0-9a-f]{64};Cert="-----BEGIN%20CERTIFICATE-----%0A/,
    );
    const bad = await request(p, 'httpbin.example.com', '/echo', { ca: pki.ca, client: badClient });
    expect('error' in bad).toBe(true);
    expect(gw.gateway.stats.get('listener.0.0.0.0_8443.ssl.fail_verify_error')).toBe(1);
    expect(gw.gateway.stats.get('listener.0.0.0.0_8443.ssl.no_certificate')).toBe(1);
  });

  it('refuses a client certificate outside subjectAltNames', async () => {
    const r = await request(gw.port(9443), 'httpbin.example.com', '/status/200', { ca: pki.ca, client });
    expect('error' in r).toBe(true);
    expect(gw.gateway.stats.get('listener.0.0.0.0_9443.ssl.fail_verify_san')).toBe(1);
  });
});
