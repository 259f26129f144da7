/**
 * DestinationRule `connectionPool.http` applied to an HTTP/2 (h2c) upstream as Envoy applies it:
 * `maxConcurrentStreams` (http2_protocol_options.max_concurrent_streams: never more streams on one
 * upstream connection; more requests open another), `maxRequestsPerConnection`
 * (max_requests_per_connection: after N streams the connection is retired and a new one carries
 * the next stream) and `http2MaxRequests` (circuit breaker max_requests: overflow is 503 UO with
 * `x-envoy-overloaded: true`); `tcp.maxConnections` with the upstream's
 * SETTINGS_MAX_CONCURRENT_STREAMS reached (no connection past it: requests wait for a stream,
 * pending, and overflow past `http1MaxPendingRequests`); streams multiplexed on one connection when nothing limits them; a
 * graceful GOAWAY from the upstream (streams in flight finish, new requests take a new
 * connection); upstream failures flagged as Envoy flags them (a dropped connection UC, a refused
 * one UF); a client gone resets its upstream stream (CANCEL). The upstream is a real node:http2
 * server that counts its sessions and the streams open on each; gRPC cases use @grpc/grpc-js
 * behind a connection-counting TCP relay.
 */
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ECHO_SERVICE,
  EchoClient,
  startEchoServer,
  type RunningEchoServer,
  type SayReply,
} from '../../samples/grpc/echo-service.js';
import { createTestPki } from '../helpers/certs.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  gatewayYaml,
  istioResourceYaml,
  localServiceEntryYaml,
  recordWhere,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';
import { GRPC_9000 as GRPC_PORT, HTTP2_8080 as HTTP2_PORT } from '../helpers/resources.js';

/** An h2c upstream that counts sessions and streams, and can hold responses until released. */
interface CountingH2Upstream {
  port: number;
  /** Sessions (upstream connections) accepted so far. */
  sessions(): number;
  /** The most streams open at once on any one session so far. */
  maxStreamsOnOneSession(): number;
  /** Resolves once `n` requests for `/hold` are being held. */
  held(n: number): Promise<void>;
  /** Answers every held `/hold` request (and the later ones at once). */
  release(): void;
  /** Sends GOAWAY (NO_ERROR) on every open session; their open streams may still finish. */
  goAwayAll(): void;
  /** Tears down every open session (no GOAWAY): their streams are lost. */
  destroyAll(): void;
  /** Resolves with the RST_STREAM code of the next held stream that closes unanswered. */
  nextReset(): Promise<number>;
  close(): Promise<void>;
}

/**
 * @param tls serve h2 over TLS (ALPN `h2`) with this certificate instead of h2c.
 * @param settings the SETTINGS the upstream advertises (e.g. `maxConcurrentStreams`).
 */
