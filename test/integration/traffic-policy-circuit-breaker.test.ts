/**
 * Circuit breaking through the gateway on real sockets (istio-semantics.md §3.4, §8.11): the user's
 * DestinationRule (maxConnections 1, http1MaxPendingRequests 1, maxRequestsPerConnection 1) driven
 * like `fortio load -c N -n M -qps 0`, plus the retry budget (`http.maxRetries`).
 */
import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import type { TestUpstream } from '../helpers/upstream.js';
import { httpGet, type Reply } from '../helpers/clients.js';
import {
  clusterName,
  destination,
  gatewayBed,
  meshServiceConfig,
  type GatewayBed,
} from '../helpers/httpbin-config.js';

const CLUSTER = clusterName('httpbin', 8000);

/**
 * httpbin on one endpoint behind the gateway, with a DestinationRule (v1alpha3) trafficPolicy.
 *
 * @param upstreamPort local port of the httpbin upstream
 * @param trafficPolicy the `trafficPolicy:` body, YAML lines indented by four spaces
 * @param http extra lines for the VirtualService route (e.g. `    retries: …`), indented by four spaces
 */
function config(upstreamPort: number, trafficPolicy: string, http = ''): string {
  return meshServiceConfig({
    host: 'httpbin',
    port: 8000,
    endpoints: [{ port: upstreamPort }],
    http: `  - route: [{ destination: ${destination('httpbin', 8000)} }]\n${http}`,
    destinationRule: `  trafficPolicy:\n${trafficPolicy}`,
    destinationRuleApiVersion: 'networking.istio.io/v1alpha3',
  });
}

/**
 * Starts an upstream that answers every request `delayMs` milliseconds after it arrived, through
 * `answer`, and counts how many requests it holds at once.
 *
 * @returns the upstream and `maxInFlight()`, the most requests it has held at the same time so far
 */
async function delayedUpstream(
  bed: GatewayBed,
  name: string,
  delayMs: number,
  answer: (res: http.ServerResponse) => void,
): Promise<{ up: TestUpstream; maxInFlight: () => number }> {
  let inFlight = 0;
  let maxInFlight = 0;
  const up = await bed.upstream(name, (_req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => {
      inFlight--;
      answer(res);
    }, delayMs);
    return true;
  });
  return { up, maxInFlight: () => maxInFlight };
}

/** `fortio load -c <concurrency> -n <total> -qps 0`: each worker sends its share back to back. */
async function load(port: number, concurrency: number, total: number, path = '/get'): Promise<Reply[]> {
  const out: Reply[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const mine = Math.floor(total / concurrency) + (w < total % concurrency ? 1 : 0);
      for (let i = 0; i < mine; i++) out.push(await httpGet(port, path));
    }),
  );
  return out;
}

