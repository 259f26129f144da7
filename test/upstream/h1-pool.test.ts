/**
 * The HTTP/1.1 upstream pool (upstream/h1-pool.ts) against real node:http, node:https and raw
 * node:net servers on loopback: connection reuse and its limits (keep-alive, `connection:
 * close`, `maxRequestsPerConnection`, idle timeout, the upstream's `Keep-Alive: timeout`),
 * request framing (host, content-length, chunked), response framing (close-delimited, chunked
 * trailers, early responses), backpressure, abort, the errors as the router classifies them
 * (UF, UC, UPE), interim heads (upstream `100 Continue` absorbed as Envoy does with
 * `proxy_100_continue` off, 103 passed on, an unrequested 101 refused), TLS origination with SNI
 * and ALPN, close/destroy and the pool's counters.
 */
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type LookupFunction } from 'node:net';
import { PassThrough } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyUpstreamError } from '../../gateway/local-reply.js';
import { H1Pool, type H1PoolOptions } from '../../upstream/h1-pool.js';
import { MirrorBudget } from '../../upstream/mirror-budget.js';
import { compileOriginationTls } from '../../upstream/tls-origination.js';
import { createTestPki } from '../helpers/certs.js';
import { Collector } from '../helpers/dispatch-collector.js';

/** One request as a node:http upstream saw it. */
interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  socket: net.Socket;
}

/** A node:http (or https) upstream that counts connections and records requests. */
interface HttpUpstream {
  readonly port: number;
  readonly server: http.Server;
  /** Server-side sockets, in accept order. */
  readonly connections: net.Socket[];
  /** Requests whose body was read whole (by the default handler). */
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

type Handle = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Reads the request body and answers 200 `ok` (unless `respond` is given). */
function recording(
  requests: SeenRequest[],
  respond?: (seen: SeenRequest, res: http.ServerResponse) => void,
): Handle {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks),
        socket: req.socket,
      };
      requests.push(seen);
      if (respond) respond(seen, res);
      else res.end('ok');
    });
  };
}

