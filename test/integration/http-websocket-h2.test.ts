/**
 * WebSocket over HTTP/2 (RFC 8441 extended CONNECT) through the gateway: a node:http2 client opens
 * `:method CONNECT` + `:protocol websocket` streams over h2c and over TLS (ALPN h2) and speaks
 * WebSocket frames to real `ws` echo workloads, which receive an HTTP/1.1 `Upgrade: websocket` (with a
 * generated `Sec-WebSocket-Key`). The route table applies as for an HTTP/1.1 upgrade (uri match,
 * rewrite, header set, weights, fault abort before the upgrade); a refusing upstream's status and body
 * are passed through on the stream; the access log has the stream as HTTP/2 with code 200. A plain
 * CONNECT and other `:protocol` values get 403 `upgrade_failed` on their stream, as Envoy's HCM does
 * without a CONNECT upgrade config, and the session goes on.
 */
import type http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPki } from '../helpers/certs.js';
import type { TestGateway } from '../helpers/gateway.js';
import { recordWhere } from '../helpers/tls-gateway.js';
import { connectH2, echoManyH2, openH2WebSocket } from '../helpers/ws-frames.js';
import { startWsGateway, type WsGateway } from '../helpers/ws-gateway.js';
import type { WsUpstream } from '../helpers/ws-upstream.js';

function closeStream(stream: http2.ClientHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    stream.once('close', () => resolve());
    stream.end();
  });
}

