/**
 * Reload benchmark (`npm run bench -- --only reload`): what a config change costs a running gateway
 * with many hosts.
 *
 * For each size (1,000 and 10,000 hosts; each host is a VirtualService + DestinationRule +
 * ServiceEntry, all in one file) meshgate is started pinned to the proxy core, a request loop keeps
 * asking one route (4 keep-alive loops on the load core), and the file is rewritten in place with that
 * route's response header changed. Reported:
 * - change → live: from the file write to the first response carrying the new header (includes the
 *   gateway's 200 ms debounce of file events);
 * - longest pause: the slowest request of the loop from the write until 1 s after the new route was
 *   live (the event-loop stall every request sees), and the loop's latency before the change;
 * - RSS: before the change, peak while reloading (sampled every 20 ms; with `--concurrency`, the
 *   primary and its workers added up), and VmHWM (peak over the process's life, startup compile
 *   included; the primary's alone);
 * - startup: from spawn to the route answering;
 * - `meshgate validate` wall time on the same file (pinned to the proxy core).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MESHGATE_NODE_FLAGS, staticServiceEntryYaml } from './meshgate.js';
import { commandLine, freePort, pinned, sleep, spawnTracked, stopChild } from './proc.js';

/** Gateway server port of the reload config (mapped with `--port-map`). */
const GATEWAY_PORT = 80;
/** Parallel keep-alive request loops. */
const LOOPS = 4;
/** Header the changed route sets on its responses. */
const VERSION_HEADER = 'x-bench-config';

/** Options of {@link runReloadBench}. */
export interface ReloadBenchOptions {
  meshgateMain: string;
  benchDir: string;
  proxyCore: number;
  /** Host counts to measure. */
  sizes: readonly number[];
  /**
   * `--concurrency` values to run the gateway with, each size measured once per value (default
   * `[1]`: one process). With N > 1 the requests reach the workers and the pause is a worker's.
   */
  concurrency?: readonly number[];
  /** Upstream (bench/upstream.ts, HTTP) port on 127.0.0.1. */
  upstreamPort: number;
}

/** What one size measured. */
export interface ReloadResult {
  hosts: number;
  /** `--concurrency` of the gateway (1: one process). */
  concurrency: number;
  configBytes: number;
  startupMs: number | null;
  /** File write → first response with the new header, ms. */
  changeToLiveMs: number | null;
  /** Slowest request from the write until 1 s after live, ms. */
  longestPauseMs: number | null;
  /** Slowest request in the second before the change, ms. */
  steadyMaxMs: number | null;
  requestsDuringReload: number;
  failedRequests: number;
  rssBeforeMb: number | null;
  rssPeakReloadMb: number | null;
  vmHwmMb: number | null;
  validateMs: number | null;
  validateExit: number | null;
  note: string;
}

/**
 * The config: Gateway `reload-gw` (port 80, any host) and, per host i, ServiceEntry `svc-i`
 * (`svc-i.bench.internal`, STATIC at 127.0.0.1:upstreamPort), DestinationRule `svc-i` (round robin,
 * connection pool, outlier detection) and VirtualService `svc-i` (`svc-i.example.com` → `svc-i`,
 * response header `x-bench-config: <version>` on host 0 only).
 */
