/**
 * `resolution: DNS` with `--dns-server`: answers cached for their TTL, re-resolved after it, new
 * connections follow the new address; a name the server does not know fails 503 UF. Plus the
 * resolver on its own (system resolver, `net.connect` lookup contract).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsCache, parseDnsServer } from '../../upstream/dns.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { dnsServerOption, startTestDns, type RunningDnsServer } from '../helpers/dns.js';
import { curl } from '../helpers/clients.js';

/** An HTTP server that names itself and closes every connection (so each request resolves again). */
async function standIn(host: string, name: string, port = 0): Promise<http.Server> {
  const s = http.createServer((_req, res) => {
    res.writeHead(200, { connection: 'close', 'x-stand-in': name });
    res.end(name);
  });
  await new Promise<void>((r) => s.listen(port, host, r));
  return s;
}

describe('resolution: DNS through --dns-server', () => {
  let dns: RunningDnsServer;
  let a: http.Server;
  let b: http.Server;
  let gw: TestGateway;

  let now = Date.now();

  beforeAll(async () => {
    a = await standIn('127.0.0.61', 'a');
    const port = (a.address() as AddressInfo).port;
    b = await standIn('127.0.0.62', 'b', port);
    dns = await startTestDns({ 'ttl.example': ['127.0.0.61'] }, 1);
    gw = await startGateway(
      `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ttl }
spec:
  hosts: [ttl.example, nx.example]
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${port} }]
  resolution: DNS
  location: MESH_EXTERNAL
`,
      { meshPort: 0, dnsServer: dnsServerOption(dns), dnsClock: () => now },
    );
  });

  afterAll(async () => {
    await gw?.close();
    for (const s of [a, b]) {
      s?.closeAllConnections();
      s?.close();
    }
    await dns?.close();
  });

  const get = (host: string) =>
    curl(['-x', `http://127.0.0.1:${gw.meshPort()}`, '-s', '-w', ' %{http_code}', `http://${host}/`]);

  it('caches an answer for its TTL (1 s) and follows the new address after it', async () => {
    expect(await get('ttl.example')).toBe('a 200');
    expect(await get('ttl.example')).toBe('a 200');
    expect(dns.queries.filter((q) => q === 'ttl.example A')).toHaveLength(1);
    dns.set('ttl.example', ['127.0.0.62']);
    expect(await get('ttl.example')).toBe('a 200');
    now += 1001; // past the 1 s TTL, on the cache's injected clock
    expect(await get('ttl.example')).toBe('b 200');
    expect(dns.queries.filter((q) => q === 'ttl.example A')).toHaveLength(2);
  });

  it('a name the DNS server does not know: 503 UF (connection failure)', async () => {
    const rec = gw.nextRecord();
    const out = await get('nx.example');
    expect(out).toBe(
      'upstream connect error or disconnect/reset before headers. reset reason: connection failure 503',
    );
    expect((await rec).responseFlags).toMatch(/^UF/);
  });
});

describe('DnsCache', () => {
  it('resolves with the system resolver and serves net.connect lookups (single and all)', async () => {
    const cache = new DnsCache();
    expect(cache.source).toBe('system');
    const one = await new Promise<string>((resolve, reject) =>
      cache.lookup('localhost', {}, (err, address) => (err ? reject(err) : resolve(address as string))),
    );
    expect(['127.0.0.1', '::1']).toContain(one);
    const all = await new Promise<unknown>((resolve, reject) =>
      cache.lookup('localhost', { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
    );
    expect(Array.isArray(all)).toBe(true);
    expect(cache.queries).toBe(1);
    expect(await cache.resolve('10.1.2.3')).toEqual({ address: '10.1.2.3', family: 4 });
  });

  it('coalesces concurrent look-ups and rotates over several addresses', async () => {
    const dns = await startTestDns({ 'multi.example': ['127.0.0.63', '127.0.0.64'] });
    try {
      const cache = new DnsCache({ server: dnsServerOption(dns) });
      const got = await Promise.all([1, 2, 3, 4].map(() => cache.resolve('multi.example')));
      expect(new Set(got.map((g) => g.address))).toEqual(new Set(['127.0.0.63', '127.0.0.64']));
      expect(dns.queries.filter((q) => q === 'multi.example A')).toHaveLength(1);
      await expect(cache.resolve('missing.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    } finally {
      await dns.close();
    }
  });

  it('parses --dns-server', () => {
    expect(parseDnsServer('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseDnsServer('[::1]:53')).toEqual({ host: '::1', port: 53 });
    expect(parseDnsServer('10.0.0.2')).toEqual({ host: '10.0.0.2', port: 53 });
    expect(() => parseDnsServer('dns.example:53')).toThrow(/--dns-server/);
  });
});
