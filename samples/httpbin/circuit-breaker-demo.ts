/**
 * The user's circuit-breaking experiment (Istio task "Circuit Breaking", the notes in
 * shared/seeds): httpbin behind meshgate with the DestinationRule from the notes, loaded like
 * `fortio load -c N -qps 0 -n M http://httpbin:8000/get` at concurrency 1, 2 and 3 (20, 20 and 30
 * calls). Prints the status counts of each run and the gateway's own
 * `upstream_rq_pending_overflow`, read from its admin `/stats` as the notes read Envoy's.
 *
 *   npm run demo:circuit-breaker
 *
 * Everything runs on free local ports: httpbin in this process, the gateway as
 * `node dist/cli/main.js run -f <tmp>/config.yaml --port-map 80=<free> --admin-port <free>`.
 * The DestinationRule is the one from the notes, except `tls: { mode: ISTIO_MUTUAL }`: there is no
 * mesh certificate authority here and httpbin speaks plain HTTP (the notes' sidecar did the mTLS).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { findRepoRoot, waitForPort } from '../common/process-util.js';
import { GATEWAY_NODE_FLAGS } from '../common/run-stack.js';
import { startHttpbin } from './httpbin-server.js';

/** The Envoy cluster of `httpbin:8000` in namespace default. */
const CLUSTER = 'outbound|8000||httpbin.default.svc.cluster.local';

/** The DestinationRule of the notes (minus its ISTIO_MUTUAL `tls` block, see above). */
const DESTINATION_RULE = `apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 1
      http:
        http1MaxPendingRequests: 1
        maxRequestsPerConnection: 1
    outlierDetection:
      consecutiveErrors: 1
      interval: 1s
      baseEjectionTime: 3m
      maxEjectionPercent: 100
`;

function config(httpbinPort: number): string {
  return `apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: { name: httpbin-gateway }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: { name: httpbin }
spec:
  hosts: ["*"]
  gateways: [httpbin-gateway]
  http:
  - route:
    - destination: { host: httpbin, port: { number: 8000 } }
---
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: { name: httpbin }
spec:
  hosts: [httpbin]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8000, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${httpbinPort} }, labels: { app: httpbin, version: v1 } }]
---
${DESTINATION_RULE}`;
}

/** A port nobody listens on right now (bound and released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Result of one load run. */
interface LoadResult {
  readonly codes: Map<number, number>;
  readonly overloaded: number;
  readonly ms: number;
}

/**
 * `fortio load -c <concurrency> -qps 0 -n <calls>`: `concurrency` keep-alive connections, each
 * sending its share of the calls back to back.
 */
async function load(url: string, concurrency: number, calls: number): Promise<LoadResult> {
  const agent = new Agent({ connections: concurrency, pipelining: 1 });
  const codes = new Map<number, number>();
  let overloaded = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        const mine = Math.floor(calls / concurrency) + (w < calls % concurrency ? 1 : 0);
        for (let i = 0; i < mine; i++) {
          const r = await request(url, { dispatcher: agent, headers: { host: 'httpbin:8000' } });
          await r.body.dump();
          codes.set(r.statusCode, (codes.get(r.statusCode) ?? 0) + 1);
          if (r.headers['x-envoy-overloaded'] === 'true') overloaded++;
        }
      }),
    );
  } finally {
    await agent.close();
  }
  return { codes, overloaded, ms: performance.now() - t0 };
}

/** The admin `/stats` lines of the httpbin cluster matching `pending` (as the notes grep them). */
async function pendingStats(adminPort: number): Promise<string[]> {
  const filter = encodeURIComponent('httpbin.*pending');
  const r = await request(`http://127.0.0.1:${adminPort}/stats?filter=${filter}`);
  const text = await r.body.text();
  if (r.statusCode !== 200) throw new Error(`admin /stats answered ${r.statusCode}: ${text}`);
  return text.split('\n').filter((l) => l.startsWith(`cluster.${CLUSTER}.`));
}

function statValue(lines: readonly string[], name: string): number {
  const line = lines.find((l) => l.startsWith(`cluster.${CLUSTER}.${name}:`));
  if (line === undefined) throw new Error(`admin /stats has no ${name} for ${CLUSTER}`);
  return Number(line.slice(line.lastIndexOf(':') + 1));
}

async function main(): Promise<number> {
  const repoRoot = findRepoRoot(import.meta.url);
  const httpbin = await startHttpbin({ port: 0, version: 'v1' });
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-circuit-breaker-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, config(httpbin.port));
  const gatewayPort = await freePort();
  const adminPort = await freePort();
  const args = [
    ...GATEWAY_NODE_FLAGS,
    path.join(repoRoot, 'dist', 'cli', 'main.js'),
    'run',
    '-f',
    file,
    '--port-map',
    `80=${gatewayPort}`,
    '--admin-port',
    String(adminPort),
    '--access-log',
    'off',
    '--log-level',
    'warn',
  ];
  for (const flag of ['--prometheus-port', '--status-port', '--health-port']) args.push(flag, 'off');
  const gateway = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<string>((resolve) =>
    gateway.once('exit', (code, signal) => resolve(`the gateway exited (${signal ?? code})`)),
  );
  try {
    await waitForPort(gatewayPort, { abort: exited });
    await waitForPort(adminPort, { abort: exited });
    const url = `http://127.0.0.1:${gatewayPort}/get`;
    process.stdout.write(
      `httpbin on 127.0.0.1:${httpbin.port}; meshgate on 127.0.0.1:${gatewayPort} (admin ${adminPort})\n` +
        `DestinationRule httpbin: maxConnections 1, http1MaxPendingRequests 1, maxRequestsPerConnection 1\n\n`,
    );
    // The cluster's circuit-breaker stats appear with its first request; none before means 0.
    const initial = await pendingStats(adminPort);
    let overflowBefore = initial.length === 0 ? 0 : statValue(initial, 'upstream_rq_pending_overflow');
    let mismatch = false;
    for (const [c, n] of [
      [1, 20],
      [2, 20],
      [3, 30],
    ] as const) {
      const r = await load(url, c, n);
      process.stdout.write(`load -c ${c} -qps 0 -n ${n} ${url}  (${r.ms.toFixed(1)} ms)\n`);
      for (const [code, count] of [...r.codes].sort(([a], [b]) => a - b))
        process.stdout.write(`Code ${code} : ${count} (${((100 * count) / n).toFixed(1)} %)\n`);
      const lines = await pendingStats(adminPort);
      const overflow = statValue(lines, 'upstream_rq_pending_overflow');
      const fivexx = r.codes.get(503) ?? 0;
      const delta = overflow - overflowBefore;
      overflowBefore = overflow;
      process.stdout.write(
        `503 with x-envoy-overloaded: ${r.overloaded}; upstream_rq_pending_overflow +${delta} ` +
          `(${delta === fivexx ? 'equals' : 'DIFFERS FROM'} the 503 count)\n\n`,
      );
      if (delta !== fivexx) mismatch = true;
    }
    process.stdout.write(`$ curl -s localhost:${adminPort}/stats | grep httpbin | grep pending\n`);
    process.stdout.write(`${(await pendingStats(adminPort)).join('\n')}\n`);
    return mismatch ? 1 : 0;
  } finally {
    gateway.kill('SIGTERM');
    await exited;
    await httpbin.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[circuit-breaker-demo] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
