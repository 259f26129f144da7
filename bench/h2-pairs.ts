/**
 * The `h2` bench group: HTTP/2 (h2c), gRPC unary and WebSocket echo through meshgate against a
 * reference on the same core.
 *
 * - `h2/meshgate-vs-nginx`: h2c `GET /` → proxy → the HTTP/1.1 bench upstream; nginx `listen … http2`
 *   + `proxy_pass` (keep-alive upstream pool).
 * - `grpc/meshgate-vs-nginx`: gRPC unary over h2c → proxy → an h2c gRPC upstream; nginx `grpc_pass`.
 * - `ws/meshgate-vs-splice`: 64-byte WebSocket messages echoed through the proxy; the reference is the
 *   bare node:net pipe (bench/tcp-pipe.ts), which is what a splice after the `101` costs per message.
 *
 * Each pair is measured twice: sequentially with h2load (h2 and gRPC rows: requests/s of one core of
 * proxy, and the proxy's CPU per request), and interleaved (bench/tcp-interleave.ts: both proxies at
 * once on the proxy core, their load clients alternated every 250 ms, CPU per request from
 * /proc/PID/stat over the requests bench/h2-load.ts counted). The interleaved ratio is the figure to
 * track; the sequential rows drift with the machine (see bench/README.md).
 *
 * nginx runs as one process (`master_process off`, one worker's work in the process itself) so its
 * CPU is one pid's; its access log is on (buffered) like meshgate's.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { measureTcpInterleaved, type LoadProcess } from './tcp-interleave.js';
import { parsePidStat } from './parse.js';
import {
  canConnect,
  commandLine,
  freePort,
  pinned,
  runTracked,
  sleep,
  spawnTracked,
  startCollecting,
  startNodeChild,
  stopChild,
} from './proc.js';
import type { H2LoadResult } from './h2-load.js';

/** A proxy under test (meshgate, nginx or the pipe). */
export interface H2PairSide {
  label: string;
  command: string;
  port: number;
  pid: number;
  child: ChildProcess;
}

/** What the runner lends this group. */
export interface H2BenchContext {
  durationS: number;
  warmupS: number;
  proxyCore: number;
  loadCore: number;
  benchDir: string;
  /** Absolute path of a compiled bench script. */
  script: (name: string) => string;
  /** Starts meshgate (metrics + access log on) with an upstream of this protocol; null when it failed. */
  startMeshgate: (
    caseId: string,
    upstreamPort: number,
    protocol: 'HTTP' | 'GRPC',
  ) => Promise<H2PairSide | null>;
}

/** One sequential h2load row. */
export interface H2SequentialRow {
  id: string;
  command: string;
  requestsPerS: number;
  succeeded: number;
  failed: number;
  /** Proxy CPU per request over the run, µs. */
  proxyCpuUsPerRequest: number | null;
}

/** One interleaved pair. */
export interface H2PairResult {
  id: string;
  secondsEach: number;
  unit: 'cpu-µs/req' | 'cpu-µs/msg';
  meshgate: { cpuMs: number; work: number; cost: number; command: string };
  reference: { label: string; cpuMs: number; work: number; cost: number; command: string };
  /** cost(reference) / cost(meshgate): 1.00 = as cheap as the reference. */
  ratio: number;
}

/** Everything the group measured (goes to `h2` in results.json). */
export interface H2BenchResults {
  sequential: H2SequentialRow[];
  pairs: H2PairResult[];
}

const TICKS_PER_S = 100;
const H2LOAD_CONNECTIONS = 10;
const H2LOAD_STREAMS = 10;

function cpuMsOf(pid: number): number {
  const t = parsePidStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return t === null ? 0 : (t.own * 1000) / TICKS_PER_S;
}

