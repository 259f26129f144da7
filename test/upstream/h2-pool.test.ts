/**
 * The HTTP/2 upstream pool (upstream/h2-pool.ts) against a real node:http2 server on loopback:
 * streams multiplexed on one session, the DestinationRule and peer stream limits,
 * `maxRequestsPerConnection`, `maxConnections` (requests wait for a stream), GOAWAY with and
 * without an error, connect failures (refused, timeout, TLS name) and session failures as the
 * router classifies them, REFUSED_STREAM sent again, abort as RST_STREAM CANCEL, response flow
 * control, streamed request bodies, trailers, 1xx heads, idle timeout, close/destroy, ALPN h2 with
 * SNI over TLS.
 */
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyUpstreamError } from '../../gateway/local-reply.js';
import { H2Pool, type H2PoolOptions } from '../../upstream/h2-pool.js';
import { MirrorBudget } from '../../upstream/mirror-budget.js';
import { compileOriginationTls } from '../../upstream/tls-origination.js';
import { createTestPki } from '../helpers/certs.js';
import { Collector } from '../helpers/dispatch-collector.js';

const { NGHTTP2_CANCEL, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

/** A node:http2 upstream that counts sessions and open streams and can hold `/hold` requests. */
interface Upstream {
  readonly port: number;
  readonly sessions: http2.ServerHttp2Session[];
  /** Most streams open at once on one session. */
  maxOpen(): number;
  /** Streams open per session, in session order. */
  openPerSession(): number[];
  /** Resolves once `n` `/hold` requests are held. */
  held(n: number): Promise<void>;
  /** Answers the held requests (200, body `ok`, trailer `grpc-status: 0`). */
  release(): void;
  /** Resolves with the RST code of the next held stream that closes. */
  nextHeldClose(): Promise<number>;
  close(): Promise<void>;
}

type Handle = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

async function startUpstream(
  opts: { settings?: http2.Settings; tls?: { cert: string; key: string }; handle?: Handle } = {},
): Promise<Upstream> {
  const server = opts.tls
    ? http2.createSecureServer({ cert: opts.tls.cert, key: opts.tls.key, settings: opts.settings })
    : http2.createServer({ settings: opts.settings });
  const sessions: http2.ServerHttp2Session[] = [];
  const open = new Map<http2.ServerHttp2Session, number>();
  let maxOpen = 0;
  let holding: http2.ServerHttp2Stream[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  let closeWaiter: ((code: number) => void) | undefined;
  const answer = (s: http2.ServerHttp2Stream): void => {
    if (s.destroyed) return;
    s.respond({ ':status': 200 }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end('ok');
  };
  server.on('session', (session) => {
    sessions.push(session);
    open.set(session, 0);
  });
  server.on('stream', (stream, headers) => {
    const session = stream.session as http2.ServerHttp2Session;
    open.set(session, open.get(session)! + 1);
    maxOpen = Math.max(maxOpen, open.get(session)!);
    stream.on('close', () => open.set(session, open.get(session)! - 1));
    stream.on('error', () => undefined);
    if (opts.handle) return opts.handle(stream, headers);
    stream.resume();
    if (headers[':path'] !== '/hold') return answer(stream);
    holding.push(stream);
    stream.on('close', () => closeWaiter?.(stream.rstCode ?? -1));
    if (waiter && holding.length >= waiter.n) waiter.resolve();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    maxOpen: () => maxOpen,
    openPerSession: () => sessions.map((s) => open.get(s) ?? 0),
    held: (n) =>
      holding.length >= n ? Promise.resolve() : new Promise((resolve) => (waiter = { n, resolve })),
    release() {
      const all = holding;
      holding = [];
      for (const s of all) answer(s);
    },
    nextHeldClose: () => new Promise((resolve) => (closeWaiter = resolve)),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

const POOL_DEFAULTS: Omit<H2PoolOptions, 'port'> = {
  host: '127.0.0.1',
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  maxRequestsPerConnection: 0,
  maxConcurrentStreams: 0,
};

function send(
  pool: H2Pool,
  path: string,
  extra: Partial<Dispatcher.DispatchOptions> = {},
  handler = new Collector(),
): Collector {
  pool.dispatch(
    {
      path,
      method: 'POST',
      headers: ['host', 'up.example.com', 'content-type', 'application/grpc', 'te', 'trailers'],
      body: null,
      ...extra,
    },
    handler,
  );
  return handler;
}

describe('H2Pool', () => {
  let up: Upstream | undefined;
  let pool: H2Pool | undefined;

  afterEach(async () => {
    await pool?.destroy();
    await up?.close();
    pool = undefined;
    up = undefined;
  });

  it('multiplexes concurrent requests on one session; trailers reach onComplete', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const calls = Array.from({ length: 8 }, () => send(pool!, '/hold'));
    await up.held(8);
    expect([up.sessions.length, up.maxOpen()]).toEqual([1, 8]);
    expect(pool.stats).toEqual({ connected: 1, free: 1, pending: 0, running: 8 });
    up.release();
    const done = await Promise.all(calls.map((c) => c.done));
    for (const o of done) {
      expect([o.status, o.body, o.trailers, o.error]).toEqual([200, 'ok', ['grpc-status', '0'], undefined]);
    }
  });

  it('maxConcurrentStreams 2: 6 concurrent requests take 3 sessions with 2 streams each', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port, maxConcurrentStreams: 2 });
    const calls = Array.from({ length: 6 }, () => send(pool!, '/hold'));
    await up.held(6);
    expect(up.openPerSession()).toEqual([2, 2, 2]);
    up.release();
    expect((await Promise.all(calls.map((c) => c.done))).map((o) => o.status)).toEqual([
      200, 200, 200, 200, 200, 200,
    ]);
  });

  it("the peer's SETTINGS_MAX_CONCURRENT_STREAMS: a connected session takes no more than it allows", async () => {
    up = await startUpstream({ settings: { maxConcurrentStreams: 2 } });
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const first = send(pool, '/hold');
    await up.held(1);
    const more = [send(pool, '/hold'), send(pool, '/hold'), send(pool, '/hold')];
    await up.held(4);
    expect(up.openPerSession()).toEqual([2, 2]);
    up.release();
    for (const o of await Promise.all([first, ...more].map((c) => c.done))) expect(o.status).toBe(200);
  });

  it('maxConnections 1 with the peer allowing 2 streams: requests past them wait for a stream, no 2nd session', async () => {
    up = await startUpstream({ settings: { maxConcurrentStreams: 2 } });
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port, maxConnections: 1 });
    const first = send(pool, '/hold');
    await up.held(1);
    const more = [send(pool, '/hold'), send(pool, '/a'), send(pool, '/b')];
    await up.held(2);
    expect(pool.stats).toEqual({ connected: 1, free: 0, pending: 2, running: 2 });
    up.release();
    const done = await Promise.all([first, ...more].map((c) => c.done));
    expect(done.map((o) => [o.status, o.error])).toEqual(Array.from({ length: 4 }, () => [200, undefined]));
    expect([up.sessions.length, up.maxOpen()]).toEqual([1, 2]);
  });

  it('maxConnections 1 with a spent session: the next request waits until it closes, then opens one', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port, maxConnections: 1, maxRequestsPerConnection: 1 });
    const first = send(pool, '/hold');
    await up.held(1);
    const second = send(pool, '/x');
    expect(pool.stats.pending).toBe(1);
    expect(up.sessions.length).toBe(1);
    up.release();
    expect([(await first.done).status, (await second.done).status]).toEqual([200, 200]);
    expect(up.sessions.length).toBe(2);
    expect(pool.stats.connected).toBe(1);
  });

  it('close() fails the requests still waiting under maxConnections', async () => {
    up = await startUpstream({ settings: { maxConcurrentStreams: 1 } });
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port, maxConnections: 1 });
    const first = send(pool, '/hold');
    await up.held(1);
    const waiting = send(pool, '/x');
    const closed = pool.close();
    expect((await waiting.done).error?.code).toBe('UND_ERR_CLOSED');
    up.release();
    expect((await first.done).status).toBe(200);
    await closed;
  });

  it('maxRequestsPerConnection 2: 5 sequential requests use 3 sessions; spent ones are closed', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port, maxRequestsPerConnection: 2 });
    for (let i = 0; i < 5; i++) expect((await send(pool, '/x').done).status).toBe(200);
    expect(up.sessions.length).toBe(3);
    expect(up.sessions.map((s) => s.closed || s.destroyed)).toEqual([true, true, false]);
  });

  it('GOAWAY NO_ERROR: streams in flight finish, the next request opens a new session', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const inFlight = [send(pool, '/hold'), send(pool, '/hold')];
    await up.held(2);
    const goaway = new Promise((r) => pool!['sessions'][0]!.session.once('goaway', r));
    up.sessions[0]!.close();
    await goaway;
    const after = await send(pool, '/after').done;
    expect([after.status, up.sessions.length]).toEqual([200, 2]);
    up.release();
    for (const o of await Promise.all(inFlight.map((c) => c.done)))
      expect([o.status, o.body]).toEqual([200, 'ok']);
  });

  it('GOAWAY with an error code fails the streams in flight as a connection reset (UND_ERR_SOCKET)', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const inFlight = [send(pool, '/hold'), send(pool, '/hold')];
    await up.held(2);
    up.sessions[0]!.goaway(NGHTTP2_PROTOCOL_ERROR);
    for (const o of await Promise.all(inFlight.map((c) => c.done))) {
      expect(o.error?.code).toBe('UND_ERR_SOCKET');
      expect(classifyUpstreamError(o.error)).toBe('reset');
    }
    expect((await send(pool, '/after').done).status).toBe(200);
  });

  it('the upstream dropping the connection mid-stream is a reset; a refused connection a connect failure', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const call = send(pool, '/hold');
    await up.held(1);
    up.sessions[0]!.destroy();
    const o = await call.done;
    expect([o.error?.code, classifyUpstreamError(o.error)]).toEqual(['UND_ERR_SOCKET', 'reset']);

    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refusedPool = new H2Pool({ ...POOL_DEFAULTS, port });
    const refused = await Promise.all([send(refusedPool, '/a').done, send(refusedPool, '/b').done]);
    for (const r of refused) {
      expect([r.error?.code, classifyUpstreamError(r.error)]).toEqual(['ECONNREFUSED', 'connect-failure']);
    }
    await refusedPool.destroy();
  });

  it('a TLS handshake that never completes fails after connectTimeout as a connect failure', async () => {
    const silent = net.createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const tlsSettings = compileOriginationTls({ mode: 'SIMPLE', insecureSkipVerify: true }, '/').tls!;
    const silentPool = new H2Pool({
      ...POOL_DEFAULTS,
      port: (silent.address() as AddressInfo).port,
      connectTimeoutMs: 100,
      tls: tlsSettings,
    });
    try {
      const o = await send(silentPool, '/slow').done;
      expect([o.error?.code, classifyUpstreamError(o.error)]).toEqual([
        'UND_ERR_CONNECT_TIMEOUT',
        'connect-failure',
      ]);
    } finally {
      await silentPool.destroy();
      silent.close();
    }
  });

  it('REFUSED_STREAM: a request with a replayable body is sent once more; a streamed one fails', async () => {
    let streams = 0;
    up = await startUpstream({
      handle(stream) {
        streams++;
        // Every other stream is refused (as one past a GOAWAY's last stream id would be).
        if (streams % 2 === 1) return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        stream.respond({ ':status': 200 });
        stream.end('second');
      },
    });
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const o = await send(pool, '/r', { body: Buffer.from('x') }).done;
    expect([o.status, o.body, streams]).toEqual([200, 'second', 2]);
    const body = new PassThrough();
    const streamed = send(pool, '/r', { body });
    body.end('x');
    const failed = await streamed.done;
    expect([failed.error?.code, streams]).toEqual(['ERR_HTTP2_STREAM_ERROR', 3]);
  });

  it('abort resets the stream with CANCEL and reports the reason to onError', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const call = send(pool, '/hold');
    await up.held(1);
    const rst = up.nextHeldClose();
    const reason = new Error('client went away');
    call.abort!(reason);
    expect(await rst).toBe(NGHTTP2_CANCEL);
    expect((await call.done).error).toBe(reason);
    // The session stays up for the next request.
    expect((await send(pool, '/next').done).status).toBe(200);
    expect(up.sessions.length).toBe(1);
  });

  it('onData returning false pauses the stream (the upstream is held back) until resume', async () => {
    const size = 4 * 1024 * 1024;
    let blocked: () => void = () => undefined;
    const upstreamBlocked = new Promise<void>((r) => (blocked = r));
    up = await startUpstream({
      handle(stream) {
        stream.respond({ ':status': 200 });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let sent = 0;
        const write = (): void => {
          while (sent < size) {
            sent += chunk.length;
            if (!stream.write(chunk)) {
              blocked();
              stream.once('drain', write);
              return;
            }
          }
          stream.end();
        };
        write();
      },
    });
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const h = new Collector();
    h.pauseOnFirstData = true;
    send(pool, '/big', { method: 'GET' }, h);
    await h.firstChunk();
    await upstreamBlocked;
    expect(h.chunks).toBe(1);
    h.resume!();
    const o = await h.done;
    expect([o.status, o.body.length, o.error]).toEqual([200, size, undefined]);
  });

  it('a streamed request body goes upstream whole (backpressure by pipe)', async () => {
    up = await startUpstream({
      handle(stream) {
        let n = 0;
        stream.on('data', (c: Buffer) => (n += c.length));
        stream.on('end', () => {
          stream.respond({ ':status': 200 });
          stream.end(String(n));
        });
      },
    });
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const body = new PassThrough();
    const call = send(pool, '/upload', { body });
    for (let i = 0; i < 32; i++) body.write(Buffer.alloc(64 * 1024, i));
    body.end();
    expect((await call.done).body).toBe(String(32 * 64 * 1024));
    const buffered = await send(pool, '/upload', { body: Buffer.from('hello') }).done;
    expect(buffered.body).toBe('5');
  });

  it('1xx heads reach onHeaders before the final head; request head carries :authority from host', async () => {
    let seen: http2.IncomingHttpHeaders | undefined;
    up = await startUpstream({
      handle(stream, headers) {
        seen = headers;
        stream.additionalHeaders({ ':status': 103, link: '</a.css>; rel=preload' });
        stream.respond({ ':status': 204 });
        stream.end();
      },
    });
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const o = await send(pool, '/early', {
      method: 'GET',
      headers: ['Host', 'svc.example.com', 'Connection', 'keep-alive', 'X-A', '1', 'x-a', '2'],
    }).done;
    expect([o.informational, o.status]).toEqual([[103], 204]);
    expect(seen?.[':authority']).toBe('svc.example.com');
    expect(seen?.['x-a']).toBe('1, 2');
    expect(seen?.['connection']).toBeUndefined();
  });

  it('a mirror copy is sent, its response read and dropped, and its budget slot freed', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const budget = new MirrorBudget(1);
    const copy = budget.take()!;
    expect(budget.take()).toBeUndefined();
    const finished = new Promise<void>((resolve) => {
      const finish = copy.finish.bind(copy);
      copy.finish = () => {
        finish();
        resolve();
      };
    });
    pool.dispatch({ path: '/m', method: 'GET', headers: ['host', 'm-shadow.example.com'] }, copy);
    await finished;
    expect(budget.inFlight).toBe(0);
    expect(up.sessions).toHaveLength(1);
  });

  it('an idle session closes after the idle timeout', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port, idleTimeoutMs: 50 });
    expect((await send(pool, '/x').done).status).toBe(200);
    const session = up.sessions[0]!;
    if (!session.closed && !session.destroyed) await new Promise((r) => session.once('close', r));
    expect(pool.stats.connected).toBe(0);
  });

  it('close() lets the request in flight finish, then refuses new ones; destroy() fails them', async () => {
    up = await startUpstream();
    pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const call = send(pool, '/hold');
    await up.held(1);
    const closed = pool.close();
    expect((await send(pool, '/late').done).error?.code).toBe('UND_ERR_CLOSED');
    up.release();
    expect((await call.done).status).toBe(200);
    await closed;
    expect(up.sessions[0]!.closed || up.sessions[0]!.destroyed).toBe(true);

    const other = new H2Pool({ ...POOL_DEFAULTS, port: up.port });
    const doomed = send(other, '/hold');
    await up.held(1);
    await other.destroy();
    const d = await doomed.done;
    expect(d.error?.code).toBe('UND_ERR_SOCKET');
  });

  it('TLS: ALPN h2, SNI from the Host header (auto-SNI) or DR sni, CA verification', async () => {
    const pki = createTestPki();
    try {
      const names: string[] = [];
      const leaf = pki.issue('up', { cn: 'up.example.com', dns: ['up.example.com', 'alt.example.com'] });
      up = await startUpstream({
        tls: leaf,
        handle(stream) {
          names.push(String((stream.session!.socket as { servername?: string }).servername));
          stream.respond({ ':status': 200 });
          stream.end((stream.session!.socket as { alpnProtocol?: string }).alpnProtocol ?? '');
        },
      });
      const auto = compileOriginationTls({ mode: 'SIMPLE', caCertificates: pki.caFile }, '/').tls!;
      pool = new H2Pool({ ...POOL_DEFAULTS, port: up.port, tls: auto });
      expect((await send(pool, '/', { method: 'GET' }).done).body).toBe('h2');
      const alt = await send(pool, '/', { method: 'GET', headers: ['host', 'alt.example.com:443'] }).done;
      expect(alt.body).toBe('h2');
      expect(names).toEqual(['up.example.com', 'alt.example.com']);

      const fixed = compileOriginationTls(
        { mode: 'SIMPLE', sni: 'alt.example.com', caCertificates: pki.caFile },
        '/',
      ).tls!;
      const fixedPool = new H2Pool({ ...POOL_DEFAULTS, port: up.port, tls: fixed });
      expect((await send(fixedPool, '/', { method: 'GET' }).done).status).toBe(200);
      expect(names[2]).toBe('alt.example.com');
      await fixedPool.destroy();

      const wrong = compileOriginationTls(
        { mode: 'SIMPLE', sni: 'other.example.com', caCertificates: pki.caFile },
        '/',
      ).tls!;
      const wrongPool = new H2Pool({ ...POOL_DEFAULTS, port: up.port, tls: wrong });
      const failed = await send(wrongPool, '/', { method: 'GET' }).done;
      expect([failed.error?.code, classifyUpstreamError(failed.error)]).toEqual([
        'ERR_TLS_CERT_ALTNAME_INVALID',
        'connect-failure',
      ]);
      await wrongPool.destroy();
    } finally {
      pki.close();
    }
  });
});
