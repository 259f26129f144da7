/**
 * `--concurrency` measurement: meshgate with 1 and 2 worker processes (node:cluster's two scheduling
 * policies, and workers paired with load threads), unpinned, behind two `wrk -t1` (the connections
 * split between them), the same upstream as the other HTTP rows.
 *
 * Each variant runs in turn for `--rounds` rounds (A B C A B C …, so slow and fast moments of the
 * shared machine fall on every variant): the load runs {@link WARM_UP_S} s, then a window of
 * `--duration` seconds is measured. Reported per variant: requests/s (the gateway's own count,
 * `istio_requests_total`, over the window) and CPU µs per request (the meshgate process tree's CPU
 * time from /proc/PID/stat, primary plus workers, divided by those requests). On a 2-core machine
 * wrk and the upstream share the cores with the proxy, so requests/s with 2 workers is bounded by
 * the load rig; CPU per request is the figure that does not depend on that.
 *
 * `concurrency-2-paired` gives each wrk's connections to one worker ({@link startLoad}): the other
 * variants spread every wrk's connections over both workers, as a balancer does, and on these two
 * shared cores the load threads woken by both workers cost the workers CPU that clients on other
 * machines would not (bench/README.md, Workers).
 *
 * To tell the gateway's limit from the load rig's, each window also accounts the CPU of the load
 * rig (wrk and the upstream, /proc/PID/stat) and of the whole machine (/proc/stat): the gateway's
 * cores used, the rig's, and what other programs took. From CPU per request follows the gateway's
 * capacity per core (1e6 / CPU µs per request), and with it the requests/s `--concurrency N` would
 * serve with N cores of its own: N × that capacity (the primary's share included). When the
 * machine's two cores were busy and the gateway used less than N of them, the measured requests/s
 * is the load rig's limit, and that projection is the gateway's.
 *
 * Prometheus: after each variant's measured run, exactly {@link EXACT_REQUESTS} requests are sent
 * by a counting client (keep-alive, {@link EXACT_CONNECTIONS} connections) and the rise of
 * `istio_requests_total` on the primary's `/stats/prometheus` must equal it; the total is also
 * printed next to what wrk completed (wrk's count leaves out the requests in flight when it stops).
 *
 * Usage: `node dist/bench/workers.js [--duration 5] [--rounds 3] [--connections 50] [--variants a,b]
 * [--compare OTHER/dist/cli/main.js]` (`--compare`: every variant also on another build, interleaved).
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { HTTP_GATEWAY_PORT, MESHGATE_NODE_FLAGS, httpConfigYaml } from './meshgate.js';
import http from 'node:http';
import { parsePidStat, parseProcStat, parseWrk } from './parse.js';
import { canConnect, freePort, installCleanup, sleep, spawnTracked } from './proc.js';

/** A configuration measured. */
interface Variant {
  readonly id: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The meshgate CLI to run; default `dist/cli/main.js` (this build). */
  readonly cli?: string;
  /** Each load generator's connections on one worker of its own (see {@link startLoad}). */
  readonly paired?: boolean;
}

const VARIANTS: readonly Variant[] = [
  { id: 'concurrency-1', args: ['--concurrency', '1'], env: {} },
  { id: 'concurrency-2-rr', args: ['--concurrency', '2'], env: {} },
  { id: 'concurrency-2-none', args: ['--concurrency', '2'], env: { NODE_CLUSTER_SCHED_POLICY: 'none' } },
  // Each wrk's connections on one worker: what two workers cost when no load thread is woken by both.
  {
    id: 'concurrency-2-paired',
    args: ['--concurrency', '2'],
    env: { NODE_CLUSTER_SCHED_POLICY: 'none' },
    paired: true,
  },
  // Without the access log: what the workers' hand-over of log batches to the primary costs.
  { id: 'concurrency-1-log-off', args: ['--concurrency', '1', '--access-log', 'off'], env: {} },
  { id: 'concurrency-2-log-off', args: ['--concurrency', '2', '--access-log', 'off'], env: {} },
];

/** Requests the counting client sends after each measured run (the Prometheus check). */
const EXACT_REQUESTS = 2000;
/** Keep-alive connections of the counting client. */
const EXACT_CONNECTIONS = 10;

/** Seconds of load before each measured window. */
const WARM_UP_S = 2;

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

/** Busy ticks of the whole machine (all cores) from /proc/stat. */
function machineBusyTicks(): number {
  let busy = 0;
  for (const c of parseProcStat(readOrEmpty('/proc/stat')).values()) busy += c.busy;
  return busy;
}