function nginxConfig(dir: string, port: number, upstreamPort: number, grpc: boolean): string {
  const location = grpc
    ? 'grpc_pass grpc://up;'
    : 'proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";';
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx-${port}.pid;
error_log ${dir}/nginx-${port}.error.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/nginx-${port}.access.log combined buffer=64k;
  client_body_temp_path ${dir}/nginx-tmp;
  proxy_temp_path ${dir}/nginx-tmp;
  fastcgi_temp_path ${dir}/nginx-tmp;
  uwsgi_temp_path ${dir}/nginx-tmp;
  scgi_temp_path ${dir}/nginx-tmp;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port} http2;
    location / { ${location} }
  }
}
`;
}

async function startNginx(ctx: H2BenchContext, upstreamPort: number, grpc: boolean): Promise<H2PairSide> {
  const port = await freePort();
  fs.mkdirSync(path.join(ctx.benchDir, 'nginx-tmp'), { recursive: true });
  const conf = path.join(ctx.benchDir, `nginx-${grpc ? 'grpc' : 'h2'}.conf`);
  fs.writeFileSync(conf, nginxConfig(ctx.benchDir, port, upstreamPort, grpc));
  const [cmd, argv] = pinned(ctx.proxyCore, 'nginx', ['-p', ctx.benchDir, '-c', conf]);
  const child = spawnTracked('nginx', cmd, argv, ['ignore', 'inherit', 'inherit']);
  for (let i = 0; i < 100 && !(await canConnect(port)); i++) await sleep(50);
  if (!(await canConnect(port))) throw new Error(`nginx did not listen on ${port}`);
  return {
    label: grpc ? 'nginx grpc_pass' : 'nginx http2 + proxy_pass',
    command: commandLine(cmd, argv),
    port,
    pid: child.pid!,
    child,
  };
}

async function startPipe(ctx: H2BenchContext, upstreamPort: number): Promise<H2PairSide> {
  const args = ['--upstream', `127.0.0.1:${upstreamPort}`];
  const pipe = await startNodeChild('tcp-pipe', ctx.proxyCore, ctx.script('tcp-pipe.js'), args);
  return {
    label: 'bare node:net pipe',
    command: commandLine(...pinned(ctx.proxyCore, 'node', [ctx.script('tcp-pipe.js'), ...args])),
    port: pipe.port,
    pid: pipe.child.pid!,
    child: pipe.child,
  };
}

function startLoad(ctx: H2BenchContext, mode: string, port: number): LoadProcess {
  const args = [ctx.script('h2-load.js'), '--mode', mode, '--port', String(port)];
  return startCollecting(`h2-load ${mode}`, ctx.loadCore, process.execPath, args);
}

function loadResult(out: string): H2LoadResult {
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as H2LoadResult;
}

/** Runs the load client alone against one side for `seconds` (JIT, pools). */
async function warm(ctx: H2BenchContext, mode: string, side: H2PairSide): Promise<void> {
  const load = startLoad(ctx, mode, side.port);
  await sleep(Math.max(1, ctx.warmupS) * 1000);
  load.child.kill('SIGINT');
  const r = loadResult(await load.done);
  if (r.requests === 0 || r.errors > r.requests * 0.01)
    throw new Error(`${side.label}: warm-up failed (${r.requests} ok, ${r.errors} errors: ${r.firstError})`);
}

/** h2load against one side; the proxy's CPU is read around the run. */
async function h2loadRow(
  ctx: H2BenchContext,
  id: string,
  side: H2PairSide,
  grpc: boolean,
): Promise<H2SequentialRow> {
  const args = ['-c', String(H2LOAD_CONNECTIONS), '-m', String(H2LOAD_STREAMS), '-D', String(ctx.durationS)];
  if (grpc) {
    const body = path.join(ctx.benchDir, 'grpc-request.bin');
    fs.writeFileSync(body, Buffer.concat([Buffer.from([0, 0, 0, 0, 16]), Buffer.alloc(16, 0x61)]));
    args.push('-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers');
  }
  args.push(`http://127.0.0.1:${side.port}/${grpc ? 'bench.Echo/Call' : ''}`);
  const [cmd, argv] = pinned(ctx.loadCore, 'h2load', args);
  const cpu0 = cpuMsOf(side.pid);
  const r = await runTracked('h2load', cmd, argv, (ctx.durationS + 30) * 1000);
  const cpu = cpuMsOf(side.pid) - cpu0;
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(r.stdout);
  const reqs = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(r.stdout);
  const s2xx = /status codes: (\d+) 2xx/.exec(r.stdout);
  if (rps === null || reqs === null) throw new Error(`h2load output not understood: ${r.stdout}${r.stderr}`);
  const succeeded = Number(s2xx?.[1] ?? reqs[1]);
  return {
    id,
    command: commandLine(cmd, argv),
    requestsPerS: Number(rps[1]),
    succeeded,
    failed: Number(reqs[2]),
    proxyCpuUsPerRequest: succeeded > 0 ? (cpu * 1000) / succeeded : null,
  };
}