export function reloadConfigYaml(hosts: number, upstreamPort: number, version: string): string {
  const parts: string[] = [
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: reload-gw
spec:
  selector:
    istio: ingressgateway
  servers:
    - port: {number: ${GATEWAY_PORT}, name: http, protocol: HTTP}
      hosts: ['*']
`,
  ];
  for (let i = 0; i < hosts; i++) {
    const headers =
      i === 0
        ? `
      headers:
        response:
          set:
            ${VERSION_HEADER}: ${version}`
        : '';
    parts.push(`${staticServiceEntryYaml(`svc-${i}`, `svc-${i}.bench.internal`, 8080, 'HTTP', upstreamPort)}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: svc-${i}
spec:
  host: svc-${i}.bench.internal
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool:
      http: {http1MaxPendingRequests: 100, maxRequestsPerConnection: 0}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: svc-${i}
spec:
  hosts: [svc-${i}.example.com]
  gateways: [reload-gw]
  http:
    - route:
        - destination:
            host: svc-${i}.bench.internal
            port: {number: 8080}${headers}
`);
  }
  return parts.join('---\n');
}

interface Sample {
  /** performance.now() at send and at response end, ms. */
  start: number;
  end: number;
  ok: boolean;
  version: string | undefined;
}

/** Keep-alive request loops against `Host: svc-0.example.com`, recording every request. */
class RequestLoop {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: LOOPS });
  private loops: Promise<void>[] = [];

  constructor(private readonly port: number) {}

  start(): void {
    this.loops = Array.from({ length: LOOPS }, () => this.loop());
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const start = performance.now();
      const r = await this.once();
      this.samples.push({ start, end: performance.now(), ...r });
      if (!r.ok) await sleep(5);
    }
  }

  private once(): Promise<{ ok: boolean; version: string | undefined }> {
    return new Promise((resolve) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port: this.port,
          path: '/',
          agent: this.agent,
          headers: { host: 'svc-0.example.com' },
        },
        (res) => {
          const v = res.headers[VERSION_HEADER];
          res.resume();
          res.once('end', () =>
            resolve({ ok: res.statusCode === 200, version: typeof v === 'string' ? v : undefined }),
          );
          res.once('error', () => resolve({ ok: false, version: undefined }));
        },
      );
      req.setTimeout(120_000, () => req.destroy());
      req.once('error', () => resolve({ ok: false, version: undefined }));
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
  }
}

function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s*(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** VmRSS of `pid` plus its child processes (the `--concurrency` workers), KB. */
function treeRssKb(pid: number): number | null {
  const own = procStatusKb(pid, 'VmRSS');
  if (own === null) return null;
  let children: number[] = [];
  try {
    children = fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number);
  } catch {
    // No children file (older kernels): the process alone.
  }
  return children.reduce((sum, c) => sum + (procStatusKb(c, 'VmRSS') ?? 0), own);
}

const mb = (kb: number | null): number | null => (kb === null ? null : Math.round(kb / 1024));

/** One request with `Host: svc-0.example.com`; resolves with the status (0 on a socket error). */
function probe(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/', headers: { host: 'svc-0.example.com', connection: 'close' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.once('error', () => resolve(0));
  });
}

async function measureSize(
  opts: ReloadBenchOptions,
  hosts: number,
  concurrency: number,
): Promise<ReloadResult> {
  const result = emptyResult(hosts, concurrency);
  const configPath = path.join(opts.benchDir, `reload-${hosts}.yaml`);
  fs.writeFileSync(configPath, reloadConfigYaml(hosts, opts.upstreamPort, 'v1'));
  result.configBytes = fs.statSync(configPath).size;

  // validate first, alone on the proxy core.
  const [vcmd, vargs] = pinned(opts.proxyCore, process.execPath, [
    opts.meshgateMain,
    'validate',
    '-f',
    configPath,
  ]);
  const v0 = performance.now();
  result.validateExit = await new Promise<number | null>((resolve) => {
    const child = spawn(vcmd, vargs, { stdio: 'ignore' });
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  result.validateMs = Math.round(performance.now() - v0);
  console.log(`  validate: ${result.validateMs} ms (exit ${result.validateExit})`);

  const port = await freePort();
  const args = [
    ...MESHGATE_NODE_FLAGS,
    opts.meshgateMain,
    'run',
    '-f',
    configPath,
    '--port-map',
    `${GATEWAY_PORT}=${port}`,
    '--access-log',
    'off',
    ...['--admin-port', '0', '--prometheus-port', '0', '--status-port', '0', '--health-port', '0'],
    ...(concurrency > 1 ? ['--concurrency', String(concurrency)] : []),
  ];
  const [cmd, argv] = pinned(opts.proxyCore, process.execPath, args);
  console.log(`  $ ${commandLine(cmd, argv)}`);
  const logPath = path.join(opts.benchDir, `reload-${hosts}.log`);
  const out = fs.openSync(logPath, 'w');
  const t0 = performance.now();
  const child = spawnTracked(`meshgate reload-${hosts}`, cmd, argv, ['ignore', out, out]);
  fs.closeSync(out);
  const pid = child.pid!;
  try {
    const deadline = Date.now() + 300_000;
    while ((await probe(port)) !== 200) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`meshgate not serving (see ${logPath})`);
      await sleep(100);
    }
    result.startupMs = Math.round(performance.now() - t0);
    console.log(`  startup: ${result.startupMs} ms`);

    const loop = new RequestLoop(port);
    loop.start();
    await sleep(2000);
    result.rssBeforeMb = mb(treeRssKb(pid));
    let peak = 0;
    const rssTimer = setInterval(() => (peak = Math.max(peak, treeRssKb(pid) ?? 0)), 20);
    // Generated before the clock starts and written off this thread: the request loops run in this
    // process, and building or writing 10,000 hosts of YAML here would stall them and be counted as
    // the gateway's pause.
    const changed = reloadConfigYaml(hosts, opts.upstreamPort, 'v2');
    const changeAt = performance.now();
    const written = fs.promises.writeFile(configPath, changed);
    let liveAt: number | null = null;
    const liveDeadline = performance.now() + 300_000;
    while (liveAt === null && performance.now() < liveDeadline) {
      await sleep(10);
      const first = loop.samples.find((s) => s.start >= changeAt && s.version === 'v2');
      if (first !== undefined) liveAt = first.end;
    }
    await written;
    await sleep(1000);
    clearInterval(rssTimer);
    await loop.stop();
    result.rssPeakReloadMb = mb(peak);
    result.vmHwmMb = mb(procStatusKb(pid, 'VmHWM'));
    const steady = loop.samples.filter((s) => s.start >= changeAt - 1000 && s.end < changeAt);
    result.steadyMaxMs = round1(Math.max(0, ...steady.map((s) => s.end - s.start)));
    if (liveAt === null) {
      result.note = 'new route never went live';
      return result;
    }
    result.changeToLiveMs = Math.round(liveAt - changeAt);
    const during = loop.samples.filter((s) => s.end >= changeAt && s.start <= liveAt + 1000);
    result.requestsDuringReload = during.length;
    result.failedRequests = during.filter((s) => !s.ok).length;
    result.longestPauseMs = round1(Math.max(0, ...during.map((s) => s.end - s.start)));
    console.log(
      `  change → live ${result.changeToLiveMs} ms, longest pause ${result.longestPauseMs} ms ` +
        `(steady max ${result.steadyMaxMs} ms), ${result.requestsDuringReload} requests, ${result.failedRequests} failed, ` +
        `RSS ${result.rssBeforeMb} MB → peak ${result.rssPeakReloadMb} MB (VmHWM ${result.vmHwmMb} MB)`,
    );
    return result;
  } finally {
    await stopChild(child);
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/**
 * Runs the reload benchmark for every size in `opts.sizes`; prints a line per measurement.
 * @returns one result per size (a failed size carries its reason in `note`).
 */
export async function runReloadBench(opts: ReloadBenchOptions): Promise<ReloadResult[]> {
  const results: ReloadResult[] = [];
  for (const concurrency of opts.concurrency ?? [1]) {
    for (const hosts of opts.sizes) {
      const workers = concurrency > 1 ? `, --concurrency ${concurrency}` : '';
      console.log(
        `\n▶ reload/${hosts}-hosts${workers}: VirtualService + DestinationRule + ServiceEntry per host`,
      );
      try {
        results.push(await measureSize(opts, hosts, concurrency));
      } catch (err) {
        console.log(`  failed: ${err instanceof Error ? err.message : String(err)}`);
        results.push({
          ...emptyResult(hosts, concurrency),
          note: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }
  return results;
}

function emptyResult(hosts: number, concurrency: number): ReloadResult {
  return {
    hosts,
    concurrency,
    configBytes: 0,
    startupMs: null,
    changeToLiveMs: null,
    longestPauseMs: null,
    steadyMaxMs: null,
    requestsDuringReload: 0,
    failedRequests: 0,
    rssBeforeMb: null,
    rssPeakReloadMb: null,
    vmHwmMb: null,
    validateMs: null,
    validateExit: null,
    note: '',
  };
}
