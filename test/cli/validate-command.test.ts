/**
 * `meshgate validate` run as a user runs it (the built CLI in a child process): it loads what
 * validation needs and not the gateway (data path, admin server, trace exporters, Kubernetes client),
 * and prints each diagnostic with file, line, resource and field.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const RUN_COMMAND = new URL('../../dist/cli/run-command.js', import.meta.url).href;

/**
 * Preloaded into the child: at exit, prints the npm packages it loaded. The packages are CommonJS,
 * and an ESM import of CommonJS goes through the CommonJS loader, so `require.cache` lists them.
 */
const PROBE = `data:text/javascript,${encodeURIComponent(`
import { createRequire } from 'node:module';
const cache = createRequire(process.cwd() + '/').cache;
process.on('exit', () => {
  const names = new Set();
  for (const file of Object.keys(cache)) {
    const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
    if (m) names.add(m[1]);
  }
  process.stderr.write('LOADED ' + JSON.stringify([...names].sort()) + '\\n');
});
`)}`;

/** Packages of the serving gateway only. */
const SERVING_PACKAGES = [
  'fastify',
  'undici',
  'pino',
  'prom-client',
  '@opentelemetry/sdk-trace',
  '@opentelemetry/exporter-trace-otlp-proto',
  '@kubernetes/client-node',
];

function loadedPackages(stderr: string): string[] {
  const line = stderr.split('\n').find((l) => l.startsWith('LOADED '));
  expect(line, stderr).toBeDefined();
  return JSON.parse(line!.slice('LOADED '.length)) as string[];
}

const dir = mkdtempSync(join(tmpdir(), 'meshgate-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BAD_CONFIG = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  selector:
    istio: ingressgateway
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews.example.com]
  gateways: [gw]
  http:
    - timeout: 5 seconds
      route:
        - destination:
            host: reviews
`;

describe('meshgate validate', () => {
  it('loads no package of the serving gateway', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, BAD_CONFIG);
    const r = spawnSync(process.execPath, ['--import', PROBE, CLI, 'validate', '-f', file], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    const loaded = loadedPackages(r.stderr);
    expect(loaded).toContain('yaml');
    expect(loaded.filter((p) => SERVING_PACKAGES.includes(p))).toEqual([]);
  });

  it('the probe sees the serving packages when the run command is loaded', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', PROBE, '--input-type=module', '-e', `await import(${JSON.stringify(RUN_COMMAND)});`],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    const loaded = loadedPackages(r.stderr);
    expect(loaded).toEqual(expect.arrayContaining(['fastify', 'undici', 'pino', 'prom-client']));
  });

  it('names file, line, resource and field of each error', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, BAD_CONFIG);
    const r = spawnSync(process.execPath, [CLI, 'validate', '-f', file], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(
      [
        `error IST0106 VirtualService/default/reviews (${file}#1:20:7) spec.http[0].timeout: invalid duration "5 seconds" (expected a number with a unit, e.g. "500ms", "1s", "2m")`,
        `error IST0101 VirtualService/default/reviews (${file}#1:12) spec.http[0].route[0].destination.host: Referenced host not found: "reviews"`,
        '2 resources, 0 Kubernetes objects, 2 error(s), 0 warning(s)',
        '',
      ].join('\n'),
    );
  });
});
