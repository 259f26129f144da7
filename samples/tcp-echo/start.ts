/**
 * Runs the tcp-echo sample behind meshgate: echo servers v1 (`one`, 127.0.0.1:19090) and v2
 * (`two`, 127.0.0.1:19091), then
 * `node dist/cli/main.js run -f samples/tcp-echo/tcp-echo-services.yaml -f samples/tcp-echo/$VARIANT.yaml
 * --port-map 31400=$GATEWAY_PORT`.
 *
 * Environment:
 *   VARIANT       tcp-echo-all-v1 (default) or tcp-echo-20-v2
 *   GATEWAY_PORT  local port for the Gateway's port 31400 (default 31400)
 *   EXTRA_CONFIG  comma-separated extra -f paths
 */
import { existsSync } from 'node:fs';
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
import { TCP_ECHO_LAYOUT } from './tcp-echo-server.js';

async function main(): Promise<number> {
  const repoRoot = findRepoRoot(import.meta.url);
  const gatewayPort = envPort('GATEWAY_PORT', 31400);
  const variant = (process.env.VARIANT ?? 'tcp-echo-all-v1').replace(/\.ya?ml$/, '');
  const sampleDir = path.join(repoRoot, 'samples', 'tcp-echo');
  const variantFile = path.join(sampleDir, `${variant}.yaml`);
  if (!/^[\w-]+$/.test(variant) || !existsSync(variantFile)) {
    throw new Error(`VARIANT=${variant}: expected tcp-echo-all-v1 or tcp-echo-20-v2`);
  }
  const extra = extraConfigArgs(process.env.EXTRA_CONFIG, repoRoot);
  const script = fileURLToPath(new URL('./tcp-echo-server.js', import.meta.url));
  const workloads: WorkloadSpec[] = TCP_ECHO_LAYOUT.map((w) => ({
    name: `tcp-echo-${w.version}`,
    script,
    args: ['--port', String(w.port), '--prefix', w.prefix],
    port: w.port,
    env: envWithoutProxy(),
  }));
  return runStack({
    title: 'tcp-echo',
    repoRoot,
    workloads,
    gatewayArgs: [
      'run',
      '-f',
      path.join(sampleDir, 'tcp-echo-services.yaml'),
      '-f',
      variantFile,
      ...extra,
      '--port-map',
      `31400=${gatewayPort}`,
    ],
    gatewayPort,
    readyLines: [
      `Route: ${variant}.yaml`,
      `Try: echo hello | nc -q1 localhost ${gatewayPort}      (prints "one hello"` +
        (variant === 'tcp-echo-20-v2' ? ', or "two hello" for about 1 connection in 5)' : ')'),
      `     for i in $(seq 10); do echo hello | nc -q1 localhost ${gatewayPort}; done`,
    ],
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[tcp-echo] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