async function startHttp(
  opts: { handle?: Handle; tls?: { cert: string; key: string }; keepAliveTimeout?: number } = {},
): Promise<HttpUpstream> {
  const requests: SeenRequest[] = [];
  const handle = opts.handle ?? recording(requests);
  const server = opts.tls
    ? https.createServer({ ...opts.tls, ALPNProtocols: ['h2', 'http/1.1'] }, handle)
    : http.createServer(handle);
  server.keepAliveTimeout = opts.keepAliveTimeout ?? 60_000;
  const connections: net.Socket[] = [];
  server.on(opts.tls ? 'secureConnection' : 'connection', (s: net.Socket) => {
    connections.push(watch(s));
    // A connection we cut mid-request (abort, early response) is a parse error on this side.
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    connections,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A raw TCP upstream that hands each request head (requests without bodies) to the test. */
interface RawUpstream {
  readonly port: number;
  readonly sockets: net.Socket[];
  /** The next request head received on any connection, with its socket. */
  nextRequest(): Promise<{ socket: net.Socket; head: string }>;
  close(): Promise<void>;
}

async function startRaw(): Promise<RawUpstream> {
  const sockets: net.Socket[] = [];
  const heads: { socket: net.Socket; head: string }[] = [];
  let waiter: (() => void) | undefined;
  const server = net.createServer((socket) => {
    sockets.push(watch(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      for (let at = buf.indexOf('\r\n\r\n'); at >= 0; at = buf.indexOf('\r\n\r\n')) {
        heads.push({ socket, head: buf.slice(0, at + 4) });
        buf = buf.slice(at + 4);
        waiter?.();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    async nextRequest() {
      while (heads.length === 0) await new Promise<void>((r) => (waiter = r));
      return heads.shift()!;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const POOL_DEFAULTS: Omit<H1PoolOptions, 'port'> = {
  host: '127.0.0.1',
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  maxRequestsPerConnection: 0,
};

function send(
  pool: H1Pool,
  path: string,
  extra: Partial<Dispatcher.DispatchOptions> = {},
  handler = new Collector(),
): Collector {
  pool.dispatch({ path, method: 'GET', headers: ['host', 'up.example.com'], body: null, ...extra }, handler);
  return handler;
}

/** The pool's client socket whose local port is `serverSide`'s remote port. */
function clientSocketOf(pool: H1Pool, serverSide: net.Socket): net.Socket {
  const conns = (pool as unknown as { all: Set<{ socket: net.Socket }> }).all;
  for (const c of conns) if (c.socket.localPort === serverSide.remotePort) return watch(c.socket);
  throw new Error('no such pool connection');
}

/** Writes `pieces` in turn, each once the pool has read the one before (separate reads). */
async function writeInReads(pool: H1Pool, socket: net.Socket, pieces: readonly string[]): Promise<void> {
  const client = clientSocketOf(pool, socket);
  for (const piece of pieces) {
    const read = once(client, 'data');
    socket.write(piece, 'latin1');
    await read;
  }
}

/** Each watched socket's 'close' (its `closed` turns true before 'close' is emitted). */
const closeOf = new WeakMap<net.Socket, Promise<void>>();

/** Starts watching `socket` for 'close'; call before it can close. */
function watch(socket: net.Socket): net.Socket {
  // Not events.once: that rejects on an 'error' first (a cut request is one on the upstream side).
  if (!closeOf.has(socket)) closeOf.set(socket, new Promise((r) => socket.once('close', () => r())));
  return socket;
}

/** Resolves once a watched `socket` has emitted 'close' (the pool's listener ran first). */
function closed(socket: net.Socket): Promise<void> {
  const p = closeOf.get(socket);
  if (p === undefined) throw new Error('socket not watched');
  return p;
}

/**
 * Writes `bytes` to `res` in `piece`-byte writes as fast as the connection takes them (waiting
 * for 'drain'), then ends it; `onBlocked` runs each time a write finds the buffer full.
 */
function writeAll(res: http.ServerResponse, bytes: Buffer, piece: number, onBlocked?: () => void): void {
  let at = 0;
  const write = (): void => {
    while (at < bytes.length) {
      const chunk = bytes.subarray(at, at + piece);
      at += chunk.length;
      if (!res.write(chunk)) {
        onBlocked?.();
        res.once('drain', write);
        return;
      }
    }
    res.end();
  };
  write();
}

const FINAL = 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello';
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const HINTS = 'HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n';

describe('H1Pool', () => {
  let up: HttpUpstream | undefined;
  let raw: RawUpstream | undefined;
  let pool: H1Pool | undefined;

  afterEach(async () => {
    await pool?.destroy();
    await up?.close();
    await raw?.close();
    pool = undefined;
    up = undefined;
    raw = undefined;
  });

  describe('connection reuse', () => {
    it('sequential requests reuse one connection', async () => {
      up = await startHttp();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      for (let i = 0; i < 4; i++) {
        const o = await send(pool, `/seq/${i}`).done;
        expect([o.status, o.body, o.error]).toEqual([200, 'ok', undefined]);
      }
      expect(up.connections).toHaveLength(1);
      expect(up.requests.map((r) => r.url)).toEqual(['/seq/0', '/seq/1', '/seq/2', '/seq/3']);
      expect(pool.stats).toEqual({ connected: 1, free: 1, pending: 0, running: 0 });
    });

    it('concurrent requests open one connection each, then reuse them', async () => {
      const held: http.ServerResponse[] = [];
      let heldAll: () => void = () => undefined;
      up = await startHttp({
        handle: (req, res) => {
          req.resume();
          held.push(res);
          if (held.length === 3) heldAll();
        },
      });
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      const all = new Promise<void>((r) => (heldAll = r));
      const first = [send(pool, '/a'), send(pool, '/b'), send(pool, '/c')];
      await all;
      expect(pool.stats).toEqual({ connected: 3, free: 0, pending: 0, running: 3 });
      for (const res of held.splice(0)) res.end('held');
      for (const o of await Promise.all(first.map((c) => c.done)))
        expect([o.status, o.body]).toEqual([200, 'held']);
      expect(pool.stats).toEqual({ connected: 3, free: 3, pending: 0, running: 0 });
      const again = new Promise<void>((r) => (heldAll = r));
      const second = [send(pool, '/d'), send(pool, '/e'), send(pool, '/f')];
      await again;
      for (const res of held.splice(0)) res.end('again');
      for (const o of await Promise.all(second.map((c) => c.done))) expect(o.body).toBe('again');
      expect(up.connections).toHaveLength(3);
    });

    it('maxRequestsPerConnection 2: 5 requests use 3 connections; spent ones are closed', async () => {
      up = await startHttp();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port, maxRequestsPerConnection: 2 });
      for (let i = 0; i < 5; i++) expect((await send(pool, '/x').done).status).toBe(200);
      expect(up.connections).toHaveLength(3);
      await Promise.all([closed(up.connections[0]!), closed(up.connections[1]!)]);
      expect(up.connections[2]!.destroyed).toBe(false);
      expect(pool.stats).toEqual({ connected: 1, free: 1, pending: 0, running: 0 });
    });

    it('an idle connection closes after idleTimeoutMs', async () => {
      up = await startHttp();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port, idleTimeoutMs: 50 });
      expect((await send(pool, '/x').done).status).toBe(200);
      const serverSide = up.connections[0]!;
      const peerEnded = once(serverSide, 'end');
      await closed(clientSocketOf(pool, serverSide));
      await peerEnded;
      expect(pool.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
      expect((await send(pool, '/y').done).status).toBe(200);
      expect(up.connections).toHaveLength(2);
    });

    it("`Keep-Alive: timeout=2` from the upstream: the pool closes the idle connection before the upstream's timer", async () => {
      up = await startHttp({
        keepAliveTimeout: 120_000,
        handle: (req, res) => {
          req.resume();
          res.writeHead(200, { connection: 'keep-alive', 'keep-alive': 'timeout=2', 'content-length': 2 });
          res.end('ok');
        },
      });
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      expect((await send(pool, '/x').done).status).toBe(200);
      const serverSide = up.connections[0]!;
      const client = clientSocketOf(pool, serverSide);
      // 'end' on the upstream's side: our FIN came first (its own timer is 120 s).
      await once(serverSide, 'end');
      await closed(client);
      expect(pool.stats.connected).toBe(0);
    });

    it('`Keep-Alive: timeout=1` leaves no time to reuse: the connection closes after the response', async () => {
      up = await startHttp({
        handle: (req, res) => {
          req.resume();
          res.writeHead(200, { connection: 'keep-alive', 'keep-alive': 'timeout=1', 'content-length': 2 });
          res.end('ok');
        },
      });
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      expect((await send(pool, '/x').done).status).toBe(200);
      await once(up.connections[0]!, 'end');
      expect((await send(pool, '/y').done).status).toBe(200);
      expect(up.connections).toHaveLength(2);
    });

    it('a response with `connection: close` is not reused: the next request opens a new connection', async () => {
      const requests: SeenRequest[] = [];
      up = await startHttp({
        handle: recording(requests, (seen, res) => {
          if (seen.url === '/close') res.setHeader('connection', 'close');
          res.end(seen.url);
        }),
      });
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      expect((await send(pool, '/close').done).body).toBe('/close');
      expect((await send(pool, '/next').done).body).toBe('/next');
      expect((await send(pool, '/again').done).body).toBe('/again');
      expect(up.connections).toHaveLength(2);
    });

    it('HTTP/1.0 without keep-alive is not reused; with `connection: keep-alive` it is', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const a = send(pool, '/a');
      const r1 = await raw.nextRequest();
      r1.socket.write('HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\na');
      expect((await a.done).body).toBe('a');
      const b = send(pool, '/b');
      const r2 = await raw.nextRequest();
      expect(r2.socket).toBe(r1.socket);
      r2.socket.write('HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nb');
      expect((await b.done).body).toBe('b');
      await closed(r2.socket);
      const c = send(pool, '/c');
      const r3 = await raw.nextRequest();
      expect(r3.socket).not.toBe(r1.socket);
      r3.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nc');
      expect((await c.done).body).toBe('c');
    });

    it('bytes after a complete response: the connection is closed, a waiting request is not given them', async () => {
      raw = await startRaw();
      // The second connection's name lookup waits, so the second request is still waiting when
      // the first response (with bytes after it) arrives.
      let lookups = 0;
      let releaseLookup: () => void = () => undefined;
      const lookup = ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
        const answer = (): void =>
          opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
        if (++lookups === 1) answer();
        else releaseLookup = answer;
      }) as unknown as LookupFunction;
      pool = new H1Pool({ ...POOL_DEFAULTS, host: 'localhost', port: raw.port, lookup });
      const first = send(pool, '/first');
      const r1 = await raw.nextRequest();
      const second = send(pool, '/second');
      expect(pool.stats.pending).toBe(1);
      r1.socket.write(`${FINAL}HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nbogus`);
      expect((await first.done).body).toBe('hello');
      expect(second.log).toEqual([]);
      await closed(r1.socket);
      releaseLookup();
      const r2 = await raw.nextRequest();
      expect(r2.head).toMatch(/^GET \/second HTTP\/1\.1\r\n/);
      r2.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nreal');
      expect((await second.done).body).toBe('real');
    });
  });

  describe('request framing', () => {
    it('a Buffer body gets content-length; a POST without a body gets content-length: 0; GET none', async () => {
      up = await startHttp();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      await send(pool, '/buf', { method: 'PUT', body: Buffer.from('hello') }).done;
      await send(pool, '/empty', { method: 'POST' }).done;
      await send(pool, '/get').done;
      const [buf, empty, get] = up.requests;
      expect([buf!.method, buf!.headers['content-length'], buf!.headers['transfer-encoding']]).toEqual([
        'PUT',
        '5',
        undefined,
      ]);
      expect(buf!.body.toString()).toBe('hello');
      expect([empty!.headers['content-length'], empty!.body.length]).toEqual(['0', 0]);
      expect([get!.headers['content-length'], get!.headers['transfer-encoding']]).toEqual([
        undefined,
        undefined,
      ]);
    });

    it('a streamed body with content-length goes as is; without it, chunked with the exact bytes', async () => {
      up = await startHttp();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));

      const sized = new PassThrough();
      const a = send(pool, '/sized', {
        method: 'POST',
        headers: ['host', 'up.example.com', 'content-length', String(bytes.length)],
        body: sized,
      });
      sized.write(bytes.subarray(0, 100_000));
      sized.end(bytes.subarray(100_000));
      expect((await a.done).status).toBe(200);

      const streamed = new PassThrough();
      const b = send(pool, '/chunked', {
        method: 'POST',
        // A transfer-encoding from the caller is dropped: the pool frames the body itself.
        headers: ['host', 'up.example.com', 'transfer-encoding', 'chunked'],
        body: streamed,
      });
      for (let at = 0; at < bytes.length; at += 70_000) streamed.write(bytes.subarray(at, at + 70_000));
      streamed.end();
      expect((await b.done).status).toBe(200);

      const [s, c] = up.requests;
      expect([s!.headers['content-length'], s!.headers['transfer-encoding']]).toEqual([
        String(bytes.length),
        undefined,
      ]);
      expect(s!.body.equals(bytes)).toBe(true);
      expect([c!.headers['content-length'], c!.headers['transfer-encoding']]).toEqual([undefined, 'chunked']);
      expect(c!.body.equals(bytes)).toBe(true);
      expect(up.connections).toHaveLength(1);
    });

    it('the chunked request framing on the wire', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const body = new PassThrough();
      const call = send(pool, '/up', { method: 'POST', body });
      const { socket, head } = await raw.nextRequest();
      expect(head).toBe(`POST /up HTTP/1.1\r\nhost: up.example.com\r\ntransfer-encoding: chunked\r\n\r\n`);
      let wire = '';
      socket.on('data', (c: Buffer) => (wire += c.toString('latin1')));
      body.write('hello');
      body.end(Buffer.from(', world!'));
      await new Promise<void>((r) => socket.on('data', () => wire.endsWith('0\r\n\r\n') && r()));
      expect(wire).toBe('5\r\nhello\r\n8\r\n, world!\r\n0\r\n\r\n');
      socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      expect((await call.done).status).toBe(204);
    });

    it('host is added when absent (`127.0.0.1:<port>`), kept when given', async () => {
      up = await startHttp();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      await send(pool, '/none', { headers: ['x-a', '1'] }).done;
      await send(pool, '/object', { headers: { 'x-b': '2' } }).done;
      await send(pool, '/given', { headers: ['Host', 'svc.example.com:8080'] }).done;
      expect(up.requests.map((r) => r.headers.host)).toEqual([
        `127.0.0.1:${up.port}`,
        `127.0.0.1:${up.port}`,
        'svc.example.com:8080',
      ]);
      expect([up.requests[0]!.headers['x-a'], up.requests[1]!.headers['x-b']]).toEqual(['1', '2']);
    });

    it('a Buffer body that disagrees with its content-length fails the request before sending', async () => {
      up = await startHttp();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      const o = await send(pool, '/x', {
        method: 'POST',
        headers: ['content-length', '3'],
        body: Buffer.from('hello'),
      }).done;
      expect(o.error?.code).toBe('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
      expect(up.connections).toHaveLength(0);
    });

    it('a request target with a space, CR or LF fails before anything is sent (it would split the request line)', async () => {
      up = await startHttp();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      for (const path of ['/a b', '/a\r\nx-injected: 1', '/a\u0000']) {
        const o = await send(pool, path).done;
        expect(o.error?.code).toBe('UND_ERR_INVALID_ARG');
      }
      expect(up.connections).toHaveLength(0);
      expect((await send(pool, '/ok').done).error).toBeUndefined();
    });
  });

  describe('response framing', () => {
    it('a body delimited by the close is delivered whole; the connection is not reused', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const call = send(pool, '/eof');
      const { socket } = await raw.nextRequest();
      await writeInReads(pool, socket, [
        'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart one, ',
        'part two',
      ]);
      socket.end();
      const o = await call.done;
      expect([o.status, o.body, o.error]).toEqual([200, 'part one, part two', undefined]);
      const next = send(pool, '/next');
      const r2 = await raw.nextRequest();
      expect(r2.socket).not.toBe(socket);
      r2.socket.write(FINAL);
      expect((await next.done).body).toBe('hello');
    });

    it('trailers of a chunked response reach onComplete', async () => {
      up = await startHttp({
        handle: (req, res) => {
          req.resume();
          res.writeHead(200, { 'content-type': 'application/grpc', trailer: 'grpc-status' });
          res.write('a');
          res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' });
          res.end('b');
        },
      });
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      const o = await send(pool, '/t').done;
      expect([o.status, o.body, o.trailers]).toEqual([
        200,
        'ab',
        ['grpc-status', '0', 'grpc-message', 'fine'],
      ]);
      expect(o.headers.map((h) => h.toLowerCase())).toContain('transfer-encoding');
    });

    it('an early response (413 before the request body is sent) completes the request; the connection is not reused', async () => {
      const requests: SeenRequest[] = [];
      let bodyStarted: () => void = () => undefined;
      const started = new Promise<void>((r) => (bodyStarted = r));
      up = await startHttp({
        handle: (req, res) => {
          if (req.url === '/upload') {
            req.on('error', () => undefined);
            req.once('data', () => {
              res.writeHead(413, { 'content-length': 0 });
              res.end();
            });
            bodyStarted();
            return;
          }
          recording(requests)(req, res);
        },
      });
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      const body = new PassThrough();
      const call = send(pool, '/upload', { method: 'POST', body });
      await started;
      body.write(Buffer.alloc(1024, 1));
      const o = await call.done;
      expect([o.status, o.error]).toEqual([413, undefined]);
      // The body never ends; the pool stopped sending it and gave up the connection.
      await closed(up.connections[0]!);
      expect((await send(pool, '/next').done).status).toBe(200);
      expect(up.connections).toHaveLength(2);
      body.destroy();
    });

    it('a HEAD response with content-length has no body; the connection is reused', async () => {
      up = await startHttp({
        handle: (req, res) => {
          req.resume();
          res.writeHead(200, { 'content-length': 1000 });
          res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1000));
        },
      });
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      const head = await send(pool, '/h', { method: 'HEAD' }).done;
      expect([head.status, head.body.length, head.error]).toEqual([200, 0, undefined]);
      expect((await send(pool, '/g').done).body.length).toBe(1000);
      expect(up.connections).toHaveLength(1);
    });
  });

  describe('backpressure', () => {
    it('onData returning false: no further onData until resume(); a 4 MiB content-length body arrives whole, in order', async () => {
      const size = 4 * 1024 * 1024;
      const bytes = Buffer.from(Array.from({ length: size }, (_, i) => i % 251));
      let blocked: () => void = () => undefined;
      const upstreamBlocked = new Promise<void>((r) => (blocked = r));
      up = await startHttp({
        handle: (req, res) => {
          req.resume();
          res.writeHead(200, { 'content-length': size });
          writeAll(res, bytes, 64 * 1024, blocked);
        },
      });
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      const h = new Collector();
      h.pauseOnData = true;
      send(pool, '/big', {}, h);
      await h.firstChunk();
      await upstreamBlocked;
      expect(h.chunks).toBe(1);
      h.pauseOnData = false;
      h.resume!();
      const o = await h.done;
      expect([
        o.status,
        o.body.length,
        o.body === bytes.toString('latin1'),
        h.dataWhilePaused,
        o.error,
      ]).toEqual([200, size, true, 0, undefined]);
    });

    it('a chunked body in small chunks: each onData that returns false is the last until resume()', async () => {
      const bytes = Buffer.from(Array.from({ length: 2 * 1024 * 1024 }, (_, i) => (i * 7) % 253));
      up = await startHttp({
        handle: (req, res) => {
          req.resume();
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          writeAll(res, bytes, 1000);
        },
      });
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
      const h = new Collector();
      h.pauseOnData = true;
      send(pool, '/chunks', {}, h);
      // Resume each pause on a later turn of the event loop, as a downstream 'drain' would.
      let finished = false;
      void h.done.then(() => (finished = true));
      while (!finished) {
        await new Promise((r) => setImmediate(r));
        if (h.paused) h.resume!();
      }
      const o = await h.done;
      expect([o.status, o.body === bytes.toString('latin1'), h.dataWhilePaused, o.error]).toEqual([
        200,
        true,
        0,
        undefined,
      ]);
    });

    it('onHeaders returning false holds the body back until resume()', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const h = new Collector();
      h.pauseOnHeaders = true;
      send(pool, '/p', {}, h);
      const { socket } = await raw.nextRequest();
      // Head and body in one write: they arrive in one read.
      await writeInReads(pool, socket, [FINAL]);
      expect([h.log, h.chunks]).toEqual([['connect', 'headers 200'], 0]);
      h.resume!();
      const o = await h.done;
      expect([o.body, h.dataWhilePaused, h.log]).toEqual([
        'hello',
        0,
        ['connect', 'headers 200', 'data', 'complete'],
      ]);
    });

    it('paused with the rest of the response unread when the upstream closes: the rest still arrives on resume', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const chunked =
        'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\nt: 1\r\n\r\n';
      for (const [response, pauseOnHeaders, body] of [
        ['HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the close', true, 'until the close'],
        [chunked, false, 'abcdef'],
      ] as const) {
        const h = new Collector();
        h.pauseOnHeaders = pauseOnHeaders;
        h.pauseOnData = !pauseOnHeaders;
        send(pool, '/p', {}, h);
        const { socket } = await raw.nextRequest();
        const client = clientSocketOf(pool, socket);
        const read = once(client, 'data');
        socket.end(response);
        await read;
        // Until the pool's socket has read the upstream's FIN (kept from 'end' while paused).
        const state = (client as unknown as { _readableState: { ended: boolean } })._readableState;
        while (!state.ended) await new Promise((r) => setImmediate(r));
        expect(h.log.includes('complete') || h.log.includes('error')).toBe(false);
        h.pauseOnData = false;
        h.resume!();
        const o = await h.done;
        expect([o.body, o.error, h.dataWhilePaused]).toEqual([body, undefined, 0]);
      }
    });
  });

  describe('abort', () => {
    it('abort in flight: onError gets the given error and the upstream sees the connection close', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const call = send(pool, '/hold');
      const { socket } = await raw.nextRequest();
      const reason = new Error('client went away');
      call.abort!(reason);
      const o = await call.done;
      expect(o.error).toBe(reason);
      await closed(socket);
      expect(pool.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
    });

    it('abort while waiting for a connection (from onConnect): onError gets it; nothing is sent', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const h = new Collector();
      const reason = new Error('try given up');
      h.abortOnConnect = reason;
      const o = await send(pool, '/never', {}, h).done;
      expect([o.error, h.log]).toEqual([reason, ['connect', 'error']]);
      const next = send(pool, '/after');
      const { head, socket } = await raw.nextRequest();
      expect(head).toMatch(/^GET \/after /);
      socket.write(FINAL);
      expect((await next.done).body).toBe('hello');
    });
  });

  describe('errors as the router classifies them', () => {
    it('connect refused: ECONNREFUSED, a connect failure (UF)', async () => {
      const gone = net.createServer();
      await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
      const port = (gone.address() as AddressInfo).port;
      await new Promise<void>((r) => gone.close(() => r()));
      pool = new H1Pool({ ...POOL_DEFAULTS, port });
      const refused = await Promise.all([send(pool, '/a').done, send(pool, '/b').done]);
      for (const o of refused) {
        expect([o.error?.code, classifyUpstreamError(o.error)]).toEqual(['ECONNREFUSED', 'connect-failure']);
      }
      expect(pool.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
    });

    it('connect timeout (a TLS handshake never answered): UND_ERR_CONNECT_TIMEOUT, a connect failure', async () => {
      const silent = net.createServer((socket) => socket.on('error', () => undefined));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const tlsSettings = compileOriginationTls({ mode: 'SIMPLE', insecureSkipVerify: true }, '/').tls!;
      pool = new H1Pool({
        ...POOL_DEFAULTS,
        port: (silent.address() as AddressInfo).port,
        connectTimeoutMs: 100,
        tls: tlsSettings,
      });
      try {
        const o = await send(pool, '/slow').done;
        expect([o.error?.code, classifyUpstreamError(o.error)]).toEqual([
          'UND_ERR_CONNECT_TIMEOUT',
          'connect-failure',
        ]);
      } finally {
        silent.close();
      }
    });

    it('the upstream destroying the connection mid-body: a reset (UC)', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const call = send(pool, '/cut');
      const { socket } = await raw.nextRequest();
      await writeInReads(pool, socket, ['HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789']);
      socket.destroy();
      const o = await call.done;
      expect([o.status, o.body, o.error?.code, classifyUpstreamError(o.error)]).toEqual([
        200,
        '0123456789',
        'UND_ERR_SOCKET',
        'reset',
      ]);
    });

    it('the upstream closing mid-head (even inside a 100 head): a reset', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const call = send(pool, '/cut');
      const { socket } = await raw.nextRequest();
      socket.end('HTTP/1.1 100 Conti');
      const o = await call.done;
      expect([o.error?.code, classifyUpstreamError(o.error), call.log]).toEqual([
        'UND_ERR_SOCKET',
        'reset',
        ['connect', 'error'],
      ]);
    });

    it('a malformed status line: a protocol error (UPE); the connection is dropped', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const call = send(pool, '/bad');
      const { socket } = await raw.nextRequest();
      socket.write('HTTP/1.1 2OO OK\r\ncontent-length: 0\r\n\r\n');
      const o = await call.done;
      expect([o.error?.code, classifyUpstreamError(o.error)]).toEqual([
        'HPE_INVALID_STATUS',
        'protocol-error',
      ]);
      await closed(socket);
    });

    it('an unrequested 101: a protocol error, and what follows it is not read as HTTP', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const call = send(pool, '/no-upgrade');
      const { socket } = await raw.nextRequest();
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n${CONTINUE}${FINAL}`);
      const o = await call.done;
      expect([o.error?.code, o.error?.message, classifyUpstreamError(o.error)]).toEqual([
        'UND_ERR_SOCKET',
        'bad upgrade',
        'protocol-error',
      ]);
      expect(o.status).toBe(0);
      await closed(socket);
    });
  });

  describe('interim responses', () => {
    /** Sends one GET and answers it with `response` written in `pieces` (separate reads). */
    async function interim(pieces: readonly string[]): Promise<Collector> {
      const call = send(pool!, '/i');
      const { socket } = await raw!.nextRequest();
      await writeInReads(pool!, socket, pieces);
      await call.done;
      return call;
    }

    it('an unsolicited 100 Continue is absorbed, wherever the reads are cut', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const response = CONTINUE + FINAL;
      for (const at of [0, 1, 9, 12, 20, CONTINUE.length - 2, CONTINUE.length, CONTINUE.length + 10]) {
        const call = await interim(at === 0 ? [response] : [response.slice(0, at), response.slice(at)]);
        expect([call.out.status, call.out.body, call.out.informational, call.log]).toEqual([
          200,
          'hello',
          [],
          ['connect', 'headers 200', 'data', 'complete'],
        ]);
      }
      // The connection carried every exchange.
      expect(raw.sockets).toHaveLength(1);
    });

    it('two 100s with a 103 between them: the handler sees the 103, then the 200', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const response = CONTINUE + HINTS + CONTINUE + FINAL;
      for (const cuts of [
        [],
        [CONTINUE.length + 5],
        [CONTINUE.length + HINTS.length + 3, response.length - 8],
      ]) {
        const pieces: string[] = [];
        let at = 0;
        for (const c of [...cuts, response.length]) {
          pieces.push(response.slice(at, c));
          at = c;
        }
        const call = await interim(pieces);
        expect([call.log, call.out.body]).toEqual([
          ['connect', 'headers 103', 'headers 200', 'data', 'complete'],
          'hello',
        ]);
      }
    });

    it('103 reaches onHeaders with its headers before the final response', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const seen: string[][] = [];
      const h = new Collector();
      const onHeaders = h.onHeaders.bind(h);
      h.onHeaders = (status, rawHeaders, resume) => {
        seen.push([String(status), ...rawHeaders.map(String)]);
        return onHeaders(status, rawHeaders, resume);
      };
      send(pool, '/hints', {}, h);
      const { socket } = await raw.nextRequest();
      await writeInReads(pool, socket, [HINTS]);
      expect(seen).toEqual([['103', 'link', '</a.css>; rel=preload']]);
      socket.write(FINAL);
      await h.done;
      expect(seen).toEqual([
        ['103', 'link', '</a.css>; rel=preload'],
        ['200', 'content-length', '5'],
      ]);
    });

    it('a final response whose body looks like a 100 head is passed whole', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const lookalike = `HTTP/1.1 200 OK\r\ncontent-length: ${CONTINUE.length}\r\n\r\n${CONTINUE}`;
      for (const pieces of [
        [lookalike],
        [lookalike.slice(0, -CONTINUE.length), CONTINUE],
        [CONTINUE + lookalike.slice(0, 10), lookalike.slice(10)],
      ]) {
        const call = await interim(pieces);
        expect([call.out.status, call.out.body, call.out.informational]).toEqual([200, CONTINUE, []]);
      }
      expect(raw.sockets).toHaveLength(1);
    });

    it('a 100 on an idle connection (no request outstanding) closes it; the next request gets a new one', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      // A streamed (chunked) request body first: body writes must not make a late 100 look expected.
      const body = new PassThrough();
      const call = send(pool, '/post', { method: 'POST', body });
      const { socket } = await raw.nextRequest();
      body.end('hello');
      // The chunked body ends in an empty line: the raw server reads it as one more "head".
      expect((await raw.nextRequest()).head).toBe('5\r\nhello\r\n0\r\n\r\n');
      socket.write(FINAL);
      expect((await call.done).body).toBe('hello');
      socket.write(CONTINUE);
      await closed(socket);
      expect(pool.stats.connected).toBe(0);
      const next = send(pool, '/next');
      const r2 = await raw.nextRequest();
      expect(r2.socket).not.toBe(socket);
      r2.socket.write(FINAL);
      expect((await next.done).body).toBe('hello');
    });
  });

  describe('TLS origination', () => {
    it('ALPN offers http/1.1; SNI is the DR sni, else the Host (auto-SNI); idle connections are kept per SNI', async () => {
      const pki = createTestPki();
      try {
        const leaf = pki.issue('up', {
          cn: 'up.example.com',
          dns: ['up.example.com', 'alt.example.com'],
          ips: ['127.0.0.1'],
        });
        const seen: { servername: string; alpn: string; socket: net.Socket }[] = [];
        up = await startHttp({
          tls: leaf,
          handle: (req, res) => {
            req.resume();
            const s = req.socket as TLSSocket;
            seen.push({
              servername: String((s as { servername?: string | false }).servername),
              alpn: String(s.alpnProtocol),
              socket: s,
            });
            res.end('tls');
          },
        });
        const auto = compileOriginationTls({ mode: 'SIMPLE', caCertificates: pki.caFile }, '/').tls!;
        pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port, tls: auto });
        expect((await send(pool, '/1').done).body).toBe('tls');
        expect((await send(pool, '/2', { headers: ['host', 'alt.example.com:443'] }).done).body).toBe('tls');
        expect((await send(pool, '/3').done).body).toBe('tls');
        // No Host: the endpoint is an IP, so no SNI (verified against the IP SAN).
        expect((await send(pool, '/4', { headers: [] }).done).body).toBe('tls');
        expect(seen.map((s) => [s.servername, s.alpn])).toEqual([
          ['up.example.com', 'http/1.1'],
          ['alt.example.com', 'http/1.1'],
          ['up.example.com', 'http/1.1'],
          ['false', 'http/1.1'],
        ]);
        expect(seen[2]!.socket).toBe(seen[0]!.socket);
        expect(up.connections).toHaveLength(3);

        const fixed = compileOriginationTls(
          { mode: 'SIMPLE', sni: 'alt.example.com', caCertificates: pki.caFile },
          '/',
        ).tls!;
        const fixedPool = new H1Pool({ ...POOL_DEFAULTS, port: up.port, tls: fixed });
        expect((await send(fixedPool, '/5').done).status).toBe(200);
        expect((await send(fixedPool, '/6', { headers: ['host', 'other.example.com'] }).done).status).toBe(
          200,
        );
        expect(seen.slice(4).map((s) => s.servername)).toEqual(['alt.example.com', 'alt.example.com']);
        expect(seen[5]!.socket).toBe(seen[4]!.socket);
        await fixedPool.destroy();

        const wrong = compileOriginationTls(
          { mode: 'SIMPLE', sni: 'other.example.com', caCertificates: pki.caFile },
          '/',
        ).tls!;
        const wrongPool = new H1Pool({ ...POOL_DEFAULTS, port: up.port, tls: wrong });
        const failed = await send(wrongPool, '/7').done;
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

  describe('lifecycle', () => {
    it('stats at each step: waiting, running, free, closed', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      expect(pool.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
      const call = send(pool, '/s');
      expect(pool.stats).toEqual({ connected: 0, free: 0, pending: 1, running: 0 });
      const { socket } = await raw.nextRequest();
      expect(pool.stats).toEqual({ connected: 1, free: 0, pending: 0, running: 1 });
      socket.write(FINAL);
      await call.done;
      expect(pool.stats).toEqual({ connected: 1, free: 1, pending: 0, running: 0 });
      const again = send(pool, '/t');
      expect(pool.stats).toEqual({ connected: 1, free: 0, pending: 0, running: 1 });
      await raw.nextRequest();
      socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      const client = clientSocketOf(pool, socket);
      await again.done;
      await closed(client);
      expect(pool.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
    });

    it('close() lets the request in flight finish, refuses new ones, then resolves; destroy() fails them', async () => {
      raw = await startRaw();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const call = send(pool, '/hold');
      const { socket } = await raw.nextRequest();
      let resolved = false;
      const closing = pool.close().then(() => (resolved = true));
      expect((await send(pool, '/late').done).error?.code).toBe('UND_ERR_CLOSED');
      expect(resolved).toBe(false);
      socket.write(FINAL);
      expect((await call.done).body).toBe('hello');
      await closing;
      await closed(socket);

      const other = new H1Pool({ ...POOL_DEFAULTS, port: raw.port });
      const doomed = send(other, '/hold');
      await raw.nextRequest();
      await other.destroy();
      const d = await doomed.done;
      expect([d.error?.code, classifyUpstreamError(d.error)]).toEqual(['UND_ERR_SOCKET', 'reset']);
      expect((await send(other, '/late').done).error?.code).toBe('UND_ERR_CLOSED');
    });

    it('a mirror copy is sent, its response read and dropped, and its budget slot freed', async () => {
      up = await startHttp();
      pool = new H1Pool({ ...POOL_DEFAULTS, port: up.port });
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
      expect(up.requests.map((r) => [r.url, r.headers.host])).toEqual([['/m', 'm-shadow.example.com']]);
      expect(pool.stats).toEqual({ connected: 1, free: 1, pending: 0, running: 0 });
    });
  });
});
