/**
 * `npm start`: runs Bookinfo behind meshgate on this machine.
 *
 * Starts the six workloads of {@link BOOKINFO_LAYOUT} (productpage, details, reviews v1/v2/v3,
 * ratings on 127.0.0.1:19080-19085), then `node dist/cli/main.js run -f samples/bookinfo
 * --port-map 80=$GATEWAY_PORT`, and prints how to try it.
 *
 * Environment:
 *   GATEWAY_PORT  local port for the Gateway's port 80 (default 8080)
 *   MESH_PORT     also run meshgate's mesh listener there (--mesh-port) and send the workloads'
 *                 service-to-service calls through it (HTTP_PROXY), so mesh VirtualServices apply
 *   EXTRA_CONFIG  comma-separated extra -f paths, e.g. samples/bookinfo/tasks/virtual-service-reviews-test-v2.yaml
 *   ADMIN_PORT, PROMETHEUS_PORT, STATUS_PORT, HEALTH_PORT
 *                 the gateway's admin (15000), Prometheus (15090), status (15020) and health (15021)
 *                 ports (--admin-port ...); a port or `off`
 * A port already in use is reported with the variable that moves it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  envPort,
  envWithoutProxy,
  extraConfigArgs,
  runStack,
  type WorkloadSpec,
} from '../common/run-stack.js';
import { findRepoRoot } from '../common/process-util.js';
import { BOOKINFO_LAYOUT, defaultBookinfoEndpoints } from './workloads.js';

/** The gateway's telemetry ports: flag, environment variable, Istio's default. */
const TELEMETRY_PORTS = [
  { flag: 'admin-port', env: 'ADMIN_PORT', dflt: 15000 },
  { flag: 'prometheus-port', env: 'PROMETHEUS_PORT', dflt: 15090 },
  { flag: 'status-port', env: 'STATUS_PORT', dflt: 15020 },
  { flag: 'health-port', env: 'HEALTH_PORT', dflt: 15021 },
] as const;

/** A port from the environment, `off` as undefined; @throws Error naming the variable. */
function envPortOrOff(name: string, fallback: number): number | undefined {
  return process.env[name]?.trim() === 'off' ? undefined : envPort(name, fallback);
}

async function main(): Promise<number> {
  const repoRoot = findRepoRoot(import.meta.url);
  const gatewayPort = envPort('GATEWAY_PORT', 8080);
  const meshPort = envPort('MESH_PORT', undefined);
  const extra = extraConfigArgs(process.env.EXTRA_CONFIG, repoRoot);
  const telemetry = TELEMETRY_PORTS.map((t) => ({ ...t, port: envPortOrOff(t.env, t.dflt) }));
  const telemetryArgs = telemetry.flatMap((t) => [
    `--${t.flag}`,
    t.port === undefined ? 'off' : String(t.port),
  ]);
  const telemetryBound = telemetry.filter((t): t is typeof t & { port: number } => t.port !== undefined);

  const script = fileURLToPath(new URL('./workloads.js', import.meta.url));
  const env: NodeJS.ProcessEnv = {
    ...envWithoutProxy(),
    BOOKINFO_ENDPOINTS: JSON.stringify(defaultBookinfoEndpoints()),
    ...(meshPort ? { HTTP_PROXY: `http://127.0.0.1:${meshPort}` } : {}),
  };
  const workloads: WorkloadSpec[] = BOOKINFO_LAYOUT.map((w) => ({
    name: `${w.service}-${w.version}`,
    script,
    args: ['--service', w.service, '--version', w.version, '--port', String(w.port)],
    port: w.port,
    env,
  }));

  const url = `http://localhost:${gatewayPort}`;
  return runStack({
    title: 'Bookinfo',
    repoRoot,
    workloads,
    gatewayArgs: [
      'run',
      '-f',
      path.join(repoRoot, 'samples', 'bookinfo'),
      ...extra,
      '--port-map',
      `80=${gatewayPort}`,
      ...(meshPort ? ['--mesh-port', String(meshPort)] : []),
      ...telemetryArgs,
    ],
    gatewayPort,
    otherGatewayPorts: [...(meshPort ? [meshPort] : []), ...telemetryBound.map((t) => t.port)],
    portEnv: Object.fromEntries([
      [gatewayPort, 'GATEWAY_PORT'],
      ...(meshPort ? [[meshPort, 'MESH_PORT']] : []),
      ...telemetryBound.map((t) => [t.port, t.env]),
    ]),
    readyLines: [
      `Try: curl -s ${url}/productpage | grep -o '<title>.*</title>'`,
      `     curl -s -H 'end-user: jason' ${url}/productpage | grep -o 'Reviews served by: [a-z0-9-]*'`,
      `     curl -s -o /dev/null -w '%{http_code}\\n' ${url}/        (404: not routed by the gateway)`,
      meshPort
        ? `Service-to-service calls go through the mesh listener 127.0.0.1:${meshPort}: virtual-service-all-v1.yaml ` +
          'applies (reviews v1, no stars) unless EXTRA_CONFIG adds a task.'
        : `Open ${url}/productpage and refresh: productpage picks reviews v1/v2/v3 at random ` +
          '(no mesh listener, so the mesh VirtualServices do not apply; set MESH_PORT=15001 for that).',
    ],
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[bookinfo] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
