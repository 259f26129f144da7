/**
 * Interleaved TCP comparison: meshgate's TCP proxy and the bare node:net pipe at once on one core, their
 * load generators resumed and paused in turn (the method of bench/interleave.ts, applied to TCP).
 *
 * Why: the sequential `tcp-bulk` rows compare two 10 s runs taken a minute apart, and a core's speed on
 * these virtual machines drifts by more than the difference looked for. Here both proxies see the same
 * moments. The unit of work is read from the kernel, not from the load generator:
 * - bulk: bytes the proxy read (`rchar` of `/proc/PID/io`: every byte it forwards is read once) →
 *   CPU seconds per GB;
 * - short connections: connections completed by the `tcp-short` client → CPU µs per connection.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { parsePidStat } from './parse.js';
import { sleep } from './proc.js';
import { SLICE_MS } from './interleave.js';

/** Kernel clock ticks per second (USER_HZ). */
const TICKS_PER_S = 100;

/** A load generator for one side: started paused by the caller, ended with SIGINT. */
export interface LoadProcess {
  child: ChildProcess;
  /** Resolves with the generator's stdout once it exited. */
  done: Promise<string>;
}

/** What one side's proxy did inside the measured window. */
export interface TcpSideCounters {
  /** Proxy CPU time (all threads), ms. */
  cpuMs: number;
  /** Bytes the proxy read from sockets (rchar delta). */
  bytesRead: number;
  /** The load generator's stdout. */
  output: string;
}

function counters(pid: number): { ticks: number; rchar: number } {
  const t = parsePidStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  if (t === null) throw new Error(`cannot read CPU time of pid ${pid}`);
  const io = /^rchar:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
  if (io === null) throw new Error(`cannot read /proc/${pid}/io`);
  return { ticks: t.own, rchar: Number(io[1]) };
}

/**
 * Alternates two load generators every {@link SLICE_MS} until each had `seconds` of load, and reads each
 * proxy's CPU time and bytes read over the window.
 * @param pids - the two proxies' pids.
 * @param start - starts side `i`'s load generator (it is paused at once).
 * @throws Error when /proc cannot be read.
 */
export async function measureTcpInterleaved(
  pids: readonly [number, number],
  start: (side: 0 | 1) => LoadProcess,
  seconds: number,
): Promise<[TcpSideCounters, TcpSideCounters]> {
  const loads: LoadProcess[] = [];
  try {
    loads.push(start(0), start(1));
    for (const l of loads) l.child.kill('SIGSTOP');
    await sleep(300);
    const before = pids.map(counters);
    const pairs = Math.max(1, Math.round((seconds * 1000) / SLICE_MS));
    for (let i = 0; i < pairs; i++) {
      for (const l of loads) {
        l.child.kill('SIGCONT');
        await sleep(SLICE_MS);
        l.child.kill('SIGSTOP');
      }
    }
    // Bytes in flight drain through the proxies before the window closes.
    await sleep(300);
    const after = pids.map(counters);
    for (const l of loads) {
      l.child.kill('SIGCONT');
      l.child.kill('SIGINT');
    }
    const outs = await Promise.all(loads.map((l) => l.done));
    const side = (i: 0 | 1): TcpSideCounters => ({
      cpuMs: ((after[i]!.ticks - before[i]!.ticks) * 1000) / TICKS_PER_S,
      bytesRead: after[i]!.rchar - before[i]!.rchar,
      output: outs[i]!,
    });
    return [side(0), side(1)];
  } finally {
    for (const l of loads)
      if (l.child.exitCode === null && l.child.signalCode === null) l.child.kill('SIGKILL');
  }
}

/** CPU seconds per GB (1e9 bytes) forwarded. */
export function cpuSecondsPerGb(side: TcpSideCounters): number {
  return side.bytesRead > 0 ? side.cpuMs / 1000 / (side.bytesRead / 1e9) : NaN;
}
