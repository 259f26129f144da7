/**
 * meshgate benchmark runner (`npm run bench`).
 *
 * Puts the proxy under test alone on core 0 and everything else (load generator, upstream, this runner)
 * on core 1, then measures in one run:
 * - HTTP keep-alive rps and latency with wrk: direct to the upstream, through the minimal node:http +
 *   undici proxy (the Node yardstick), through meshgate in each of {@link MESHGATE_VARIANTS}.
 * - TCP bulk throughput with iperf3 and short-connection rate with tcp-short: through a bare node:net
 *   pipe (the TCP yardstick) and through meshgate.
 * Prints a table and the ratios meshgate/yardstick, and writes `.bench/results.json`.
 *
 * Flags: `--duration S` (10), `--warmup S` (3), `--connections N` (50), `--only http|http-pair|tcp|…`,
 * `--json FILE` (extra copy of the results), `--meshgate PATH` (default `dist/cli/main.js`).
 * `--only workers` runs the `--concurrency` measurement instead (`workers.ts`, unpinned, its defaults).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UPSTREAM_BODY } from './child-io.js';
import {
  HTTP_GATEWAY_PORT,
  MESHGATE_VARIANTS,
  TCP_GATEWAY_PORT,
  httpConfigYaml,
  startMeshgate,
  tcpConfigYaml,
  type MeshgateVariant,
} from './meshgate.js';
import {
  parseIperf,
  parsePidStat,
  parseProcStat,
  parseWrk,
  type IperfResult,
  type PidTicks,
  type WrkResult,
} from './parse.js';
import {
  commandLine,
  freePort,
  hasCommand,
  installCleanup,
  livePids,
  pinned,
  runTracked,
  sleep,
  spawnTracked,
  startCollecting,
  startNodeChild,
  stopAll,
  stopChild,
  type PortChild,
} from './proc.js';
import type { ShortConnResult } from './tcp-short.js';
import { h2Benches, type H2BenchContext, type H2BenchResults } from './h2-pairs.js';
import { SLICE_MS, measureInterleaved, type InterleaveSide } from './interleave.js';
import { runReloadBench, type ReloadResult } from './reload.js';
import type { MicroResult } from './micro.js';
import { cpuSecondsPerGb, measureTcpInterleaved, type LoadProcess } from './tcp-interleave.js';

/** Published yardsticks for these machines, one core each (see bench/README.md). */
const YARDSTICKS = {
  'nginx rps': '30,000-32,000',
  'minimal node:http + undici Pool proxy rps': '7,300-8,100',
  'fastify + @fastify/http-proxy (defaults) rps': '3,700-5,600',
  'bare node:net pipe bulk Gbit/s': '~6.2',
  'bare node:net pipe short conn/s': '~2,800',
};

type Bench = 'http' | 'tcp-bulk' | 'tcp-short';
type Status = 'ok' | 'skipped' | 'unsupported' | 'failed';

/** One row of the results table. */
export interface CaseResult {
  /** `bench/target`, e.g. `http/minimal-proxy`, `tcp-bulk/meshgate`. */
  id: string;
  bench: Bench;
  /** Target: `direct`, `minimal-proxy`, `bare-pipe` or a meshgate variant id. */
  target: string;
  label: string;
  status: Status;
  unit: 'rps' | 'Gbit/s' | 'conn/s';
  /** The headline number in `unit`; null when the case did not run. */
  value: number | null;
  /**
   * `value` divided by the share of a core the proxy process used: what one fully busy core would do,
   * extrapolated linearly (a slight underestimate when the proxy was not saturated). Null without a proxy.
   */
  perCore: number | null;
  /** Median latency in ms (HTTP request, or TCP connection lifetime). */
  p50Ms: number | null;
  /** 99th percentile latency in ms. */
  p99Ms: number | null;
  /** CPU use over the measured window, in % of one core; see {@link CpuUsage}. */
  cpu: CpuUsage;
  /** Errors seen while measuring (non-2xx + socket errors, failed connections). */
  errors: number;
  /** Free text: why skipped/failed, access-log size, warnings. */
  note: string;
  /** The proxy command line, when there was one. */
  command?: string;
}

/** CPU use over a measured window, each in % of one core (null when /proc is unavailable). */
export interface CpuUsage {
  /** Busy % of the proxy core. */
  proxyCore: number | null;
  /** Busy % of the load core. */
  loadCore: number | null;
  /** CPU % used by the proxy process itself (including kernel time spent on its behalf). */
  proxyProcess: number | null;
  /**
   * Busy % of the proxy core not explained by the proxy process: other programs stealing the core the
   * proxy should have had alone. Above a few % the row is noisy.
   */
  otherOnProxyCore: number | null;
  /** Same for the load core: busy % not explained by the runner, load generator and upstream. */
  otherOnLoadCore: number | null;
}

/** A meshgate/yardstick comparison. */
export interface Ratio {
  name: string;
  /** Ratio of the measured values. */
  value: number | null;
  /**
   * Ratio of the per-core values ({@link CaseResult.perCore}); null for direct, whose cost is not on the
   * proxy core. Steadier than `value` when the load core was the bottleneck or the machine was busy.
   */
  perCore: number | null;
}

interface Options {
  durationS: number;
  warmupS: number;
  connections: number;
  only: 'http' | 'http-pair' | 'tcp' | 'tcp-pair' | 'h2' | 'reload' | 'micro' | 'workers' | null;
  json: string | null;
  meshgateMain: string;
  /** Host counts of the reload bench (`--hosts 1000,10000`). */
  reloadHosts: number[];
  /** `--concurrency` of the gateway in the reload bench (`--reload-concurrency 1,2`; 1: one process). */
  reloadConcurrency: number[];
}

const BENCH_DIR = path.resolve('.bench');
const HERE = path.dirname(fileURLToPath(import.meta.url));
const script = (name: string): string => path.join(HERE, name);

/** Above this much CPU used by other programs on a core a case depends on (in %), its row is flagged noisy. */
const OTHER_LOAD_WARN_PCT = 5;

let PROXY_CORE = 0;
let LOAD_CORE = 1;

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      only: { type: 'string' },
      json: { type: 'string' },
      meshgate: { type: 'string', default: 'dist/cli/main.js' },
      hosts: { type: 'string', default: '1000,10000' },
      'reload-concurrency': { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(
      'usage: npm run bench -- [--duration S] [--warmup S] [--connections N] [--only http|http-pair|tcp|tcp-pair|h2|reload|micro|workers]' +
        ' [--json FILE] [--meshgate PATH]',
    );
    process.exit(0);
  }
  const num = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got ${text}`);
    return n;
  };
  const onlyValues = ['http', 'http-pair', 'tcp', 'tcp-pair', 'h2', 'reload', 'micro', 'workers'] as const;
  const only = onlyValues.find((v) => v === values.only) ?? null;
  if (values.only !== undefined && only === null) {
    throw new Error(`--only must be one of ${onlyValues.join(', ')}, got ${values.only}`);
  }
  return {
    durationS: Math.round(num('duration', values.duration, 1)),
    warmupS: Math.round(num('warmup', values.warmup, 0)),
    connections: Math.round(num('connections', values.connections, 1)),
    only,
    json: values.json ?? null,
    meshgateMain: path.resolve(values.meshgate),
    reloadHosts: values.hosts.split(',').map((h) => Math.round(num('hosts', h, 1))),
    reloadConcurrency: values['reload-concurrency']
      .split(',')
      .map((c) => Math.round(num('reload-concurrency', c, 1))),
  };
}

// ---------------------------------------------------------------------------------------------------
// Preflight

/**
 * Makes sure a tool is installed; as root, installs its Debian package (apt-get update on first failure).
 * @returns whether the tool is available afterwards.
 */
function ensureTool(cmd: string, pkg: string): boolean {
  if (hasCommand(cmd)) return true;
  const root = process.getuid?.() === 0;
  const hint = `${root ? '' : 'sudo '}apt-get install -y ${pkg}`;
  if (root && hasCommand('apt-get')) {
    console.log(`bench: ${cmd} not found, installing it: ${hint}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = (): boolean =>
      spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env, timeout: 300_000 })
        .status === 0;
    if (!install()) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env, timeout: 300_000 });
      install();
    }
  }
  if (hasCommand(cmd)) return true;
  console.error(`bench: ${cmd} is not installed. Install it with: ${hint}`);
  return false;
}