/** Sum of every `istio_requests_total` series in a Prometheus text exposition. */
function requestsTotal(text: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('istio_requests_total{') && !line.startsWith('istio_requests_total ')) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * `istio_requests_total` once it stopped moving: read every 250 ms until two reads agree. Requests
 * wrk left in flight finish after it stopped, and workers hand their counts to the primary in
 * batches, so a read right after a run can still rise.
 */
async function settledRequestsTotal(prometheusPort: number): Promise<number> {
  let last = requestsTotal(await httpGet(prometheusPort, '/stats/prometheus'));
  for (;;) {
    await sleep(250);
    const now = requestsTotal(await httpGet(prometheusPort, '/stats/prometheus'));
    if (now === last) return now;
    last = now;
  }
}

/** GETs `path` on 127.0.0.1:`port` and returns the body (throws unless 200). */
function httpGet(port: number, path: string, agent?: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: agent ?? false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${res.statusCode}`)),
        );
      })
      .on('error', reject);
  });
}

/** Sends exactly `n` GET / over `connections` keep-alive connections; resolves with the 200s. */
async function sendExactly(port: number, n: number, connections: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  let ok = 0;
  const loop = async (): Promise<void> => {
    while (next < n) {
      next++;
      await httpGet(port, '/', agent).then(
        () => ok++,
        () => undefined,
      );
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  agent.destroy();
  return ok;
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
): Promise<{ child: ChildProcess; prometheusPort: number }> {
  const args = [
    ...MESHGATE_NODE_FLAGS,
    v.cli ?? 'dist/cli/main.js',
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
  const prom = waitLine(child, 'stderr', /"port":(\d+),"msg":"prometheus port bound"/);
  const prometheusPort = Number(/"port":(\d+)/.exec(await prom)![1]);
  child.stderr!.resume();
  while (!(await canConnect(port, 300))) await sleep(100);
  // Every worker bound (the primary accepts for them once the first has).
  await sleep(3000);
  return { child, prometheusPort };
}

/** One `wrk -t2` run to its end (the `--interleave` warm-up). */
async function runWrk(
  port: number,
  seconds: number,
  connections: number,
): Promise<{ requests: number; errors: number }> {
  const w = parseWrk(await spawnWrk(port, seconds, connections, 2).out);
  return { requests: w.requests, errors: w.non2xx + w.socketErrors };
}

/** Load generators of one measured run: {@link LOAD_GENERATORS} wrk processes of one thread each. */
interface Load {
  readonly pids: readonly number[];
  /** Resolves when every wrk has exited, with their summed counts. */
  readonly done: Promise<{ requests: number; errors: number }>;
}

/**
 * How many wrk processes (`-t1`, connections split evenly) load the gateway: two, as `wrk -t2`
 * has two threads, so that a paired run can give each load thread a worker of its own.
 */
const LOAD_GENERATORS = 2;

/** Spawns one wrk of `threads` threads and `connections` connections for `seconds`. */
function spawnWrk(
  port: number,
  seconds: number,
  connections: number,
  threads = 1,
): ChildProcess & { out: Promise<string> } {
  const child = spawnTracked(
    'wrk',
    'wrk',
    [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`],
    ['ignore', 'pipe', 'inherit'],
  );
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  return Object.assign(child, { out: new Promise<string>((r) => child.once('close', () => r(out))) });
}

/**
 * Starts the load: {@link LOAD_GENERATORS} wrk processes for `seconds`. With `pairWith` (the
 * workers' pids, `NODE_CLUSTER_SCHED_POLICY=none` so that workers accept themselves), every wrk's
 * connections are steered to one worker: the other workers are stopped (SIGSTOP) while that wrk
 * connects, and resumed once the listener's accept queue is empty and all its connections are
 * established. Why: a wrk thread whose connections are spread over both workers is woken by both,
 * and on two cores shared with it those cross wake-ups cost the workers CPU (bench/README.md,
 * Workers); clients on other machines do not share the workers' cores.
 * @throws Error when the connections are not accepted within 10 s.
 */
