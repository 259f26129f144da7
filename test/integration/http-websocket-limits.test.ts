/**
 * WebSocket upgrades under the cluster's traffic policy, and the tunnel's own limits:
 * - circuit breaking (DestinationRule `connectionPool`): an open WebSocket holds one of
 *   `http2MaxRequests` (the next upgrade gets 503 UO with `x-envoy-overloaded`) and one of
 *   `tcp.maxConnections` (the next waits in the pending queue, one more overflows 503 UO);
 * - outlier detection: upgrades that fail to connect (503 UF) count as 5xx for their endpoint, and
 *   `consecutive5xxErrors` of them eject it (then 503 UH);
 * - the connection idle timeout (`connectionPool.http.idleTimeout`, shortened here) closes an idle
 *   WebSocket, over HTTP/1.1 and over HTTP/2 extended CONNECT, with its bytes in the access log;
 * - a client that stops reading: the gateway stops reading the upstream (backpressure), the
 *   upstream's writes queue up on its side, and the gateway's own buffers stay small.
 */
import dc from 'node:diagnostics_channel';
import http from 'node:http';
import type http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { istioResourceYaml } from '../helpers/resources.js';
import {
  gatewayYaml,
  localServiceEntryYaml,
  recordWhere,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';
import { connectH2, echoManyH2, openH2WebSocket } from '../helpers/ws-frames.js';
import { closeWs as closed, openWs as open, type WsRefusal } from '../helpers/ws-client.js';
import { startWsUpstream, type WsUpstream } from '../helpers/ws-upstream.js';

const WS_PORT = { number: 8080, name: 'http', protocol: 'HTTP' } as const;
const cluster = (host: string) => `outbound|8080||${host}.default.svc.cluster.local`;

/** Bytes the flooding upstream sends to a client that does not read. */
const FLOOD_BYTES = 50 * 1024 * 1024;
const FLOOD_CHUNK = 1024 * 1024;

function destinationRule(host: string, policy: string[]): string {
  return istioResourceYaml('DestinationRule', host, [
    `host: ${host}`,
    'trafficPolicy:',
    ...policy.map((l) => `  ${l}`),
  ]);
}

/** The refusal of an upgrade that must be refused. */
function refusal(url: string): Promise<WsRefusal> {
  return open(url).then(
    () => {
      throw new Error('upgrade was not refused');
    },
    (e: WsRefusal) => e,
  );
}

function echoOnce(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (d) => resolve(String(d)));
    ws.send(text);
  });
}

/** Resolves once `read()` returns `want` (checked after each event-loop turn). */
async function until(read: () => number, want: number): Promise<void> {
  while (read() !== want) await new Promise((r) => setImmediate(r));
}

/** One upgrade the flooding workload served: its socket, and whether one of its writes returned false. */
interface FloodConnection {
  readonly socket: net.Socket;
  readonly sawFalse: boolean;
}

/**
 * An upgrade workload that answers `101` and then writes {@link FLOOD_BYTES} at once, whatever the
 * client reads; it hands each connection to the test (`next()`) for inspection.
 */