/** Pins this runner (all its threads) to the load core so the proxy core only runs the proxy. */
function pinSelf(): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(LOAD_CORE), String(process.pid)], {
    stdio: 'ignore',
  });
  if (r.status !== 0) console.warn('bench: could not pin the runner itself to the load core');
}

/**
 * Samples CPU for one second before anything starts: the cores should be idle. Warns when they are not.
 * @returns busy % per core (proxy core, load core), null values without /proc/stat.
 */
async function busyBeforeStart(): Promise<{ proxyCore: number | null; loadCore: number | null }> {
  const window = new CpuWindow(null);
  await sleep(1000);
  const { proxyCore, loadCore } = window.finish();
  const worst = Math.max(proxyCore ?? 0, loadCore ?? 0);
  if (worst > 10) {
    console.warn(
      `bench: WARNING: the machine is not idle (cores ${Math.round(proxyCore ?? 0)}% / ` +
        `${Math.round(loadCore ?? 0)}% busy before the benchmark started); numbers will be noisy`,
    );
  }
  return { proxyCore, loadCore };
}

// ---------------------------------------------------------------------------------------------------
// Measurement helpers

/** Reads per-core busy/total jiffies; null where /proc/stat is unavailable. */
function cpuSnapshot(): ReturnType<typeof parseProcStat> | null {
  try {
    return parseProcStat(fs.readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

/** CPU ticks of `pid` (`self` for this runner); null when unknown. */
function pidStat(pid: number | 'self'): PidTicks | null {
  try {
    return parsePidStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Where to send load and which process to account CPU to. */
interface Target {
  port: number;
  /** pid of the proxy under test; null when there is none (direct). */
  pid: number | null;
}

/**
 * CPU accounting between its construction and {@link CpuWindow.finish}: per-core busy time from
 * /proc/stat, and the ticks of our own processes (this runner, every child it started, children it
 * reaped meanwhile such as wrk). Core time not explained by our processes was taken by other programs.
 */
class CpuWindow {
  private readonly stat = cpuSnapshot();
  private readonly self = pidStat('self');
  private readonly children = CpuWindow.childTicks();
  private readonly proxyPid: number | null;

  constructor(proxyPid: number | null) {
    this.proxyPid = proxyPid;
  }

  private static childTicks(): Map<number, number> {
    const ticks = new Map<number, number>();
    for (const pid of livePids()) {
      const t = pidStat(pid);
      if (t !== null) ticks.set(pid, t.own);
    }
    return ticks;
  }

  finish(): CpuUsage {
    const stat = cpuSnapshot();
    const self = pidStat('self');
    const children = CpuWindow.childTicks();
    const elapsed = (core: number): number | null => {
      const a = this.stat?.get(core);
      const b = stat?.get(core);
      return a === undefined || b === undefined || b.total <= a.total ? null : b.total - a.total;
    };
    const busyPct = (core: number): number | null => {
      const total = elapsed(core);
      return total === null ? null : (100 * (stat!.get(core)!.busy - this.stat!.get(core)!.busy)) / total;
    };
    const proxyCore = busyPct(PROXY_CORE);
    const loadCore = busyPct(LOAD_CORE);

    // The proxy: the one child pinned to the proxy core.
    let proxyTicks: number | null = this.proxyPid === null ? 0 : null;
    if (this.proxyPid !== null) {
      const before = this.children.get(this.proxyPid);
      const after = children.get(this.proxyPid);
      if (before !== undefined && after !== undefined) proxyTicks = after - before;
    }
    // Everything else of ours runs on the load core: runner + live children + reaped children.
    let loadTicks: number | null = null;
    if (this.self !== null && self !== null) {
      loadTicks = self.own - this.self.own + (self.reapedChildren - this.self.reapedChildren);
      for (const [pid, before] of this.children) {
        // Exited during the window: its whole life went into reapedChildren, remove the part before.
        if (!children.has(pid)) loadTicks -= before;
      }
      for (const [pid, after] of children) {
        if (pid !== this.proxyPid) loadTicks += after - (this.children.get(pid) ?? 0);
      }
    }
    const share = (ticks: number | null, core: number): number | null => {
      const total = elapsed(core);
      return ticks === null || total === null ? null : (100 * ticks) / total;
    };
    const proxyProcess = share(proxyTicks, PROXY_CORE);
    const ours = share(loadTicks, LOAD_CORE);
    const other = (busy: number | null, own: number | null): number | null =>
      busy === null || own === null ? null : Math.max(0, busy - own);
    return {
      proxyCore,
      loadCore,
      proxyProcess: this.proxyPid === null ? null : proxyProcess,
      // With no proxy (direct) nothing of ours should be on the proxy core; still worth showing.
      otherOnProxyCore: other(proxyCore, proxyProcess),
      otherOnLoadCore: PROXY_CORE === LOAD_CORE ? null : other(loadCore, ours),
    };
  }
}

/** Adds a note when other programs took CPU from a core the case depends on. */
function noteInterference(result: CaseResult): void {
  const pairs = interference(result);
  if (pairs.length === 0) return;
  const parts = pairs.map(([core, other]) => `${Math.round(other)}% of core ${core}`);
  addNote(result, `noisy: ${parts.join(', ')} used by other programs`);
}

/** [core, other-programs %] pairs above the warning threshold, for the cores this case uses. */
function interference(result: CaseResult): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const { otherOnProxyCore, otherOnLoadCore } = result.cpu;
  // Direct runs nothing on the proxy core: load there doesn't matter.
  if (result.target !== 'direct' && otherOnProxyCore !== null && otherOnProxyCore > OTHER_LOAD_WARN_PCT) {
    out.push([PROXY_CORE, otherOnProxyCore]);
  }
  if (otherOnLoadCore !== null && otherOnLoadCore > OTHER_LOAD_WARN_PCT)
    out.push([LOAD_CORE, otherOnLoadCore]);
  return out;
}

function addNote(result: CaseResult, note: string): void {
  result.note = [result.note, note].filter((n) => n !== '').join('; ');
}

/** GET / once and check the upstream's body came back unchanged; throws otherwise. */
function sanityCheck(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        if (res.statusCode !== 200) reject(new Error(`sanity GET / returned ${res.statusCode}: ${body}`));
        else if (!body.equals(UPSTREAM_BODY))
          reject(new Error(`sanity GET / returned an unexpected body: ${body}`));
        else resolve();
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('sanity GET / timed out')));
    req.on('error', reject);
  });
}

async function runWrk(port: number, seconds: number, opts: Options): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${opts.connections}`,
    `-d${seconds}s`,
    '--latency',
    '--timeout',
    '2s',
    `http://127.0.0.1:${port}/`,
  ];
  const [cmd, argv] = pinned(LOAD_CORE, 'wrk', args);
  const r = await runTracked('wrk', cmd, argv, (seconds + 20) * 1000);
  if (r.code !== 0) throw new Error(`wrk failed (${r.signal ?? `code ${r.code}`}): ${r.stderr.trim()}`);
  return parseWrk(r.stdout);
}

