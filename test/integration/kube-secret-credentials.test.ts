/**
 * Kubernetes Secrets in the input as the credentials of `credentialName` (Istio's secure-ingress
 * task applied with `kubectl apply -f`, no `--credentials-dir`): a `kubernetes.io/tls` Secret
 * (`tls.crt`/`tls.key`), a generic Secret (`cert`/`key`) with its client CA in `<name>-cacert`
 * (`cacert`) for MUTUAL, and a Secret without the keys (IST0161 naming it; the server is skipped).
 * Real curl clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDocuments } from '../../config/pipeline.js';
import { parseConfigText } from '../../config/load.js';
import { createTestPki, type IssuedCert, type TestPki } from '../helpers/certs.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  CURL_STATUS_ONLY,
  curlResolveArgs,
  gatewayYaml,
  type GatewayServer,
  localServiceEntryYaml,
  runCommand,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function secret(name: string, type: string, data: Record<string, string>): string {
  const lines = Object.entries(data).map(([k, v]) => `  ${k}: ${b64(v)}`);
  return `apiVersion: v1\nkind: Secret\nmetadata: { name: ${name} }\ntype: ${type}\ndata:\n${lines.join('\n')}`;
}

/** An HTTPS server on 443 for `host` whose certificate is `credentialName`. */
function httpsServer(name: string, mode: string, credentialName: string, host: string): GatewayServer {
  return {
    port: 443,
    name,
    protocol: 'HTTPS',
    tls: `{ mode: ${mode}, credentialName: ${credentialName} }`,
    hosts: [host],
  };
}

function config(pki: TestPki, server: IssuedCert, upstreamPort: number): string {
  return yamlDocuments(
    gatewayYaml('secure', [
      httpsServer('https', 'SIMPLE', 'httpbin-credential', 'httpbin.example.com'),
      httpsServer('https-mtls', 'MUTUAL', 'mtls-credential', 'mtls.example.com'),
      httpsServer('https-broken', 'SIMPLE', 'broken-credential', 'broken.example.com'),
    ]),
    virtualServiceYaml(
      'httpbin',
      ['httpbin.example.com', 'mtls.example.com', 'broken.example.com'],
      ['secure'],
      ['http: [{ route: [{ destination: { host: httpbin, port: { number: 8000 } } }] }]'],
    ),
    localServiceEntryYaml('httpbin', { number: 8000, name: 'http', protocol: 'HTTP' }, upstreamPort),
    secret('httpbin-credential', 'kubernetes.io/tls', { 'tls.crt': server.cert, 'tls.key': server.key }),
    secret('mtls-credential', 'Opaque', { cert: server.cert, key: server.key }),
    secret('mtls-credential-cacert', 'Opaque', { cacert: pki.ca }),
    secret('broken-credential', 'Opaque', { certificate: server.cert }),
  );
}

describe('credentialName served from Secrets in the input', () => {
  let pki: TestPki;
  let server: IssuedCert;
  let client: IssuedCert;
  let upstream: TestUpstream;
  let gw: TestGateway;
  let yaml: string;

  beforeAll(async () => {
    pki = createTestPki();
    server = pki.issue('server', {
      cn: 'httpbin.example.com',
      dns: ['httpbin.example.com', 'mtls.example.com', 'broken.example.com'],
    });
    client = pki.issue('client', { cn: 'client.example.com', client: true });
    upstream = await startUpstream('httpbin');
    yaml = config(pki, server, upstream.port);
    gw = await startGateway(yaml);
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    pki?.close();
  });

  const curl = (host: string, extra: string[] = []) =>
    runCommand('curl', [
      '-sS',
      ...CURL_STATUS_ONLY,
      ...curlResolveArgs(host, gw.port(443), pki.caFile),
      ...extra,
      `https://${host}:${gw.port(443)}/status`,
    ]);

  it('SIMPLE with a kubernetes.io/tls Secret (tls.crt, tls.key): 200', async () => {
    const r = await curl('httpbin.example.com');
    expect(r.stdout).toBe('200');
  });

  it('MUTUAL with a generic Secret (cert, key) and its CA in <name>-cacert: 200 with a client certificate', async () => {
    const r = await curl('mtls.example.com', ['--cert', client.certFile, '--key', client.keyFile]);
    expect(r.stdout).toBe('200');
  });

  it('MUTUAL without a client certificate: the handshake fails', async () => {
    const r = await curl('mtls.example.com');
    expect(r.stdout).not.toBe('200');
  });

  it('a Secret without the keys: IST0161 naming it, and its server gets no filter chain', async () => {
    const { diagnostics } = validateDocuments(parseConfigText(yaml, 'secure.yaml'), {
      defaultNamespace: 'default',
    });
    const ist0161 = diagnostics.filter((d) => d.code === 'IST0161');
    expect(ist0161).toEqual([
      expect.objectContaining({
        severity: 'error',
        resource: 'Gateway/default/secure',
        path: 'spec.servers[2].tls.credentialName',
      }),
    ]);
    expect(ist0161[0]!.message).toContain('Secret/default/broken-credential');
    expect(ist0161[0]!.message).toContain('certificate');
    const r = await curl('broken.example.com');
    expect(r.stdout).not.toBe('200');
  });
});