async function startLoad(
  port: number,
  seconds: number,
  connections: number,
  pairWith?: readonly number[],
): Promise<Load> {
  const per = Math.max(1, Math.floor(connections / LOAD_GENERATORS));
  const wrks = [];
  for (let i = 0; i < LOAD_GENERATORS; i++) {
    const owner = pairWith?.[i % pairWith.length];
    const others = pairWith?.filter((w) => w !== owner) ?? [];
    for (const w of others) process.kill(w, 'SIGSTOP');
    try {
      wrks.push(spawnWrk(port, seconds, per));
      if (pairWith) await acceptedAll(port, per * (i + 1));
    } finally {
      for (const w of others) process.kill(w, 'SIGCONT');
    }
  }
  return {
    pids: wrks.map((w) => w.pid!),
    done: Promise.all(wrks.map((w) => w.out)).then((outs) => {
      let requests = 0;
      let errors = 0;
      for (const out of outs) {
        const w = parseWrk(out);
        requests += w.requests;
        errors += w.non2xx + w.socketErrors;
      }
      return { requests, errors };
    }),
  };
}

/**
 * Waits until `n` connections to local `port` are established and the listening socket's accept
 * queue is empty (`/proc/net/tcp`, `/proc/net/tcp6`): every connection made so far was accepted.
 * @throws Error after 10 s.
 */
async function acceptedAll(port: number, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = tcpSocketsOn(port);
    if (s.established >= n && s.acceptQueue === 0) return;
    if (Date.now() > deadline)
      throw new Error(`port ${port}: ${s.established}/${n} established, ${s.acceptQueue} waiting for accept`);
    await sleep(20);
  }
}

/** Established connections whose local port is `port`, and the accept queue of its listener. */
function tcpSocketsOn(port: number): { established: number; acceptQueue: number } {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let established = 0;
  let acceptQueue = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readOrEmpty(file).split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue …
      const f = line.trim().split(/\s+/);
      if (f.length < 5 || !f[1]!.endsWith(hexPort)) continue;
      if (f[3] === '01') established++;
      // A listening socket's rx_queue is its accept backlog.
      else if (f[3] === '0A') acceptQueue += parseInt(f[4]!.split(':')[1]!, 16);
    }
  }
  return { established, acceptQueue };
}

/** The worker processes of a primary (its children). */
function childPids(pid: number): number[] {
  const list = readOrEmpty(`/proc/${pid}/task/${pid}/children`).trim();
  return list === '' ? [] : list.split(/\s+/).map(Number);
}