function emptyResult(bench: Bench, target: string, label: string): CaseResult {
  const unit = bench === 'http' ? 'rps' : bench === 'tcp-bulk' ? 'Gbit/s' : 'conn/s';
  return {
    id: `${bench}/${target}`,
    bench,
    target,
    label,
    status: 'skipped',
    unit,
    value: null,
    perCore: null,
    p50Ms: null,
    p99Ms: null,
    cpu: {
      proxyCore: null,
      loadCore: null,
      proxyProcess: null,
      otherOnProxyCore: null,
      otherOnLoadCore: null,
    },
    errors: 0,
    note: '',
  };
}

function banner(result: CaseResult, what: string): void {
  console.log(`\n▶ ${result.id}: ${what}`);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** wrk warm-up then measured run against 127.0.0.1:`port`, filling `result`. */
async function measureHttp(result: CaseResult, target: Target, opts: Options): Promise<void> {
  const { port } = target;
  await sanityCheck(port);
  if (opts.warmupS > 0) await runWrk(port, opts.warmupS, opts);
  const window = new CpuWindow(target.pid);
  const wrk = await runWrk(port, opts.durationS, opts);
  result.cpu = window.finish();
  result.value = wrk.rps;
  result.p50Ms = wrk.p50Ms;
  result.p99Ms = wrk.p99Ms;
  result.errors = wrk.non2xx + wrk.socketErrors;
  result.status = 'ok';
  if (result.errors > 0) {
    const share = wrk.requests > 0 ? result.errors / wrk.requests : 1;
    addNote(result, `${result.errors} errors (non-2xx ${wrk.non2xx}, socket ${wrk.socketErrors})`);
    // A proxy that fails fast would post a flattering rps: don't let it into the ratios.
    if (share > 0.01) result.status = 'failed';
  }
  noteInterference(result);
  console.log(
    `  ${fmtValue(result)} rps, p50 ${fmtMs(result.p50Ms)} ms, p99 ${fmtMs(result.p99Ms)} ms` +
      (result.note === '' ? '' : ` (${result.note})`),
  );
}

let meshgateMissingReported = false;

/**
 * Starts meshgate for one variant, runs `measure` against its local port, stops it.
 * Missing build → skipped; unknown flag → unsupported; start failure → failed. Never throws.
 */
async function withMeshgate(
  result: CaseResult,
  opts: Options,
  variant: MeshgateVariant,
  config: { yaml: string; name: string; gatewayPort: number },
  measure: (target: Target) => Promise<void>,
): Promise<void> {
  if (!fs.existsSync(opts.meshgateMain)) {
    // The exact line other tooling looks for, once; later cases just say so.
    console.log(meshgateMissingReported ? '  skipped' : 'meshgate: skipped (dist/cli/main.js not built)');
    meshgateMissingReported = true;
    result.status = 'skipped';
    result.note = 'dist/cli/main.js not built';
    return;
  }
  const configPath = path.join(BENCH_DIR, `${config.name}.yaml`);
  fs.writeFileSync(configPath, config.yaml);
  const stdoutPath = path.join(BENCH_DIR, `${result.id.replace('/', '-')}.stdout.log`);
  const localPort = await freePort();
  const start = await startMeshgate({
    mainJs: opts.meshgateMain,
    configPath,
    gatewayPort: config.gatewayPort,
    localPort,
    stdoutPath,
    variant,
    core: PROXY_CORE,
  });
  result.command = start.command;
  console.log(`  $ ${start.command} > ${path.relative(process.cwd(), stdoutPath)}`);
  if (start.kind !== 'ready') {
    result.status = start.kind;
    result.note = start.reason;
    console.log(`  ${start.kind === 'unsupported' ? 'not supported yet' : 'failed'}: ${start.reason}`);
    return;
  }
  try {
    await measure({ port: localPort, pid: start.child.pid ?? null });
  } finally {
    await stopChild(start.child);
  }
  const logBytes = fs.existsSync(stdoutPath) ? fs.statSync(stdoutPath).size : 0;
  const notes = [result.note, start.warning ?? '', `stdout log ${(logBytes / 1e6).toFixed(1)} MB`];
  result.note = notes.filter((n) => n !== '').join('; ');
}

/** Runs one case body, turning any exception into a `failed` row instead of aborting the run. */
async function guarded(result: CaseResult, body: () => Promise<void>): Promise<CaseResult> {
  try {
    await body();
    const proxyPct = result.cpu.proxyProcess;
    if (result.value !== null && proxyPct !== null && proxyPct > 5)
      result.perCore = (result.value * 100) / proxyPct;
  } catch (err) {
    result.status = 'failed';
    result.note = [result.note, errorMessage(err)].filter((n) => n !== '').join('; ');
    console.log(`  failed: ${errorMessage(err)}`);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Benches

async function httpBench(opts: Options, results: CaseResult[]): Promise<void> {
  const upstream = await startNodeChild('upstream', LOAD_CORE, script('upstream.js'), ['--mode', 'http']);
  try {
    // `--only http-pair`: the interleaved pairs alone (the figures to track), without the sequential rows.
    if (opts.only !== 'http-pair') await httpRows(opts, results, upstream);
    await interleavedBenches(opts, upstream.port);
    // HOOK(https): HTTPS keep-alive through meshgate goes here, as a variant with benches: ['https'];
    // see the HOOK(https) note in bench/meshgate.ts for the plan and the ratio to report.
  } finally {
    await stopChild(upstream.child);
  }
}

/** The sequential HTTP rows: direct, minimal proxy, each meshgate variant. */
async function httpRows(opts: Options, results: CaseResult[], upstream: PortChild): Promise<void> {
  const timing = `warm-up ${opts.warmupS} s, measure ${opts.durationS} s, ${opts.connections} connections`;
  const direct = emptyResult('http', 'direct', 'wrk → upstream');
  banner(direct, timing);
  results.push(await guarded(direct, () => measureHttp(direct, { port: upstream.port, pid: null }, opts)));

  const minimal = emptyResult('http', 'minimal-proxy', 'minimal node:http + undici proxy');
  banner(minimal, timing);
  results.push(
    await guarded(minimal, async () => {
      const args = ['--upstream', `127.0.0.1:${upstream.port}`, '--connections', '128'];
      const proxy = await startNodeChild('minimal-proxy', PROXY_CORE, script('minimal-proxy.js'), args);
      minimal.command = commandLine(...pinned(PROXY_CORE, 'node', [script('minimal-proxy.js'), ...args]));
      try {
        await measureHttp(minimal, { port: proxy.port, pid: proxy.child.pid ?? null }, opts);
      } finally {
        await stopChild(proxy.child);
      }
    }),
  );

  for (const variant of MESHGATE_VARIANTS.filter((v) => v.benches.includes('http'))) {
    const row = emptyResult('http', variant.id, variant.label);
    banner(row, timing);
    const config = {
      yaml: httpConfigYaml(upstream.port),
      name: 'meshgate-http',
      gatewayPort: HTTP_GATEWAY_PORT,
    };
    results.push(
      await guarded(row, () =>
        withMeshgate(row, opts, variant, config, (target) => measureHttp(row, target, opts)),
      ),
    );
  }
}

/** Issue 6's target: metrics + access log may cost at most this share of throughput. */
const TELEMETRY_COST_TARGET = 0.15;

/** One interleaved comparison (see bench/interleave.ts for the method). */
interface InterleavedResult {
  id: string;
  method: string;
  secondsEach: number;
  /** Side A (meshgate with metrics + access log in both comparisons). */
  a: InterleaveSide & { label: string; command: string };
  b: InterleaveSide & { label: string; command: string };
  /** perCoreRps(a) / perCoreRps(b): the geometric mean of the rounds' ratios. */
  ratio: number;
  /** Each round's perCoreRps(a) / perCoreRps(b). */
  rounds: number[];
}

/** The telemetry cost: 1 − ratio of `http/telemetry-cost` (meshgate on / meshgate off). */
interface TelemetryCost {
  cost: number;
  target: number;
  detail: InterleavedResult;
}

let telemetryCost: TelemetryCost | null = null;
let yardstickInterleaved: InterleavedResult | null = null;

/** A proxy started for an interleaved pair. */
interface PairSide {
  label: string;
  command: string;
  port: number;
  pid: number;
  child: ChildProcess;
}

/** The config a meshgate of an interleaved pair loads. */
interface PairConfig {
  yaml: string;
  /** File name under .bench/. */
  file: string;
  gatewayPort: number;
}

/** The HTTP bench config for an interleaved pair. */
const httpPairConfig = (upstreamPort: number): PairConfig => ({
  yaml: httpConfigYaml(upstreamPort),
  file: 'meshgate-http.yaml',
  gatewayPort: HTTP_GATEWAY_PORT,
});

/** Starts one meshgate variant on the proxy core for an interleaved pair; null (printed) on failure. */
async function startPairMeshgate(
  opts: Options,
  config: PairConfig,
  caseId: string,
  variantId: string,
): Promise<PairSide | null> {
  const variant = MESHGATE_VARIANTS.find((v) => v.id === variantId);
  if (!variant || !fs.existsSync(opts.meshgateMain)) {
    console.log('  skipped (meshgate not built)');
    return null;
  }
  const configPath = path.join(BENCH_DIR, config.file);
  fs.writeFileSync(configPath, config.yaml);
  const localPort = await freePort();
  const start = await startMeshgate({
    mainJs: opts.meshgateMain,
    configPath,
    gatewayPort: config.gatewayPort,
    localPort,
    stdoutPath: path.join(BENCH_DIR, `${caseId.replace('/', '-')}-${variant.id}.stdout.log`),
    variant,
    core: PROXY_CORE,
  });
  if (start.kind !== 'ready' || start.child.pid === undefined) {
    console.log(`  failed to start ${variant.id}: ${start.kind === 'ready' ? 'no pid' : start.reason}`);
    return null;
  }
  return {
    label: variant.label,
    command: start.command,
    port: localPort,
    pid: start.child.pid,
    child: start.child,
  };
}

/** Starts the minimal node:http + undici proxy (the yardstick) for an interleaved pair. */
async function startPairMinimalProxy(upstreamPort: number): Promise<PairSide | null> {
  const args = ['--upstream', `127.0.0.1:${upstreamPort}`, '--connections', '128'];
  const proxy = await startNodeChild('minimal-proxy', PROXY_CORE, script('minimal-proxy.js'), args);
  if (proxy.child.pid === undefined) return null;
  return {
    label: 'minimal node:http + undici proxy',
    command: commandLine(...pinned(PROXY_CORE, 'node', [script('minimal-proxy.js'), ...args])),
    port: proxy.port,
    pid: proxy.child.pid,
    child: proxy.child,
  };
}

/**
 * Rounds of an interleaved pair. Each round starts both proxies afresh, the other one first in every
 * other round: a process started first sits idle while the other warms up (and V8 shrinks an idle
 * heap), and the same build against itself measured 0.977 with one pair of processes kept for four
 * rounds, 1.006 with fresh processes in alternating order.
 */
const PAIR_ROUNDS = 4;

/** Sum of the rounds' measurements of one side. */
function sumSides(sides: readonly InterleaveSide[]): InterleaveSide {
  const requests = sides.reduce((n, s) => n + s.requests, 0);
  const cpuMs = sides.reduce((n, s) => n + s.cpuMs, 0);
  const cpuUsPerRequest = (cpuMs * 1000) / requests;
  return {
    requests,
    errors: sides.reduce((n, s) => n + s.errors, 0),
    cpuMs,
    cpuUsPerRequest,
    perCoreRps: 1e6 / cpuUsPerRequest,
  };
}

/**
 * Runs two proxies at once on the proxy core, driven in alternating {@link SLICE_MS} slices
 * (bench/interleave.ts), {@link PAIR_ROUNDS} rounds of fresh processes, and reports side A's per-core
 * throughput relative to side B's: the geometric mean of the rounds' ratios.
 * @returns null when a side could not start or failed (the reason is printed).
 */
async function interleavedPair(
  opts: Options,
  caseId: string,
  what: string,
  starters: [() => Promise<PairSide | null>, () => Promise<PairSide | null>],
): Promise<InterleavedResult | null> {
  const seconds = Math.max(1, Math.round(opts.durationS / 2));
  console.log(
    `\n▶ ${caseId}: ${what}, both on core ${PROXY_CORE} at once, wrk alternated every ${SLICE_MS} ms, ` +
      `${PAIR_ROUNDS} rounds of fresh processes, ${seconds} s each per round`,
  );
  const measured: { a: InterleaveSide; b: InterleaveSide }[] = [];
  const ratios: number[] = [];
  let first: [PairSide, PairSide] | undefined;
  for (let round = 0; round < PAIR_ROUNDS; round++) {
    const sides: (PairSide | undefined)[] = [undefined, undefined];
    try {
      for (const i of round % 2 === 0 ? [0, 1] : [1, 0]) {
        const side = await starters[i]!();
        if (side === null) return null;
        sides[i] = side;
        if (round === 0) console.log(`  $ ${side.command}`);
        await sanityCheck(side.port);
        if (opts.warmupS > 0) await runWrk(side.port, opts.warmupS, opts);
      }
      const [a, b] = sides as [PairSide, PairSide];
      first ??= [a, b];
      const r = await measureInterleaved(a, b, {
        seconds,
        connections: opts.connections,
        loadCore: LOAD_CORE,
      });
      if (r.a.errors > r.a.requests * 0.01 || r.b.errors > r.b.requests * 0.01) {
        console.log('  failed: more than 1% errors');
        return null;
      }
      measured.push(r);
      ratios.push(r.a.perCoreRps / r.b.perCoreRps);
      console.log(
        `  round ${round + 1}: ${r.a.cpuUsPerRequest.toFixed(1)} against ${r.b.cpuUsPerRequest.toFixed(1)} ` +
          `µs CPU/request, per core ${ratios[round]!.toFixed(3)}`,
      );
    } catch (err) {
      console.log(`  failed: ${errorMessage(err)}`);
      return null;
    } finally {
      for (const side of sides) if (side !== undefined) await stopChild(side.child);
    }
  }
  const a = sumSides(measured.map((m) => m.a));
  const b = sumSides(measured.map((m) => m.b));
  for (const [side, m] of [
    [first![0], a],
    [first![1], b],
  ] as const) {
    console.log(
      `  ${side.label}: ${m.cpuUsPerRequest.toFixed(1)} µs CPU/request ` +
        `(${Math.round(m.perCoreRps).toLocaleString('en-US')} rps per core), ` +
        `${m.requests.toLocaleString('en-US')} requests, ${m.errors} errors`,
    );
  }
  return {
    id: caseId,
    method:
      `both on core ${PROXY_CORE} at once, wrk alternated every ${SLICE_MS} ms; CPU time per request from /proc; ` +
      `${PAIR_ROUNDS} rounds of fresh processes started in alternating order, ratio = geometric mean of the rounds`,
    secondsEach: seconds * PAIR_ROUNDS,
    a: { ...a, label: first![0].label, command: first![0].command },
    b: { ...b, label: first![1].label, command: first![1].command },
    ratio: Math.exp(ratios.reduce((n, r) => n + Math.log(r), 0) / ratios.length),
    rounds: ratios,
  };
}

/** Both interleaved comparisons: the telemetry cost and meshgate against the Node yardstick. */
async function interleavedBenches(opts: Options, upstreamPort: number): Promise<void> {
  const tc = await interleavedPair(
    opts,
    'http/telemetry-cost',
    'meshgate with and without metrics + access log',
    [
      () => startPairMeshgate(opts, httpPairConfig(upstreamPort), 'http/telemetry-cost', 'meshgate'),
      () =>
        startPairMeshgate(
          opts,
          httpPairConfig(upstreamPort),
          'http/telemetry-cost',
          'meshgate-telemetry-off',
        ),
    ],
  );
  if (tc !== null) {
    telemetryCost = { cost: 1 - tc.ratio, target: TELEMETRY_COST_TARGET, detail: tc };
    console.log(
      `  telemetry cost: ${((1 - tc.ratio) * 100).toFixed(1)}% of throughput (target ≤ ${TELEMETRY_COST_TARGET * 100}%)`,
    );
  }
  yardstickInterleaved = await interleavedPair(
    opts,
    'http/meshgate-vs-minimal',
    'meshgate (metrics + access log on) and the minimal proxy',
    [
      () => startPairMeshgate(opts, httpPairConfig(upstreamPort), 'http/meshgate-vs-minimal', 'meshgate'),
      () => startPairMinimalProxy(upstreamPort),
    ],
  );
  if (yardstickInterleaved !== null)
    console.log(`  meshgate / minimal proxy, per core: ${yardstickInterleaved.ratio.toFixed(2)}`);
}

/** A TCP proxy to measure: the bare pipe or a meshgate variant. */
interface TcpTarget {
  target: string;
  label: string;
  variant: MeshgateVariant | null;
}

function tcpTargets(): TcpTarget[] {
  return [
    { target: 'bare-pipe', label: 'bare node:net pipe', variant: null },
    ...MESHGATE_VARIANTS.filter((v) => v.benches.includes('tcp')).map((v) => ({
      target: v.id,
      label: v.label,
      variant: v,
    })),
  ];
}

/**
 * Puts `target` in front of 127.0.0.1:`upstreamPort` on the proxy core and runs `measure` through it.
 * @param service - ServiceEntry host/port meshgate routes to (the real port is `upstreamPort`).
 */
async function throughTcpTarget(
  result: CaseResult,
  opts: Options,
  t: TcpTarget,
  upstreamPort: number,
  service: { host: string; port: number },
  measure: (target: Target) => Promise<void>,
): Promise<void> {
  if (t.variant !== null) {
    const config = {
      yaml: tcpConfigYaml(service.host, service.port, upstreamPort),
      name: `meshgate-tcp-${service.host}`,
      gatewayPort: TCP_GATEWAY_PORT,
    };
    await withMeshgate(result, opts, t.variant, config, measure);
    return;
  }
  const args = ['--upstream', `127.0.0.1:${upstreamPort}`];
  const pipe: PortChild = await startNodeChild('tcp-pipe', PROXY_CORE, script('tcp-pipe.js'), args);
  result.command = commandLine(...pinned(PROXY_CORE, 'node', [script('tcp-pipe.js'), ...args]));
  try {
    await measure({ port: pipe.port, pid: pipe.child.pid ?? null });
  } finally {
    await stopChild(pipe.child);
  }
}

/**
 * Starts `iperf3 -s` on the load core on `port` and waits until it listens.
 * @returns a stopper, and a getter for what the server printed on stderr (for error messages).
 */
async function startIperfServer(port: number): Promise<{ stop: () => Promise<void>; stderr: () => string }> {
  // --forceflush: iperf3 block-buffers stdout into a pipe, which would hide "Server listening".
  const [cmd, argv] = pinned(LOAD_CORE, 'iperf3', [
    '-s',
    '-B',
    '127.0.0.1',
    '-p',
    String(port),
    '--forceflush',
  ]);
  // stderr captured, not inherited: iperf3 complains noisily when it is stopped.
  const child = spawnTracked('iperf3 -s', cmd, argv, ['ignore', 'pipe', 'pipe']);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += out.length < 4096 ? c : ''));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += err.length < 4096 ? c : ''));
  const deadline = Date.now() + 5000;
  while (!out.includes('Server listening')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`iperf3 -s did not start: ${`${out}${err}`.trim()}`);
    }
    await sleep(50);
  }
  return { stop: () => stopChild(child), stderr: () => err.trim() };
}

