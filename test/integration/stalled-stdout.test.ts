/**
 * The meshgate CLI with an access log nobody reads (stdout a pipe whose reader stalled, as when a
 * log collector hangs): it keeps serving, and still shuts down on
 * SIGTERM instead of hanging on a write that can never finish.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { portFromLog } from '../helpers/cli-process.js';
import { HTTP_GATEWAY_GW } from '../helpers/resources.js';

const CONFIG = `
${HTTP_GATEWAY_GW}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ok }
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{ directResponse: { status: 200, body: { string: "ok" } } }]
`;

function get(agent: http.Agent, port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('access log on a stalled stdout', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('keeps serving while nobody reads stdout, and exits on SIGTERM within seconds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-stall-'));
    writeFileSync(join(dir, 'gw.yaml'), CONFIG);
    const args = ['dist/cli/main.js', 'run', '-f', join(dir, 'gw.yaml'), '--port-map', '80=0', '--no-watch'];
    args.push(
      '--admin-port',
      '0',
      '--prometheus-port',
      'off',
      '--status-port',
      'off',
      '--health-port',
      'off',
      '--drain-duration',
      '0s',
    );
    child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // Nobody reads stdout: once the pipe's buffer is full, every write would block or fail.
    child.stdout!.pause();
    const adminPort = portFromLog(child, 'admin port bound');
    const port = await portFromLog(child, 'listener bound');
    const admin = await adminPort;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    // ~2,000 lines of about 500 bytes: far more than a pipe holds (64 KiB).
    for (let round = 0; round < 100; round++) {
      const rs = await Promise.all(Array.from({ length: 20 }, () => get(agent, port)));
      for (const r of rs) expect(r).toEqual({ status: 200, body: 'ok' });
    }
    agent.destroy();
    const stats = (await get(new http.Agent(), admin, '/stats')).body;
    expect(stats).toMatch(/^server\.live: 1$/m);

    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // close() gives the log 2 s to drain, then the CLI ends anyway.
    expect(Date.now() - started).toBeLessThan(5000);
  }, 30_000);
});
