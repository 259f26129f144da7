/**
 * Downstream connection limit per listener (Envoy's listener connection limit): past the limit an
 * accepted connection is closed at once and counted as `downstream_cx_overflow`; once a connection
 * closes, new ones are served again.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { HTTP_GATEWAY_GW, yamlDocuments } from '../helpers/resources.js';

const CONFIG = yamlDocuments(
  HTTP_GATEWAY_GW,
  `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ok }
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{ directResponse: { status: 200, body: { string: "ok" } } }]`,
);

/** A keep-alive connection that has had one request answered (so the gateway has accepted it). */
function servedConnection(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.endsWith('ok')) resolve(s);
    });
    s.on('error', reject);
  });
}

/** A new connection with one request: the socket once answered, or undefined when closed unanswered. */
function tryConnection(port: number): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.endsWith('ok')) resolve(s);
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve(undefined));
  });
}

describe('--max-connections-per-listener', () => {
  let gw: TestGateway;
  let port: number;
  let listener: string;

  beforeAll(async () => {
    gw = await startGateway(CONFIG, { maxConnectionsPerListener: 2 });
    port = gw.port(80);
    listener = gw.gateway.snapshot.listeners[0]!.name;
  });

  afterAll(async () => {
    await gw?.close();
  });

  it('closes connections past the limit, counts them, and serves again once one closes', async () => {
    const a = await servedConnection(port);
    const b = await servedConnection(port);
    expect(await tryConnection(port)).toBeUndefined();
    expect(gw.gateway.stats.get(`listener.${listener}.downstream_cx_overflow`)).toBe(1);
    const aClosed = new Promise((r) => a.once('close', r));
    a.destroy();
    await aClosed;
    // The gateway sees the close asynchronously: a refused try in between is counted too.
    let c: net.Socket | undefined;
    let refused = 1;
    while (!(c = await tryConnection(port))) refused++;
    expect(gw.gateway.stats.get(`listener.${listener}.downstream_cx_overflow`)).toBe(refused);
    c.destroy();
    b.destroy();
  });
});
