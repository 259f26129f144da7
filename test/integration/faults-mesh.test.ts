/**
 * Fault injection on mesh routes: abort (`httpStatus`, `grpcStatus`), delay (`percentage.value`,
 * legacy `percent`), header-scoped faults (jason only), the omitted-percentage rule (never fires) and
 * the statistics of a 50% abort. Flags DI / FI asserted in the access log.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { curl, httpGet } from '../helpers/clients.js';
import { recordWhere } from '../helpers/tls-gateway.js';

function config(port: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings }
spec:
  hosts: [ratings]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${port} } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings }
spec:
  hosts: [ratings]
  http:
  - match: [{ uri: { prefix: /abort } }]
    fault: { abort: { httpStatus: 500, percentage: { value: 100 } } }
    route: [{ destination: { host: ratings } }]
  - match: [{ uri: { prefix: /grpc } }]
    fault: { abort: { grpcStatus: UNAVAILABLE, percentage: { value: 100 } } }
    route: [{ destination: { host: ratings } }]
  - match: [{ uri: { prefix: /half } }]
    fault: { abort: { httpStatus: 503, percentage: { value: 50 } } }
    route: [{ destination: { host: ratings } }]
  - match: [{ uri: { prefix: /never } }]
    fault: { abort: { httpStatus: 500 }, delay: { fixedDelay: 2s } }
    route: [{ destination: { host: ratings } }]
  - match: [{ uri: { prefix: /held } }]
    fault: { delay: { fixedDelay: 60s, percentage: { value: 100 } } }
    route: [{ destination: { host: ratings } }]
  - match: [{ uri: { prefix: /legacy } }]
    fault: { delay: { fixedDelay: 300ms, percent: 100 } }
    route: [{ destination: { host: ratings } }]
  - match: [{ headers: { end-user: { exact: jason } } }]
    fault: { delay: { fixedDelay: 700ms, percentage: { value: 100.0 } } }
    route: [{ destination: { host: ratings } }]
  - route: [{ destination: { host: ratings } }]
`;
}

describe('fault injection on mesh routes', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const timed = async (path: string, extra: string[] = []) => {
    const started = performance.now();
    const out = await curl([
      '-x',
      `http://127.0.0.1:${gw.meshPort()}`,
      '-s',
      '-w',
      '\n%{http_code}',
      ...extra,
      `http://ratings:9080${path}`,
    ]);
    return { out, ms: performance.now() - started };
  };

  beforeAll(async () => {
    up = await startUpstream('ratings');
    gw = await startGateway(config(up.port), { meshPort: 0 });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('abort 100% → 500 "fault filter abort" with flag FI, upstream never called', async () => {
    const before = up.seen.length;
    const rec = gw.nextRecord();
    expect((await timed('/abort')).out).toBe('fault filter abort\n500');
    const log = await rec;
    expect(log.responseFlags).toBe('FI');
    expect(log.responseCode).toBe(500);
    expect(log.responseCodeDetails).toBe('fault_filter_abort');
    expect(up.seen.length).toBe(before);
  });

  it('grpcStatus abort → 200 with grpc-status 14', async () => {
    const out = await curl([
      '-x',
      `http://127.0.0.1:${gw.meshPort()}`,
      '-s',
      '-D',
      '-',
      '-o',
      '/dev/null',
      'http://ratings:9080/grpc',
    ]);
    expect(out).toMatch(/^HTTP\/1\.1 200/);
    expect(out).toMatch(/grpc-status: 14/);
  });

  it('delay applies to jason only (DI): the upstream gets his request after the delay; others pass undelayed', async () => {
    const before = up.seen.length;
    let rec = gw.nextRecord();
    const jason = await timed('/ratings/0', ['-H', 'end-user: jason']);
    expect(jason.out.endsWith('\n200')).toBe(true);
    // The delay is the feature under test: lower bounds only (a timer may fire up to 1 ms early).
    expect(jason.ms).toBeGreaterThanOrEqual(700);
    const delayed = await rec;
    expect([delayed.responseCode, delayed.responseFlags]).toEqual([200, 'DI']);
    expect(delayed.durationMs).toBeGreaterThanOrEqual(700 - 1);
    rec = gw.nextRecord();
    const bob = await timed('/ratings/0', ['-H', 'end-user: bob']);
    expect(bob.out.endsWith('\n200')).toBe(true);
    expect((await rec).responseFlags).toBe('-');
    expect(up.seen.slice(before).map((s) => s.headers['end-user'])).toEqual(['jason', 'bob']);
  });

  it('a delayed request waits in the gateway: a later one overtakes it, and a client leaving during the delay never reaches the upstream', async () => {
    const before = up.seen.length;
    const held = net.connect(gw.meshPort(), '127.0.0.1');
    held.on('error', () => undefined);
    await new Promise<void>((resolve) =>
      held.write('GET /held HTTP/1.1\r\nhost: ratings:9080\r\n\r\n', () => resolve()),
    );
    // Sent after /held, answered while /held sits out its 60 s delay.
    const next = await timed('/ratings/0');
    expect(next.out.endsWith('\n200')).toBe(true);
    expect(up.seen.slice(before).map((s) => s.url)).toEqual(['/ratings/0']);
    held.destroy();
    const log = await recordWhere(gw, (r) => r.path === '/held');
    expect([log.responseCode, log.responseFlags, log.upstreamHost]).toEqual([0, 'DI,DC', undefined]);
    expect(up.seen.slice(before).map((s) => s.url)).toEqual(['/ratings/0']);
  });

  it('legacy `percent: 100` delays (DI)', async () => {
    const rec = gw.nextRecord();
    const r = await timed('/legacy');
    expect(r.out.endsWith('\n200')).toBe(true);
    expect(r.ms).toBeGreaterThanOrEqual(300);
    expect((await rec).responseFlags).toBe('DI');
  });

  it('omitted percentage ⇒ the fault never fires (istio/istio#36303)', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await httpGet(gw.meshPort(), '/never', { host: 'ratings:9080' });
      expect(r.status).toBe(200);
    }
  });

  it('a 50% abort over 1,000 requests lands within ±5 points', async () => {
    let aborted = 0;
    for (let i = 0; i < 1000; i += 50) {
      const rs = await Promise.all(
        Array.from({ length: 50 }, () => httpGet(gw.meshPort(), '/half', { host: 'ratings:9080' })),
      );
      for (const r of rs) if (r.status === 503 && r.body === 'fault filter abort') aborted++;
    }
    console.log(`50% abort: ${aborted} of 1000 aborted`);
    expect(aborted).toBeGreaterThanOrEqual(450);
    expect(aborted).toBeLessThanOrEqual(550);
  });
});