async function tcpBulkBench(opts: Options, results: CaseResult[], haveIperf: boolean): Promise<void> {
  for (const t of tcpTargets()) {
    const row = emptyResult('tcp-bulk', t.target, `iperf3 through ${t.label}`);
    if (!haveIperf) {
      row.note = 'iperf3 not installed (apt-get install -y iperf3)';
      results.push(row);
      continue;
    }
    banner(row, `iperf3 -O ${opts.warmupS} (warm-up, omitted) -t ${opts.durationS}`);
    const iperfPort = await freePort();
    results.push(
      await guarded(row, () =>
        throughTcpTarget(row, opts, t, iperfPort, { host: 'iperf', port: 5201 }, async (target) => {
          // The iperf3 server starts only once the proxy is up: meshgate's readiness probe (a bare
          // connect) would otherwise reach iperf3 as a bogus control connection and confuse it.
          const server = await startIperfServer(iperfPort);
          try {
            await measureIperf(row, target, opts, server.stderr);
          } finally {
            await server.stop();
          }
        }),
      ),
    );
  }
}

/** Runs `iperf3 -c` against the target on the load core, filling `row`. */
async function measureIperf(
  row: CaseResult,
  target: Target,
  opts: Options,
  serverErr: () => string,
): Promise<void> {
  const args = ['-c', '127.0.0.1', '-p', String(target.port), '-t', String(opts.durationS), '-J'];
  if (opts.warmupS > 0) args.push('-O', String(opts.warmupS));
  const [cmd, argv] = pinned(LOAD_CORE, 'iperf3', args);
  // Sample CPU only over the measured seconds, after iperf3's omitted warm-up.
  const cpu: { window: CpuWindow | null } = { window: null };
  const timer = setTimeout(() => (cpu.window = new CpuWindow(target.pid)), opts.warmupS * 1000);
  const r = await runTracked('iperf3 -c', cmd, argv, (opts.durationS + opts.warmupS + 20) * 1000);
  clearTimeout(timer);
  row.cpu = (cpu.window ?? new CpuWindow(target.pid)).finish();
  let iperf: IperfResult;
  try {
    if (r.stdout.trim() === '') throw new Error(`iperf3 -c failed: ${r.stderr.trim()}`);
    iperf = parseIperf(r.stdout);
  } catch (err) {
    const server = serverErr();
    throw new Error(
      `${errorMessage(err)}${server === '' ? '' : ` (server: ${server.replace(/\s+/g, ' ')})`}`,
    );
  }
  row.value = iperf.gbps;
  row.status = 'ok';
  if (iperf.retransmits > 0) addNote(row, `${iperf.retransmits} retransmits`);
  noteInterference(row);
  console.log(`  ${iperf.gbps.toFixed(2)} Gbit/s`);
}