async function startCountingH2Upstream(
  tls?: { cert: string; key: string },
  settings?: http2.Settings,
): Promise<CountingH2Upstream> {
  const server = tls
    ? http2.createSecureServer({ cert: tls.cert, key: tls.key, settings })
    : http2.createServer({ settings });
  let sessions = 0;
  let maxStreams = 0;
  const open = new Map<http2.Http2Session, number>();
  let holding: (() => void)[] = [];
  let released = false;
  let waiter: { n: number; resolve: () => void } | undefined;
  let resetWaiter: ((code: number) => void) | undefined;
  server.on('session', (session) => {
    sessions++;
    open.set(session, 0);
    session.on('close', () => open.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const session = stream.session!;
    const now = (open.get(session) ?? 0) + 1;
    open.set(session, now);
    maxStreams = Math.max(maxStreams, now);
    stream.on('close', () => open.set(session, (open.get(session) ?? 1) - 1));
    const answer = (): void => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'x-session': String(sessions) });
      stream.end('ok');
    };
    stream.resume();
    if (headers[':path'] !== '/hold' || released) return answer();
    holding.push(answer);
    stream.on('close', () => {
      if (!stream.headersSent) resetWaiter?.(stream.rstCode ?? -1);
    });
    if (waiter && holding.length >= waiter.n) waiter.resolve();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    sessions: () => sessions,
    maxStreamsOnOneSession: () => maxStreams,
    held: (n) =>
      holding.length >= n ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { n, resolve })),
    release() {
      released = true;
      const all = holding;
      holding = [];
      for (const a of all) a();
    },
    goAwayAll() {
      for (const s of open.keys()) s.close();
    },
    destroyAll() {
      for (const s of open.keys()) s.destroy();
    },
    nextReset: () => new Promise((resolve) => (resetWaiter = resolve)),
    close: () =>
      new Promise<void>((r) => {
        for (const s of open.keys()) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A TCP relay to `port` that counts the connections made through it. */
async function startCountingRelay(
  port: number,
): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    connections++;
    const up = net.connect(port, '127.0.0.1');
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    down.pipe(up).pipe(down);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Gateway → `h2up` service on `upstreamPort` (an HTTP2 port, or `servicePort`), with this
 * `connectionPool` (a YAML flow mapping).
 */
function config(
  upstreamPort: number,
  connectionPool: string,
  servicePort = HTTP2_PORT,
  tls = '',
  retries = '',
): string {
  return yamlDocuments(
    gatewayYaml('h2-gateway', [{ port: 80, name: 'http', protocol: 'HTTP', hosts: ['*'] }]),
    virtualServiceYaml(
      'h2up',
      ['h2up.example.com'],
      ['h2-gateway'],
      ['http:', '- route: [{ destination: { host: h2up } }]', ...(retries ? [`  retries: ${retries}`] : [])],
    ),
    localServiceEntryYaml('h2up', servicePort, upstreamPort),
    istioResourceYaml('DestinationRule', 'h2up', [
      'host: h2up',
      'trafficPolicy:',
      `  connectionPool: ${connectionPool}`,
      ...(tls ? [`  tls: ${tls}`] : []),
    ]),
  );
}

/** Resolves once the gateway's `upstream_rq_pending_active` gauge for the cluster reads `n`. */
async function pendingActive(gw: TestGateway, n: number): Promise<void> {
  const read = (): number | undefined => {
    for (const [name, v] of gw.gateway.stats.entries())
      if (name.startsWith('cluster.') && name.endsWith('.upstream_rq_pending_active')) return v;
    return undefined;
  };
  // The gauge changes inside the gateway's own callbacks: look again after each turn of the loop.
  while (read() !== n) await new Promise((r) => setImmediate(r));
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, headers: { host: 'h2up.example.com' }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
  });
}

