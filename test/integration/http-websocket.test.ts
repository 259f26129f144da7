/**
 * WebSocket through the gateway (Istio's websockets sample: a VirtualService routing the upgrade
 * like any HTTP request): real `ws` clients over ws:// and wss://, real `ws` echo workloads. Route
 * match, rewrite, header operations, weights and fault aborts apply to the upgrade request; the
 * upstream's 101 comes back and messages are echoed; a refusing upstream's response is passed
 * through; other `Upgrade` tokens are refused 403 as Envoy's HCM does for Istio; `h2c` is served as
 * plain HTTP/1.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { rawExchange } from '../helpers/clients.js';
import type { TestGateway } from '../helpers/gateway.js';
import { recordWhere } from '../helpers/tls-gateway.js';
import { closeWs as closed, echoMany, openWs as open } from '../helpers/ws-client.js';
import { startWsGateway, type WsGateway } from '../helpers/ws-gateway.js';
import type { TestPki } from '../helpers/certs.js';
import type { WsUpstream } from '../helpers/ws-upstream.js';

describe('WebSocket through the gateway', () => {
  let b: WsUpstream;
  let gw: TestGateway;
  let pki: TestPki;
  let env: WsGateway;
  let port: number;
  let tlsPort: number;

  beforeAll(async () => {
    env = await startWsGateway();
    ({ b, gw, pki } = env);
    port = gw.port(80);
    tlsPort = gw.port(443);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('ws://: 1,000 messages echoed; the 101 and the bytes are in the access log', async () => {
    const ws = await open(`ws://127.0.0.1:${port}/echo`);
    const record = gw.nextRecord();
    const got = await echoMany(ws, 1000);
    expect(got).toHaveLength(1000);
    expect(got[0]).toBe('a:m0');
    expect(got[999]).toBe('a:m999');
    await closed(ws);
    const r = await record;
    expect(r.responseCode).toBe(101);
    expect(r.protocol).toBe('HTTP/1.1');
    expect(r.responseFlags).toBe('-');
    expect(r.upstreamCluster).toBe('outbound|8080||ws-a.default.svc.cluster.local');
    expect(r.bytesSent).toBeGreaterThan(1000 * 5);
    expect(r.bytesReceived).toBeGreaterThan(1000 * 6);
  });

  it('wss://: 1,000 messages echoed over TLS', async () => {
    const ws = await open(`wss://127.0.0.1:${tlsPort}/secure`, {
      ca: pki.ca,
      servername: 'ws.example.com',
      headers: { host: 'ws.example.com' },
    } as WebSocket.ClientOptions);
    const got = await echoMany(ws, 1000);
    expect(got[999]).toBe('a:m999');
    await closed(ws);
  });

  it('a route with a uri match, rewrite, header set and weights applies to the upgrade', async () => {
    const before = b.seen.length;
    const ws = await open(`ws://127.0.0.1:${port}/b-only/x?q=1`);
    const [echo] = await echoMany(ws, 1);
    expect(echo).toBe('b:m0');
    await closed(ws);
    const seen = b.seen[before]!;
    expect(seen.url).toBe('/rewritten/x?q=1');
    expect(seen.headers['x-route']).toBe('b-only');
    expect(seen.headers['x-envoy-original-path']).toBe('/b-only/x?q=1');
    expect(seen.headers.upgrade).toBe('websocket');

    // 50/50 over 40 upgrades: both destinations get some.
    const names = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const c = await open(`ws://127.0.0.1:${port}/split`);
      const [e] = await echoMany(c, 1);
      names.add(e!.split(':')[0]!);
      await closed(c);
    }
    expect([...names].sort()).toEqual(['a', 'b']);
  });

  it('the route timeout stops applying once upgraded (Envoy): a message 500 ms in, timeout 200 ms', async () => {
    const ws = await open(`ws://127.0.0.1:${port}/late`);
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.once('close', () => reject(new Error('closed before the message')));
    });
    expect(first).toBe('a:late');
    await closed(ws);
  });

  it('a fault abort answers before the upgrade; a refusing upstream is passed through', async () => {
    const aborted = await open(`ws://127.0.0.1:${port}/abort`).catch(
      (e: { status: number; body: string }) => e,
    );
    expect(aborted).toMatchObject({ status: 503, body: 'fault filter abort' });
    const refused = await open(`ws://127.0.0.1:${port}/refuse`).catch(
      (e: { status: number; body: string; headers: Record<string, string> }) => e,
    );
    expect(refused).toMatchObject({ status: 403, body: 'refused' });
    expect((refused as { headers: Record<string, string> }).headers['x-refused-by']).toBe('a');
    expect((refused as { headers: Record<string, string> }).headers.server).toBe('istio-envoy');
    const r = await recordWhere(gw, (x) => x.path === '/refuse');
    expect(r.responseCode).toBe(403);
    expect(r.responseCodeDetails).toBe('via_upstream');
  });

  it('Upgrade tokens other than websocket get 403 upgrade_failed; h2c is served as HTTP/1.1', async () => {
    const raw = await rawExchange(
      port,
      'GET /tls-upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: TLS/1.2\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 403 /);
    expect(raw.toLowerCase()).toContain('connection: close');
    const r = await recordWhere(gw, (x) => x.path === '/tls-upgrade');
    expect(r.responseCode).toBe(403);
    expect(r.responseCodeDetails).toBe('upgrade_failed');
    const h2c = await rawExchange(
      port,
      'GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
    );
    expect(h2c).toMatch(/^HTTP\/1\.1 200 /);
    expect(h2c).toContain('plain a -');
  });
});