/** Arguments of `node` running tcp-short against `port` for `seconds`. */
function tcpShortArgs(port: number, seconds: number, opts: Options): string[] {
  const flags = { port, concurrency: opts.connections, duration: seconds };
  return [script('tcp-short.js'), ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)])];
}

async function runTcpShort(port: number, seconds: number, opts: Options): Promise<ShortConnResult> {
  const args = tcpShortArgs(port, seconds, opts);
  const [cmd, argv] = pinned(LOAD_CORE, process.execPath, args);
  const r = await runTracked('tcp-short', cmd, argv, (seconds + 30) * 1000);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) {
    throw new Error(`tcp-short failed (${r.signal ?? `code ${r.code}`}): ${r.stderr.trim()}`);
  }
  return JSON.parse(line) as ShortConnResult;
}

async function tcpShortBench(opts: Options, results: CaseResult[]): Promise<void> {
  const echo = await startNodeChild('echo', LOAD_CORE, script('upstream.js'), ['--mode', 'echo']);
  try {
    for (const t of tcpTargets()) {
      const row = emptyResult('tcp-short', t.target, `connect/64 B echo/close through ${t.label}`);
      banner(row, `warm-up ${opts.warmupS} s, measure ${opts.durationS} s, ${opts.connections} loops`);
      results.push(
        await guarded(row, () =>
          throughTcpTarget(row, opts, t, echo.port, { host: 'echo', port: 7 }, async (target) => {
            if (opts.warmupS > 0) await runTcpShort(target.port, opts.warmupS, opts);
            const window = new CpuWindow(target.pid);
            const r = await runTcpShort(target.port, opts.durationS, opts);
            row.cpu = window.finish();
            row.value = r.connPerSec;
            row.p50Ms = r.p50Ms;
            row.p99Ms = r.p99Ms;
            row.errors = r.errors;
            row.status = r.connections > 0 && r.errors <= r.connections * 0.01 ? 'ok' : 'failed';
            if (r.errors > 0) addNote(row, `${r.errors} failed connections (first: ${r.firstError})`);
            noteInterference(row);
            console.log(
              `  ${Math.round(r.connPerSec)} conn/s, p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms` +
                (row.note === '' ? '' : ` (${row.note})`),
            );
          }),
        ),
      );
    }
  } finally {
    await stopChild(echo.child);
  }
}

