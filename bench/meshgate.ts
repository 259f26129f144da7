/**
 * How the benchmark drives meshgate: the variants to measure, the Istio YAML each case loads, and
 * starting the CLI pinned to the proxy core with its stdout (the access log) going to a file.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { canConnect, commandLine, pinned, sleep, spawnTracked, stopChild } from './proc.js';

/** One way of running meshgate; every variant is measured for each protocol it lists. */
export interface MeshgateVariant {
  /** Stable id used in case names and results.json, e.g. `meshgate-log-off`. */
  id: string;
  /** Human label for the table. */
  label: string;
  /** Extra CLI flags appended after `run -f <config> --port-map …`. */
  extraArgs: string[];
  /** Which benches this variant takes part in. */
  benches: ReadonlyArray<'http' | 'tcp'>;
}

/**
 * The meshgate variants. Add a row to measure another configuration; the runner, table, ratios and
 * results.json pick it up. An unknown flag makes that row "not supported yet", not a failure.
 */
export const MESHGATE_VARIANTS: readonly MeshgateVariant[] = [
  { id: 'meshgate', label: 'meshgate, metrics + access log on', extraArgs: [], benches: ['http', 'tcp'] },
  {
    id: 'meshgate-log-off',
    label: 'meshgate, metrics on, access log off',
    extraArgs: ['--access-log', 'off'],
    benches: ['http'],
  },
  {
    id: 'meshgate-telemetry-off',
    label: 'meshgate, metrics + access log off',
    extraArgs: ['--metrics', 'off', '--access-log', 'off'],
    benches: ['http'],
  },
  // HOOK(https): HTTPS keep-alive through meshgate, reported as a fraction of plain HTTP. Not implemented.
  // Plan: generate a self-signed cert into .bench/ (node:crypto or `openssl req -x509`), add a Gateway
  // server `port 443 HTTPS tls.mode SIMPLE credentialName/serverCertificate` to httpConfigYaml, map
  // `--port-map 443=<free port>`, and drive it with `wrk https://127.0.0.1:<port>/` (wrk keeps TLS
  // sessions alive per connection). Give the variant `benches: ['https']` and report
  // `meshgate-https/meshgate-http` next to the other HTTP ratios.
];

/**
 * Node flags meshgate is started with, as its image entrypoint and the `meshgate` command start it
 * (`GATEWAY_NODE_FLAGS` in cli/gc-threads.ts, which says why; the bench may not import cli/).
 */
export const MESHGATE_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

/** Gateway server port of the HTTP bench (mapped to a free local port with `--port-map`). */
export const HTTP_GATEWAY_PORT = 80;
/** Gateway server port of the TCP benches. */
export const TCP_GATEWAY_PORT = 31400;

/** Gateway `bench-gateway`: one server on `port` for any host (the YAML both benches load). */
function benchGateway(port: number, name: string, protocol: 'HTTP' | 'TCP'): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: bench-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
    - port: {number: ${port}, name: ${name}, protocol: ${protocol}}
      hosts: ['*']`;
}

/**
 * A STATIC ServiceEntry `name` for `host`:`port` whose one endpoint is 127.0.0.1:`endpointPort`.
 * @param protocol - the port's protocol; its lowercase form names the port.
 * @returns one YAML document (no `---`), ending with a newline.
 */
export function staticServiceEntryYaml(
  name: string,
  host: string,
  port: number,
  protocol: 'HTTP' | 'TCP' | 'GRPC',
  endpointPort: number,
): string {
  const portName = protocol.toLowerCase();
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts: [${host}]
  ports:
    - {number: ${port}, name: ${portName}, protocol: ${protocol}}
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints:
    - address: 127.0.0.1
      ports: {${portName}: ${endpointPort}}
`;
}

/**
 * Istio config for the HTTP bench: Gateway `bench-gateway` on port 80 for any host, a VirtualService
 * routing `/` to ServiceEntry host `upstream` port 8080, whose one static endpoint is the bench upstream.
 * @param upstreamPort - port the bench upstream listens on, on 127.0.0.1.
 * @param protocol - the upstream port's protocol: `GRPC` makes meshgate speak h2c to it (gRPC bench).
 * @returns multi-document YAML.
 */
export function httpConfigYaml(upstreamPort: number, protocol: 'HTTP' | 'GRPC' = 'HTTP'): string {
  return `# Written by bench/run.ts; regenerated on every run.
${benchGateway(HTTP_GATEWAY_PORT, 'http', 'HTTP')}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bench
spec:
  hosts: ['*']
  gateways: [bench-gateway]
  http:
    - match:
        - uri:
            prefix: /
      route:
        - destination:
            host: upstream
            port: {number: 8080}
---
${staticServiceEntryYaml('upstream', 'upstream', 8080, protocol, upstreamPort)}`;
}

/**
 * Istio config for a TCP bench: Gateway `bench-gateway` with a TCP server on port 31400, a VirtualService
 * `tcp` route for port 31400 to ServiceEntry `service`:`servicePort`, statically at 127.0.0.1:`endpointPort`.
 * @param service - ServiceEntry host, e.g. `iperf`.
 * @param servicePort - the service's port number, e.g. 5201.
 * @param endpointPort - where the real server listens on 127.0.0.1.
 * @returns multi-document YAML.
 */
export function tcpConfigYaml(service: string, servicePort: number, endpointPort: number): string {
  return `# Written by bench/run.ts; regenerated on every run.
${benchGateway(TCP_GATEWAY_PORT, 'tcp', 'TCP')}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bench-tcp
spec:
  hosts: ['*']
  gateways: [bench-gateway]
  tcp:
    - match:
        - port: ${TCP_GATEWAY_PORT}
      route:
        - destination:
            host: ${service}
            port: {number: ${servicePort}}
---
${staticServiceEntryYaml(service, service, servicePort, 'TCP', endpointPort)}`;
}

