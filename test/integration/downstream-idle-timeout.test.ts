/**
 * The HTTP/1 downstream idle timeout as the gateway wires it (Envoy's HTTP connection manager
 * `idle_timeout`, 1 h by default): a keep-alive connection that has had its request answered and
 * then stays quiet is closed by the gateway, on a plaintext listener and on an HTTPS (SIMPLE) one,
 * and counted as `listener.<name>.downstream_cx_idle_timeout` (Envoy's stat).
 * The timeout is shortened through `GatewayOptions.downstreamIdleTimeoutMs`; without the listeners
 * passing it on, the connections would stay open for the default hour and these tests time out.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, writeCredential, type TestPki } from '../helpers/certs.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  gatewayYaml,
  httpAndSimpleHttpsServers,
  makeCredentialsDir,
  removeCredentialsDir,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';

const IDLE_MS = 300;
const REQUEST = 'GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n';

/**
 * Sends one keep-alive request on `socket` once it is connected, then waits for the gateway to
 * close the connection. Resolves with what was received and whether the close came from the other
 * side (an orderly FIN seen as 'end') rather than from an error.
 */
function answeredThenClosed(
  socket: net.Socket,
  connectEvent: string,
): Promise<{ text: string; ended: boolean }> {
  return new Promise((resolve, reject) => {
    let text = '';
    let ended = false;
    socket.once(connectEvent, () => socket.write(REQUEST));
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('end', () => (ended = true));
    socket.on('error', reject);
    socket.on('close', () => resolve({ text, ended }));
  });
}

describe('HTTP/1 downstream idle timeout (GatewayOptions.downstreamIdleTimeoutMs)', () => {
  let gw: TestGateway;
  let pki: TestPki;
  let creds: string;

  /** The idle-timeout counter of the listener of Gateway server port `port`. */
  const idleTimeouts = (port: number): number => {
    const listener = gw.gateway.snapshot.listeners.find((l) => l.port === port)!;
    return gw.gateway.stats.get(`listener.${listener.name}.downstream_cx_idle_timeout`);
  };

  beforeAll(async () => {
    pki = createTestPki();
    creds = makeCredentialsDir();
    writeCredential(creds, 'idle-cred', pki.issue('idle', { cn: 'a.example.com', dns: ['a.example.com'] }));
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('idle-gateway', httpAndSimpleHttpsServers('idle-cred', ['a.example.com'])),
        virtualServiceYaml(
          'ok',
          ['*'],
          ['idle-gateway'],
          ['http:', '- directResponse: { status: 200, body: { string: "ok" } }'],
        ),
      ),
      { credentialsDir: creds, downstreamIdleTimeoutMs: IDLE_MS },
    );
  });

  afterAll(async () => {
    await gw?.close();
    pki?.close();
    removeCredentialsDir(creds);
  });

  it('closes a quiet plaintext keep-alive connection after its request was answered', async () => {
    const socket = net.connect(gw.port(80), '127.0.0.1');
    const { text, ended } = await answeredThenClosed(socket, 'connect');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.endsWith('ok')).toBe(true);
    // Kept alive after the response: it was the idle timeout, not the response, that closed it.
    expect(text.toLowerCase()).not.toContain('connection: close');
    expect(ended).toBe(true);
    expect(idleTimeouts(80)).toBe(1);
  });

  it('closes a quiet HTTPS (HTTP/1.1 over TLS) keep-alive connection after its request was answered', async () => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: gw.port(443),
      servername: 'a.example.com',
      ca: pki.ca,
      ALPNProtocols: ['http/1.1'],
    });
    const { text, ended } = await answeredThenClosed(socket, 'secureConnect');
    expect(socket.alpnProtocol).toBe('http/1.1');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.endsWith('ok')).toBe(true);
    expect(text.toLowerCase()).not.toContain('connection: close');
    expect(ended).toBe(true);
    expect(idleTimeouts(443)).toBe(1);
  });
});