/** One interleaved TCP comparison: meshgate against the bare pipe (see bench/tcp-interleave.ts). */
interface TcpInterleavedResult {
  id: string;
  method: string;
  secondsEach: number;
  /** CPU per unit: CPU-seconds per GB (bulk) or CPU µs per connection (short). */
  unit: 'cpu-s/GB' | 'cpu-µs/conn';
  meshgate: { cpuMs: number; work: number; cost: number; command: string };
  pipe: { cpuMs: number; work: number; cost: number; command: string };
  /** cost(pipe) / cost(meshgate): 1.00 = as cheap as the pipe. */
  ratio: number;
}

const tcpInterleaved: TcpInterleavedResult[] = [];

/** Starts meshgate (metrics + access log on) for a TCP config on the proxy core. */
async function startTcpPairMeshgate(
  opts: Options,
  caseId: string,
  service: { host: string; port: number },
  upstreamPort: number,
): Promise<PairSide> {
  const config: PairConfig = {
    yaml: tcpConfigYaml(service.host, service.port, upstreamPort),
    file: `meshgate-tcp-pair-${service.host}.yaml`,
    gatewayPort: TCP_GATEWAY_PORT,
  };
  const side = await startPairMeshgate(opts, config, caseId, 'meshgate');
  if (side === null) throw new Error('meshgate did not start');
  return side;
}

async function startTcpPairPipe(upstreamPort: number): Promise<PairSide> {
  const args = ['--upstream', `127.0.0.1:${upstreamPort}`];
  const pipe = await startNodeChild('tcp-pipe', PROXY_CORE, script('tcp-pipe.js'), args);
  return {
    label: 'bare node:net pipe',
    command: commandLine(...pinned(PROXY_CORE, 'node', [script('tcp-pipe.js'), ...args])),
    port: pipe.port,
    pid: pipe.child.pid!,
    child: pipe.child,
  };
}

/** Spawns a load generator on the load core whose stdout is collected. */
function startLoad(name: string, cmd: string, args: string[]): LoadProcess {
  return startCollecting(name, LOAD_CORE, cmd, args);
}

function printTcpPair(r: TcpInterleavedResult): void {
  const f = (x: number): string => (r.unit === 'cpu-s/GB' ? x.toFixed(3) : x.toFixed(1));
  const work = (x: number): string =>
    r.unit === 'cpu-s/GB' ? `${(x / 1e9).toFixed(2)} GB` : `${x.toLocaleString('en-US')} connections`;
  console.log(
    `  meshgate: ${f(r.meshgate.cost)} ${r.unit} (${work(r.meshgate.work)}, ${r.meshgate.cpuMs} ms CPU)`,
  );
  console.log(`  bare pipe: ${f(r.pipe.cost)} ${r.unit} (${work(r.pipe.work)}, ${r.pipe.cpuMs} ms CPU)`);
  console.log(`  meshgate / pipe, per core: ${r.ratio.toFixed(2)}`);
}

/** One side's figures from its CPU time and its units of work (bytes or connections). */
function pairSide(
  cpuMs: number,
  work: number,
  cost: number,
  side: PairSide,
): TcpInterleavedResult['meshgate'] {
  return { cpuMs, work, cost, command: side.command };
}

/**
 * Runs one interleaved TCP pair: records and prints its result, or prints why it failed; always
 * stops both proxies and then runs `cleanup`.
 */
async function runTcpPair(
  sides: PairSide[],
  cleanup: () => Promise<void>,
  body: () => Promise<TcpInterleavedResult>,
): Promise<void> {
  try {
    const r = await body();
    tcpInterleaved.push(r);
    printTcpPair(r);
  } catch (err) {
    console.log(`  failed: ${errorMessage(err)}`);
  } finally {
    for (const side of sides) await stopChild(side.child);
    await cleanup();
  }
}

/** `tcp-bulk/meshgate-vs-pipe`: one iperf3 client and server per proxy, CPU-seconds per GB read. */
async function tcpBulkPair(opts: Options, method: string): Promise<void> {
  const id = 'tcp-bulk/meshgate-vs-pipe';
  console.log(`\n▶ ${id}: iperf3 through each, alternated, ${opts.durationS} s each`);
  const sides: PairSide[] = [];
  const servers: Array<{ stop: () => Promise<void> }> = [];
  const cleanup = async (): Promise<void> => {
    for (const s of servers) await s.stop();
  };
  await runTcpPair(sides, cleanup, async () => {
    const ports = [await freePort(), await freePort()];
    sides.push(await startTcpPairMeshgate(opts, id, { host: 'iperf', port: 5201 }, ports[0]!));
    sides.push(await startTcpPairPipe(ports[1]!));
    for (const p of ports) servers.push(await startIperfServer(p));
    const client = (port: number, seconds: number): string[] => [
      '-c',
      '127.0.0.1',
      '-p',
      String(port),
      '-t',
      String(seconds),
    ];
    for (const side of sides) {
      console.log(`  $ ${side.command}`);
      if (opts.warmupS > 0) {
        const [c, argv] = pinned(LOAD_CORE, 'iperf3', client(side.port, opts.warmupS));
        await runTracked('iperf3 warm-up', c, argv, (opts.warmupS + 20) * 1000);
      }
    }
    const wall = 4 * opts.durationS + 60;
    const [m, p] = await measureTcpInterleaved(
      [sides[0]!.pid, sides[1]!.pid],
      (i) => startLoad('iperf3 -c', 'iperf3', client(sides[i]!.port, wall)),
      opts.durationS,
    );
    return {
      id,
      method: `${method}; bytes from /proc/PID/io rchar`,
      secondsEach: opts.durationS,
      unit: 'cpu-s/GB',
      meshgate: pairSide(m.cpuMs, m.bytesRead, cpuSecondsPerGb(m), sides[0]!),
      pipe: pairSide(p.cpuMs, p.bytesRead, cpuSecondsPerGb(p), sides[1]!),
      ratio: cpuSecondsPerGb(p) / cpuSecondsPerGb(m),
    };
  });
}