describe('HTTP/2 upstream connection pool (DestinationRule connectionPool.http)', () => {
  let up: CountingH2Upstream | undefined;
  let gw: TestGateway | undefined;

  afterEach(async () => {
    up?.release();
    await gw?.close();
    await up?.close();
    gw = undefined;
    up = undefined;
  });

  it('maxConcurrentStreams 2: 6 concurrent requests use 3 upstream connections with 2 streams each', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(config(up.port, '{ http: { maxConcurrentStreams: 2 } }'));
    const port = gw.port(80);
    const replies = Array.from({ length: 6 }, () => get(port, '/hold'));
    await up.held(6);
    expect([up.sessions(), up.maxStreamsOnOneSession()]).toEqual([3, 2]);
    up.release();
    const done = await Promise.all(replies);
    expect(done.map((r) => [r.status, r.body])).toEqual(Array.from({ length: 6 }, () => [200, 'ok']));
  });

  it('without limits, 6 concurrent requests are 6 streams on one upstream connection', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(config(up.port, '{ http: { idleTimeout: 60s } }'));
    const port = gw.port(80);
    const replies = Array.from({ length: 6 }, () => get(port, '/hold'));
    await up.held(6);
    expect([up.sessions(), up.maxStreamsOnOneSession()]).toEqual([1, 6]);
    up.release();
    expect((await Promise.all(replies)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it('the upstream dropping the connection mid-request: 503 UC; with retryOn reset the retry answers', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(config(up.port, '{ http: { idleTimeout: 60s } }'));
    const port = gw.port(80);
    const first = get(port, '/hold');
    await up.held(1);
    up.destroyAll();
    const r = await first;
    expect(r.status).toBe(503);
    const rec = await recordWhere(gw, (x) => x.path === '/hold');
    expect([rec.responseCode, rec.responseFlags]).toEqual([503, 'UC']);
    await gw.close();

    gw = await startGateway(
      config(up.port, '{ http: { idleTimeout: 60s } }', HTTP2_PORT, '', '{ attempts: 2, retryOn: reset }'),
    );
    const retried = get(gw.port(80), '/hold');
    await up.held(2);
    up.destroyAll();
    up.release();
    expect((await retried).status).toBe(200);
  });

  it('a refused upstream connection: 503 UF, and URX once connect-failure retries are spent', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    gw = await startGateway(
      config(
        port,
        '{ http: { idleTimeout: 60s } }',
        HTTP2_PORT,
        '',
        '{ attempts: 1, retryOn: connect-failure }',
      ),
    );
    const r = await get(gw.port(80), '/refused');
    expect(r.status).toBe(503);
    const rec = await recordWhere(gw, (x) => x.path === '/refused');
    expect([rec.responseCode, rec.responseFlags]).toEqual([503, 'UF,URX']);
  });

  it('a client that goes away: the upstream stream is reset with CANCEL, the connection stays', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(config(up.port, '{ http: { idleTimeout: 60s } }'));
    const port = gw.port(80);
    const req = http.get({
      host: '127.0.0.1',
      port,
      path: '/hold',
      headers: { host: 'h2up.example.com' },
      agent: false,
    });
    req.on('error', () => undefined);
    await up.held(1);
    const reset = up.nextReset();
    req.destroy();
    expect(await reset).toBe(http2.constants.NGHTTP2_CANCEL);
    expect((await get(port, '/after')).status).toBe(200);
    expect(up.sessions()).toBe(1);
  });

  it('maxRequestsPerConnection 3: 9 sequential requests use exactly 3 upstream connections', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(config(up.port, '{ http: { maxRequestsPerConnection: 3 } }'));
    const port = gw.port(80);
    const sessionOf: string[] = [];
    for (let i = 0; i < 9; i++) {
      const r = await get(port, '/seq');
      expect([r.status, r.body]).toEqual([200, 'ok']);
      sessionOf.push(String(r.headers['x-session']));
    }
    expect(up.sessions()).toBe(3);
    expect(sessionOf).toEqual(['1', '1', '1', '2', '2', '2', '3', '3', '3']);
  });

  it('maxRequestsPerConnection 2 over originated TLS (ALPN h2): 4 sequential requests use 2 connections', async () => {
    const pki = createTestPki();
    try {
      up = await startCountingH2Upstream(
        pki.issue('h2up', { cn: 'h2up.example.com', dns: ['h2up.example.com'] }),
      );
      gw = await startGateway(
        config(
          up.port,
          '{ http: { maxRequestsPerConnection: 2 } }',
          HTTP2_PORT,
          `{ mode: SIMPLE, sni: h2up.example.com, caCertificates: ${pki.caFile} }`,
        ),
      );
      const port = gw.port(80);
      const sessionOf: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await get(port, '/seq');
        expect(r.status).toBe(200);
        sessionOf.push(String(r.headers['x-session']));
      }
      expect(sessionOf).toEqual(['1', '1', '2', '2']);
    } finally {
      pki.close();
    }
  });

  it('without maxRequestsPerConnection, sequential requests share one upstream connection', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(config(up.port, '{ http: { idleTimeout: 60s } }'));
    const port = gw.port(80);
    for (let i = 0; i < 5; i++) expect((await get(port, '/seq')).status).toBe(200);
    expect(up.sessions()).toBe(1);
  });

  it('http2MaxRequests 1: a second concurrent request is 503 UO with x-envoy-overloaded', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(config(up.port, '{ http: { http2MaxRequests: 1 } }'));
    const port = gw.port(80);
    const first = get(port, '/hold');
    await up.held(1);
    const second = await get(port, '/second');
    expect(second.status).toBe(503);
    expect(second.headers['x-envoy-overloaded']).toBe('true');
    const rec = await recordWhere(gw, (x) => x.path === '/second');
    expect([rec.responseCode, rec.responseFlags]).toEqual([503, 'UO']);
    up.release();
    expect((await first).status).toBe(200);
  });

  it('tcp.maxConnections 1 alone does not hold back concurrent HTTP/2 requests (Envoy multiplexes them)', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(config(up.port, '{ tcp: { maxConnections: 1 } }'));
    const port = gw.port(80);
    const replies = Array.from({ length: 3 }, () => get(port, '/hold'));
    await up.held(3);
    up.release();
    expect((await Promise.all(replies)).map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('maxConnections 1 × maxConcurrentStreams 2 with 1 pending: 2 streams go, 1 waits, the 4th is 503 UO', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(
      config(
        up.port,
        '{ tcp: { maxConnections: 1 }, http: { maxConcurrentStreams: 2, http1MaxPendingRequests: 1 } }',
      ),
    );
    const port = gw.port(80);
    const first = get(port, '/hold');
    await up.held(1);
    const second = get(port, '/hold');
    await up.held(2);
    const third = get(port, '/hold');
    // The third waits in the breaker's queue; the fourth finds the queue full.
    await pendingActive(gw, 1);
    const fourth = await get(port, '/overflow');
    expect([fourth.status, fourth.headers['x-envoy-overloaded']]).toEqual([503, 'true']);
    const rec = await recordWhere(gw, (x) => x.path === '/overflow');
    expect(rec.responseFlags).toBe('UO');
    up.release();
    expect((await Promise.all([first, second, third])).map((r) => r.status)).toEqual([200, 200, 200]);
  });

  /**
   * An upstream advertising SETTINGS_MAX_CONCURRENT_STREAMS 2 behind DR `tcp.maxConnections: 1`
   * with this `http1MaxPendingRequests`, its one connection's two streams held. The first stream
   * goes alone so the upstream's SETTINGS are known before the second.
   */
  async function bothStreamsHeld(maxPending: number): Promise<{ port: number; replies: Promise<Reply>[] }> {
    up = await startCountingH2Upstream(undefined, { maxConcurrentStreams: 2 });
    gw = await startGateway(
      config(up.port, `{ tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: ${maxPending} } }`),
    );
    const port = gw.port(80);
    const replies = [get(port, '/hold')];
    await up.held(1);
    replies.push(get(port, '/hold'));
    await up.held(2);
    return { port, replies };
  }

  it('maxConnections 1, upstream SETTINGS_MAX_CONCURRENT_STREAMS 2: 4 requests share 1 connection, 2 wait', async () => {
    const { port, replies } = await bothStreamsHeld(2);
    replies.push(get(port, '/hold'), get(port, '/hold'));
    // Envoy opens no second connection past max_connections: the other two wait for a stream.
    await pendingActive(gw!, 2);
    expect(up!.sessions()).toBe(1);
    up!.release();
    const done = await Promise.all(replies);
    expect(done.map((r) => [r.status, r.body])).toEqual(Array.from({ length: 4 }, () => [200, 'ok']));
    expect([up!.sessions(), up!.maxStreamsOnOneSession()]).toEqual([1, 2]);
  });

  it('maxConnections 1, upstream streams full, 1 pending allowed: the 3rd waits, the 4th is 503 UO', async () => {
    const { port, replies } = await bothStreamsHeld(1);
    replies.push(get(port, '/hold'));
    await pendingActive(gw!, 1);
    const fourth = await get(port, '/overflow');
    expect([fourth.status, fourth.headers['x-envoy-overloaded']]).toEqual([503, 'true']);
    const rec = await recordWhere(gw!, (x) => x.path === '/overflow');
    expect([rec.responseCode, rec.responseFlags]).toEqual([503, 'UO']);
    up!.release();
    expect((await Promise.all(replies)).map((r) => r.status)).toEqual([200, 200, 200]);
    expect(up!.sessions()).toBe(1);
  });

  it('GOAWAY from the upstream with requests in flight: they complete, new requests use a new connection', async () => {
    up = await startCountingH2Upstream();
    gw = await startGateway(config(up.port, '{ http: { idleTimeout: 60s } }'));
    const port = gw.port(80);
    const inFlight = Array.from({ length: 3 }, () => get(port, '/hold'));
    await up.held(3);
    expect([up.sessions(), up.maxStreamsOnOneSession()]).toEqual([1, 3]);
    up.goAwayAll();
    const after = await get(port, '/after');
    expect(after.status).toBe(200);
    expect(up.sessions()).toBe(2);
    up.release();
    const done = await Promise.all(inFlight);
    expect(done.map((r) => r.status)).toEqual([200, 200, 200]);
  });
});

