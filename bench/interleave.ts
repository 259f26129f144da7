/**
 * Paired, finely interleaved measurement of two proxies on the same core: what the telemetry cost
 * figure is made of.
 *
 * Why: these machines are virtual, and a core's speed drifts by ±20–40% over seconds (other guests).
 * Two 10 s runs one after the other can differ by more than the effect being measured. Here both
 * proxies run at once, pinned to the same core, and one wrk per proxy (on the load core) is
 * resumed and paused in turn (SIGCONT/SIGSTOP) every {@link SLICE_MS}: each proxy sees the same
 * mix of fast and slow moments. Each proxy's cost is its own CPU time (/proc/PID/stat) divided by
 * the requests wrk completed through it, so the idle half of every slice does not count.
 * An A/A run (the same build twice) measured within ±0.04 of 1.00 on these machines.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { parsePidStat, parseWrk } from './parse.js';
import { pinned, sleep, spawnTracked } from './proc.js';

/** How long each wrk runs before the other takes over, ms. */
export const SLICE_MS = 250;
/** Kernel clock ticks per second (USER_HZ), the unit of /proc/PID/stat. */
const TICKS_PER_S = 100;

/** One side of the pair. */
export interface InterleaveTarget {
  /** Local port the proxy listens on. */
  port: number;
  /** The proxy's pid (its CPU time is read from /proc). */
  pid: number;
}

/** What one side measured. */
export interface InterleaveSide {
  /** Requests wrk completed through this proxy. */
  requests: number;
  /** Non-2xx responses plus socket errors. */
  errors: number;
  /** Proxy CPU time (all threads), ms. */
  cpuMs: number;
  /** Proxy CPU time per request, µs. */
  cpuUsPerRequest: number;
  /** Requests per second one fully busy core would serve: 1e6 / cpuUsPerRequest. */
  perCoreRps: number;
}

/** Options of {@link measureInterleaved}. */
export interface InterleaveOptions {
  /** Seconds of load each side gets (the run takes twice as long). */
  seconds: number;
  /** wrk connections per side. */
  connections: number;
  /** Core wrk is pinned to. */
  loadCore: number;
}

function cpuTicks(pid: number): number {
  const t = parsePidStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  if (t === null) throw new Error(`cannot read CPU time of pid ${pid}`);
  return t.own;
}

function startWrk(port: number, opts: InterleaveOptions): { child: ChildProcess; done: Promise<string> } {
  // Long enough never to end by itself: the run ends it with SIGINT, after which wrk prints its totals.
  const wall = 2 * opts.seconds + 60;
  const args = ['-t1', `-c${opts.connections}`, `-d${wall}s`, '--timeout', '2s', `http://127.0.0.1:${port}/`];
  const [cmd, argv] = pinned(opts.loadCore, 'wrk', args);
  const child = spawnTracked('wrk', cmd, argv, ['ignore', 'pipe', 'pipe']);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const done = new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve(out));
  });
  // Awaited only at the end: a failure meanwhile must not surface as an unhandled rejection.
  done.catch(() => undefined);
  return { child, done };
}

/**
 * Drives `a` and `b` alternately, {@link SLICE_MS} each, until each had `opts.seconds` of load.
 * Both must already be warm (JIT, pools). Requires wrk and a Linux /proc.
 * @returns the two sides' measurements.
 * @throws Error when wrk fails or a proxy's CPU time cannot be read.
 */
export async function measureInterleaved(
  a: InterleaveTarget,
  b: InterleaveTarget,
  opts: InterleaveOptions,
): Promise<{ a: InterleaveSide; b: InterleaveSide }> {
  const stop = (c: ChildProcess): boolean => c.kill('SIGSTOP');
  const cont = (c: ChildProcess): boolean => c.kill('SIGCONT');
  const started: { child: ChildProcess; done: Promise<string> }[] = [];
  try {
    const wa = startWrk(a.port, opts);
    started.push(wa);
    const wb = startWrk(b.port, opts);
    started.push(wb);
    stop(wa.child);
    stop(wb.child);
    await sleep(300);
    const a0 = cpuTicks(a.pid);
    const b0 = cpuTicks(b.pid);
    const pairs = Math.max(1, Math.round((opts.seconds * 1000) / SLICE_MS));
    for (let i = 0; i < pairs; i++) {
      cont(wa.child);
      await sleep(SLICE_MS);
      stop(wa.child);
      cont(wb.child);
      await sleep(SLICE_MS);
      stop(wb.child);
    }
    // Requests already sent finish inside the window (their responses wait in wrk's sockets).
    await sleep(300);
    const a1 = cpuTicks(a.pid);
    const b1 = cpuTicks(b.pid);
    for (const w of [wa, wb]) {
      cont(w.child);
      w.child.kill('SIGINT');
    }
    const [outA, outB] = await Promise.all([wa.done, wb.done]);
    return { a: side(outA, a1 - a0), b: side(outB, b1 - b0) };
  } finally {
    for (const w of started) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }
}

function side(wrkOut: string, ticks: number): InterleaveSide {
  const w = parseWrk(wrkOut);
  if (w.requests === 0) throw new Error('wrk completed no request');
  const cpuMs = (ticks * 1000) / TICKS_PER_S;
  const cpuUsPerRequest = w.requests > 0 ? (cpuMs * 1000) / w.requests : NaN;
  return {
    requests: w.requests,
    errors: w.non2xx + w.socketErrors,
    cpuMs,
    cpuUsPerRequest,
    perCoreRps: 1e6 / cpuUsPerRequest,
  };
}
