/**
 * Retries through the mesh listener: `attempts`, `retryOn`, `perTryTimeout`, Istio's default policy,
 * `x-envoy-attempt-count` seen upstream, retried POST bodies (buffered when small and of known length),
 * URX when attempts run out, and Envoy's jittered back-off (25 ms base, at most 250 ms).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { curl } from '../helpers/clients.js';

/**
 * A scripted upstream: each request takes the next behaviour; the default answers 200. `at` is when
 * the request arrived and `cutAt`, for a slow one, when the gateway gave up on it (the response's
 * connection closed before the answer), both on `performance.now()`, which the in-process gateway shares.
 */
interface Scripted {
  port: number;
  seen: { attempt: string | undefined; body: string; at: number; cutAt?: number }[];
  script: ('503' | 'slow' | '200' | 'reset')[];
  close(): Promise<void>;
}

async function startScripted(): Promise<Scripted> {
  const s: Scripted = { port: 0, seen: [], script: [], close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: Scripted['seen'][number] = {
        attempt: req.headers['x-envoy-attempt-count'] as string | undefined,
        body: Buffer.concat(chunks).toString(),
        at: performance.now(),
      };
      s.seen.push(seen);
      const step = s.script.shift() ?? '200';
      if (step === '503') {
        res.writeHead(503, { 'content-length': 3 });
        res.end('bad');
      } else if (step === 'slow') {
        // Never answers in time: the 10 s exceed every timeout configured below.
        const t = setTimeout(() => res.end('late'), 10_000);
        res.on('close', () => {
          clearTimeout(t);
          if (!res.writableFinished) seen.cutAt = performance.now();
        });
      } else if (step === 'reset') {
        req.socket.destroy();
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`ok after ${s.seen.length}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.port = (server.address() as AddressInfo).port;
  s.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return s;
}

const RETRY_STAT = 'cluster.outbound|80||flaky.example.upstream_rq_retry';

function config(port: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: flaky }
spec:
  hosts: [flaky.example]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  location: MESH_EXTERNAL
  endpoints: [{ address: 127.0.0.1, ports: { http: ${port} } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: flaky }
spec:
  hosts: [flaky.example]
  http:
  - match: [{ uri: { prefix: /five } }]
    retries: { attempts: 2, retryOn: 5xx }
    route: [{ destination: { host: flaky.example } }]
  - match: [{ uri: { prefix: /codes } }]
    retries: { attempts: 3, retryOn: "503" }
    route: [{ destination: { host: flaky.example } }]
  - match: [{ uri: { prefix: /pertry } }]
    retries: { attempts: 2, perTryTimeout: 300ms, retryOn: gateway-error }
    route: [{ destination: { host: flaky.example } }]
  - match: [{ uri: { prefix: /reset } }]
    retries: { attempts: 1, retryOn: reset }
    route: [{ destination: { host: flaky.example } }]
  - match: [{ uri: { prefix: /none } }]
    retries: { attempts: 0 }
    route: [{ destination: { host: flaky.example } }]
  - route: [{ destination: { host: flaky.example } }]
`;
}

describe('retries through the mesh listener', () => {
  let up: Scripted;
  let gw: TestGateway;
  const get = (path: string, extra: string[] = []) =>
    curl([
      '-x',
      `http://127.0.0.1:${gw.meshPort()}`,
      '-s',
      '-w',
      '\n%{http_code}',
      ...extra,
      `http://flaky.example${path}`,
    ]);

  beforeAll(async () => {
    up = await startScripted();
    gw = await startGateway(config(up.port), { meshPort: 0 });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(() => {
    up.seen.length = 0;
    up.script.length = 0;
  });

  it('503, 503, 200 → the client sees 200; upstream saw x-envoy-attempt-count 1, 2, 3; back-off between tries', async () => {
    up.script.push('503', '503', '200');
    const retries = gw.gateway.stats.get(RETRY_STAT);
    const rec = gw.nextRecord();
    // Jitter pinned to its top: each back-off is its full ceiling, 25 ms then 75 ms.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.999_999);
    try {
      expect(await get('/five')).toBe('ok after 3\n200');
    } finally {
      random.mockRestore();
    }
    expect(up.seen.map((s) => s.attempt)).toEqual(['1', '2', '3']);
    const log = await rec;
    expect([log.responseCode, log.responseFlags]).toEqual([200, '-']);
    expect(gw.gateway.stats.get(RETRY_STAT) - retries).toBe(2);
    // Each try leaves only after its back-off: lower bounds only (a timer may fire 1 ms early).
    expect(up.seen[1]!.at - up.seen[0]!.at).toBeGreaterThanOrEqual(25 - 1);
    expect(up.seen[2]!.at - up.seen[1]!.at).toBeGreaterThanOrEqual(75 - 1);
  });

  it('attempts run out: the last 503 is returned with flag URX', async () => {
    up.script.push('503', '503', '503', '200');
    const rec = gw.nextRecord();
    expect(await get('/five')).toBe('bad\n503');
    expect(up.seen.map((s) => s.attempt)).toEqual(['1', '2', '3']);
    expect((await rec).responseFlags).toBe('URX');
  });

  it('retryOn with a numeric code retries exactly that status', async () => {
    up.script.push('503', '200');
    expect(await get('/codes')).toBe('ok after 2\n200');
    expect(up.seen.map((s) => s.attempt)).toEqual(['1', '2']);
  });

  it('perTryTimeout cuts slow attempts and the next try answers', async () => {
    up.script.push('slow', '200');
    const rec = gw.nextRecord();
    expect(await get('/pertry')).toBe('ok after 2\n200');
    expect(up.seen.map((s) => s.attempt)).toEqual(['1', '2']);
    const [slow, next] = up.seen;
    // The gateway cut the slow try, then tried again.
    expect(slow!.cutAt).toBeDefined();
    expect(next!.at).toBeGreaterThanOrEqual(slow!.cutAt!);
    expect(next!.cutAt).toBeUndefined();
    const log = await rec;
    expect([log.responseCode, log.responseFlags]).toEqual([200, '-']);
    // Not before the slow try had its 300 ms (a lower bound only; a timer may fire 1 ms early).
    expect(log.durationMs).toBeGreaterThanOrEqual(300 - 1);
  });

  it('perTryTimeout on every try: 504 UT,URX after 3 tries, each cut at its 300 ms', async () => {
    up.script.push('slow', 'slow', 'slow');
    const rec = gw.nextRecord();
    expect(await get('/pertry')).toBe('upstream request timeout\n504');
    expect(up.seen.map((s) => s.attempt)).toEqual(['1', '2', '3']);
    const log = await rec;
    expect([log.responseCode, log.responseFlags]).toEqual([504, 'UT,URX']);
    // Three per-try timers ran one after another (a lower bound only).
    expect(log.durationMs).toBeGreaterThanOrEqual(3 * (300 - 1));
    // Every try was cut by the gateway, each before the next one left.
    for (const [i, s] of up.seen.entries()) {
      expect(s.cutAt, `try ${i + 1} cut`).toBeDefined();
      if (i > 0) expect(s.at).toBeGreaterThanOrEqual(up.seen[i - 1]!.cutAt!);
    }
  });

  it('a small POST body is buffered and sent again on retry', async () => {
    up.script.push('503', '200');
    expect(await get('/five', ['-X', 'POST', '--data-binary', 'hello body'])).toBe('ok after 2\n200');
    expect(up.seen.map((s) => s.body)).toEqual(['hello body', 'hello body']);
  });

  it('a streamed (chunked) body is sent once and not retried', async () => {
    up.script.push('503', '200');
    const rec = gw.nextRecord();
    expect(
      await get('/five', ['-X', 'POST', '-H', 'transfer-encoding: chunked', '--data-binary', 'streamed']),
    ).toBe('bad\n503');
    expect(up.seen).toHaveLength(1);
    expect((await rec).responseFlags).toBe('-');
  });

  it('a body over 64 KiB is not retried', async () => {
    up.script.push('503', '200');
    expect(await get('/five', ['-X', 'POST', '--data-binary', 'x'.repeat(65 * 1024)])).toBe('bad\n503');
    expect(up.seen).toHaveLength(1);
  });

  it('retryOn reset retries a connection reset before the response', async () => {
    up.script.push('reset', '200');
    expect(await get('/reset')).toBe('ok after 2\n200');
  });

  it('Istio default policy (no retries field): a 503 is not retried (no retriable status codes since 1.24)', async () => {
    up.script.push('503', '200');
    expect(await get('/default')).toBe('bad\n503');
    expect(up.seen).toHaveLength(1);
  });

  it('attempts: 0 disables retries', async () => {
    up.script.push('reset', '200');
    const out = await get('/none');
    expect(out.endsWith('\n503')).toBe(true);
    expect(up.seen).toHaveLength(1);
  });
});
