import { once } from 'node:events';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { parseClientHello } from '../../tls/client-hello.js';
import { peekClientHello, type PeekOutcome } from '../../tls/peek.js';
import { captureClientHello, nodeTlsClient, records } from './fixtures/hellos.js';

let server: net.Server;
let hello: Buffer;
const openSockets: net.Socket[] = [];

beforeAll(async () => {
  hello = await captureClientHello(nodeTlsClient({ servername: 'peek.example.com', ALPNProtocols: ['h2'] }));
  server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterEach(() => {
  for (const s of openSockets.splice(0)) s.destroy();
});

afterAll(async () => {
  server.close();
  await once(server, 'close');
});

/** A connected pair: `client` dials the test server, `accepted` is the server's side. */
async function socketPair(): Promise<{ client: net.Socket; accepted: net.Socket }> {
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.setNoDelay(true);
  await once(client, 'connect');
  const [sock] = await accepted;
  openSockets.push(client, sock);
  return { client, accepted: sock };
}

const TRACKED_EVENTS = ['data', 'end', 'close', 'error'] as const;

function listenerCounts(sock: net.Socket): Record<string, number> {
  return Object.fromEntries(TRACKED_EVENTS.map((e) => [e, sock.listenerCount(e)]));
}

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** Runs a peek and checks it leaves no listeners or timers behind. */
async function peek(sock: net.Socket, opts?: Parameters<typeof peekClientHello>[1]): Promise<PeekOutcome> {
  const before = listenerCounts(sock);
  const timersBefore = activeTimers();
  const pending = peekClientHello(sock, opts);
  if (!sock.destroyed) expect(sock.listenerCount('data')).toBe(before.data! + 1);
  const outcome = await pending;
  expect(listenerCounts(sock)).toEqual(before);
  expect(activeTimers()).toBeLessThanOrEqual(timersBefore);
  return outcome;
}

/** Resolves once `sock` has delivered `total` bytes to data listeners (counted by a listener of its own). */
function byteCounter(sock: net.Socket): { reached: (total: number) => Promise<void>; stop: () => void } {
  let received = 0;
  let waiter: { total: number; resolve: () => void } | undefined;
  const onData = (chunk: Buffer): void => {
    received += chunk.length;
    if (waiter !== undefined && received >= waiter.total) waiter.resolve();
  };
  sock.on('data', onData);
  return {
    reached: (total) =>
      received >= total ? Promise.resolve() : new Promise((resolve) => (waiter = { total, resolve })),
    stop: () => sock.off('data', onData),
  };
}

/** Collects everything the socket yields once resumed, until the peer ends. */
async function drain(sock: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  sock.resume();
  await once(sock, 'end');
  return Buffer.concat(chunks);
}

describe('peekClientHello', () => {
  it('returns the hello written in several small writes, with every byte in buffered', async () => {
    const { client, accepted } = await socketPair();
    const counter = byteCounter(accepted);
    const pending = peek(accepted);
    const cuts = [0, 1, 3, 5, 6, 9, 40, 100, hello.length];
    for (let i = 1; i < cuts.length; i++) {
      client.write(hello.subarray(cuts[i - 1], cuts[i]));
      await counter.reached(cuts[i]!);
    }
    const outcome = await pending;
    counter.stop();
    expect(accepted.listenerCount('data')).toBe(0);
    expect(outcome).toEqual({
      kind: 'hello',
      hello: {
        status: 'complete',
        serverName: 'peek.example.com',
        alpn: ['h2'],
        legacyVersion: 0x0303,
        supportedVersions: [0x0304, 0x0303],
        recordBytes: hello.length,
      },
      buffered: hello,
    });

    // The socket is left paused: bytes sent after the decision wait for the caller instead of being lost.
    expect(accepted.isPaused()).toBe(true);
    client.end('after the hello');
    expect((await drain(accepted)).toString()).toBe('after the hello');
  });

  it('returns bytes beyond the hello that arrived in the same read, and a multi-record hello', async () => {
    const { client, accepted } = await socketPair();
    const multiRecord = records(Buffer.from(hello.subarray(5)), [7, 50], 0x0303);
    const tail = Buffer.from([20, 3, 3, 0, 1, 1]);
    const pending = peek(accepted);
    client.write(Buffer.concat([multiRecord, tail]));
    const outcome = await pending;
    expect(outcome.kind).toBe('hello');
    if (outcome.kind !== 'hello') return;
    expect(outcome.hello.recordBytes).toBe(multiRecord.length);
    expect(outcome.buffered).toEqual(Buffer.concat([multiRecord, tail]));
  });

  it('reports plain HTTP as not-tls after reading it', async () => {
    const { client, accepted } = await socketPair();
    const pending = peek(accepted);
    client.write('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
    const outcome = await pending;
    expect(outcome.kind).toBe('not-tls');
    if (outcome.kind !== 'not-tls') return;
    expect(outcome.reason).toMatch(/first byte 0x47/);
    expect(outcome.buffered.toString()).toMatch(/^GET \//);
    expect(accepted.listenerCount('data')).toBe(0);
  });

  it('times out on a silent client', async () => {
    const { accepted } = await socketPair();
    const outcome = await peek(accepted, { timeoutMs: 100 });
    expect(outcome).toEqual({ kind: 'timeout', buffered: Buffer.alloc(0) });
    expect(accepted.listenerCount('data')).toBe(0);
  });

  it('times out with the partial hello buffered', async () => {
    const { client, accepted } = await socketPair();
    const counter = byteCounter(accepted);
    const pending = peek(accepted, { timeoutMs: 100 });
    client.write(hello.subarray(0, 20));
    await counter.reached(20);
    expect(await pending).toEqual({ kind: 'timeout', buffered: hello.subarray(0, 20) });
    counter.stop();
  });

  it.each([
    ['a small maxBytes', 1024, 3000],
    ['the default maxBytes', undefined, 40_000],
  ])('reports too-large past %s', async (_name, maxBytes, total) => {
    const { client, accepted } = await socketPair();
    // A ClientHello header declaring a 1 MiB body, then filler records: valid-looking, never complete.
    const message = Buffer.alloc(total);
    message.set([1, 0x10, 0x00, 0x00, 0x03, 0x03]);
    const framed = records(message, new Array<number>(Math.ceil(total / 16_384)).fill(16_384));
    expect(parseClientHello(framed).status).toBe('incomplete');
    const pending = peek(accepted, maxBytes === undefined ? {} : { maxBytes });
    client.write(framed);
    const outcome = await pending;
    expect(outcome.kind).toBe('too-large');
    expect(outcome.buffered.length).toBeGreaterThanOrEqual(maxBytes ?? 16_384);
    expect(framed.subarray(0, outcome.buffered.length)).toEqual(outcome.buffered);
    expect(accepted.listenerCount('data')).toBe(0);
  });

  it('accepts a hello of exactly maxBytes', async () => {
    const { client, accepted } = await socketPair();
    const pending = peek(accepted, { maxBytes: hello.length });
    client.write(Buffer.concat([hello, Buffer.from('more')]));
    expect((await pending).kind).toBe('hello');
  });

  it('reports closed when the client sends half a hello and ends', async () => {
    const { client, accepted } = await socketPair();
    const pending = peek(accepted);
    const half = hello.subarray(0, Math.floor(hello.length / 2));
    client.end(half);
    expect(await pending).toEqual({ kind: 'closed', buffered: half });
    expect(accepted.listenerCount('data')).toBe(0);
  });

  it('reports closed when the connection is reset mid-hello', async () => {
    const { client, accepted } = await socketPair();
    const counter = byteCounter(accepted);
    const pending = peek(accepted);
    client.write(hello.subarray(0, 30));
    await counter.reached(30);
    client.resetAndDestroy();
    expect(await pending).toEqual({ kind: 'closed', buffered: hello.subarray(0, 30) });
    counter.stop();
  });

  it('reports closed at once for a socket that is already destroyed', async () => {
    const { accepted } = await socketPair();
    accepted.destroy();
    expect(await peek(accepted)).toEqual({ kind: 'closed', buffered: Buffer.alloc(0) });
  });

  it('rejects nonsensical limits synchronously', async () => {
    const { accepted } = await socketPair();
    expect(() => peekClientHello(accepted, { maxBytes: 0 })).toThrow(RangeError);
    expect(() => peekClientHello(accepted, { timeoutMs: Number.NaN })).toThrow(RangeError);
    expect(accepted.listenerCount('data')).toBe(0);
  });
});
