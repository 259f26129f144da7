import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpEcho, type RunningTcpEcho } from '../../samples/tcp-echo/tcp-echo-server.js';

/** Connects, sends `chunks` one write each, half-closes, and resolves with everything read until the server's end. */
async function exchange(
  port: number,
  chunks: readonly string[],
): Promise<{ received: string; closed: boolean }> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  let received = '';
  socket.on('data', (d: string) => (received += d));
  for (const c of chunks) socket.write(c);
  socket.end();
  await once(socket, 'end');
  await once(socket, 'close');
  return { received, closed: socket.destroyed };
}

/** Reads from `socket` until `expected` has arrived. */
function readUntil(socket: net.Socket, expected: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got.includes(expected)) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

describe('tcp-echo server', () => {
  let one: RunningTcpEcho;
  let two: RunningTcpEcho;
  beforeAll(async () => {
    one = await startTcpEcho({ prefix: 'one' });
    two = await startTcpEcho({ prefix: 'two' });
  });
  afterAll(async () => {
    await Promise.all([one.close(), two.close()]);
  });

  it('echoes each line with its prefix and closes after the client half-closes (echo hello | nc -q1)', async () => {
    expect(await exchange(one.port, ['hello\n'])).toEqual({ received: 'one hello\n', closed: true });
    expect(await exchange(two.port, ['hello\nworld\n'])).toEqual({
      received: 'two hello\ntwo world\n',
      closed: true,
    });
  });

  it('reassembles lines split across writes, drops CR of CRLF, answers a last unterminated line', async () => {
    const { received } = await exchange(one.port, ['hel', 'lo\r\nwor', 'ld']);
    expect(received).toBe('one hello\none world\n');
  });

  it('answers nothing and closes for an empty connection', async () => {
    expect(await exchange(one.port, [])).toEqual({ received: '', closed: true });
  });

  it('keeps an interactive connection open line after line', async () => {
    const socket = net.connect({ port: two.port, host: '127.0.0.1' });
    await once(socket, 'connect');
    socket.write('first\n');
    expect(await readUntil(socket, '\n')).toBe('two first\n');
    socket.write('second\n');
    expect(await readUntil(socket, '\n')).toBe('two second\n');
    socket.end();
    await once(socket, 'close');
  });

  it('close() drops open connections', async () => {
    const server = await startTcpEcho({ prefix: 'x' });
    const socket = net.connect({ port: server.port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    socket.write('ping\n');
    await readUntil(socket, 'x ping\n');
    const closed = once(socket, 'close');
    await server.close();
    await closed;
  });
});
