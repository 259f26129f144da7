/**
 * How the HTTP/2 downstream tells a client that left from a protocol violation: a connection reset
 * by the client is logged at debug and not counted; a SETTINGS flood is counted under
 * `http2.rx_messaging_error` and logged as a warning. Real sockets; the logger's lines are captured.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H2_PREFACE as PREFACE, h2Frame as frame } from '../../helpers/h2-frames.js';
import { HTTP2_STATS, Http2Downstream } from '../../../gateway/http/http2-downstream.js';
import { StatStore } from '../../../telemetry/stats.js';

/** A HEADERS frame (END_STREAM, END_HEADERS) for `GET http://a/`: HPACK indexed fields only. */
const GET_HEADERS = frame(1, 0x5, 1, Buffer.from([0x82, 0x86, 0x84, 0x01, 0x01, 0x61]));

describe('HTTP/2 downstream session errors', () => {
  const lines: { level: number; msg: string }[] = [];
  const stats = new StatStore();
  let h2: Http2Downstream;
  let server: net.Server;
  let port = 0;
  /** Resolves when the next session the server accepts has closed. */
  const nextSessionClosed = (): Promise<void> =>
    new Promise((resolve) => h2.server.once('session', (s) => s.once('close', () => resolve())));

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as never);
        done();
      },
    });
    // Every request gets a large body: the server is still writing when the client goes away.
    const respond = (_req: unknown, res: { end(b: Buffer): void }) => res.end(Buffer.alloc(4 << 20));
    h2 = new Http2Downstream(respond as never, stats, () => 'listener.test', pino({ level: 'debug' }, sink));
    server = net.createServer((socket) => h2.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('a client that resets its connection is no protocol error', async () => {
    const closed = nextSessionClosed();
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(Buffer.concat([PREFACE, frame(4, 0, 0), GET_HEADERS]));
    // The response has begun (more than the server's SETTINGS): then a TCP RST, not a FIN.
    await new Promise<void>((resolve) => {
      let n = 0;
      socket.on('data', (c: Buffer) => {
        n += c.length;
        if (n > 32_768) resolve();
      });
    });
    socket.resetAndDestroy();
    await closed;
    expect(stats.get(`listener.test.${HTTP2_STATS.protocolError}`)).toBe(0);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('a SETTINGS flood is one protocol error, counted and logged as a warning', async () => {
    const closed = nextSessionClosed();
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    // The client never reads the ACKs (paused): node fails the session once they pile up.
    socket.pause();
    socket.write(Buffer.concat([PREFACE, ...Array<Buffer>(20000).fill(frame(4, 0, 0))]));
    await closed;
    socket.destroy();
    expect(stats.get(`listener.test.${HTTP2_STATS.protocolError}`)).toBe(1);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      'HTTP/2 session closed on a protocol error or flood',
    ]);
  });
});
