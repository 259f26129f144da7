/**
 * HTTPS servers that terminate TLS (Istio's secure-ingress task): credentialName from a credentials
 * folder, certificate chosen by SNI per server, each server's own route table, httpsRedirect on the
 * HTTP port, protocol range and cipher suites, certificate rotation without dropping connections.
 * Real curl, openssl s_client and node:tls clients.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import https from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpbin } from '../../samples/httpbin/httpbin-server.js';
import type { RunningServer } from '../../samples/common/http-util.js';
import { CERT_RELOAD_CHANNEL, type CertReloadMessage } from '../../tls/cert-store.js';
import { createTestPki, writeCredential, type TestPki } from '../helpers/certs.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { httpGet, rawExchange } from '../helpers/clients.js';
import {
  CURL_STATUS_ONLY,
  curlResolveArgs,
  gatewayYaml,
  localServiceEntryYaml,
  makeCredentialsDir,
  opensslSClient,
  recordWhere,
  removeCredentialsDir,
  runCommand,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTcpEcho, type RunningTcpEcho } from '../../samples/tcp-echo/tcp-echo-server.js';

interface TlsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  peer: tls.PeerCertificate;
  protocol: string | null;
  cipher: string;
}

/** One HTTPS request on a fresh connection: SNI, Host and TLS options chosen by the caller. */
function httpsGet(
  port: number,
  servername: string | undefined,
  path: string,
  opts: {
    ca: string;
    host?: string;
    headers?: Record<string, string>;
    tls?: tls.ConnectionOptions;
    agent?: https.Agent;
  },
): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        servername,
        ca: opts.ca,
        headers: { host: opts.host ?? servername ?? '127.0.0.1', ...opts.headers },
        agent: opts.agent ?? false,
        ...opts.tls,
      },
      (res) => {
        const sock = res.socket as tls.TLSSocket;
        const peer = sock.getPeerCertificate();
        const protocol = sock.getProtocol();
        const cipher = sock.getCipher().name;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peer, protocol, cipher }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A TLS handshake only: resolves with the outcome instead of throwing. */
function handshake(
  port: number,
  opts: tls.ConnectionOptions,
): Promise<{ ok: true; socket: tls.TLSSocket } | { ok: false; code: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts }, () => resolve({ ok: true, socket: s }));
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, code: err.code ?? err.message }));
    s.on('close', () => resolve({ ok: false, code: 'closed' }));
  });
}

function nextReload(certFile: string): Promise<CertReloadMessage> {
  return new Promise((resolve) => {
    const on = (msg: unknown) => {
      const m = msg as CertReloadMessage;
      if (m.certFile !== certFile || m.error !== undefined) return;
      unsubscribe(CERT_RELOAD_CHANNEL, on);
      resolve(m);
    };
    subscribe(CERT_RELOAD_CHANNEL, on);
  });
}

