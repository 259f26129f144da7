/**
 * `meshgate run --concurrency 2`: the real CLI with two worker processes sharing the listener, real
 * upstreams, real sockets. Each request goes over a new connection, so node:cluster's round-robin
 * hands consecutive requests to alternate workers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bookinfoGateway,
  httpVirtualService,
  JASON_TO_REVIEWS_V2,
  staticServiceEntry,
  subsetDestinationRule,
  versionedEndpoints,
  yamlDocuments,
} from '../helpers/bookinfo-config.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

interface Reply {
  status: number;
  body: string;
}

/**
 * One request on a new connection (no keep-alive: the next one may go to the other worker).
 * @param timeoutMs socket inactivity limit (a client's own timeout), after which it fails.
 */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  timeoutMs = 0,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: timeoutMs }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('client timeout'));
      })
      .on('error', reject);
  });
}

/** stderr (system log, JSON lines) and stdout (access log) of the CLI, with waits on their lines. */
class Output {
  stderr: Record<string, unknown>[] = [];
  stdout = '';
  private waiters: (() => void)[] = [];

  constructor(child: ChildProcess) {
    let partial = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) this.stderr.push(JSON.parse(line));
      this.wake();
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `ready()` holds (checked on every chunk of output). */
  async until<T>(ready: () => T | undefined): Promise<T> {
    for (;;) {
      const v = ready();
      if (v !== undefined && v !== false) return v;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  logs(msg: string): Record<string, unknown>[] {
    return this.stderr.filter((l) => l['msg'] === msg);
  }

  /** The port of the first `msg` line (of `server` when given). */
  port(msg: string, server?: string): Promise<number> {
    return this.until(() => {
      const l = this.logs(msg).find((x) => server === undefined || x['server'] === server);
      return l === undefined ? undefined : (l['port'] as number);
    });
  }
}

async function text(port: number, path: string): Promise<string> {
  return (await get(port, path)).body;
}

/** Sum of every sample of a Prometheus family (`name{...} value` and `name value` lines). */
function promSum(doc: string, family: string): number {
  let sum = 0;
  for (const line of doc.split('\n')) {
    if (line.startsWith(`${family}{`) || line.startsWith(`${family} `)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

/** `name: value` of the admin `/stats` text. */
function stat(doc: string, name: string): number {
  const m = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(doc);
  return m ? Number(m[1]) : NaN;
}

function vsYaml(productpageTo: string): string {
  return httpVirtualService({
    name: 'bookinfo',
    hosts: ['*'],
    gateways: ['bookinfo-gateway'],
    http: `
${JASON_TO_REVIEWS_V2}
  - match: [{ uri: { prefix: /reviews } }]
    route: [{ destination: { host: reviews, subset: v1 } }]
  - match: [{ uri: { prefix: /productpage } }]
    route: [{ destination: { host: ${productpageTo} } }]`,
  });
}

describe('meshgate run --concurrency 2', () => {
  let child: ChildProcess;
  let out: Output;
  let ups: TestUpstream[] = [];
  let dir: string;
  let port: number;
  let admin: number;
  let prometheus: number;
  let sent = 0;
  const exited = { code: undefined as number | null | undefined };

  const config = (productpageTo: string, extra = ''): string =>
    yamlDocuments(
      bookinfoGateway(80),
      vsYaml(productpageTo),
      staticServiceEntry('productpage', [{ port: ups[0]!.port }]),
      staticServiceEntry('details', [{ port: ups[3]!.port }]),
      staticServiceEntry('reviews', versionedEndpoints({ v1: ups[1]!.port, v2: ups[2]!.port })),
      subsetDestinationRule('reviews'),
      ...(extra ? [extra] : []),
    );

  /** Sends `n` requests, each on a new connection; counts them in {@link sent}. */
  async function burst(n: number, path: string, headers: Record<string, string> = {}): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < n; i += 10) {
      const batch = Array.from({ length: Math.min(10, n - i) }, () => get(port, path, headers));
      replies.push(...(await Promise.all(batch)));
    }
    sent += n;
    return replies;
  }

  beforeAll(async () => {
    ups = await Promise.all(
      ['productpage', 'reviews-v1', 'reviews-v2', 'details'].map((n) => startUpstream(n)),
    );
    dir = mkdtempSync(join(tmpdir(), 'mg-workers-'));
    writeFileSync(join(dir, 'bookinfo.yaml'), config('productpage'));
    const args = ['dist/cli/main.js', 'run', '-f', dir, '--port-map', '80=0', '--concurrency', '2'];
    for (const p of ['admin', 'prometheus', 'status', 'health']) args.push(`--${p}-port`, '0');
    child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.once('exit', (code) => (exited.code = code));
    out = new Output(child);
    admin = await out.port('admin port bound');
    prometheus = await out.port('prometheus port bound');
    port = await out.port('listener bound');
    await out.until(() => out.logs('all workers ready').length > 0);
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(ups.map((u) => u.close()));
  });

  it('serves Bookinfo traffic from both workers, each request counted once', async () => {
    const pages = await burst(40, '/productpage');
    const jason = await burst(20, '/reviews', { 'end-user': 'jason' });
    const plain = await burst(20, '/reviews');
    for (const r of pages)
      expect(r).toMatchObject({ status: 200, body: expect.stringContaining('"upstream":"productpage"') });
    for (const r of jason) expect(r.body).toContain('"upstream":"reviews-v2"');
    for (const r of plain) expect(r.body).toContain('"upstream":"reviews-v1"');

    const prom = await text(prometheus, '/stats/prometheus');
    expect(promSum(prom, 'istio_requests_total')).toBe(sent);
    expect(promSum(prom, 'envoy_http_downstream_rq_total')).toBe(sent);
    expect(promSum(prom, 'envoy_server_concurrency')).toBe(2);
    expect(promSum(prom, 'istio_build')).toBe(1);
    // Histograms are summed too: one duration sample per request.
    expect(promSum(prom, 'istio_request_duration_milliseconds_count')).toBe(sent);

    const stats = await text(admin, '/stats');
    expect(stat(stats, 'server.concurrency')).toBe(2);
    expect(stat(stats, 'server.live')).toBe(1);
    const w1 = stat(stats, 'server.worker_1.downstream_rq_total');
    const w2 = stat(stats, 'server.worker_2.downstream_rq_total');
    expect(w1 + w2).toBe(sent);
    // Round-robin over new connections: both workers served (near half each).
    expect(w1).toBeGreaterThan(sent / 4);
    expect(w2).toBeGreaterThan(sent / 4);

    const clusters = await text(admin, '/clusters');
    const total = [...clusters.matchAll(/^outbound\|9080\|\|productpage[^\n]*::rq_total::(\d+)$/gm)];
    expect(total.map((m) => Number(m[1]))).toEqual([40]);

    const info = JSON.parse(await text(admin, '/server_info')) as {
      workers: { id: number; ready: boolean }[];
    };
    expect(info.workers.map((w) => [w.id, w.ready])).toEqual([
      [1, true],
      [2, true],
    ]);
  }, 30_000);

  it('writes whole access-log lines, never two workers in one line', async () => {
    // Lines of ~6 KB: each worker's batch is far beyond a pipe's atomic write (4 KiB).
    const ua = 'x'.repeat(6000);
    const before = sent;
    await burst(200, '/productpage', { 'user-agent': ua });
    const lines = await out.until(() => {
      // Complete lines only: the text after the last newline may be a line still arriving.
      const all = out.stdout
        .slice(0, out.stdout.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((l) => l !== '');
      return all.length >= sent ? all : undefined;
    });
    expect(lines).toHaveLength(sent);
    const records = lines.map((l) => JSON.parse(l) as { user_agent: string | null; path: string });
    expect(records.filter((r) => r.user_agent === ua)).toHaveLength(sent - before);
    expect(out.stdout.endsWith('\n')).toBe(true);
  }, 60_000);

  it('sends a config change to both workers; requests on either see the new route', async () => {
    const statsBefore = await text(admin, '/stats');
    writeFileSync(join(dir, 'bookinfo.yaml'), config('details'));
    await out.until(() => out.logs('worker installed config').filter((l) => l['version'] === 2).length === 2);
    const replies = await burst(20, '/productpage');
    for (const r of replies)
      expect(r).toMatchObject({ status: 200, body: expect.stringContaining('"upstream":"details"') });
    const stats = await text(admin, '/stats');
    for (const w of [1, 2]) {
      const name = `server.worker_${w}.downstream_rq_total`;
      expect(stat(stats, name)).toBeGreaterThan(stat(statsBefore, name));
    }
    expect(stat(stats, 'server.config_reloaded')).toBe(1);
  }, 30_000);

  it('rejects a bad config once, in the primary; both workers keep the last good one', async () => {
    // A VirtualService route without a destination host: a schema error.
    const bad = httpVirtualService({
      name: 'broken',
      hosts: ['broken.example'],
      gateways: ['bookinfo-gateway'],
      http: '  - route: [{ destination: { port: { number: 9080 } } }]',
    });
    writeFileSync(join(dir, 'bookinfo.yaml'), config('productpage', bad));
    await out.until(() => out.stderr.some((l) => String(l['msg']).startsWith('config rejected')));
    const stats = await text(admin, '/stats');
    expect(stat(stats, 'server.config_rejected')).toBe(1);
    expect(out.stderr.filter((l) => String(l['msg']).startsWith('config rejected'))).toHaveLength(1);
    // No worker heard of it: nothing logged by a worker, no install past version 2.
    expect(out.stderr.filter((l) => l['worker'] !== undefined && Number(l['level']) >= 40)).toEqual([]);
    expect(out.logs('worker installed config').filter((l) => Number(l['version']) > 2)).toEqual([]);
    const replies = await burst(20, '/productpage');
    for (const r of replies)
      expect(r).toMatchObject({ status: 200, body: expect.stringContaining('"upstream":"details"') });
  }, 30_000);

  it('replaces a worker killed with SIGKILL while the other serves', async () => {
    const info = JSON.parse(await text(admin, '/server_info')) as { workers: { id: number; pid: number }[] };
    const victim = info.workers.find((w) => w.id === 1)!;
    process.kill(victim.pid, 'SIGKILL');
    // Requests meanwhile: the surviving worker serves. A connection handed to the worker as it died
    // is lost, as a killed Envoy worker's connections are (node:cluster holds at most one such
    // connection per worker; its client sees its own timeout).
    const during = await Promise.allSettled(
      Array.from({ length: 20 }, () => get(port, '/productpage', {}, 2000)),
    );
    const served = during.filter((r) => r.status === 'fulfilled' && r.value.status === 200).length;
    await out.until(() => out.logs('worker ready').find((l) => l['worker'] === 1 && l['pid'] !== victim.pid));
    const died = out.logs('worker died; starting a replacement');
    expect(died).toHaveLength(1);
    expect(died[0]).toMatchObject({ worker: 1, pid: victim.pid, signal: 'SIGKILL' });
    // The replacement got the current config (version 2: the details route), as did the survivor.
    const after = await burst(40, '/productpage');
    for (const r of after)
      expect(r).toMatchObject({ status: 200, body: expect.stringContaining('"upstream":"details"') });
    const stats = await text(admin, '/stats');
    expect(stat(stats, 'server.worker_restarts')).toBe(1);
    // The survivor served during the kill; at most the one connection in hand-off was lost.
    expect(served).toBeGreaterThanOrEqual(19);
  }, 30_000);

  it('on SIGTERM forwards it to the workers, waits for them and exits 0', async () => {
    const info = JSON.parse(await text(admin, '/server_info')) as { workers: { pid: number }[] };
    const done = new Promise<number | null>((resolve) =>
      exited.code !== undefined ? resolve(exited.code) : child.once('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    expect(await done).toBe(0);
    expect(out.logs('worker shutting down').map((l) => l['reason'])).toEqual(['SIGTERM', 'SIGTERM']);
    for (const w of info.workers) expect(() => process.kill(w.pid, 0)).toThrow();
  }, 90_000);
});
