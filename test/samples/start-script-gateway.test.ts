/**
 * The gateway as the `start` scripts spawn it (samples/common/run-stack.ts): `node --import
 * exit-with-parent.js dist/cli/main.js run ...` with an IPC channel to the script. With the default
 * `--concurrency` the gateway's node:cluster workers inherit that preload; they must keep serving
 * (their channel is the primary's), while the primary still exits when the script's channel closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { servingPort } from '../helpers/cli-process.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const PRELOAD = join(ROOT, 'dist/samples/common/exit-with-parent.js');

const CONFIG = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs, namespace: default }
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{ directResponse: { status: 200, body: { string: "served" } } }]
`;

describe('a gateway spawned by a start script', () => {
  let child: ChildProcess | undefined;
  let dir = '';
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves with two workers, and exits when the script is gone', async () => {
    dir = mkdtempSync(join(tmpdir(), 'start-script-'));
    writeFileSync(join(dir, 'gw.yaml'), CONFIG);
    const ports = ['--admin-port', '0', '--prometheus-port', '0', '--status-port', '0', '--health-port', '0'];
    const args = [
      'run',
      '-f',
      dir,
      '--port-map',
      '80=0',
      '--concurrency',
      '2',
      '--drain-duration',
      '0s',
      ...ports,
    ];
    child = spawn(process.execPath, ['--import', PRELOAD, join(ROOT, 'dist/cli/main.js'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const port = await servingPort(child);
    for (let i = 0; i < 4; i++) {
      const res = await request(`http://127.0.0.1:${port}/`, { reset: true });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('served');
    }
    // The script dies: its IPC channel closes and the gateway shuts itself down.
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    child.disconnect();
    const [code] = await exited;
    expect(code).toBe(0);
    child = undefined;
  }, 30_000);
});