describe('HTTPS SIMPLE (secure ingress)', () => {
  let pki: TestPki;
  let creds: string;
  let httpbin: RunningServer;
  let hello: TestUpstream;
  let gw: TestGateway;
  let port: number;
  let yaml: string;

  beforeAll(async () => {
    pki = createTestPki();
    creds = makeCredentialsDir();
    writeCredential(
      creds,
      'httpbin-credential',
      pki.issue('httpbin', {
        cn: 'httpbin.example.com',
        org: 'httpbin organization',
        dns: ['httpbin.example.com'],
      }),
    );
    writeCredential(
      creds,
      'helloworld-credential',
      pki.issue('helloworld', { cn: 'helloworld.example.com', dns: ['helloworld.example.com'] }),
    );
    httpbin = await startHttpbin();
    hello = await startUpstream('helloworld');
    yaml = yamlDocuments(
      gatewayYaml(
        'mygateway',
        [
          {
            port: 443,
            name: 'https',
            protocol: 'HTTPS',
            tls: '{ mode: SIMPLE, credentialName: httpbin-credential }',
            hosts: ['httpbin.example.com'],
          },
          {
            port: 443,
            name: 'https-helloworld',
            protocol: 'HTTPS',
            tls: '{ mode: SIMPLE, credentialName: helloworld-credential }',
            hosts: ['helloworld.example.com'],
          },
          {
            port: 8443,
            name: 'https-13',
            protocol: 'HTTPS',
            tls: '{ mode: SIMPLE, credentialName: httpbin-credential, minProtocolVersion: TLSV1_3 }',
            hosts: ['httpbin.example.com'],
          },
          {
            port: 9443,
            name: 'https-12',
            protocol: 'HTTPS',
            tls: '{ mode: SIMPLE, credentialName: httpbin-credential, maxProtocolVersion: TLSV1_2, cipherSuites: [ECDHE-ECDSA-AES256-GCM-SHA384] }',
            hosts: ['httpbin.example.com'],
          },
          {
            port: 80,
            name: 'http',
            protocol: 'HTTP',
            tls: '{ httpsRedirect: true }',
            hosts: ['httpbin.example.com'],
          },
        ],
        { istio: 'ingressgateway' },
      ),
      virtualServiceYaml(
        'httpbin',
        ['httpbin.example.com'],
        ['mygateway'],
        [
          'http:',
          '- match: [{ uri: { prefix: /status } }, { uri: { prefix: /delay } }, { uri: { prefix: /headers } }]',
          '  route: [{ destination: { host: httpbin, port: { number: 8000 } } }]',
        ],
      ),
      virtualServiceYaml(
        'helloworld',
        ['helloworld.example.com'],
        ['mygateway'],
        ['http:', '- route: [{ destination: { host: helloworld, port: { number: 5000 } } }]'],
      ),
      localServiceEntryYaml('httpbin', { number: 8000, name: 'http', protocol: 'HTTP' }, httpbin.port),
      localServiceEntryYaml('helloworld', { number: 5000, name: 'http', protocol: 'HTTP' }, hello.port),
    );
    gw = await startGateway(yaml, { credentialsDir: creds, listenerFilterTimeoutMs: 500 });
    port = gw.port(443);
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([httpbin?.close(), hello?.close()]);
    pki?.close();
    removeCredentialsDir(creds);
  });

  it('answers 418 to curl --resolve --cacert through the SIMPLE server', async () => {
    const r = await runCommand('curl', [
      '-sS',
      ...curlResolveArgs('httpbin.example.com', port, pki.caFile),
      '-w',
      '\n%{http_code}',
      `https://httpbin.example.com:${port}/status/418`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('teapot');
    expect(r.stdout.trim().endsWith('418')).toBe(true);
    const log = await recordWhere(gw, (x) => x.responseCode === 418);
    expect(log.requestedServerName).toBe('httpbin.example.com');
    expect(log.upstreamCluster).toBe('outbound|8000||httpbin.default.svc.cluster.local');
    expect(gw.gateway.stats.get('listener.0.0.0.0_443.ssl.handshake')).toBeGreaterThanOrEqual(1);
  });

  it('serves the second host on the same port with its own certificate and route table', async () => {
    const a = await httpsGet(port, 'httpbin.example.com', '/headers', {
      ca: pki.ca,
      headers: { 'x-forwarded-client-cert': 'forged' },
    });
    expect(a.peer.subject.CN).toBe('httpbin.example.com');
    expect(a.peer.subject.O).toBe('httpbin organization');
    const seen = (JSON.parse(a.body) as { headers: Record<string, string> }).headers;
    expect(seen['X-Forwarded-Proto']).toBe('https');
    // SANITIZE_SET: a client-supplied XFCC never reaches the upstream.
    expect(seen['X-Forwarded-Client-Cert']).toBeUndefined();
    const b = await httpsGet(port, 'helloworld.example.com', '/hello', { ca: pki.ca });
    expect(b.status).toBe(200);
    expect(b.headers['x-upstream']).toBe('helloworld');
    expect(b.peer.subject.CN).toBe('helloworld.example.com');
    const s = await opensslSClient(port, 'helloworld.example.com', pki.caFile);
    expect(s.stdout).toMatch(/subject=CN ?= ?helloworld\.example\.com/);
    expect(s.stdout).toContain('Verify return code: 0 (ok)');
    // SNI picks the httpbin server; its route table has no helloworld host: 404 NR.
    const c = await httpsGet(port, 'httpbin.example.com', '/hello', {
      ca: pki.ca,
      host: 'helloworld.example.com',
    });
    expect(c.status).toBe(404);
    expect((await recordWhere(gw, (x) => x.path === '/hello' && x.responseCode === 404)).responseFlags).toBe(
      'NR',
    );
  });

  it('resets connections without SNI or with an unknown SNI (filter_chain_not_found)', async () => {
    const before = gw.gateway.stats.get('listener.0.0.0.0_443.no_filter_chain_match');
    const noSni = await runCommand('curl', ['-sS', '-k', `https://127.0.0.1:${port}/status/418`]);
    expect(noSni.code).not.toBe(0);
    const log = await recordWhere(gw, (x) => x.responseCodeDetails === 'filter_chain_not_found');
    expect([log.responseFlags, log.responseCodeDetails, log.protocol]).toEqual([
      'NR',
      'filter_chain_not_found',
      '-',
    ]);
    const unknown = await handshake(port, { servername: 'nope.example.com', ca: pki.ca });
    expect(unknown.ok).toBe(false);
    expect(gw.gateway.stats.get('listener.0.0.0.0_443.no_filter_chain_match')).toBe(before + 2);
    expect((await httpsGet(port, 'httpbin.example.com', '/status/200', { ca: pki.ca })).status).toBe(200);
  });

  it('redirects plain HTTP to https with 301 (httpsRedirect)', async () => {
    const r = await httpGet(gw.port(80), '/status/418', { host: 'httpbin.example.com' });
    expect(r.status).toBe(301);
    expect(r.headers['location']).toBe('https://httpbin.example.com/status/418');
  });

  it('honours minProtocolVersion, maxProtocolVersion and cipherSuites', async () => {
    const p13 = gw.port(8443);
    const old = await handshake(p13, {
      servername: 'httpbin.example.com',
      ca: pki.ca,
      maxVersion: 'TLSv1.2',
    });
    expect(old.ok).toBe(false);
    const curl12 = await runCommand('curl', [
      '-sS',
      '--tls-max',
      '1.2',
      ...curlResolveArgs('httpbin.example.com', p13, pki.caFile),
      `https://httpbin.example.com:${p13}/status/200`,
    ]);
    expect(curl12.code).not.toBe(0);
    const ok13 = await httpsGet(p13, 'httpbin.example.com', '/status/200', { ca: pki.ca });
    expect([ok13.status, ok13.protocol]).toEqual([200, 'TLSv1.3']);

    const p12 = gw.port(9443);
    const r = await httpsGet(p12, 'httpbin.example.com', '/status/200', { ca: pki.ca });
    expect([r.status, r.protocol, r.cipher]).toEqual([200, 'TLSv1.2', 'ECDHE-ECDSA-AES256-GCM-SHA384']);
    const other = await handshake(p12, {
      servername: 'httpbin.example.com',
      ca: pki.ca,
      ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    });
    expect(other.ok).toBe(false);
    expect(gw.gateway.stats.get('listener.0.0.0.0_9443.ssl.connection_error')).toBeGreaterThanOrEqual(1);
  });

  it('closes plain HTTP sent to the TLS port, counted, and keeps serving', async () => {
    const before = gw.gateway.stats.get('tls_inspector.tls_not_found');
    const out = await rawExchange(
      port,
      'GET /status/418 HTTP/1.1\r\nhost: httpbin.example.com\r\n\r\n',
    ).catch(() => 'reset');
    expect(['', 'reset']).toContain(out);
    expect(gw.gateway.stats.get('tls_inspector.tls_not_found')).toBe(before + 1);
    expect((await httpsGet(port, 'httpbin.example.com', '/status/418', { ca: pki.ca })).status).toBe(418);
  });

  it('rotates the certificate for new handshakes without dropping an open connection', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await httpsGet(port, 'httpbin.example.com', '/status/200', { ca: pki.ca, agent });
      const reloaded = nextReload(join(creds, 'httpbin-credential', 'tls.crt'));
      writeCredential(
        creds,
        'httpbin-credential',
        pki.issue('httpbin-2', { cn: 'httpbin.example.com', org: 'rotated', dns: ['httpbin.example.com'] }),
      );
      expect((await reloaded).generation).toBeGreaterThanOrEqual(2);
      // The kept-alive connection still answers with the session it negotiated.
      const again = await httpsGet(port, 'httpbin.example.com', '/status/200', { ca: pki.ca, agent });
      expect(again.status).toBe(200);
      expect(again.peer.fingerprint256).toBe(first.peer.fingerprint256);
      const fresh = await httpsGet(port, 'httpbin.example.com', '/status/200', { ca: pki.ca });
      expect(fresh.peer.subject.O).toBe('rotated');
    } finally {
      agent.destroy();
    }
  });
  it('keeps TLS chains and open connections across a config reload; the route table follows', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await httpsGet(port, 'helloworld.example.com', '/hello', { ca: pki.ca, agent });
      expect(before.headers['x-upstream']).toBe('helloworld');
      const handshakes = gw.gateway.stats.get('listener.0.0.0.0_443.ssl.handshake');
      // Same servers and certificates; the helloworld route now sends /hello to httpbin's /status/203.
      const next = yaml.replace(
        '  - route: [{ destination: { host: helloworld, port: { number: 5000 } } }]',
        '  - match: [{ uri: { exact: /hello } }]\n    rewrite: { uri: /status/203 }\n    route: [{ destination: { host: httpbin, port: { number: 8000 } } }]',
      );
      expect(next).not.toBe(yaml);
      expect(await gw.reconfigure(next)).toBe(true);
      const after = await httpsGet(port, 'helloworld.example.com', '/hello', { ca: pki.ca, agent });
      expect(after.status).toBe(203);
      // Served on the kept-alive connection: no new handshake.
      expect(gw.gateway.stats.get('listener.0.0.0.0_443.ssl.handshake')).toBe(handshakes);
      expect(after.peer.fingerprint256).toBe(before.peer.fingerprint256);
    } finally {
      agent.destroy();
    }
  });
});

