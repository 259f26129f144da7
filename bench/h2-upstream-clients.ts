/**
 * Microbenchmark: the CPU a gRPC unary call costs on the *upstream* side of the gateway, by HTTP/2
 * client, against the bench gRPC upstream (bench/upstream.ts `--mode grpc`, a child process, so its
 * CPU is not counted). Each variant keeps `--inflight` calls going for one round, rounds alternate
 * between variants (interleaved, so a busy shared machine weighs on all of them alike), and the CPU
 * of this process (`process.cpuUsage`) per completed call is reported:
 *
 * - `undici-stream`: an undici `Pool` with `allowH2`, dispatched as the router does it (a streamed
 *   request body, `idempotent: false`, pipelining 1);
 * - `undici-buffer`: the same pool, the body as one Buffer;
 * - `undici-buffer-mux`: the body as one Buffer, `idempotent: true` and pipelining 100, so undici
 *   multiplexes calls on its HTTP/2 connections (it keeps a non-idempotent or streamed request alone
 *   on its connection) — what the gateway would get by marking Buffer-body calls idempotent;
 * - `h2-pool`: the gateway's HTTP/2 upstream pool (upstream/h2-pool.ts), dispatched as the router
 *   does it (original handler callbacks, the body as one Buffer), streams multiplexed on one session;
 * - `h2-pool-stream`: the same pool with a streamed request body;
 * - `http2-session`: one node:http2 `ClientHttp2Session` per connection, `session.request` per call.
 *
 * Usage: `node dist/bench/h2-upstream-clients.js [--seconds 4] [--rounds 6] [--inflight 100]
 * [--connections 10]`; prints one line per variant and a JSON summary line.
 */
import http2 from 'node:http2';
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';
import { H2Pool } from '../upstream/h2-pool.js';
import { startNodeChild, stopChild } from './proc.js';

const CALL_FRAME = Buffer.concat([Buffer.from([0, 0, 0, 0, 16]), Buffer.alloc(16, 0x61)]);
const GRPC_HEADERS = ['content-type', 'application/grpc', 'te', 'trailers'];

/** One way of making gRPC unary calls to the upstream. */
interface Variant {
  readonly name: string;
  /** Makes one call; resolves when the response (and its trailers) ended. */
  call(): Promise<void>;
  close(): Promise<void>;
}

/** A dispatch handler that resolves when the response ended (body drained, trailers seen). */
function dispatchOnce(pool: Pool, body: Buffer | PassThrough, idempotent = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart() {},
      onResponseData() {},
      onResponseEnd: () => resolve(),
      onResponseError: (_c, err) => reject(err),
    };
    pool.dispatch(
      {
        path: '/bench.Echo/Call',
        method: 'POST',
        headers: GRPC_HEADERS,
        body,
        idempotent,
        blocking: false,
        reset: false,
      },
      handler,
    );
  });
}

function undiciVariant(name: string, origin: string, streamed: boolean, mux = false): Variant {
  const pool = new Pool(origin, {
    connections: null,
    pipelining: mux ? 100 : 1,
    allowH2: true,
    connect: { useH2c: true } as Pool.Options['connect'],
    headersTimeout: 0,
    bodyTimeout: 0,
  } as Pool.Options);
  return {
    name,
    call() {
      if (!streamed) return dispatchOnce(pool, CALL_FRAME, mux);
      const body = new PassThrough();
      const done = dispatchOnce(pool, body);
      body.end(CALL_FRAME);
      return done;
    },
    close: () => pool.close(),
  };
}

/** The gateway's pool with a handler in the router's style (original undici callbacks). */
function h2PoolVariant(name: string, port: number, streamed: boolean): Variant {
  const pool = new H2Pool({
    host: '127.0.0.1',
    port,
    connectTimeoutMs: 10_000,
    idleTimeoutMs: 60_000,
    maxRequestsPerConnection: 0,
    maxConcurrentStreams: 0,
  });
  const dispatch = (body: Buffer | PassThrough): Promise<void> =>
    new Promise((resolve, reject) => {
      pool.dispatch(
        { path: '/bench.Echo/Call', method: 'POST', headers: GRPC_HEADERS, body },
        {
          onConnect() {},
          onHeaders: () => true,
          onData: () => true,
          onComplete: () => resolve(),
          onError: reject,
        },
      );
    });
  return {
    name,
    call() {
      if (!streamed) return dispatch(CALL_FRAME);
      const body = new PassThrough();
      const done = dispatch(body);
      body.end(CALL_FRAME);
      return done;
    },
    close: () => pool.close(),
  };
}

function sessionVariant(origin: string, connections: number): Variant {
  const sessions = Array.from({ length: connections }, () => http2.connect(origin));
  let next = 0;
  return {
    name: 'http2-session',
    call() {
      const session = sessions[next++ % sessions.length]!;
      return new Promise((resolve, reject) => {
        const req = session.request({
          ':method': 'POST',
          ':path': '/bench.Echo/Call',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        req.on('error', reject);
        req.on('data', () => {});
        req.on('close', () => resolve());
        req.end(CALL_FRAME);
      });
    },
    async close() {
      await Promise.all(sessions.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

/** Keeps `inflight` calls going for `ms`; returns the calls completed and this process's CPU, µs. */
async function round(v: Variant, inflight: number, ms: number): Promise<{ calls: number; cpuUs: number }> {
  const end = performance.now() + ms;
  let calls = 0;
  const cpu0 = process.cpuUsage();
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      await v.call();
      calls++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, loop));
  const cpu = process.cpuUsage(cpu0);
  return { calls, cpuUs: cpu.user + cpu.system };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '6' },
      inflight: { type: 'string', default: '100' },
      connections: { type: 'string', default: '10' },
    },
  });
  const script = new URL('./upstream.js', import.meta.url).pathname;
  const upstream = await startNodeChild('grpc upstream', 1, script, ['--mode', 'grpc']);
  const origin = `http://127.0.0.1:${upstream.port}`;
  const variants = [
    undiciVariant('undici-stream', origin, true),
    undiciVariant('undici-buffer', origin, false),
    undiciVariant('undici-buffer-mux', origin, false, true),
    h2PoolVariant('h2-pool', upstream.port, false),
    h2PoolVariant('h2-pool-stream', upstream.port, true),
    sessionVariant(origin, Number(values.connections)),
  ];
  const inflight = Number(values.inflight);
  const totals = new Map(variants.map((v) => [v.name, { calls: 0, cpuUs: 0 }]));
  try {
    for (const v of variants) await round(v, inflight, 1000); // warm-up: JIT, connections
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const v of variants) {
        const got = await round(v, inflight, Number(values.seconds) * 1000);
        const t = totals.get(v.name)!;
        t.calls += got.calls;
        t.cpuUs += got.cpuUs;
      }
    }
  } finally {
    for (const v of variants) await v.close();
    await stopChild(upstream.child);
  }
  const summary: Record<string, { calls: number; cpuUsPerCall: number }> = {};
  for (const [name, t] of totals) {
    summary[name] = { calls: t.calls, cpuUsPerCall: Math.round((t.cpuUs / t.calls) * 10) / 10 };
    console.log(
      `${name.padEnd(18)} ${String(t.calls).padStart(8)} calls  ${summary[name].cpuUsPerCall} cpu-µs/call`,
    );
  }
  console.log(JSON.stringify(summary));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
