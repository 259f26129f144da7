/**
 * Runs the httpbin sample behind meshgate: httpbin v1 (127.0.0.1:18000) and v2 (127.0.0.1:18001),
 * then `node dist/cli/main.js run -f httpbin-gateway.yaml -f service-entry.yaml <variant files>
 * --port-map 80=$GATEWAY_PORT`.
 *
 * Environment:
 *   VARIANT       plain (default) | circuit-breaker | mirror | egress
 *   GATEWAY_PORT  local port for the Gateway's port 80 (default 8080)
 *   EXTRA_CONFIG  comma-separated extra -f paths
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
import { HTTPBIN_LAYOUT } from './httpbin-server.js';

/** Files each variant adds to httpbin-gateway.yaml + service-entry.yaml, and what to try. */
const VARIANTS: Readonly<Record<string, { files: readonly string[]; tryLines: (url: string) => string[] }>> =
  {
    plain: {
      files: [],
      tryLines: (url) => [
        `Try: curl -s -i ${url}/status/418          (418 and a teapot)`,
        `     curl -s ${url}/headers                 (the headers httpbin received)`,
        `     curl -s -D - -o /dev/null ${url}/get | grep x-served-by   (v1 and v2 take turns)`,
      ],
    },
    'circuit-breaker': {
      files: ['destination-rule-circuit-breaker.yaml'],
      tryLines: (url) => [
        `Try: curl -s -o /dev/null -w '%{http_code}\\n' ${url}/get        (200)`,
        `     for i in $(seq 20); do curl -s -o /dev/null -w '%{http_code} ' ${url}/delay/0.2 & done; wait; echo`,
        '     (with more than 1 active + 1 queued request, the rest get 503 at once)',
      ],
    },
    mirror: {
      files: ['destination-rule-subsets.yaml', 'mirror.yaml'],
      tryLines: (url) => [
        `Try: curl -s -H 'Host: httpbin.default.svc.cluster.local' ${url}/headers`,
        '     the answer comes from httpbin-v1; the [httpbin-v2] log shows the mirrored copy (host=...-shadow)',
      ],
    },
    egress: {
      files: ['egress-httpbin-ext.yaml'],
      tryLines: (url) => [
        `Try: curl -s -o /dev/null -w '%{http_code}\\n' -H 'Host: httpbin.org' ${url}/delay/5   (504 after ~3 s)`,
        `     curl -s -o /dev/null -w '%{http_code}\\n' -H 'Host: httpbin.org' ${url}/delay/1   (200)`,
      ],
    },
  };

async function main(): Promise<number> {
  const repoRoot = findRepoRoot(import.meta.url);
  const gatewayPort = envPort('GATEWAY_PORT', 8080);
  const variantName = process.env.VARIANT || 'plain';
  const variant = VARIANTS[variantName];
  if (!variant)
    throw new Error(`VARIANT=${variantName}: expected one of ${Object.keys(VARIANTS).join(', ')}`);
  const extra = extraConfigArgs(process.env.EXTRA_CONFIG, repoRoot);
  const sampleDir = path.join(repoRoot, 'samples', 'httpbin');
  const files = ['httpbin-gateway.yaml', 'service-entry.yaml', ...variant.files];

  const script = fileURLToPath(new URL('./httpbin-server.js', import.meta.url));
  const workloads: WorkloadSpec[] = HTTPBIN_LAYOUT.map((w) => ({
    name: `httpbin-${w.version}`,
    script,
    args: ['--port', String(w.port), '--version', w.version],
    port: w.port,
    env: envWithoutProxy(),
  }));
  return runStack({
    title: 'httpbin',
    repoRoot,
    workloads,
    gatewayArgs: [
      'run',
      ...files.flatMap((f) => ['-f', path.join(sampleDir, f)]),
      ...extra,
      '--port-map',
      `80=${gatewayPort}`,
    ],
    gatewayPort,
    readyLines: [
      `Variant: ${variantName} (${files.join(', ')})`,
      ...variant.tryLines(`http://localhost:${gatewayPort}`),
    ],
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[httpbin] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
