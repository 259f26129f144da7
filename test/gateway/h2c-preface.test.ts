/**
 * The plaintext preface sniffer on real sockets: a client that never sends its first bytes is closed
 * after the first-bytes timeout (node's own timeouts do not watch a connection before it is handed
 * over), one that half-closes before sending a byte is closed at once; one that sends a request line is handed to the HTTP/1 handler with its bytes intact.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { sniffPreface } from '../../gateway/http/h2c-preface.js';

describe('sniffPreface', () => {
  let server: net.Server | undefined;
  afterEach(() => server?.close());

  /** @param accepted receives each accepted socket. */
  async function listen(
    timeoutMs: number,
    onH1: (s: net.Socket) => void,
    accepted: (s: net.Socket) => void = () => undefined,
  ): Promise<number> {
    // Half-open allowed, as node:http's server does.
    server = net.createServer({ allowHalfOpen: true }, (socket) => {
      accepted(socket);
      sniffPreface(socket, onH1, (s) => s.destroy(), timeoutMs);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as AddressInfo).port;
  }

  it('closes a connection that sends nothing within the first-bytes timeout', async () => {
    const port = await listen(50, () => undefined);
    const client = net.connect(port, '127.0.0.1');
    client.on('data', () => undefined);
    await once(client, 'close');
    expect(client.bytesRead).toBe(0);
  });

  it('closes a connection whose client half-closes before sending a byte (no first-bytes timeout)', async () => {
    let serverSide: Promise<unknown> | undefined;
    let handed = false;
    const port = await listen(
      0,
      () => (handed = true),
      (s) => (serverSide = once(s, 'close')),
    );
    const client = net.connect(port, '127.0.0.1', () => client.end());
    client.on('data', () => undefined);
    await once(client, 'close');
    await serverSide;
    expect([client.bytesRead, handed]).toEqual([0, false]);
  });

  it('hands an HTTP/1 connection over with its first bytes, and stops the timer', async () => {
    const got: string[] = [];
    const port = await listen(50, (s) => {
      s.on('data', (b: Buffer) => {
        got.push(b.toString());
        if (got.join('').includes('\r\n\r\n')) s.end('done');
      });
    });
    const client = net.connect(port, '127.0.0.1');
    let reply = '';
    client.on('data', (b: Buffer) => (reply += b.toString()));
    client.write('GET / HTTP/1.1\r\n');
    // The rest arrives after the first-bytes timeout would have fired: the handed-over socket lives on.
    await new Promise<void>((r) => setTimeout(r, 120));
    client.write('host: x\r\n\r\n');
    await once(client, 'close');
    expect(got.join('')).toBe('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(reply).toBe('done');
  });
});