async function main(): Promise<void> {
  installCleanup();
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      variants: { type: 'string' },
      compare: { type: 'string' },
      interleave: { type: 'boolean', default: false },
    },
  });
  const only = values.variants?.split(',');
  const chosen = VARIANTS.filter((v) => only === undefined || only.includes(v.id));
  // `--compare OTHER/dist/cli/main.js`: each variant also runs on that build, right after this
  // build's (A A' B B' …), so both builds see the same moments of the machine.
  const compare = values.compare;
  const variants = chosen.flatMap((v) =>
    compare === undefined ? [v] : [v, { ...v, id: `${v.id}@compare`, cli: compare }],
  );
  const seconds = Number(values.duration);
  const rounds = Number(values.rounds);
  const connections = Number(values.connections);
  fs.mkdirSync('.bench', { recursive: true });
  const upstream = await startUpstream();
  // In a directory of its own: the gateway watches its config file's directory, and every write of
  // its access log (`.bench/workers-*.stdout.log`) in the same directory would wake the watcher
  // (an inotify event and a stat each, measured ~250 a second at 19,000 requests/s).
  fs.mkdirSync('.bench/workers-config', { recursive: true });
  const configPath = '.bench/workers-config/http.yaml';
  // The same config as the http/meshgate rows (bench/meshgate.ts).
  fs.writeFileSync(configPath, httpConfigYaml(upstream.port));
  const totals = new Map<string, Totals>(
    variants.map((v) => [
      v.id,
      { requests: 0, errors: 0, ticks: 0, primaryTicks: 0, rigTicks: 0, machineTicks: 0, seconds: 0 },
    ]),
  );
  const workersOf = (v: Variant): number => Number(v.args[v.args.indexOf('--concurrency') + 1]);
  if (values.interleave) {
    await runInterleaved(variants, { seconds, rounds, connections, configPath }, totals);
    upstream.child.kill('SIGTERM');
    printTotals(variants, totals, workersOf);
    return;
  }
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) {
      const port = await freePort();
      const mg = await startMeshgate(v, configPath, port, `.bench/workers-${v.id}.stdout.log`);
      const pid = mg.child.pid!;
      const workers = childPids(pid);
      const load = await startLoad(
        port,
        WARM_UP_S + seconds + 1,
        connections,
        v.paired === true ? workers : undefined,
      );
      await sleep(WARM_UP_S * 1000);
      // The window: requests the gateway completed (its own count) and CPU ticks over `seconds`;
      // the Prometheus reads sit outside the ticks (read before the first sample, after the last).
      const req0 = requestsTotal(await httpGet(mg.prometheusPort, '/stats/prometheus'));
      const wrkTicks0 = load.pids.reduce((sum, p) => sum + ownTicks(p), 0);
      const before = treeTicks(pid);
      const primaryBefore = ownTicks(pid);
      const workersBefore = workers.map(ownTicks);
      const upstreamBefore = ownTicks(upstream.child.pid!);
      const machineBefore = machineBusyTicks();
      await sleep(seconds * 1000);
      const machine = machineBusyTicks() - machineBefore;
      const ticks = treeTicks(pid) - before;
      const primaryTicks = ownTicks(pid) - primaryBefore;
      const workerTicks = workers.map((w, i) => ownTicks(w) - workersBefore[i]!);
      const wrkTicks = load.pids.reduce((sum, p) => sum + ownTicks(p), 0) - wrkTicks0;
      const rigTicks = wrkTicks + ownTicks(upstream.child.pid!) - upstreamBefore;
      const requests = requestsTotal(await httpGet(mg.prometheusPort, '/stats/prometheus')) - req0;
      const w = await load.done;
      // Prometheus: a counting client, then the totals.
      const prom0 = await settledRequestsTotal(mg.prometheusPort);
      const ok = await sendExactly(port, EXACT_REQUESTS, EXACT_CONNECTIONS);
      const prom1 = await settledRequestsTotal(mg.prometheusPort);
      const t = totals.get(v.id)!;
      t.requests += requests;
      t.errors += w.errors;
      t.ticks += ticks;
      t.primaryTicks += primaryTicks;
      t.rigTicks += rigTicks;
      t.machineTicks += machine;
      t.seconds += seconds;
      const cores = (n: number): string => (n / TICKS_PER_S / seconds).toFixed(2);
      console.log(
        `round ${round + 1} ${v.id}: ${Math.round(requests / seconds)} rps, ` +
          `${(((ticks / TICKS_PER_S) * 1e6) / Math.max(1, requests)).toFixed(1)} µs CPU/request, ` +
          `cores: gateway ${cores(ticks)}` +
          `${workerTicks.length > 0 ? ` (workers ${workerTicks.map(cores).join(' + ')})` : ''}, ` +
          `wrk+upstream ${cores(rigTicks)}, ` +
          `others ${cores(Math.max(0, machine - ticks - rigTicks))}, ${w.errors} errors; ` +
          `istio_requests_total +${prom1 - prom0} for ${EXACT_REQUESTS} sent (${ok} answered 200)` +
          `${prom1 - prom0 === EXACT_REQUESTS ? '' : ' MISMATCH'}; ` +
          `total ${prom1} vs wrk ${w.requests} + ${EXACT_REQUESTS} + readiness probes`,
      );
      mg.child.kill('SIGTERM');
      await new Promise((r) => mg.child.once('exit', r));
    }
  }
  upstream.child.kill('SIGTERM');
  printTotals(variants, totals, workersOf);
}

/** Per-variant sums over the rounds. */
interface Totals {
  requests: number;
  errors: number;
  ticks: number;
  primaryTicks: number;
  rigTicks: number;
  machineTicks: number;
  seconds: number;
}

/** How long each variant's wrk runs before the next one's takes over (`--interleave`), ms. */
const SLICE_MS = 250;

/**
 * `--interleave`: every variant runs at once, each behind its own wrk, and the wrks are resumed in
 * turn ({@link SLICE_MS} each, the others stopped with SIGSTOP) until each had `seconds` of load
 * per round, so every variant sees the same fast and slow moments of a shared machine (the method
 * of `interleave.ts`, unpinned). CPU per request is each gateway tree's CPU over the round (its
 * idle time costs ~nothing) divided by its wrk's completed requests; the load rig and machine
 * columns are not split by variant and stay 0. Then the Prometheus check, once per variant.
 */