describe('TLS server terminated, then TCP (protocol TLS, SIMPLE)', () => {
  let pki: TestPki;
  let creds: string;
  let echo: RunningTcpEcho;
  let gw: TestGateway;

  beforeAll(async () => {
    pki = createTestPki();
    creds = makeCredentialsDir();
    writeCredential(
      creds,
      'echo-credential',
      pki.issue('echo', { cn: 'echo.example.com', dns: ['echo.example.com'] }),
    );
    echo = await startTcpEcho({ prefix: 'one' });
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('tls-gateway', [
          {
            port: 9000,
            name: 'tls',
            protocol: 'TLS',
            tls: '{ mode: SIMPLE, credentialName: echo-credential }',
            hosts: ['echo.example.com'],
          },
        ]),
        virtualServiceYaml(
          'echo',
          ['echo.example.com'],
          ['tls-gateway'],
          ['tcp:', '- route: [{ destination: { host: tcp-echo, port: { number: 9000 } } }]'],
        ),
        localServiceEntryYaml('tcp-echo', { number: 9000, name: 'tcp', protocol: 'TCP' }, echo.port),
      ),
      { credentialsDir: creds },
    );
  });

  afterAll(async () => {
    await gw?.close();
    await echo?.close();
    pki?.close();
    removeCredentialsDir(creds);
  });

  it('terminates TLS with the server certificate and proxies the plaintext, half-close included', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const s = tls.connect(
        { port: gw.port(9000), host: '127.0.0.1', servername: 'echo.example.com', ca: pki.ca },
        () => s.end('hi\nthere'),
      );
      let data = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (data += c));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    expect(out).toBe('one hi\none there\n');
    const log = await recordWhere(
      gw,
      (x) => x.upstreamCluster === 'outbound|9000||tcp-echo.default.svc.cluster.local',
    );
    expect([log.requestedServerName, log.routeName, log.responseFlags]).toEqual([
      'echo.example.com',
      'default/echo.tcp.0',
      '-',
    ]);
  });
});

