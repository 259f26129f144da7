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
import { logLine, portFromLog } from '../helpers/cli-process.js';
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

/** Everything a readable stream still yields, as text. */
async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const c of stream) out += String(c);
  return out;
}

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

  it('keeps serving while nobody reads stdout, and exits 0 on SIGTERM although its last lines cannot be written', async () => {
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

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    const shuttingDown = logLine(child, 'shutting down');
    child.kill('SIGTERM');
    // The orderly path (the signal handler, then close()), not a crash or a kill; a shutdown stuck
    // on the stalled write would never exit and fail this test at its timeout.
    expect(await shuttingDown).toMatchObject({ signal: 'SIGTERM' });
    expect(await exited).toBe(0);
    // stdout really was stalled: most of the ~2,000 access log lines never got through the pipe.
    child.stdout!.resume();
    const lines = (await text(child.stdout!)).split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(2000);
  }, 30_000);
});