async function runInterleaved(
  variants: readonly Variant[],
  o: { seconds: number; rounds: number; connections: number; configPath: string },
  totals: Map<string, Totals>,
): Promise<void> {
  const gateways = [];
  for (const v of variants) {
    const port = await freePort();
    const mg = await startMeshgate(v, o.configPath, port, `.bench/workers-${v.id}.stdout.log`);
    await runWrk(port, 2, o.connections); // warm-up
    gateways.push({ v, port, mg, pid: mg.child.pid! });
  }
  for (let round = 0; round < o.rounds; round++) {
    const wrks = gateways.map((g) => {
      const child = spawnTracked(
        'wrk',
        'wrk',
        [
          '-t2',
          `-c${o.connections}`,
          `-d${o.seconds * gateways.length + 60}s`,
          `http://127.0.0.1:${g.port}/`,
        ],
        ['ignore', 'pipe', 'inherit'],
      );
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.kill('SIGSTOP');
      return { child, done: new Promise<string>((r) => child.once('close', () => r(out))) };
    });
    await sleep(300);
    const before = gateways.map((g) => ({ tree: treeTicks(g.pid), own: ownTicks(g.pid) }));
    for (let i = 0; i < Math.round((o.seconds * 1000) / SLICE_MS); i++) {
      for (const w of wrks) {
        w.child.kill('SIGCONT');
        await sleep(SLICE_MS);
        w.child.kill('SIGSTOP');
      }
    }
    await sleep(300);
    const after = gateways.map((g) => ({ tree: treeTicks(g.pid), own: ownTicks(g.pid) }));
    for (const w of wrks) {
      w.child.kill('SIGCONT');
      w.child.kill('SIGINT');
    }
    const outs = await Promise.all(wrks.map((w) => w.done));
    gateways.forEach((g, i) => {
      const w = parseWrk(outs[i]!);
      const ticks = after[i]!.tree - before[i]!.tree;
      const t = totals.get(g.v.id)!;
      t.requests += w.requests;
      t.errors += w.non2xx + w.socketErrors;
      t.ticks += ticks;
      t.primaryTicks += after[i]!.own - before[i]!.own;
      t.seconds += o.seconds;
      console.log(
        `round ${round + 1} ${g.v.id}: ${w.requests} requests, ` +
          `${(((ticks / TICKS_PER_S) * 1e6) / Math.max(1, w.requests)).toFixed(1)} µs CPU/request ` +
          `(primary ${((((after[i]!.own - before[i]!.own) / TICKS_PER_S) * 1e6) / Math.max(1, w.requests)).toFixed(1)})`,
      );
    });
  }
  for (const g of gateways) {
    const prom0 = await settledRequestsTotal(g.mg.prometheusPort);
    const ok = await sendExactly(g.port, EXACT_REQUESTS, EXACT_CONNECTIONS);
    const prom1 = await settledRequestsTotal(g.mg.prometheusPort);
    console.log(
      `${g.v.id}: istio_requests_total +${prom1 - prom0} for ${EXACT_REQUESTS} sent (${ok} answered 200)` +
        `${prom1 - prom0 === EXACT_REQUESTS ? '' : ' MISMATCH'}`,
    );
  }
  const exits = gateways.map((g) => new Promise((r) => g.mg.child.once('exit', r)));
  for (const g of gateways) g.mg.child.kill('SIGTERM');
  await Promise.all(exits);
}

function printTotals(
  variants: readonly Variant[],
  totals: Map<string, Totals>,
  workersOf: (v: Variant) => number,
): void {
  console.log(
    '\nvariant                      |      rps | CPU µs/request | of which primary | gateway cores | ' +
      'rig cores | others | rps per gateway core | projected rps, N own cores | errors',
  );
  for (const v of variants) {
    const t = totals.get(v.id)!;
    const rps = t.requests / t.seconds;
    const cpu = ((t.ticks / TICKS_PER_S) * 1e6) / Math.max(1, t.requests);
    const primary = ((t.primaryTicks / TICKS_PER_S) * 1e6) / Math.max(1, t.requests);
    const cores = (n: number): string => (n / TICKS_PER_S / t.seconds).toFixed(2).padStart(9);
    const perCore = 1e6 / cpu;
    console.log(
      `${v.id.padEnd(28)} | ${rps.toFixed(0).padStart(8)} | ${cpu.toFixed(1).padStart(14)} | ` +
        `${primary.toFixed(1).padStart(16)} | ${cores(t.ticks).padStart(13)} | ${cores(t.rigTicks)} | ` +
        `${cores(Math.max(0, t.machineTicks - t.ticks - t.rigTicks)).slice(3)} | ` +
        `${perCore.toFixed(0).padStart(20)} | ${(perCore * workersOf(v)).toFixed(0).padStart(26)} | ${t.errors}`,
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