/** `tcp-short/meshgate-vs-pipe`: one tcp-short client per proxy against the echo server, CPU µs per connection. */
async function tcpShortPair(opts: Options, method: string): Promise<void> {
  const id = 'tcp-short/meshgate-vs-pipe';
  console.log(`\n▶ ${id}: tcp-short through each, alternated, ${opts.durationS} s each`);
  const echo = await startNodeChild('echo', LOAD_CORE, script('upstream.js'), ['--mode', 'echo']);
  const sides: PairSide[] = [];
  await runTcpPair(
    sides,
    () => stopChild(echo.child),
    async () => {
      sides.push(await startTcpPairMeshgate(opts, id, { host: 'echo', port: 7 }, echo.port));
      sides.push(await startTcpPairPipe(echo.port));
      for (const side of sides) {
        console.log(`  $ ${side.command}`);
        if (opts.warmupS > 0) await runTcpShort(side.port, opts.warmupS, opts);
      }
      const [m, p] = await measureTcpInterleaved(
        [sides[0]!.pid, sides[1]!.pid],
        (i) => startLoad('tcp-short', process.execPath, tcpShortArgs(sides[i]!.port, 100_000, opts)),
        opts.durationS,
      );
      const conns = (out: string): ShortConnResult =>
        JSON.parse(out.trim().split('\n').pop() ?? '{}') as ShortConnResult;
      const cm = conns(m.output);
      const cp = conns(p.output);
      if (cm.errors > cm.connections * 0.01 || cp.errors > cp.connections * 0.01)
        throw new Error(`more than 1% failed connections (meshgate ${cm.errors}, pipe ${cp.errors})`);
      const cost = (cpuMs: number, n: number): number => (cpuMs * 1000) / n;
      return {
        id,
        method: `${method}; connections counted by tcp-short`,
        secondsEach: opts.durationS,
        unit: 'cpu-µs/conn',
        meshgate: pairSide(m.cpuMs, cm.connections, cost(m.cpuMs, cm.connections), sides[0]!),
        pipe: pairSide(p.cpuMs, cp.connections, cost(p.cpuMs, cp.connections), sides[1]!),
        ratio: cost(p.cpuMs, cp.connections) / cost(m.cpuMs, cm.connections),
      };
    },
  );
}

/**
 * TCP bulk and short connections, meshgate and the bare pipe at once on the proxy core, load
 * alternated every {@link SLICE_MS} (bench/tcp-interleave.ts).
 */
async function tcpInterleavedBenches(opts: Options, haveIperf: boolean): Promise<void> {
  if (!fs.existsSync(opts.meshgateMain)) return;
  const method = `both on core ${PROXY_CORE} at once, load alternated every ${SLICE_MS} ms; CPU from /proc/PID/stat`;
  if (haveIperf) await tcpBulkPair(opts, method);
  await tcpShortPair(opts, method);
}

/** What the h2/gRPC/WebSocket group (bench/h2-pairs.ts) borrows from the runner. */
function h2Context(opts: Options): H2BenchContext {
  return {
    durationS: opts.durationS,
    warmupS: opts.warmupS,
    proxyCore: PROXY_CORE,
    loadCore: LOAD_CORE,
    benchDir: BENCH_DIR,
    script,
    startMeshgate: (caseId, upstreamPort, protocol) =>
      startPairMeshgate(
        opts,
        {
          yaml: httpConfigYaml(upstreamPort, protocol),
          file: `meshgate-${caseId.replace('/', '-')}.yaml`,
          gatewayPort: HTTP_GATEWAY_PORT,
        },
        caseId,
        'meshgate',
      ),
  };
}

/** The reload benchmark (bench/reload.ts) against the HTTP upstream on the load core. */
async function reloadBench(opts: Options): Promise<ReloadResult[]> {
  const upstream = await startNodeChild('upstream', LOAD_CORE, script('upstream.js'), []);
  try {
    return await runReloadBench({
      meshgateMain: opts.meshgateMain,
      benchDir: BENCH_DIR,
      proxyCore: PROXY_CORE,
      sizes: opts.reloadHosts,
      concurrency: opts.reloadConcurrency,
      upstreamPort: upstream.port,
    });
  } finally {
    await stopChild(upstream.child);
  }
}

/** The data-path micro measurements (bench/micro.ts), pinned to the proxy core with --expose-gc. */
async function microBench(): Promise<MicroResult | null> {
  console.log(
    `\n▶ micro: wildcard lookup, consistent-hash first pick, endpoint state memory (core ${PROXY_CORE})`,
  );
  const [cmd, argv] = pinned(PROXY_CORE, process.execPath, ['--expose-gc', script('micro.js')]);
  const r = await runTracked('micro', cmd, argv, 300_000);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) {
    console.log(`  failed: ${r.stderr.trim()}`);
    return null;
  }
  const m = JSON.parse(line) as MicroResult;
  const w = m.wildcard;
  console.log(
    `  wildcard lookup, ${w.hosts.toLocaleString('en-US')} wildcard hosts: ${w.bucketsUsPerLookup} µs (suffix buckets) vs ${w.scanUsPerLookup} µs (scan)`,
  );
  for (const p of m.firstPick)
    console.log(
      `  ${p.balancer}, ${p.endpoints} endpoints: first pick ${p.preparedFirstPickMs} ms (table built at reconcile in ${p.prepareMs} ms) vs ${p.lazyFirstPickMs} ms (built on the pick)`,
    );
  const e = m.endpointMemory;
  console.log(
    `  endpoint state, ${e.endpoints.toLocaleString('en-US')} endpoints: ${e.lazyHeapBytesEach} B heap / ${e.lazyRssBytesEach} B RSS each (pool on first use) vs ${e.eagerHeapBytesEach} B / ${e.eagerRssBytesEach} B (pool per endpoint)`,
  );
  return m;
}

// ---------------------------------------------------------------------------------------------------
// Reporting

function fmtValue(r: CaseResult): string {
  return fmtNumber(r.value, r.unit);
}

function fmtNumber(value: number | null, unit: CaseResult['unit']): string {
  if (value === null) return '-';
  if (unit === 'Gbit/s') return value.toFixed(2);
  return Math.round(value).toLocaleString('en-US');
}

function fmtMs(ms: number | null): string {
  return ms === null ? '-' : ms.toFixed(2);
}

function fmtPct(p: number | null): string {
  return p === null ? '-' : `${Math.round(p)}%`;
}

