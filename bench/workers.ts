/**
 * `--concurrency` measurement: meshgate with 1 and 2 worker processes (and node:cluster's two
 * scheduling policies), unpinned, behind one wrk, the same upstream as the other HTTP rows.
 *
 * Each variant runs in turn for `--rounds` rounds of `--duration` seconds (A B C A B C …, so slow
 * and fast moments of the shared machine fall on every variant). Reported per variant: requests/s
 * (what wrk completed) and CPU µs per request (the meshgate process tree's CPU time from
 * /proc/PID/stat, primary plus workers, divided by the requests). On a 2-core machine wrk and the
 * upstream share the cores with the proxy, so requests/s with 2 workers is bounded by the load
 * rig; CPU per request is the figure that does not depend on that.
 *
 * Usage: `node dist/bench/workers.js [--duration 5] [--rounds 3] [--connections 50] [--variants a,b]`.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { HTTP_GATEWAY_PORT, httpConfigYaml } from './meshgate.js';
import { parsePidStat, parseWrk } from './parse.js';
import { canConnect, freePort, installCleanup, sleep, spawnTracked } from './proc.js';

/** A configuration measured. */
interface Variant {
  readonly id: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

const VARIANTS: readonly Variant[] = [
  { id: 'concurrency-1', args: ['--concurrency', '1'], env: {} },
  { id: 'concurrency-2-rr', args: ['--concurrency', '2'], env: {} },
  { id: 'concurrency-2-none', args: ['--concurrency', '2'], env: { NODE_CLUSTER_SCHED_POLICY: 'none' } },
  // Without the access log: what the workers' hand-over of log batches to the primary costs.
  { id: 'concurrency-1-log-off', args: ['--concurrency', '1', '--access-log', 'off'], env: {} },
  { id: 'concurrency-2-log-off', args: ['--concurrency', '2', '--access-log', 'off'], env: {} },
];

/** USER_HZ, the unit of /proc/PID/stat times. */
const TICKS_PER_S = 100;

/** CPU ticks of `pid` alone. */
function ownTicks(pid: number): number {
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  return (stat === '' ? null : parsePidStat(stat))?.own ?? 0;
}

/** CPU ticks of `pid` and all its descendants. */
function treeTicks(pid: number): number {
  let total = 0;
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  const t = stat === '' ? null : parsePidStat(stat);
  if (t) total += t.own;
  const children = readOrEmpty(`/proc/${pid}/task/${pid}/children`).trim();
  for (const c of children === '' ? [] : children.split(/\s+/)) total += treeTicks(Number(c));
  return total;
}

function readOrEmpty(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function waitLine(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString();
      const m = re.exec(buf);
      if (m) {
        child[stream]!.off('data', onData);
        resolve(m[0]);
      }
    };
    child[stream]!.on('data', onData);
    child.once('exit', () => reject(new Error(`exited before ${re}: ${buf.slice(-500)}`)));
  });
}

async function startUpstream(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawnTracked(
    'upstream',
    process.execPath,
    ['dist/bench/upstream.js'],
    ['ignore', 'pipe', 'inherit'],
  );
  const line = await waitLine(child, 'stdout', /\{"port":\d+\}/);
  return { child, port: (JSON.parse(line) as { port: number }).port };
}

async function startMeshgate(
  v: Variant,
  configPath: string,
  port: number,
  logPath: string,
): Promise<ChildProcess> {
  const args = [
    'dist/cli/main.js',
    'run',
    '-f',
    configPath,
    '--port-map',
    `${HTTP_GATEWAY_PORT}=${port}`,
    ...v.args,
  ];
  for (const p of ['admin', 'prometheus', 'status', 'health']) args.push(`--${p}-port`, '0');
  const out = fs.openSync(logPath, 'w');
  const env = Object.entries(v.env).map(([k, val]) => `${k}=${val}`);
  const child = spawnTracked(v.id, 'env', [...env, process.execPath, ...args], ['ignore', out, 'pipe']);
  fs.closeSync(out);
  child.stderr!.resume();
  while (!(await canConnect(port, 300))) await sleep(100);
  // Every worker bound (the primary accepts for them once the first has).
  await sleep(3000);
  return child;
}

async function runWrk(
  port: number,
  seconds: number,
  connections: number,
): Promise<{ requests: number; errors: number }> {
  const child = spawnTracked(
    'wrk',
    'wrk',
    ['-t2', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`],
    ['ignore', 'pipe', 'inherit'],
  );
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  await new Promise((r) => child.once('close', r));
  const w = parseWrk(out);
  return { requests: w.requests, errors: w.non2xx + w.socketErrors };
}

async function main(): Promise<void> {
  installCleanup();
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      variants: { type: 'string' },
    },
  });
  const only = values.variants?.split(',');
  const variants = VARIANTS.filter((v) => only === undefined || only.includes(v.id));
  const seconds = Number(values.duration);
  const rounds = Number(values.rounds);
  const connections = Number(values.connections);
  fs.mkdirSync('.bench', { recursive: true });
  const upstream = await startUpstream();
  const configPath = '.bench/workers-http.yaml';
  // The same config as the http/meshgate rows (bench/meshgate.ts).
  fs.writeFileSync(configPath, httpConfigYaml(upstream.port));
  const totals = new Map(
    variants.map((v) => [v.id, { requests: 0, errors: 0, ticks: 0, primaryTicks: 0, seconds: 0 }]),
  );
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) {
      const port = await freePort();
      const mg = await startMeshgate(v, configPath, port, `.bench/workers-${v.id}.stdout.log`);
      await runWrk(port, 2, connections); // warm-up
      const before = treeTicks(mg.pid!);
      const primaryBefore = ownTicks(mg.pid!);
      const w = await runWrk(port, seconds, connections);
      const ticks = treeTicks(mg.pid!) - before;
      const primaryTicks = ownTicks(mg.pid!) - primaryBefore;
      const t = totals.get(v.id)!;
      t.requests += w.requests;
      t.errors += w.errors;
      t.ticks += ticks;
      t.primaryTicks += primaryTicks;
      t.seconds += seconds;
      console.log(
        `round ${round + 1} ${v.id}: ${Math.round(w.requests / seconds)} rps, ` +
          `${((ticks / TICKS_PER_S) * 1e6) / Math.max(1, w.requests)} µs CPU/request, ${w.errors} errors`,
      );
      mg.kill('SIGTERM');
      await new Promise((r) => mg.once('exit', r));
    }
  }
  upstream.child.kill('SIGTERM');
  console.log('\nvariant              |      rps | CPU µs/request | of which primary | errors');
  for (const [id, t] of totals) {
    const rps = t.requests / t.seconds;
    const cpu = ((t.ticks / TICKS_PER_S) * 1e6) / Math.max(1, t.requests);
    const primary = ((t.primaryTicks / TICKS_PER_S) * 1e6) / Math.max(1, t.requests);
    console.log(
      `${id.padEnd(20)} | ${rps.toFixed(0).padStart(8)} | ${cpu.toFixed(1).padStart(14)} | ` +
        `${primary.toFixed(1).padStart(16)} | ${t.errors}`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