describe('HTTPS server for hosts "*" (no SNI constraint)', () => {
  let pki: TestPki;
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    pki = createTestPki();
    const cert = pki.issue('any', { cn: 'any.example.com', dns: ['any.example.com'] });
    up = await startUpstream('any');
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('any-gateway', [
          {
            port: 443,
            name: 'https',
            protocol: 'HTTPS',
            tls: `{ mode: SIMPLE, serverCertificate: ${cert.certFile}, privateKey: ${cert.keyFile} }`,
            hosts: ['*'],
          },
        ]),
        virtualServiceYaml(
          'any',
          ['*'],
          ['any-gateway'],
          ['http:', '- route: [{ destination: { host: any, port: { number: 80 } } }]'],
        ),
        localServiceEntryYaml('any', { number: 80, name: 'http', protocol: 'HTTP' }, up.port),
      ),
    );
  });

  afterAll(async () => {
    await gw?.close();
    await up?.close();
    pki?.close();
  });

  it('serves clients without SNI, and fails the handshake of plain HTTP (ssl.connection_error)', async () => {
    const port = gw.port(443);
    const r = await runCommand('curl', ['-sS', '-k', ...CURL_STATUS_ONLY, `https://127.0.0.1:${port}/x`]);
    expect(r.stdout).toBe('200');
    const plain = await rawExchange(port, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n').catch(() => 'reset');
    expect(plain).not.toMatch(/^HTTP\//);
    expect(gw.gateway.stats.get('tls_inspector.tls_not_found')).toBe(1);
    expect(gw.gateway.stats.get('listener.0.0.0.0_443.ssl.connection_error')).toBe(1);
  });
});
