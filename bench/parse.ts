/**
 * Parsers for the load tools' output (wrk, iperf3) and small statistics helpers. Pure functions, no I/O.
 */

/** What one wrk run reported. */
export interface WrkResult {
  /** Completed requests. */
  requests: number;
  /** Run length wrk reports, in seconds. */
  durationS: number;
  /** Requests per second (wrk's `Requests/sec`). */
  rps: number;
  /** Median latency in ms (from `--latency`), null when absent. */
  p50Ms: number | null;
  /** 99th percentile latency in ms, null when absent. */
  p99Ms: number | null;
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number;
  /** Sum of connect, read, write and timeout socket errors. */
  socketErrors: number;
}

const TIME_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Converts a wrk duration such as `812.00us`, `2.31ms`, `1.02s` or `1.00m` to milliseconds.
 * @returns milliseconds, or null when the text is not a duration.
 */
export function parseWrkTime(text: string): number | null {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (m === null) return null;
  return Number(m[1]) * TIME_UNITS_MS[m[2]!]!;
}

/**
 * Parses the text wrk prints with `--latency`.
 * @param out - wrk's stdout.
 * @throws when the output has no `Requests/sec` line (wrk failed).
 */
export function parseWrk(out: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  if (rps === null) throw new Error(`unexpected wrk output:\n${out}`);
  const total = /^\s*(\d+) requests in ([\d.]+\w+)/m.exec(out);
  const p = (q: string): number | null => {
    const m = new RegExp(`^\\s*${q}%\\s+(\\S+)\\s*$`, 'm').exec(out);
    return m === null ? null : parseWrkTime(m[1]!);
  };
  const non2xx = /^\s*Non-2xx or 3xx responses:\s+(\d+)/m.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: total === null ? 0 : Number(total[1]),
    durationS: total === null ? 0 : (parseWrkTime(total[2]!) ?? 0) / 1000,
    rps: Number(rps[1]),
    p50Ms: p('50'),
    p99Ms: p('99'),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: sock === null ? 0 : sock.slice(1).reduce((sum, n) => sum + Number(n), 0),
  };
}

/** What one iperf3 client run reported. */
export interface IperfResult {
  /** Receiver-side throughput over the measured (non-omitted) interval, in Gbit/s. */
  gbps: number;
  /** Sender-side throughput, in Gbit/s. */
  sentGbps: number;
  /** Sender retransmits (0 expected on loopback). */
  retransmits: number;
}

/**
 * Parses `iperf3 -c … -J` output.
 * @param out - iperf3's JSON stdout.
 * @throws when the JSON is invalid or iperf3 reported an error.
 */
export function parseIperf(out: string): IperfResult {
  const doc = JSON.parse(out) as {
    error?: string;
    end?: {
      sum_sent?: { bits_per_second?: number; retransmits?: number };
      sum_received?: { bits_per_second?: number };
    };
  };
  if (doc.error !== undefined) throw new Error(`iperf3: ${doc.error}`);
  const received = doc.end?.sum_received?.bits_per_second;
  const sent = doc.end?.sum_sent?.bits_per_second;
  if (received === undefined && sent === undefined) throw new Error('iperf3: no end summary in output');
  return {
    gbps: (received ?? sent ?? 0) / 1e9,
    sentGbps: (sent ?? 0) / 1e9,
    retransmits: doc.end?.sum_sent?.retransmits ?? 0,
  };
}

/**
 * Nearest-rank percentile of an ascending-sorted array.
 * @param sorted - values sorted ascending.
 * @param p - percentile in (0, 100].
 * @returns the value, or null for an empty array.
 */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Per-core jiffy counters from /proc/stat. */
export interface CpuTimes {
  busy: number;
  total: number;
}

/**
 * Parses /proc/stat into per-core counters (`cpu0`, `cpu1`, …).
 * @param stat - contents of /proc/stat.
 * @returns counters indexed by core number.
 */
export function parseProcStat(stat: string): Map<number, CpuTimes> {
  const cores = new Map<number, CpuTimes>();
  for (const line of stat.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user/nice).
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    cores.set(Number(m[1]), { busy: total - idle, total });
  }
  return cores;
}

/** CPU time of one process, from `/proc/PID/stat`, in clock ticks (USER_HZ, the unit of /proc/stat). */
export interface PidTicks {
  /** utime + stime of the process itself (all its threads). */
  own: number;
  /** cutime + cstime: children it has waited for (reaped), over their whole lives. */
  reapedChildren: number;
}

/**
 * Parses the text of `/proc/PID/stat`.
 * @returns the process's CPU ticks, or null if unparsable.
 */
export function parsePidStat(stat: string): PidTicks | null {
  // The command name (field 2) is parenthesised and may contain spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so fields 14-17 (utime stime cutime cstime) are rest[11..14].
  const [utime, stime, cutime, cstime] = rest.slice(11, 15).map(Number);
  if (![utime, stime, cutime, cstime].every((n) => n !== undefined && Number.isFinite(n))) return null;
  return { own: utime! + stime!, reapedChildren: cutime! + cstime! };
}
