/**
 * The access log of `meshgate run --concurrency 2` with stdout a pipe: each worker writes its
 * batches to a socket of its own and the primary copies the whole lines to stdout. Every request
 * must appear as exactly one complete line (no line split by another worker's, none lost), with
 * lines longer than a pipe's atomic write (4 KiB) and longer than one read of the socket, from
 * concurrent keep-alive clients on both workers; also for a worker that exits while the primary is
 * stopped (its last lines wait in the socket), and for requests in flight at SIGTERM. With stdout
 * a regular file, the workers write it themselves: the same one-complete-line-per-request check.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bookinfoGateway,
  httpVirtualService,
  staticServiceEntry,
  yamlDocuments,
} from '../helpers/bookinfo-config.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/** One access-log record, the fields checked here. */
interface LogRecord {
  request_id: string | null;
  user_agent: string | null;
  path: string;
  response_code: number;
}

/** The user agent of request `n`: 100 B to 9 KB, so lines cross 4 KiB and chunk boundaries. */
function userAgent(n: number): string {
  const sizes = [100, 3000, 5000, 9000];
  return `ua-${n}-`.padEnd(sizes[n % sizes.length]!, 'x');
}

/** GET `path` with `headers`; resolves with the status and body. */
function get(
  port: number,
  path: string,
  headers: Record<string, string>,
  agent: http.Agent | false,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** The CLI's stdout (access log) and stderr (system log) as they arrive, with waits on both. */
class Streams {
  stdout = '';
  readonly stderr: Record<string, unknown>[] = [];
  private waiters: (() => void)[] = [];

  constructor(child: ChildProcess) {
    let partial = '';
    // Null when stdout is a file (the file is read instead).
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      this.stdout += c;
      this.wake();
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      const lines = (partial + c).split('\n');
      partial = lines.pop()!;
      for (const l of lines)
        if (l.startsWith('{')) this.stderr.push(JSON.parse(l) as Record<string, unknown>);
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `ready()` holds, checked on every chunk of output. */
  async until(ready: () => boolean): Promise<void> {
    while (!ready()) await new Promise<void>((r) => this.waiters.push(r));
  }

  logs(msg: string): Record<string, unknown>[] {
    return this.stderr.filter((l) => l['msg'] === msg);
  }

  /** Complete stdout lines so far (the text after the last newline may still be arriving). */
  lines(): string[] {
    return this.stdout
      .slice(0, this.stdout.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l !== '');
  }
}

/** Each line as a record; throws (failing the test) on a line that is not one complete JSON object. */
function records(lines: readonly string[]): LogRecord[] {
  return lines.map((l) => JSON.parse(l) as LogRecord);
}

/** Request ids logged, each with how often. */
function idCounts(recs: readonly LogRecord[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of recs) m.set(r.request_id ?? '', (m.get(r.request_id ?? '') ?? 0) + 1);
  return m;
}

/** Whether `pid` has exited (gone, or a zombie its stopped parent has not reaped yet). */
function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

describe('meshgate run --concurrency 2: access log through the primary', () => {
  let child: ChildProcess;
  let out: Streams;
  let upstream: TestUpstream;
  let port: number;
  let admin: number;
  /** Request ids sent and answered, in order. */
  const sent: string[] = [];
  /** Responses of `/slow/` requests the upstream holds until released. */
  const held: http.ServerResponse[] = [];
  let onHeld: () => void = () => undefined;

  beforeAll(async () => {
    upstream = await startUpstream('app', (req, res) => {
      if (!req.url?.startsWith('/slow/')) {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return true;
      }
      held.push(res);
      onHeld();
      return true;
    });
    const dir = mkdtempSync(join(tmpdir(), 'mg-workers-log-'));
    const vs = httpVirtualService({
      name: 'app',
      hosts: ['*'],
      gateways: ['bookinfo-gateway'],
      http: '  - route: [{ destination: { host: app } }]',
    });
    const config = yamlDocuments(
      bookinfoGateway(80),
      vs,
      staticServiceEntry('app', [{ port: upstream.port }]),
    );
    writeFileSync(join(dir, 'app.yaml'), config);
    const args = ['dist/cli/main.js', 'run', '-f', dir, '--port-map', '80=0', '--concurrency', '2'];
    args.push('--drain-duration', '0s', '--drain-timeout', '30s', '--admin-port', '0');
    for (const p of ['prometheus', 'status', 'health']) args.push(`--${p}-port`, '0');
    child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    out = new Streams(child);
    await out.until(() => out.logs('all workers ready').length > 0);
    port = out.logs('listener bound')[0]!['port'] as number;
    admin = out.logs('admin port bound')[0]!['port'] as number;
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGCONT');
      child.kill('SIGKILL');
    }
    await upstream.close();
  });

  it('writes one complete line per request from concurrent clients on both workers', async () => {
    const connections = 12;
    const total = 4000;
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    let next = 0;
    const loop = async (): Promise<void> => {
      while (next < total) {
        const n = next++;
        const id = `req-${n}`;
        const r = await get(port, `/items/${n}`, { 'x-request-id': id, 'user-agent': userAgent(n) }, agent);
        expect(r.status).toBe(200);
        sent.push(id);
      }
    };
    await Promise.all(Array.from({ length: connections }, loop));
    agent.destroy();

    await out.until(() => out.lines().length >= sent.length);
    const recs = records(out.lines());
    expect(recs).toHaveLength(sent.length);
    expect(idCounts(recs)).toEqual(new Map(sent.map((id) => [id, 1])));
    for (const r of recs) {
      const n = Number(r.request_id!.slice('req-'.length));
      expect(r).toMatchObject({ path: `/items/${n}`, response_code: 200, user_agent: userAgent(n) });
    }
    // Both workers served (and so wrote) part of it.
    const stats = await get(admin, '/stats', {}, false);
    const served = [1, 2].map((w) =>
      Number(new RegExp(`^server\\.worker_${w}\\.downstream_rq_total: (\\d+)$`, 'm').exec(stats.body)?.[1]),
    );
    expect(served[0]! + served[1]!).toBe(total);
    for (const s of served) expect(s).toBeGreaterThan(0);
    expect(stats.body).not.toMatch(/^access_log\.dropped_lines: [1-9]/m);
  }, 120_000);

  it('keeps the last lines of a worker that exits while the primary is stopped', async () => {
    const info = JSON.parse((await get(admin, '/server_info', {}, false)).body) as {
      workers: { id: number; pid: number }[];
    };
    // New connections alternate between the workers: both get some.
    for (let n = 0; n < 20; n++) {
      const id = `exit-${n}`;
      const r = await get(port, `/exit/${n}`, { 'x-request-id': id, 'user-agent': userAgent(n) }, false);
      expect(r.status).toBe(200);
      sent.push(id);
    }
    // The primary reads nothing while stopped; worker 1 drains, writes its last batch to its socket
    // and exits. The batch must still reach stdout once the primary runs again.
    const victim = info.workers.find((w) => w.id === 1)!;
    process.kill(child.pid!, 'SIGSTOP');
    process.kill(victim.pid, 'SIGTERM');
    // Not our child: no exit event to wait on, so its state is read until it has ended.
    while (!exited(victim.pid)) await new Promise((r) => setTimeout(r, 20));
    process.kill(child.pid!, 'SIGCONT');
    await out.until(() => out.logs('worker ready').some((l) => l['worker'] === 1 && l['pid'] !== victim.pid));
    await out.until(() => out.lines().length >= sent.length);
    const recs = records(out.lines());
    expect(recs).toHaveLength(sent.length);
    expect(idCounts(recs)).toEqual(new Map(sent.map((id) => [id, 1])));
  }, 60_000);

  it('on SIGTERM writes the lines of requests in flight before exiting', async () => {
    const inFlight = 10;
    const allHeld = new Promise<void>((resolve) => {
      onHeld = () => {
        if (held.length === inFlight) resolve();
      };
    });
    const replies = Array.from({ length: inFlight }, (_, n) => {
      sent.push(`slow-${n}`);
      return get(port, `/slow/${n}`, { 'x-request-id': `slow-${n}`, 'user-agent': userAgent(n) }, false);
    });
    await allHeld;
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const stdoutEnd = new Promise<void>((resolve) => child.stdout!.once('end', resolve));
    const stopping = out.logs('worker shutting down').length;
    child.kill('SIGTERM');
    await out.until(() => out.logs('worker shutting down').length === stopping + 2);
    for (const res of held.splice(0)) res.writeHead(200, { 'content-type': 'text/plain' }).end('late');
    for (const r of await Promise.all(replies)) expect(r).toEqual({ status: 200, body: 'late' });
    expect(await exit).toBe(0);
    await stdoutEnd;
    expect(out.stdout.endsWith('\n')).toBe(true);
    const recs = records(out.lines());
    expect(recs).toHaveLength(sent.length);
    expect(idCounts(recs)).toEqual(new Map(sent.map((id) => [id, 1])));
  }, 90_000);
});

describe('meshgate run --concurrency 2: access log with stdout a regular file', () => {
  it('writes one complete line per request, the workers writing the file themselves', async () => {
    const upstream = await startUpstream('app', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return true;
    });
    const dir = mkdtempSync(join(tmpdir(), 'mg-workers-file-log-'));
    const vs = httpVirtualService({
      name: 'app',
      hosts: ['*'],
      gateways: ['bookinfo-gateway'],
      http: '  - route: [{ destination: { host: app } }]',
    });
    writeFileSync(
      join(dir, 'app.yaml'),
      yamlDocuments(bookinfoGateway(80), vs, staticServiceEntry('app', [{ port: upstream.port }])),
    );
    const logPath = join(dir, 'access.log');
    const fd = openSync(logPath, 'w');
    const args = ['dist/cli/main.js', 'run', '-f', join(dir, 'app.yaml'), '--port-map', '80=0'];
    args.push('--concurrency', '2', '--drain-duration', '0s', '--admin-port', '0');
    for (const p of ['prometheus', 'status', 'health']) args.push(`--${p}-port`, '0');
    const child = spawn(process.execPath, args, { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    try {
      const out = new Streams(child);
      await out.until(() => out.logs('all workers ready').length > 0);
      const port = out.logs('listener bound')[0]!['port'] as number;
      const admin = out.logs('admin port bound')[0]!['port'] as number;
      const connections = 12;
      const total = 4000;
      const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
      const sent: string[] = [];
      let next = 0;
      const loop = async (): Promise<void> => {
        while (next < total) {
          const n = next++;
          const r = await get(
            port,
            `/items/${n}`,
            { 'x-request-id': `req-${n}`, 'user-agent': userAgent(n) },
            agent,
          );
          expect(r.status).toBe(200);
          sent.push(`req-${n}`);
        }
      };
      await Promise.all(Array.from({ length: connections }, loop));
      agent.destroy();
      const stats = await get(admin, '/stats', {}, false);
      const served = [1, 2].map((w) =>
        Number(new RegExp(`^server\\.worker_${w}\\.downstream_rq_total: (\\d+)$`, 'm').exec(stats.body)?.[1]),
      );
      for (const n of served) expect(n).toBeGreaterThan(0);
      // Each worker holds the file itself at the channel's index (not a socket to the primary).
      const info = JSON.parse((await get(admin, '/server_info', {}, false)).body) as {
        workers: { pid: number }[];
      };
      expect(info.workers).toHaveLength(2);
      for (const w of info.workers) expect(readlinkSync(`/proc/${w.pid}/fd/4`)).toBe(logPath);
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      const text = readFileSync(logPath, 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      const recs = records(text.split('\n').filter((l) => l !== ''));
      expect(recs).toHaveLength(total);
      expect(idCounts(recs)).toEqual(new Map(sent.map((id) => [id, 1])));
      for (const r of recs) {
        const n = Number(r.request_id!.slice('req-'.length));
        expect(r).toMatchObject({ path: `/items/${n}`, response_code: 200, user_agent: userAgent(n) });
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await upstream.close();
    }
  }, 120_000);
});
