/**
 * `npm start` (samples/bookinfo/start.ts) takes the gateway's ports from the environment and names
 * the variable to change when a port is taken. Runs the built script as `npm start` does; it stops
 * at the port check, before any process is spawned.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';

const START = new URL('../../dist/samples/bookinfo/start.js', import.meta.url).pathname;

function runStart(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [START], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

async function holdPort(): Promise<net.Server> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}

describe('npm start (Bookinfo) ports', () => {
  it.each(['ADMIN_PORT', 'PROMETHEUS_PORT', 'STATUS_PORT', 'HEALTH_PORT', 'GATEWAY_PORT'])(
    'a taken %s is named in one line, exit 1',
    async (name) => {
      const held = await holdPort();
      try {
        const port = (held.address() as AddressInfo).port;
        const offOthers = Object.fromEntries(
          ['ADMIN_PORT', 'PROMETHEUS_PORT', 'STATUS_PORT', 'HEALTH_PORT'].map((n) => [n, 'off']),
        );
        const r = await runStart({ ...offOthers, [name]: String(port) });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`port ${port} (gateway) is already in use: set ${name} to a free port`);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      } finally {
        held.close();
      }
    },
  );

  it('refuses a port variable that is not a port', async () => {
    const r = await runStart({ ADMIN_PORT: 'fifteen' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ADMIN_PORT="fifteen" is not a port (1-65535)');
  });
});