describe('gRPC upstream connection pool', () => {
  let echo: RunningEchoServer | undefined;
  let relay: Awaited<ReturnType<typeof startCountingRelay>> | undefined;
  let gw: TestGateway | undefined;
  let client: InstanceType<typeof EchoClient> | undefined;

  afterEach(async () => {
    client?.close();
    await gw?.close();
    await relay?.close();
    await echo?.close();
  });

  it('20 concurrent unary calls share one upstream connection', async () => {
    echo = await startEchoServer('v1');
    relay = await startCountingRelay(echo.port);
    gw = await startGateway(config(relay.port, '{ http: { idleTimeout: 60s } }', GRPC_PORT));
    client = new EchoClient(`127.0.0.1:${gw.port(80)}`, grpc.credentials.createInsecure(), {
      'grpc.default_authority': 'h2up.example.com',
    });
    const c = client as unknown as grpc.Client;
    const replies = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          new Promise<string>((resolve, reject) =>
            c.makeUnaryRequest(
              ECHO_SERVICE.say.path,
              ECHO_SERVICE.say.requestSerialize,
              (b: Buffer) => ECHO_SERVICE.say.responseDeserialize(b) as SayReply,
              { name: `c${i}` },
              (err: grpc.ServiceError | null, reply?: SayReply) =>
                err ? reject(err) : resolve(reply!.message),
            ),
          ),
      ),
    );
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `hello c${i}`));
    expect([echo.calls.say, relay.connections()]).toEqual([20, 1]);
  });

  it('maxRequestsPerConnection 2: 6 sequential unary calls succeed over 3 upstream connections', async () => {
    echo = await startEchoServer('v1');
    relay = await startCountingRelay(echo.port);
    gw = await startGateway(config(relay.port, '{ http: { maxRequestsPerConnection: 2 } }', GRPC_PORT));
    client = new EchoClient(`127.0.0.1:${gw.port(80)}`, grpc.credentials.createInsecure(), {
      'grpc.default_authority': 'h2up.example.com',
    });
    const c = client as unknown as grpc.Client;
    const replies: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await new Promise<SayReply>((resolve, reject) =>
        c.makeUnaryRequest(
          ECHO_SERVICE.say.path,
          ECHO_SERVICE.say.requestSerialize,
          (b: Buffer) => ECHO_SERVICE.say.responseDeserialize(b) as SayReply,
          { name: `n${i}` },
          (err: grpc.ServiceError | null, reply?: SayReply) => (err ? reject(err) : resolve(reply!)),
        ),
      );
      replies.push(r.message);
    }
    expect(replies).toEqual(['hello n0', 'hello n1', 'hello n2', 'hello n3', 'hello n4', 'hello n5']);
    expect(echo.calls.say).toBe(6);
    expect(relay.connections()).toBe(3);
  });
});