function closeSession(s: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

describe('WebSocket over HTTP/2 (extended CONNECT)', () => {
  let a: WsUpstream;
  let b: WsUpstream;
  let gw: TestGateway;
  let pki: TestPki;
  let env: WsGateway;
  let h2c: http2.ClientHttp2Session;

  beforeAll(async () => {
    env = await startWsGateway();
    ({ a, b, gw, pki } = env);
    h2c = await connectH2(`http://127.0.0.1:${gw.port(80)}`);
  });

  afterAll(async () => {
    if (h2c) await closeSession(h2c);
    await env?.close();
  });

  it('h2c: the server advertises ENABLE_CONNECT_PROTOCOL; 1,000 messages echoed; HTTP/2 200 in the access log', async () => {
    expect(h2c.remoteSettings.enableConnectProtocol).toBe(true);
    const before = a.seen.length;
    const ws = await openH2WebSocket(h2c, '/echo', 'chat.example.com');
    expect(ws.status).toBe(200);
    expect(ws.headers.upgrade).toBeUndefined();
    expect(ws.headers['sec-websocket-accept']).toBeUndefined();
    expect(ws.headers.server).toBe('istio-envoy');
    const got = await echoManyH2(ws.stream, 1000);
    expect(got[0]).toBe('a:m0');
    expect(got[999]).toBe('a:m999');
    await closeStream(ws.stream);
    const seen = a.seen[before]!;
    expect(seen.url).toBe('/echo');
    expect(seen.headers.upgrade).toBe('websocket');
    expect(seen.headers.connection?.toLowerCase()).toBe('upgrade');
    expect(seen.headers['sec-websocket-key']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(seen.headers['sec-websocket-version']).toBe('13');
    expect(seen.headers.host).toBe('chat.example.com');
    const r = await recordWhere(gw, (x) => x.path === '/echo' && x.protocol === 'HTTP/2');
    expect(r.method).toBe('GET');
    expect(r.responseCode).toBe(200);
    expect(r.responseFlags).toBe('-');
    expect(r.upstreamCluster).toBe('outbound|8080||ws-a.default.svc.cluster.local');
    // 1,000 masked client frames of 2–4 payload bytes (6 + payload each), 1,000 server frames of 4–6.
    expect(r.bytesReceived).toBeGreaterThanOrEqual(1000 * 8);
    expect(r.bytesSent).toBeGreaterThanOrEqual(1000 * 6);
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('TLS (ALPN h2): 1,000 messages echoed', async () => {
    const session = await connectH2(`https://127.0.0.1:${gw.port(443)}`, {
      ca: pki.ca,
      servername: 'ws.example.com',
    });
    try {
      expect(session.alpnProtocol).toBe('h2');
      const ws = await openH2WebSocket(session, '/secure', 'ws.example.com');
      expect(ws.status).toBe(200);
      const got = await echoManyH2(ws.stream, 1000);
      expect(got[999]).toBe('a:m999');
      await closeStream(ws.stream);
      const r = await recordWhere(gw, (x) => x.path === '/secure');
      expect(r.protocol).toBe('HTTP/2');
      expect(r.responseCode).toBe(200);
    } finally {
      await closeSession(session);
    }
  });

  it('uri match, rewrite, request and response header sets and weights apply to the CONNECT stream', async () => {
    const before = b.seen.length;
    const ws = await openH2WebSocket(h2c, '/b-only/x?q=1', 'chat.example.com', {
      'sec-websocket-protocol': 'chat',
    });
    expect(ws.status).toBe(200);
    expect(ws.headers['x-resp']).toBe('b');
    const [echo] = await echoManyH2(ws.stream, 1);
    expect(echo).toBe('b:m0');
    await closeStream(ws.stream);
    const seen = b.seen[before]!;
    expect(seen.url).toBe('/rewritten/x?q=1');
    expect(seen.headers['x-route']).toBe('b-only');
    expect(seen.headers['x-envoy-original-path']).toBe('/b-only/x?q=1');
    expect(seen.headers['sec-websocket-protocol']).toBe('chat');

    // 50/50 over 40 streams on one session: both destinations get some.
    const names = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const c = await openH2WebSocket(h2c, '/split', 'chat.example.com');
      const [e] = await echoManyH2(c.stream, 1);
      names.add(e!.split(':')[0]!);
      await closeStream(c.stream);
    }
    expect([...names].sort()).toEqual(['a', 'b']);
  });

  it('a fault abort answers before the upgrade; a refusing upstream (403) is passed through', async () => {
    const before = a.seen.length;
    const aborted = await openH2WebSocket(h2c, '/abort', 'chat.example.com');
    expect(aborted.status).toBe(503);
    expect(await aborted.body()).toBe('fault filter abort');
    expect(a.seen.length).toBe(before);

    const refused = await openH2WebSocket(h2c, '/refuse', 'chat.example.com');
    expect(refused.status).toBe(403);
    expect(refused.headers['x-refused-by']).toBe('a');
    expect(refused.headers.server).toBe('istio-envoy');
    expect(await refused.body()).toBe('refused');
    // A chunked refusal: its chunks are the HTTP/2 body, and the stream ends with the last one.
    const chunked = await openH2WebSocket(h2c, '/refuse-chunked', 'chat.example.com');
    expect(chunked.status).toBe(429);
    expect(chunked.headers['transfer-encoding']).toBeUndefined();
    expect(await chunked.body()).toBe('refused again');
    const r = await recordWhere(gw, (x) => x.path === '/refuse' && x.protocol === 'HTTP/2');
    expect(r.responseCode).toBe(403);
    expect(r.responseCodeDetails).toBe('via_upstream');
    expect(r.bytesSent).toBe(7);
    const f = await recordWhere(gw, (x) => x.path === '/abort' && x.protocol === 'HTTP/2');
    expect(f.responseCode).toBe(503);
    expect(f.responseFlags).toBe('FI');
  });

  it('a plain CONNECT and other :protocol values get 403 upgrade_failed on their stream; the session goes on', async () => {
    const plain = await new Promise<number>((resolve, reject) => {
      const st = h2c.request(
        { ':method': 'CONNECT', ':authority': 'chat.example.com:443' },
        { endStream: false },
      );
      st.once('response', (h) => {
        resolve(Number(h[':status']));
        st.close();
      });
      st.once('error', reject);
    });
    expect(plain).toBe(403);
    const other = await openH2WebSocket(h2c, '/other', 'chat.example.com', {}, 'connect-udp');
    expect(other.status).toBe(403);
    await other.body();
    const r = await recordWhere(gw, (x) => x.path === '/other');
    expect(r.responseCodeDetails).toBe('upgrade_failed');
    const p = await recordWhere(gw, (x) => x.method === 'CONNECT');
    expect(p.responseCode).toBe(403);
    expect(p.responseCodeDetails).toBe('upgrade_failed');
    // The same session still carries WebSockets.
    const ws = await openH2WebSocket(h2c, '/after', 'chat.example.com');
    const [echo] = await echoManyH2(ws.stream, 1);
    expect(echo).toBe('a:m0');
    await closeStream(ws.stream);
  });
});
