/**
 * The HTTP/1 downstream idle timeout (Envoy HCM `idle_timeout`): a keep-alive connection with no
 * request in flight is closed after the timeout; one with a request in flight is not, however long
 * the response takes; an upgraded connection is left to its tunnel. And the gateway's responses no
 * longer carry node's `Keep-Alive: timeout=…` header (Envoy sends none).
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionDrain } from '../../gateway/connection-drain.js';
import { watchDownstreamIdle } from '../../gateway/http/downstream-idle.js';
import { createUpgradeHandler } from '../../gateway/http/upgrade.js';
import {
  bookinfoGateway,
  httpVirtualService,
  staticServiceEntry,
  yamlDocuments,
} from '../helpers/bookinfo-config.js';
import { rawExchange } from '../helpers/clients.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const IDLE_MS = 40;

/**
 * A node:http server whose connections are watched as the gateway's are; `hold` delays answers.
 * `timeouts()`: connections the watch closed (its `onTimeout` calls).
 */
async function watchedServer(
  holdMs: number,
): Promise<{ server: http.Server; port: number; timeouts: () => number }> {
  const drain = new ConnectionDrain();
  let timeouts = 0;
  const onTimeout = (): void => void timeouts++;
  const server = http.createServer({ keepAliveTimeout: 0 }, (_req, res) => {
    drain.onResponse(res);
    setTimeout(() => res.end('ok'), holdMs);
  });
  server.on('connection', (socket: net.Socket) => watchDownstreamIdle(socket, IDLE_MS, onTimeout));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, timeouts: () => timeouts };
}

/** Sends one keep-alive request; resolves with the response text and a promise of the close. */
function request(port: number): Promise<{ response: string; socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let text = '';
    socket.setEncoding('latin1').on('data', (c: string) => {
      text += c;
      if (text.endsWith('ok')) resolve({ response: text, socket, closed });
    });
    socket.on('error', reject);
  });
}

describe('HTTP/1 downstream idle timeout', () => {
  let server: http.Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
    server = undefined;
  });

  it('closes a keep-alive connection that stays without a request', async () => {
    const s = await watchedServer(0);
    server = s.server;
    const r = await request(s.port);
    expect(r.response).toMatch(/^HTTP\/1\.1 200 /);
    expect(s.timeouts()).toBe(0);
    await r.closed;
    expect(s.timeouts()).toBe(1);
  });

  it('keeps a connection whose request is in flight longer than the timeout, then closes it idle', async () => {
    const s = await watchedServer(IDLE_MS * 5);
    server = s.server;
    // The answer comes on the same connection after five idle periods without a byte either way
    // (closed meanwhile, the request would never resolve); then the connection is closed idle.
    const r = await request(s.port);
    expect(r.response).toMatch(/^HTTP\/1\.1 200 [\s\S]*ok$/);
    expect(s.timeouts()).toBe(0);
    await r.closed;
    expect(s.timeouts()).toBe(1);
  });

  it('stops watching a connection the upgrade adapter hands to a tunnel', async () => {
    const drain = new ConnectionDrain();
    const srv = http.createServer({ keepAliveTimeout: 0 }, (_req, res) => {
      drain.onResponse(res);
      res.end('ok');
    });
    srv.on('connection', (socket: net.Socket) => watchDownstreamIdle(socket, IDLE_MS));
    // The gateway's own upgrade adapter, which hands the socket to the tunnel.
    const upgraded: Promise<net.Socket> = new Promise((resolve) =>
      srv.on(
        'upgrade',
        createUpgradeHandler((_req, _res, upgrade) => {
          const socket = upgrade.socket as net.Socket;
          socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: test\r\nconnection: upgrade\r\n\r\n');
          resolve(socket);
        }),
      ),
    );
    server = srv;
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    const client = net.connect(port, '127.0.0.1', () =>
      client.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n'),
    );
    const serverSide = await upgraded;
    // A plain keep-alive connection opened after the upgrade is closed idle: the upgraded one, watched
    // longer, would have been closed by then had the adapter not stopped its watch.
    const plain = await request(port);
    await plain.closed;
    expect(serverSide.destroyed).toBe(false);
    const echoed = new Promise<string>((resolve) =>
      serverSide.once('data', (c: Buffer) => resolve(String(c))),
    );
    client.write('ping');
    expect(await echoed).toBe('ping');
    client.destroy();
  });
});

describe('gateway HTTP/1 responses', () => {
  let gw: TestGateway | undefined;
  let up: TestUpstream | undefined;
  afterEach(async () => {
    await gw?.close();
    await up?.close();
  });

  it('carry no Keep-Alive header and keep the connection open', async () => {
    up = await startUpstream('productpage');
    gw = await startGateway(
      yamlDocuments(
        bookinfoGateway(80),
        httpVirtualService({
          name: 'bookinfo',
          hosts: ['*'],
          gateways: ['bookinfo-gateway'],
          http: '  - route: [{ destination: { host: productpage } }]',
        }),
        staticServiceEntry('productpage', [{ port: up.port }]),
      ),
    );
    const text = await rawExchange(
      gw.port(80),
      'GET /productpage HTTP/1.1\r\nhost: x\r\n\r\nGET /productpage HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    const heads = text.split('\r\n\r\n').filter((p) => p.startsWith('HTTP/1.1'));
    expect(heads).toHaveLength(2);
    expect(heads[0]).toMatch(/^HTTP\/1\.1 200 /);
    expect(heads[0]!.toLowerCase()).not.toContain('keep-alive: timeout');
  });
});
