/**
 * TLS PASSTHROUGH (Istio's ingress SNI-passthrough task) and the TLS inspector's handling of bad
 * input: the client must see the upstream's own certificate; unknown or missing SNI, plain HTTP,
 * random bytes, truncated or oversized ClientHellos and silent clients are each closed and counted
 * while the gateway keeps serving others. Real openssl s_client, curl and node:tls clients.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx } from '../../samples/https/workloads.js';
import type { RunningServer } from '../../samples/common/http-util.js';
import { parseClientHello } from '../../tls/client-hello.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  curlResolveArgs,
  gatewayYaml,
  istioResourceYaml,
  localServiceEntryYaml,
  opensslSClient,
  recordWhere,
  runCommand,
  virtualServiceYaml,
  yamlDocuments,
  type GatewayServer,
} from '../helpers/tls-gateway.js';

/** The listener filter (ClientHello) deadline given to the gateway, ms. */
const FILTER_TIMEOUT_MS = 200;

/** An HTTPS server on Gateway port 443 that passes TLS through, unterminated, for `hosts`. */
function passthroughServer(hosts: string[]): GatewayServer {
  return { port: 443, name: 'https', protocol: 'HTTPS', tls: '{ mode: PASSTHROUGH }', hosts };
}

/** Sends `bytes` (optionally half-closing), resolves with what came back and how the connection ended. */
function sendRaw(
  port: number,
  bytes: Buffer | string,
  end: boolean,
): Promise<{ data: string; how: 'closed' | 'reset'; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      if (bytes.length > 0) s.write(bytes);
      if (end) s.end();
    });
    let data = '';
    let how: 'closed' | 'reset' = 'closed';
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    s.on('error', () => (how = 'reset'));
    s.on('close', () => resolve({ data, how, ms: performance.now() - t0 }));
  });
}

/** A ClientHello as node:tls sends it for `servername`, captured off a plain TCP server. */
async function captureHello(servername: string): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise<Buffer>((resolve) => {
      server.once('connection', (sock) => {
        let buf = Buffer.alloc(0);
        sock.on('data', (c: Buffer) => {
          buf = Buffer.concat([buf, c]);
          if (parseClientHello(buf).status === 'complete') {
            sock.destroy();
            resolve(buf);
          }
        });
      });
      const c = tls.connect({ port, host: '127.0.0.1', servername });
      c.on('error', () => undefined);
    });
  } finally {
    server.close();
  }
}

