/**
 * Short-connection TCP load client: `concurrency` loops of connect → write `size` bytes → read the
 * `size` bytes echoed back → half-close → wait for the peer's FIN, for `duration` seconds.
 *
 * What it measures is the per-connection cost of whatever sits between it and an echo server: accept,
 * upstream connect, two FIN handshakes. Run it pinned to the load-generator core.
 *
 * Usage: `node dist/bench/tcp-short.js --port N [--host 127.0.0.1] [--concurrency 50] [--duration 10]
 * [--size 64] [--timeout 5000]`. Prints one JSON line, a {@link ShortConnResult}; SIGINT ends the run
 * early and still prints it.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { percentile } from './parse.js';

/** Outcome of a short-connection run. */
export interface ShortConnResult {
  /** Connections completed successfully (full echo read, clean close). */
  connections: number;
  /** Connections that failed (refused, reset, timed out, short read). */
  errors: number;
  /** First error message seen, if any, to tell what went wrong. */
  firstError: string | null;
  /** Wall time from the first connect to the last close, in seconds. */
  elapsedS: number;
  /** Successful connections per second. */
  connPerSec: number;
  /** Median connection lifetime (connect start → close), in ms. */
  p50Ms: number | null;
  /** 99th percentile connection lifetime, in ms. */
  p99Ms: number | null;
}

/** Options of {@link runShortConnections}. */
export interface ShortConnOptions {
  host: string;
  port: number;
  /** Parallel connect loops. */
  concurrency: number;
  /** How long new connections are started, in seconds. */
  durationS: number;
  /** Payload written and expected back, in bytes. */
  size: number;
  /** Per-connection deadline, in ms. */
  timeoutMs: number;
  /** Ends the run early (no new connections; open ones finish). */
  stop?: AbortSignal;
}

/**
 * Runs the short-connection loops and reports connections/s and lifetime percentiles.
 * @param opts - target and load shape; see {@link ShortConnOptions}.
 */
export async function runShortConnections(opts: ShortConnOptions): Promise<ShortConnResult> {
  const payload = Buffer.alloc(opts.size, 0x61);
  const lifetimes: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const start = performance.now();
  const deadline = start + opts.durationS * 1000;

  const loop = async (): Promise<void> => {
    while (performance.now() < deadline && opts.stop?.aborted !== true) {
      const t0 = performance.now();
      try {
        await oneConnection(opts, payload);
        lifetimes.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        // Don't spin on a dead target: a refused connect returns immediately.
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const elapsedS = (performance.now() - start) / 1000;
  lifetimes.sort((a, b) => a - b);
  return {
    connections: lifetimes.length,
    errors,
    firstError,
    elapsedS,
    connPerSec: lifetimes.length / elapsedS,
    p50Ms: percentile(lifetimes, 50),
    p99Ms: percentile(lifetimes, 99),
  };
}

function oneConnection(opts: ShortConnOptions, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let failure: Error | null = null;
    const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true });
    socket.setTimeout(opts.timeoutMs, () => socket.destroy(new Error(`timeout after ${opts.timeoutMs} ms`)));
    socket.once('connect', () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // All echoed: half-close; the echo side answers with its FIN, which ends the connection.
      if (received >= payload.length) socket.end();
    });
    socket.once('error', (err) => {
      failure = err;
    });
    socket.once('close', () => {
      if (failure !== null) reject(failure);
      else if (received < payload.length)
        reject(new Error(`short read: ${received}/${payload.length} bytes`));
      else resolve();
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      concurrency: { type: 'string', default: '50' },
      duration: { type: 'string', default: '10' },
      size: { type: 'string', default: '64' },
      timeout: { type: 'string', default: '5000' },
    },
  });
  if (values.port === undefined) throw new Error('--port is required');
  // SIGINT ends the run early and still prints the result (the interleaved TCP bench stops it so).
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const result = await runShortConnections({
    host: values.host,
    port: Number(values.port),
    concurrency: Number(values.concurrency),
    durationS: Number(values.duration),
    size: Number(values.size),
    timeoutMs: Number(values.timeout),
    stop: stop.signal,
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