async function interleave(
  ctx: H2BenchContext,
  id: string,
  mode: 'h2' | 'grpc' | 'ws',
  sides: [H2PairSide, H2PairSide],
): Promise<H2PairResult> {
  const [m, r] = await measureTcpInterleaved(
    [sides[0].pid, sides[1].pid],
    (i) => startLoad(ctx, mode, sides[i].port),
    ctx.durationS,
  );
  const lm = loadResult(m.output);
  const lr = loadResult(r.output);
  if (lm.errors > lm.requests * 0.01 || lr.errors > lr.requests * 0.01)
    throw new Error(`more than 1% errors (meshgate ${lm.errors}: ${lm.firstError}; reference ${lr.errors})`);
  const cost = (cpuMs: number, n: number): number => (cpuMs * 1000) / n;
  const cm = cost(m.cpuMs, lm.requests);
  const cr = cost(r.cpuMs, lr.requests);
  return {
    id,
    secondsEach: ctx.durationS,
    unit: mode === 'ws' ? 'cpu-µs/msg' : 'cpu-µs/req',
    meshgate: { cpuMs: m.cpuMs, work: lm.requests, cost: cm, command: sides[0].command },
    reference: {
      label: sides[1].label,
      cpuMs: r.cpuMs,
      work: lr.requests,
      cost: cr,
      command: sides[1].command,
    },
    ratio: cr / cm,
  };
}

function printRow(row: H2SequentialRow): void {
  const cpu = row.proxyCpuUsPerRequest === null ? '–' : `${row.proxyCpuUsPerRequest.toFixed(1)} cpu-µs/req`;
  console.log(
    `  ${row.id.padEnd(22)} ${row.requestsPerS.toFixed(0).padStart(8)} req/s  ${cpu}  (${row.succeeded} ok, ${row.failed} failed)`,
  );
}

function printPair(p: H2PairResult): void {
  console.log(
    `  meshgate: ${p.meshgate.cost.toFixed(1)} ${p.unit} (${p.meshgate.work}, ${p.meshgate.cpuMs} ms CPU)`,
  );
  console.log(
    `  ${p.reference.label}: ${p.reference.cost.toFixed(1)} ${p.unit} (${p.reference.work}, ${p.reference.cpuMs} ms CPU)`,
  );
  console.log(`  meshgate / reference, per core: ${p.ratio.toFixed(2)}`);
}

/**
 * Runs one case: starts the upstream and both proxies, the sequential rows (when `h2loadRows`), the
 * interleaved pair; always stops what it started.
 */
async function runCase(
  ctx: H2BenchContext,
  out: H2BenchResults,
  c: { id: string; mode: 'h2' | 'grpc' | 'ws'; upstreamMode: string; reference: 'nginx' | 'pipe' },
): Promise<void> {
  console.log(`\n▶ ${c.id}: alternated, ${ctx.durationS} s each`);
  const upstream = await startNodeChild('upstream', ctx.loadCore, ctx.script('upstream.js'), [
    '--mode',
    c.upstreamMode,
  ]);
  const sides: H2PairSide[] = [];
  try {
    const grpc = c.mode === 'grpc';
    const mg = await ctx.startMeshgate(c.id, upstream.port, grpc ? 'GRPC' : 'HTTP');
    if (mg === null) throw new Error('meshgate did not start');
    sides.push(mg);
    sides.push(
      c.reference === 'nginx'
        ? await startNginx(ctx, upstream.port, grpc)
        : await startPipe(ctx, upstream.port),
    );
    for (const side of sides) {
      console.log(`  $ ${side.command}`);
      await warm(ctx, c.mode, side);
    }
    if (c.mode !== 'ws') {
      for (const [side, name] of [
        [sides[0]!, 'meshgate'],
        [sides[1]!, 'nginx'],
      ] as const) {
        const row = await h2loadRow(ctx, `${c.mode}/${name}`, side, grpc);
        out.sequential.push(row);
        printRow(row);
      }
    }
    const pair = await interleave(ctx, c.id, c.mode, [sides[0]!, sides[1]!]);
    out.pairs.push(pair);
    printPair(pair);
  } catch (err) {
    console.log(`  failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    for (const side of sides) await stopChild(side.child);
    await stopChild(upstream.child);
  }
}

/**
 * The whole group: h2 and gRPC against nginx, WebSocket against the pipe.
 * @param haveNginx - nginx and h2load are installed (otherwise only the WebSocket pair runs).
 */
export async function h2Benches(ctx: H2BenchContext, haveNginx: boolean): Promise<H2BenchResults> {
  const out: H2BenchResults = { sequential: [], pairs: [] };
  if (haveNginx) {
    await runCase(ctx, out, {
      id: 'h2/meshgate-vs-nginx',
      mode: 'h2',
      upstreamMode: 'http',
      reference: 'nginx',
    });
    await runCase(ctx, out, {
      id: 'grpc/meshgate-vs-nginx',
      mode: 'grpc',
      upstreamMode: 'grpc',
      reference: 'nginx',
    });
  }
  await runCase(ctx, out, { id: 'ws/meshgate-vs-splice', mode: 'ws', upstreamMode: 'ws', reference: 'pipe' });
  return out;
}