/** The peer certificate's subject through the gateway, or the error. */
function peerSubject(
  port: number,
  servername: string | undefined,
  ca: string,
): Promise<tls.PeerCertificate['subject'] | { error: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername, ca }, () => {
      resolve(s.getPeerCertificate().subject);
      s.destroy();
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

describe('TLS PASSTHROUGH by SNI', () => {
  let pki: TestPki;
  let nginx: RunningServer;
  let appV1: RunningServer;
  let appV2: RunningServer;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    pki = createTestPki();
    const n = pki.issue('nginx', {
      cn: 'nginx.example.com',
      org: 'some organization',
      dns: ['nginx.example.com'],
    });
    const a1 = pki.issue('app-v1', { cn: 'apps', org: 'v1', dns: ['*.apps.example.com'] });
    const a2 = pki.issue('app-v2', { cn: 'apps', org: 'v2', dns: ['*.apps.example.com'] });
    nginx = await startNginx({ cert: n.cert, key: n.key });
    appV1 = await startNginx({ cert: a1.cert, key: a1.key });
    appV2 = await startNginx({ cert: a2.cert, key: a2.key });
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('mygateway', [passthroughServer(['nginx.example.com', '*.apps.example.com'])]),
        virtualServiceYaml(
          'nginx',
          ['nginx.example.com'],
          ['mygateway'],
          [
            'tls:',
            '- match: [{ port: 443, sniHosts: [nginx.example.com] }]',
            '  route: [{ destination: { host: my-nginx, port: { number: 443 } } }]',
          ],
        ),
        virtualServiceYaml(
          'apps',
          ['*.apps.example.com'],
          ['mygateway'],
          [
            'tls:',
            '- match: [{ sniHosts: ["*.apps.example.com"] }]',
            '  route:',
            '  - { destination: { host: apps, subset: v1, port: { number: 443 } }, weight: 50 }',
            '  - { destination: { host: apps, subset: v2, port: { number: 443 } }, weight: 50 }',
          ],
        ),
        istioResourceYaml('DestinationRule', 'apps', [
          'host: apps',
          'subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]',
        ]),
        localServiceEntryYaml('my-nginx', { number: 443, name: 'https', protocol: 'TLS' }, nginx.port),
        localServiceEntryYaml('apps', { number: 443, name: 'https', protocol: 'TLS' }, [
          { port: appV1.port, labels: { version: 'v1' } },
          { port: appV2.port, labels: { version: 'v2' } },
        ]),
      ),
      { listenerFilterTimeoutMs: FILTER_TIMEOUT_MS },
    );
    port = gw.port(443);
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([nginx?.close(), appV1?.close(), appV2?.close()]);
    pki?.close();
  });

  const good = async () => {
    const s = await peerSubject(port, 'nginx.example.com', pki.ca);
    expect(s).toMatchObject({ CN: 'nginx.example.com' });
  };

  it("shows openssl s_client the upstream's own certificate (the gateway does not terminate)", async () => {
    const r = await opensslSClient(port, 'nginx.example.com', pki.caFile);
    expect(r.stdout).toMatch(/subject=CN ?= ?nginx\.example\.com, ?O ?= ?some organization/);
    expect(r.stdout).toContain('Verify return code: 0 (ok)');
    const log = await recordWhere(gw, (x) => x.requestedServerName === 'nginx.example.com');
    expect(log.requestedServerName).toBe('nginx.example.com');
    expect(log.upstreamCluster).toBe('outbound|443||my-nginx.default.svc.cluster.local');
    expect(log.upstreamHost).toBe(`127.0.0.1:${nginx.port}`);
    expect(log.responseFlags).toBe('-');
    expect(log.bytesReceived).toBeGreaterThan(200);
    const page = await runCommand('curl', [
      '-sS',
      ...curlResolveArgs('nginx.example.com', port, pki.caFile),
      `https://nginx.example.com:${port}/`,
    ]);
    expect(page.stdout).toContain('Welcome to nginx!');
  });

  it('resets an unknown SNI and a missing SNI (NR filter_chain_not_found)', async () => {
    const r = await opensslSClient(port, 'unknown.example.com', pki.caFile);
    expect(r.stdout).not.toMatch(/subject=/);
    const log = await recordWhere(gw, (x) => x.requestedServerName === 'unknown.example.com');
    expect([log.responseFlags, log.responseCodeDetails, log.requestedServerName]).toEqual([
      'NR',
      'filter_chain_not_found',
      'unknown.example.com',
    ]);
    expect(await peerSubject(port, undefined, pki.ca)).toHaveProperty('error');
    expect(gw.gateway.stats.get('listener.0.0.0.0_443.no_filter_chain_match')).toBe(2);
    expect(gw.gateway.stats.get('tls_inspector.sni_not_found')).toBeGreaterThanOrEqual(1);
    await good();
  });

  it('picks the wildcard chain and splits its weighted destinations per connection', async () => {
    const orgs = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const s = await peerSubject(port, `x${i}.apps.example.com`, pki.ca);
      if ('error' in s) throw new Error(String(s.error));
      const org = String(s.O);
      orgs.set(org, (orgs.get(org) ?? 0) + 1);
    }
    expect([...orgs.keys()].sort()).toEqual(['v1', 'v2']);
    expect(gw.gateway.stats.get('tcp.apps.default.downstream_cx_total')).toBe(40);
  });

  it('closes plain HTTP and random bytes (tls_not_found) and keeps serving', async () => {
    const stats = gw.gateway.stats;
    const before = stats.get('tls_inspector.tls_not_found');
    const http = await sendRaw(port, 'GET / HTTP/1.1\r\nhost: nginx.example.com\r\n\r\n', false);
    expect(http.data).toBe('');
    // Deterministic "random" bytes; the first is not a handshake record type.
    const junk = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 131 + 7) % 256));
    junk[0] = 0x9d;
    const garbage = await sendRaw(port, junk, false);
    expect(garbage.data).toBe('');
    expect(stats.get('tls_inspector.tls_not_found')).toBe(before + 2);
    await good();
  });

  it('resets a truncated ClientHello at the deadline, closes it when the client gives up, and keeps serving', async () => {
    const hello = await captureHello('nginx.example.com');
    const stats = gw.gateway.stats;
    const timeouts = () => stats.get('listener.0.0.0.0_443.downstream_pre_cx_timeout');
    const closedEarly = () => stats.get('tls_inspector.connection_closed');
    const [timeoutsBefore, closedBefore] = [timeouts(), closedEarly()];
    const half = hello.subarray(0, Math.floor(hello.length / 2));
    const pending = sendRaw(port, half, false);
    await good(); // served while the truncated one waits
    const r = await pending;
    expect(r).toMatchObject({ data: '', how: 'reset' });
    // Reset by the listener filter deadline (200 ms; a lower bound only), nothing else.
    expect(r.ms).toBeGreaterThanOrEqual(FILTER_TIMEOUT_MS - 1);
    expect([timeouts(), closedEarly()]).toEqual([timeoutsBefore + 1, closedBefore]);
    const log = await recordWhere(
      gw,
      (x) => x.responseCodeDetails === 'listener_filter_timeout' && x.bytesReceived === half.length,
    );
    expect(log.durationMs).toBeGreaterThanOrEqual(FILTER_TIMEOUT_MS - 1);
    // A client that half-closes with half a hello is closed at once: no deadline involved.
    const quit = await sendRaw(port, half, true);
    expect(quit).toMatchObject({ data: '', how: 'closed' });
    expect([timeouts(), closedEarly()]).toEqual([timeoutsBefore + 1, closedBefore + 1]);
  });

  it('resets a silent client at the deadline (200 ms) while others are served', async () => {
    const stats = gw.gateway.stats;
    const before = stats.get('listener.0.0.0.0_443.downstream_pre_cx_timeout');
    const silent = sendRaw(port, '', false);
    await good();
    const r = await silent;
    expect(r).toMatchObject({ data: '', how: 'reset' });
    expect(r.ms).toBeGreaterThanOrEqual(FILTER_TIMEOUT_MS - 1);
    expect(stats.get('listener.0.0.0.0_443.downstream_pre_cx_timeout')).toBe(before + 1);
    const log = await recordWhere(
      gw,
      (x) => x.responseCodeDetails === 'listener_filter_timeout' && x.bytesReceived === 0,
    );
    expect([log.responseFlags, log.bytesReceived]).toEqual(['-', 0]);
    expect(log.durationMs).toBeGreaterThanOrEqual(FILTER_TIMEOUT_MS - 1);
  });

  it('resets a ClientHello larger than 16 KiB (client_hello_too_large)', async () => {
    // A handshake record announcing a 32 KiB ClientHello, then 16 KiB of it.
    const header = Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x80, 0x00]);
    const big = Buffer.concat([header, Buffer.alloc(16_384)]);
    const r = await sendRaw(port, big, false);
    expect(r.data).toBe('');
    expect(gw.gateway.stats.get('tls_inspector.client_hello_too_large')).toBe(1);
    await good();
  });
});

describe('PASSTHROUGH port without routes', () => {
  it('is not bound (Istio omits the listener), with a warning', async () => {
    const gw = await startGateway(
      yamlDocuments(
        gatewayYaml('mygateway', [
          passthroughServer(['nginx.example.com']),
          { port: 80, name: 'http', protocol: 'HTTP', hosts: ['*'] },
        ]),
      ),
    );
    try {
      expect(gw.gateway.snapshot.listeners.map((l) => l.name)).toEqual(['0.0.0.0_80']);
      expect(gw.gateway.snapshot.diagnostics.some((d) => d.code === 'MG0301')).toBe(true);
    } finally {
      await gw.close();
    }
  });
});