function computeRatios(results: CaseResult[]): Ratio[] {
  const ok = (id: string): CaseResult | undefined => results.find((r) => r.id === id && r.status === 'ok');
  const div = (n: number | null | undefined, d: number | null | undefined): number | null =>
    n != null && d != null && d > 0 ? n / d : null;
  const ratio = (num: string, den: string): Ratio => ({
    name: `${num} / ${den}`,
    value: div(ok(num)?.value, ok(den)?.value),
    perCore: div(ok(num)?.perCore, ok(den)?.perCore),
  });
  const ran = (id: string): boolean => results.some((r) => r.id === id);
  const out: Ratio[] = [];
  for (const v of MESHGATE_VARIANTS) {
    if (!ran(`http/${v.id}`)) continue;
    out.push(ratio(`http/${v.id}`, 'http/minimal-proxy'), ratio(`http/${v.id}`, 'http/direct'));
  }
  for (const bench of ['tcp-bulk', 'tcp-short'] as const) {
    for (const v of MESHGATE_VARIANTS) {
      if (ran(`${bench}/${v.id}`)) out.push(ratio(`${bench}/${v.id}`, `${bench}/bare-pipe`));
    }
  }
  return out;
}

function printTable(results: CaseResult[], ratios: Ratio[]): void {
  const header = [
    'case',
    'rps, Gbit/s or conn/s',
    'per core',
    'p50 ms',
    'p99 ms',
    'core0',
    'other0',
    'core1',
    'other1',
    'status / note',
  ];
  const rows = results.map((r) => [
    r.id,
    r.value === null ? '-' : `${fmtValue(r)} ${r.unit}`,
    fmtNumber(r.perCore, r.unit),
    fmtMs(r.p50Ms),
    fmtMs(r.p99Ms),
    fmtPct(r.cpu.proxyCore),
    fmtPct(r.cpu.otherOnProxyCore),
    fmtPct(r.cpu.loadCore),
    fmtPct(r.cpu.otherOnLoadCore),
    [r.status === 'unsupported' ? 'not supported yet' : r.status, r.note].filter((s) => s !== '').join(': '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join(' | ')
      .trimEnd();
  console.log('\n' + line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
  console.log(
    `(per core = value / CPU share of the proxy process. Busy % while measuring: core0 = proxy core` +
      ` ${PROXY_CORE}, core1 = load core ${LOAD_CORE}; other0/other1 = part of that core used by programs` +
      ' outside this benchmark, should be ~0)',
  );
  const noisy = results.filter((r) => interference(r).length > 0);
  if (noisy.length > 0) {
    console.log(
      `WARNING: other programs competed for the cores during ${noisy.map((r) => r.id).join(', ')};` +
        ' those numbers are too low. Rerun on a quiet machine.',
    );
  }
  if (ratios.length > 0) {
    console.log('\nratios (1.00 = as fast as the yardstick; per core = same with CPU-normalised values):');
    const w = Math.max(...ratios.map((r) => r.name.length));
    const f = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(2));
    for (const r of ratios)
      console.log(`  ${r.name.padEnd(w)}  ${f(r.value).padStart(4)}   per core ${f(r.perCore)}`);
  }
  console.log('\nyardsticks (one core, these machines):');
  for (const [k, v] of Object.entries(YARDSTICKS)) console.log(`  ${k}: ${v}`);
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions();
  // `--concurrency` runs unpinned, with its own defaults and flags (workers.ts; run it directly for them).
  if (opts.only === 'workers') {
    if (!ensureTool('wrk', 'wrk')) process.exit(1);
    const run = spawnSync(process.execPath, [script('workers.js')], { stdio: 'inherit' });
    process.exit(run.status ?? 1);
  }
  installCleanup();
  const started = Date.now();
  const doHttp = opts.only === null || opts.only === 'http' || opts.only === 'http-pair';
  const doTcp = opts.only === null || opts.only === 'tcp';
  const doTcpPair = doTcp || opts.only === 'tcp-pair';
  const doH2 = opts.only === null || opts.only === 'h2';

  if (!ensureTool('taskset', 'util-linux')) {
    console.error('bench: results without CPU pinning are not comparable to the yardsticks; aborting');
    process.exit(1);
  }
  if (doHttp && !ensureTool('wrk', 'wrk')) process.exit(1);
  const haveNginx = doH2 && ensureTool('nginx', 'nginx') && ensureTool('h2load', 'nghttp2-client');
  if (doH2 && !haveNginx) console.log('bench: h2/gRPC cases skipped: nginx or h2load not available');
  const haveIperf = doTcpPair && ensureTool('iperf3', 'iperf3');
  if (doTcpPair && !haveIperf)
    console.log('bench: TCP bulk cases skipped: iperf3 not available (apt-get install -y iperf3)');

  const cores = os.availableParallelism();
  if (cores < 2) {
    console.warn(`bench: only ${cores} core(s): proxy and load share core 0; numbers are not comparable`);
    LOAD_CORE = 0;
  } else {
    PROXY_CORE = 0;
    LOAD_CORE = 1;
  }
  pinSelf();
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  const idleBefore = await busyBeforeStart();

  console.log(
    `meshgate bench: proxy on core ${PROXY_CORE}; wrk/iperf3/tcp-short, upstreams and runner on core ${LOAD_CORE}`,
  );
  const results: CaseResult[] = [];
  let reload: ReloadResult[] | null = null;
  let micro: MicroResult | null = null;
  let h2: H2BenchResults | null = null;
  try {
    if (doHttp) await httpBench(opts, results);
    if (doTcp) {
      await tcpBulkBench(opts, results, haveIperf);
      await tcpShortBench(opts, results);
    }
    if (doTcpPair) await tcpInterleavedBenches(opts, haveIperf);
    if (doH2) h2 = await h2Benches(h2Context(opts), haveNginx);
    if (opts.only === 'reload') reload = await reloadBench(opts);
    if (opts.only === 'micro') micro = await microBench();
  } finally {
    await stopAll();
  }

  const ratios = computeRatios(results);
  if (results.length > 0) printTable(results, ratios);
  console.log('\ninterleaved (both proxies at once on one core; the figures to track, see bench/README.md):');
  if (yardstickInterleaved !== null)
    console.log(`  meshgate / minimal proxy, per core: ${yardstickInterleaved.ratio.toFixed(2)}`);
  for (const r of tcpInterleaved)
    console.log(`  ${r.id}: meshgate / bare pipe, per core: ${r.ratio.toFixed(2)} (${r.unit})`);
  for (const r of h2?.pairs ?? [])
    console.log(`  ${r.id}: meshgate / ${r.reference.label}, per core: ${r.ratio.toFixed(2)} (${r.unit})`);
  if (telemetryCost !== null) {
    const tc = telemetryCost;
    console.log(
      `  telemetry cost (metrics + access log): ${(tc.cost * 100).toFixed(1)}% of throughput, ` +
        `target ≤ ${tc.target * 100}%: ${tc.cost <= tc.target ? 'met' : 'MISSED'}`,
    );
  }
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores,
    proxyCore: PROXY_CORE,
    loadCore: LOAD_CORE,
    busyBeforeStartPct: idleBefore,
    options: {
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      connections: opts.connections,
      only: opts.only,
    },
    elapsedS: Math.round((Date.now() - started) / 1000),
    yardsticks: YARDSTICKS,
    results,
    ratios,
    telemetryCost,
    yardstickInterleaved,
    tcpInterleaved,
    h2,
    reload,
    micro,
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  fs.writeFileSync(path.join(BENCH_DIR, 'results.json'), json);
  if (opts.json !== null) fs.writeFileSync(opts.json, json);
  console.log(
    `\nwrote ${path.relative(process.cwd(), path.join(BENCH_DIR, 'results.json'))}` +
      `${opts.json === null ? '' : ` and ${opts.json}`} (${report.elapsedS} s)`,
  );
}

main().catch(async (err: unknown) => {
  console.error(`bench: ${errorMessage(err)}`);
  await stopAll();
  process.exit(1);
});
