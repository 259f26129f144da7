/**
 * Shutdown of the real CLI process on SIGTERM: readiness turns 503 at once, in-flight requests on 50
 * keep-alive connections finish with 200 and `Connection: close`, new connections are still served
 * during the drain duration, and the process exits 0. With a silent client, a half-sent request and a
 * request stuck on a hung upstream, it still exits 0 (the drain timeout closes them); a client that
 * half-closes before its first byte is closed at once, not at the deadline. The test's own timeout is
 * the bound.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { logLine, portFromLog, servingPort } from '../helpers/cli-process.js';
import { BACKEND_DESTINATION, backendGatewayYaml } from '../helpers/resources.js';

const SLOW_MS = 2000;

function config(upstream: number): string {
  return backendGatewayYaml('drain', [`- route: [{ destination: ${BACKEND_DESTINATION} }]`], upstream);
}

interface Upstream {
  port: number;
  /** Resolves once `n` requests for `/slow` or `/hang` have arrived. */
  arrived(n: number): Promise<void>;
  close(): void;
}

/** `/fast` answers at once, `/slow` after 2 s, `/hang` never. */
async function startUpstream(): Promise<Upstream> {
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/fast') return void res.end('fast');
    count++;
    for (const w of waiters.filter((x) => x.n <= count)) w.resolve();
    if (req.url === '/slow') setTimeout(() => res.end('slow'), SLOW_MS);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    arrived: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function startMeshgate(upstream: number, drainArgs: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'mg-drain-'));
  writeFileSync(join(dir, 'gw.yaml'), config(upstream));
  const args = ['dist/cli/main.js', 'run', '-f', join(dir, 'gw.yaml'), '--port-map', '80=0', '--no-watch'];
  args.push('--access-log', 'off', '--admin-port', 'off', '--prometheus-port', 'off', '--status-port', 'off');
  args.push('--health-port', '0', ...drainArgs);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const health = portFromLog(child, 'health port bound');
  const port = await servingPort(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, port, healthPort: await health, exited };
}

interface Reply {
  status: number;
  connection: string | undefined;
  body: string;
}

function get(port: number, path: string, agent: http.Agent | false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }),
        );
      })
      .on('error', reject);
  });
}

describe('drain on SIGTERM (real CLI process)', () => {
  let child: ChildProcess | undefined;
  let upstream: Upstream | undefined;
  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    upstream?.close();
  });

  it('50 keep-alive clients on a 2 s upstream: all complete 200 with Connection: close; exit 0', async () => {
    upstream = await startUpstream();
    const mg = await startMeshgate(upstream.port, ['--drain-duration', '1s', '--drain-timeout', '15s']);
    child = mg.child;
    expect((await get(mg.healthPort, '/healthz/ready', false)).status).toBe(200);

    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    // 50 connections, each kept alive by a first request.
    const warm = await Promise.all(Array.from({ length: 50 }, () => get(mg.port, '/fast', agent)));
    for (const r of warm) expect(r).toMatchObject({ status: 200, connection: 'keep-alive', body: 'fast' });
    const sockets = Object.values(agent.freeSockets).flat().length;
    expect(sockets).toBe(50);

    const inflight = Promise.all(Array.from({ length: 50 }, () => get(mg.port, '/slow', agent)));
    await upstream.arrived(50);
    const shuttingDown = logLine(mg.child, 'shutting down');
    mg.child.kill('SIGTERM');
    await shuttingDown;
    // Readiness fails at once; a new connection is still served during the drain duration, told to close.
    expect((await get(mg.healthPort, '/healthz/ready', false)).status).toBe(503);
    expect(await get(mg.port, '/fast', false)).toEqual({ status: 200, connection: 'close', body: 'fast' });

    const replies = await inflight;
    expect(replies).toHaveLength(50);
    for (const r of replies) expect(r).toEqual({ status: 200, connection: 'close', body: 'slow' });
    expect(await mg.exited).toBe(0);
    agent.destroy();
  }, 30_000);

  it('a silent client, a half-sent request and a hung upstream do not keep the process alive', async () => {
    upstream = await startUpstream();
    const mg = await startMeshgate(upstream.port, ['--drain-duration', '200ms', '--drain-timeout', '1s']);
    child = mg.child;
    const closed = (s: net.Socket) => new Promise<void>((r) => s.once('close', () => r()));
    const silent = net.connect(mg.port, '127.0.0.1');
    silent.on('error', () => undefined);
    const half = net.connect(mg.port, '127.0.0.1', () =>
      half.write('GET /fast HTTP/1.1\r\nHost: a\r\nx-more: '),
    );
    half.on('error', () => undefined);
    const hung = get(mg.port, '/hang', false).then(
      (r) => r.status,
      () => 'reset' as const,
    );
    await upstream.arrived(1);
    const silentClosed = closed(silent);
    const halfClosed = closed(half);
    mg.child.kill('SIGTERM');
    expect(await mg.exited).toBe(0);
    await Promise.all([silentClosed, halfClosed]);
    // The hung request's connection is closed at the deadline (no response could be made).
    expect(await hung).toBe('reset');
  }, 30_000);

  it('a client that half-closes without a request does not hold the drain to its (60 s) deadline', async () => {
    upstream = await startUpstream();
    const mg = await startMeshgate(upstream.port, ['--drain-duration', '200ms', '--drain-timeout', '60s']);
    child = mg.child;
    // Connected and gone (FIN) before its first byte, as a load generator reconnecting during the drain.
    const gone = net.connect(mg.port, '127.0.0.1', () => gone.end());
    gone.on('error', () => undefined);
    const goneClosed = new Promise<void>((r) => gone.once('close', () => r()));
    mg.child.kill('SIGTERM');
    // The test's 30 s timeout is the bound: the gateway closes its side at once, not at the deadline.
    await goneClosed;
    expect(await mg.exited).toBe(0);
  }, 30_000);
});