/** Outcome of starting meshgate. */
export type MeshgateStart =
  | { kind: 'ready'; child: ChildProcess; command: string; warning: string | null }
  | { kind: 'unsupported'; command: string; reason: string }
  | { kind: 'failed'; command: string; reason: string };

/** Options of {@link startMeshgate}. */
export interface MeshgateStartOptions {
  /** Path of dist/cli/main.js. */
  mainJs: string;
  /** Path of the YAML config. */
  configPath: string;
  /** Gateway server port from the config. */
  gatewayPort: number;
  /** Local port that gateway port is mapped to. */
  localPort: number;
  /** File receiving meshgate's stdout (access log and structured logs). */
  stdoutPath: string;
  variant: MeshgateVariant;
  /** CPU core to pin to. */
  core: number;
  /** Deadline for becoming ready, in ms. */
  timeoutMs?: number;
}

const UNKNOWN_FLAG =
  /unknown (option|flag|argument)|unrecognized|unexpected (argument|option)|invalid option/i;
const BOUND = '"msg":"listener bound"';

/**
 * Starts `node --single-threaded-gc dist/cli/main.js run -f CONFIG --port-map GW=LOCAL [extra flags]`
 * pinned to `core`.
 *
 * stdout goes straight to a file (a file descriptor, not through the runner) so access logging keeps its
 * real cost; stderr is relayed to the runner's stderr and scanned for unknown-flag errors. Ready when
 * `"msg":"listener bound"` has been logged (stdout file or stderr) and the local port accepts a connect.
 */
export async function startMeshgate(opts: MeshgateStartOptions): Promise<MeshgateStart> {
  const args = [
    ...MESHGATE_NODE_FLAGS,
    opts.mainJs,
    'run',
    '-f',
    opts.configPath,
    '--port-map',
    `${opts.gatewayPort}=${opts.localPort}`,
    // Telemetry ports on free ports, so a bench run never clashes with a running gateway.
    ...['--admin-port', '0', '--prometheus-port', '0', '--status-port', '0', '--health-port', '0'],
    ...opts.variant.extraArgs,
  ];
  const [cmd, argv] = pinned(opts.core, process.execPath, args);
  const command = commandLine(cmd, argv);
  const outFd = fs.openSync(opts.stdoutPath, 'w');
  const child = spawnTracked(opts.variant.id, cmd, argv, ['ignore', outFd, 'pipe']);
  fs.closeSync(outFd);

  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    process.stderr.write(chunk);
    // Only the beginning matters (startup errors); don't grow without bound during a run.
    if (stderr.length < 64 * 1024) stderr += chunk;
  });
  // An object, not a `let`: TypeScript would narrow a local assigned only in a callback to `null`.
  const state: { exit: string | null } = { exit: null };
  child.once('exit', (code, signal) => (state.exit = signal ?? `exit code ${code}`));

  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let logSeen = false;
  let connectedAt: number | null = null;
  while (Date.now() < deadline) {
    if (state.exit !== null) {
      // Give the stderr pipe a moment to deliver the last lines before classifying.
      await sleep(100);
      const text = `${stderr}\n${readHead(opts.stdoutPath)}`;
      const summary = summarizeFailure(text, 3);
      if (UNKNOWN_FLAG.test(text) && opts.variant.extraArgs.length > 0) {
        return { kind: 'unsupported', command, reason: summary };
      }
      return { kind: 'failed', command, reason: `meshgate ${state.exit}: ${summary}` };
    }
    const logs = `${stderr}\n${readHead(opts.stdoutPath)}`;
    // e.g. {"msg":"TCP servers are not supported yet; port 31400 not bound"}: no point waiting.
    const unsupported = unsupportedListener(logs, opts.gatewayPort);
    if (unsupported !== null) {
      await stopChild(child);
      return { kind: 'unsupported', command, reason: unsupported };
    }
    logSeen ||= logs.includes(BOUND);
    if (connectedAt === null && (await canConnect(opts.localPort, 300))) connectedAt = Date.now();
    if (connectedAt !== null && logSeen) return { kind: 'ready', child, command, warning: null };
    // Accepting connections but never said "listener bound": go on after a grace period, with a note.
    if (connectedAt !== null && Date.now() - connectedAt > 3000) {
      return { kind: 'ready', child, command, warning: `no ${BOUND} log line; port accepted connections` };
    }
    await sleep(100);
  }
  await stopChild(child);
  return { kind: 'failed', command, reason: `not ready within ${opts.timeoutMs ?? 20_000} ms` };
}

/**
 * Finds a log line saying the benchmarked listener is not supported (mentions "not supported" and either
 * the gateway port or "not bound"), so the case is reported as "not supported yet" at once.
 * @returns the line's `msg` (or the line), or null.
 */
function unsupportedListener(logs: string, gatewayPort: number): string | null {
  for (const line of logs.split('\n')) {
    if (!/not (yet )?supported/i.test(line)) continue;
    if (!line.includes(String(gatewayPort)) && !/not bound/i.test(line)) continue;
    const msg = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line);
    return (msg?.[1] ?? line.trim()).slice(0, 300);
  }
  return null;
}

/** First 64 KiB of a file ('' if unreadable): startup logs are at the top. */
function readHead(path: string): string {
  try {
    const fd = fs.openSync(path, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** The most telling line(s) of a failed start: the first error line, else the last `n` lines. */
function summarizeFailure(text: string, n: number): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const error = lines.find((l) => /^(\w*Error\b|error\b|meshgate:)/i.test(l));
  return (error ?? lines.slice(-n).join(' | ')).slice(0, 500);
}