describe('connectionPool circuit breaking', () => {
  const bed = gatewayBed();

  it("the user's experiment: -c 1 all 200; -c 2 / -c 3 overflow with 503 UO, counted in upstream_rq_pending_overflow", async () => {
    // httpbin /get answers in a few ms inside the mesh; a short delay makes overlap certain.
    const { up, maxInFlight } = await delayedUpstream(bed, 'httpbin', 3, (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const gw = await bed.gateway(
      config(
        up.port,
        `    connectionPool:
      tcp: { maxConnections: 1 }
      http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 }
    outlierDetection: { consecutiveErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100 }`,
      ),
    );
    const port = gw.port(80);
    const stats = gw.gateway.stats;
    const overflowed = () => stats.get(`cluster.${CLUSTER}.upstream_rq_pending_overflow`);

    const c1 = await load(port, 1, 20);
    expect(c1.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(overflowed()).toBe(0);

    const summary: string[] = [];
    let totalOverflow = 0;
    for (const [c, n] of [
      [2, 20],
      [3, 30],
    ] as const) {
      const rs = await load(port, c, n);
      const ok = rs.filter((r) => r.status === 200).length;
      const uo = rs.filter((r) => r.status === 503);
      expect(ok + uo.length).toBe(n);
      for (const r of uo) {
        expect(r.headers['x-envoy-overloaded']).toBe('true');
        expect(r.body).toBe(
          'upstream connect error or disconnect/reset before headers. reset reason: overflow',
        );
      }
      totalOverflow += uo.length;
      expect(overflowed()).toBe(totalOverflow);
      summary.push(`-c ${c} -n ${n}: 200 × ${ok}, 503 × ${uo.length}`);
      if (c === 3) expect(uo.length).toBeGreaterThan(0);
    }
    // Access log: every 503 is flagged UO; the upstream never saw two requests at once.
    const flagged = gw.records.filter((r) => r.responseCode === 503);
    expect(flagged.every((r) => r.responseFlags === 'UO')).toBe(true);
    expect(flagged.length).toBe(totalOverflow);
    expect(maxInFlight()).toBe(1);
    // One request per connection: one upstream connection per 200.
    expect(stats.get(`cluster.${CLUSTER}.upstream_rq_pending_active`)).toBe(0);
    expect(stats.get(`cluster.${CLUSTER}.upstream_cx_active`)).toBe(0);
    expect(stats.get(`cluster.${CLUSTER}.upstream_rq_pending_total`)).toBeGreaterThan(0);
    expect(stats.toText()).toContain(`cluster.${CLUSTER}.upstream_rq_pending_overflow: ${totalOverflow}`);
    console.log(`circuit breaker: -c 1 -n 20: 200 × 20; ${summary.join('; ')}`);
  });

  it('queues up to http1MaxPendingRequests behind maxConnections and refuses the rest at once', async () => {
    // The upstream holds every request until the test lets it answer, so what overflows cannot
    // depend on how fast anything runs.
    const held: http.ServerResponse[] = [];
    let maxHeld = 0;
    let onHeld: (() => void) | undefined;
    const up = await bed.upstream('slow', (_req, res) => {
      maxHeld = Math.max(maxHeld, held.push(res));
      onHeld?.();
      return true;
    });
    const nextHeld = async (): Promise<http.ServerResponse> => {
      while (held.length === 0) await new Promise<void>((r) => (onHeld = r));
      return held.shift()!;
    };
    const gw = await bed.gateway(
      config(
        up.port,
        `    connectionPool:
      tcp: { maxConnections: 2 }
      http: { http1MaxPendingRequests: 3 }`,
      ),
    );
    const port = gw.port(80);
    const settled: Reply[] = [];
    let onSettled: (() => void) | undefined;
    const replies = Array.from({ length: 8 }, () =>
      httpGet(port, '/x').then((r) => {
        settled.push(r);
        onSettled?.();
        return r;
      }),
    );
    // 2 on the wire + 3 waiting: the other 3 are refused while the upstream has answered nothing.
    while (settled.length < 3) await new Promise<void>((r) => (onSettled = r));
    expect(settled.map((r) => r.status)).toEqual([503, 503, 503]);
    expect(up.seen.length).toBeLessThanOrEqual(2);
    // Each answer frees a connection for the next waiting request.
    for (let i = 0; i < 5; i++) (await nextHeld()).end('ok');
    const codes = (await Promise.all(replies)).map((r) => r.status).sort();
    expect(codes).toEqual([200, 200, 200, 200, 200, 503, 503, 503]);
    expect(maxHeld).toBe(2);
    expect(up.seen).toHaveLength(5);
    expect(gw.gateway.stats.get(`cluster.${CLUSTER}.upstream_rq_pending_overflow`)).toBe(3);
    expect(gw.gateway.stats.get(`cluster.${CLUSTER}.upstream_cx_overflow`)).toBeGreaterThanOrEqual(6);
  });

  it.each([1, 3])(
    'maxRetries %i caps concurrent retries cluster-wide (upstream_rq_retry_overflow), never retries an overflow',
    async (maxRetries) => {
      const clients = 6;
      // Every first try is held until all six have arrived, then all fail at once: each asks for a
      // retry while the others' retries are still held, so exactly `maxRetries` are granted and the
      // rest overflow. Held retries fail once every client is either answered or has its retry held.
      let firstTries = 0;
      let answered = 0;
      const heldFirst: http.ServerResponse[] = [];
      const heldRetries: http.ServerResponse[] = [];
      let releasedRetries = false;
      const fail = (res: http.ServerResponse) => {
        res.writeHead(503);
        res.end('down');
      };
      const releaseRetries = () => {
        if (releasedRetries || answered + heldRetries.length < clients) return;
        releasedRetries = true;
        for (const res of heldRetries.splice(0)) fail(res);
      };
      const up = await bed.upstream('flaky', (req, res) => {
        if (
          req.headers['x-envoy-attempt-count'] === undefined ||
          req.headers['x-envoy-attempt-count'] === '1'
        ) {
          heldFirst.push(res);
          if (++firstTries === clients) for (const r of heldFirst.splice(0)) fail(r);
        } else if (releasedRetries) {
          fail(res);
        } else {
          heldRetries.push(res);
          releaseRetries();
        }
        return true;
      });
      const gw = await bed.gateway(
        config(
          up.port,
          `    connectionPool:\n      http: { maxRetries: ${maxRetries} }`,
          '    retries: { attempts: 1, retryOn: 5xx }',
        ),
      );
      const port = gw.port(80);
      const rs = await Promise.all(
        Array.from({ length: clients }, () =>
          httpGet(port, '/x').then((r) => {
            answered++;
            releaseRetries();
            return r;
          }),
        ),
      );
      expect(rs.map((r) => r.status)).toEqual(Array(clients).fill(503));
      const stats = gw.gateway.stats;
      expect(stats.get(`cluster.${CLUSTER}.upstream_rq_retry_overflow`)).toBe(clients - maxRetries);
      // One retry per request (attempts: 1): the granted ones reach the upstream, overflows never do.
      expect(stats.get(`cluster.${CLUSTER}.upstream_rq_retry`)).toBe(maxRetries);
      expect(up.seen).toHaveLength(clients + maxRetries);
    },
  );
});