async function startFlood(): Promise<{
  port: number;
  next(): Promise<FloodConnection>;
  close(): Promise<void>;
}> {
  const all: net.Socket[] = [];
  const arrived: FloodConnection[] = [];
  const waiting: ((c: FloodConnection) => void)[] = [];
  const server = http.createServer();
  server.on('upgrade', (_req, sock: net.Socket) => {
    all.push(sock);
    sock.on('error', () => undefined);
    sock.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    const chunk = Buffer.alloc(FLOOD_CHUNK, 0x61);
    let sawFalse = false;
    for (let sent = 0; sent < FLOOD_BYTES; sent += FLOOD_CHUNK) if (!sock.write(chunk)) sawFalse = true;
    const c = { socket: sock, sawFalse };
    const w = waiting.shift();
    if (w) w(c);
    else arrived.push(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    next: () =>
      arrived.length > 0 ? Promise.resolve(arrived.shift()!) : new Promise((r) => waiting.push(r)),
    close: () =>
      new Promise<void>((r) => {
        // Upgraded sockets are not the server's to close: destroy the ones this workload kept.
        for (const sock of all) sock.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Waits until the gateway stopped reading from the upstream (`pipe()` paused its socket) and the
 * upstream's own queue stopped shrinking for 5 consecutive checks 20 ms apart.
 */
async function stalled(upstreamSide: net.Socket, gatewayUpstream: net.Socket): Promise<void> {
  await until(() => (gatewayUpstream.isPaused() ? 1 : 0), 1);
  let last = -1;
  let steady = 0;
  while (steady < 5) {
    await new Promise((r) => setTimeout(r, 20));
    const now = upstreamSide.writableLength;
    steady = now === last ? steady + 1 : 0;
    last = now;
  }
}

/** Collects the sockets node creates while `fn` runs (the gateway's own among them). */
async function withSockets<T>(fn: (sockets: net.Socket[]) => Promise<T>): Promise<T> {
  const sockets: net.Socket[] = [];
  const onSocket = (m: unknown) => sockets.push((m as { socket: net.Socket }).socket);
  dc.subscribe('net.client.socket', onSocket);
  dc.subscribe('net.server.socket', onSocket);
  try {
    return await fn(sockets);
  } finally {
    dc.unsubscribe('net.client.socket', onSocket);
    dc.unsubscribe('net.server.socket', onSocket);
  }
}

describe('WebSocket upgrades: circuit breaking, outlier detection, idle timeout, backpressure', () => {
  let a: WsUpstream;
  let flood: Awaited<ReturnType<typeof startFlood>>;
  let gw: TestGateway;
  let port: number;
  let deadPort: number;

  beforeAll(async () => {
    a = await startWsUpstream('a');
    flood = await startFlood();
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    deadPort = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('gw', [{ port: 80, name: 'http', protocol: 'HTTP', hosts: ['*'] }]),
        virtualServiceYaml(
          'vs',
          ['*'],
          ['gw'],
          [
            'http:',
            '- match: [{ uri: { prefix: /max-requests } }]',
            '  route: [{ destination: { host: ws-rq } }]',
            '- match: [{ uri: { prefix: /max-connections } }]',
            '  route: [{ destination: { host: ws-cx } }]',
            '- match: [{ uri: { prefix: /dead } }]',
            '  route: [{ destination: { host: ws-dead } }]',
            '- match: [{ uri: { prefix: /idle } }]',
            '  route: [{ destination: { host: ws-idle } }]',
            '- match: [{ uri: { prefix: /flood } }]',
            '  route: [{ destination: { host: ws-flood } }]',
          ],
        ),
        localServiceEntryYaml('ws-rq', WS_PORT, a.port),
        localServiceEntryYaml('ws-cx', WS_PORT, a.port),
        localServiceEntryYaml('ws-dead', WS_PORT, deadPort),
        localServiceEntryYaml('ws-idle', WS_PORT, a.port),
        localServiceEntryYaml('ws-flood', WS_PORT, flood.port),
        destinationRule('ws-rq', ['connectionPool: { http: { http2MaxRequests: 1 } }']),
        destinationRule('ws-cx', [
          'connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } }',
        ]),
        destinationRule('ws-dead', [
          'outlierDetection: { consecutive5xxErrors: 2, interval: 10s, baseEjectionTime: 60s, maxEjectionPercent: 100 }',
        ]),
        destinationRule('ws-idle', ['connectionPool: { http: { idleTimeout: 300ms } }']),
      ),
    );
    port = gw.port(80);
  });

  afterAll(async () => {
    await gw?.close();
    await a?.close();
    await flood?.close();
  });

  it('an open WebSocket holds one of http2MaxRequests: the next upgrade gets 503 UO until it closes', async () => {
    const first = await open(`ws://127.0.0.1:${port}/max-requests/1`);
    const over = await refusal(`ws://127.0.0.1:${port}/max-requests/2`);
    expect(over.status).toBe(503);
    expect(over.headers['x-envoy-overloaded']).toBe('true');
    const r = await recordWhere(gw, (x) => x.path === '/max-requests/2');
    expect(r.responseFlags).toBe('UO');
    expect(gw.gateway.stats.get(`cluster.${cluster('ws-rq')}.upstream_rq_pending_overflow`)).toBe(1);
    await closed(first);
    await until(() => gw.gateway.stats.get(`cluster.${cluster('ws-rq')}.upstream_cx_active`) ?? 0, 0);
    const again = await open(`ws://127.0.0.1:${port}/max-requests/3`);
    expect(await echoOnce(again, 'x')).toBe('a:x');
    await closed(again);
  });

  it('tcp.maxConnections: the next upgrade waits in the pending queue, one more overflows; the queued one opens when the first closes', async () => {
    const stats = gw.gateway.stats;
    const first = await open(`ws://127.0.0.1:${port}/max-connections/1`);
    const queued = open(`ws://127.0.0.1:${port}/max-connections/2`);
    await until(() => stats.get(`cluster.${cluster('ws-cx')}.upstream_rq_pending_active`) ?? 0, 1);
    const over = await refusal(`ws://127.0.0.1:${port}/max-connections/3`);
    expect(over.status).toBe(503);
    expect((await recordWhere(gw, (x) => x.path === '/max-connections/3')).responseFlags).toBe('UO');
    await closed(first);
    const second = await queued;
    expect(await echoOnce(second, 'q')).toBe('a:q');
    await closed(second);
  });

  it('upgrades that cannot connect (503 UF) count for outlier detection: two eject the endpoint (then 503 UH)', async () => {
    for (const n of [1, 2]) {
      expect((await refusal(`ws://127.0.0.1:${port}/dead/${n}`)).status).toBe(503);
      expect((await recordWhere(gw, (x) => x.path === `/dead/${n}`)).responseFlags).toBe('UF');
    }
    expect(
      gw.gateway.stats.get(`cluster.${cluster('ws-dead')}.outlier_detection.ejections_enforced_total`),
    ).toBe(1);
    const after = await refusal(`ws://127.0.0.1:${port}/dead/3`);
    expect(after.status).toBe(503);
    expect(after.body).toBe('no healthy upstream');
    expect((await recordWhere(gw, (x) => x.path === '/dead/3')).responseFlags).toBe('UH');
  });

  it('an idle WebSocket (HTTP/1.1) is closed after the idle timeout; its bytes are logged', async () => {
    const ws = await open(`ws://127.0.0.1:${port}/idle/h1`);
    const gone = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    expect(await echoOnce(ws, 'm0')).toBe('a:m0');
    // Closed by the gateway without a close frame: 1006.
    expect(await gone).toBe(1006);
    const r = await recordWhere(gw, (x) => x.path === '/idle/h1');
    expect(r.responseCode).toBe(101);
    // One masked client frame 'm0' (2 + 4 mask + 2) and one server frame 'a:m0' (2 + 4).
    expect(r.bytesReceived).toBe(8);
    expect(r.bytesSent).toBe(6);
  });

  it('an idle WebSocket over HTTP/2 extended CONNECT is closed after the idle timeout; its bytes are logged', async () => {
    const session: http2.ClientHttp2Session = await connectH2(`http://127.0.0.1:${port}`);
    try {
      const ws = await openH2WebSocket(session, '/idle/h2', 'x');
      const gone = new Promise<void>((resolve) => ws.stream.once('close', () => resolve()));
      ws.stream.on('error', () => undefined);
      expect(await echoManyH2(ws.stream, 1)).toEqual(['a:m0']);
      await gone;
      const r = await recordWhere(gw, (x) => x.path === '/idle/h2');
      expect(r.responseCode).toBe(200);
      expect(r.protocol).toBe('HTTP/2');
      expect(r.bytesReceived).toBe(8);
      expect(r.bytesSent).toBe(6);
    } finally {
      session.destroy();
    }
  });

  it('a client that stops reading: the upstream is paused (its writes queue), the gateway buffers little, the process lives', async () => {
    const client = net.connect(port, '127.0.0.1');
    await withSockets(async (sockets) => {
      await new Promise<void>((r) => client.once('connect', () => r()));
      client.write(
        'GET /flood HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n' +
          'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      // Reads the 101 head, keeps count of the body bytes that came with it, then stops reading.
      let received = 0;
      const head = await new Promise<string>((resolve) => {
        let got = '';
        const onData = (c: Buffer) => {
          got += c.toString('latin1');
          const end = got.indexOf('\r\n\r\n');
          if (end >= 0) {
            client.off('data', onData);
            client.pause();
            received = got.length - (end + 4);
            resolve(got.slice(0, end));
          }
        };
        client.on('data', onData);
      });
      expect(head).toMatch(/^HTTP\/1\.1 101 /);
      const upstream = await flood.next();
      expect(upstream.sawFalse).toBe(true);
      const gwDown = sockets.find((s) => s.remotePort === client.localPort)!;
      const gwUp = sockets.find((s) => s.localPort === upstream.socket.remotePort)!;
      expect(gwDown).toBeDefined();
      expect(gwUp).toBeDefined();
      await stalled(upstream.socket, gwUp);
      // Most of the 50 MB is still queued in the upstream process: the gateway did not take it.
      expect(upstream.socket.writableLength).toBeGreaterThan(FLOOD_BYTES / 2);
      // The gateway holds at most one readable high-water mark (16 KiB) plus one 64 KiB read on the
      // upstream side, and on the client side what pipe() writes before write() returns false: one
      // high-water mark plus one read. 256 KiB leaves room for the 101 head and rounding.
      expect(gwUp.readableLength + gwDown.writableLength).toBeLessThan(256 * 1024);
      // The client starts reading: every byte arrives.
      client.on('data', (c: Buffer) => (received += c.length));
      client.resume();
      await until(() => (received >= FLOOD_BYTES ? 1 : 0), 1);
      expect(received).toBe(FLOOD_BYTES);
    }).finally(() => client.destroy());
    const r = await recordWhere(gw, (x) => x.path === '/flood');
    expect(r.responseCode).toBe(101);
    expect(r.bytesSent).toBe(FLOOD_BYTES);
    expect(r.responseFlags).toBe('-');
  });

  it('over HTTP/2: an extended CONNECT stream that is not read pauses the upstream; every byte arrives once it is', async () => {
    const session = await connectH2(`http://127.0.0.1:${port}`);
    try {
      await withSockets(async (sockets) => {
        const ws = await openH2WebSocket(session, '/flood-h2', 'x');
        expect(ws.status).toBe(200);
        const upstream = await flood.next();
        expect(upstream.sawFalse).toBe(true);
        const gwUp = sockets.find((s) => s.localPort === upstream.socket.remotePort)!;
        expect(gwUp).toBeDefined();
        // The client's stream window (64 KiB) fills, the gateway's stream write() returns false,
        // pipe() pauses the upstream socket.
        await stalled(upstream.socket, gwUp);
        expect(upstream.socket.writableLength).toBeGreaterThan(FLOOD_BYTES / 2);
        expect(gwUp.readableLength).toBeLessThan(128 * 1024);
        let received = 0;
        ws.stream.on('data', (c: Buffer) => (received += c.length));
        await until(() => (received >= FLOOD_BYTES ? 1 : 0), 1);
        expect(received).toBe(FLOOD_BYTES);
        ws.stream.close();
      });
      const r = await recordWhere(gw, (x) => x.path === '/flood-h2');
      expect(r.responseCode).toBe(200);
      expect(r.protocol).toBe('HTTP/2');
      expect(r.bytesSent).toBe(FLOOD_BYTES);
    } finally {
      session.destroy();
    }
  });
});
