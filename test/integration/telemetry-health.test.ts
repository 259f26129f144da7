/**
 * Readiness on the health port (15021-style) and the status port (15020-style): 503 until the first
 * snapshot is live and every listener is bound, 200 after, 503 again while draining.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { bookinfoConfig, fetchText, startTelemetryGateway } from '../helpers/telemetry.js';

function url(gw: Gateway, kind: 'health' | 'status' | 'admin', path: string): string {
  return `http://127.0.0.1:${gw.observability.address(kind)!.port}${path}`;
}

describe('/healthz/ready', () => {
  it('is 503 before the listeners are bound and 200 once they are', async () => {
    const up = await startUpstream('productpage');
    const before: { health: number; status: number; ready: string; body: string; listening: boolean }[] = [];
    const gw = await startTelemetryGateway(
      bookinfoConfig({ productpage: up.port }),
      {},
      {
        beforeListen: async (g) => {
          const health = await fetchText(url(g, 'health', '/healthz/ready'));
          const status = await fetchText(url(g, 'status', '/healthz/ready'));
          const ready = await fetchText(url(g, 'admin', '/ready'));
          const listening = g.snapshot.listeners.some((l) => g.listeners.addressOf(l.name) !== undefined);
          before.push({
            health: health.status,
            status: status.status,
            ready: ready.body,
            body: health.body,
            listening,
          });
        },
      },
    );
    try {
      expect(before).toEqual([
        {
          health: 503,
          status: 503,
          ready: 'PRE_INITIALIZING\n',
          body: 'meshgate is not ready: listeners are not bound yet\n',
          listening: false,
        },
      ]);
      const after = await fetchText(url(gw.gateway, 'health', '/healthz/ready'));
      expect(after.status).toBe(200);
      expect((await fetchText(url(gw.gateway, 'status', '/healthz/ready'))).status).toBe(200);
      expect((await fetchText(url(gw.gateway, 'admin', '/ready'))).body).toBe('LIVE\n');
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('turns 503 (DRAINING) when shutdown starts, while in-flight requests finish', async () => {
    let release: (() => void) | undefined;
    const held = new Promise<void>((r) => (release = r));
    let arrived: (() => void) | undefined;
    const arrival = new Promise<void>((r) => (arrived = r));
    const up = await startUpstream('productpage', (_req, res) => {
      arrived!();
      void held.then(() => res.end('done'));
      return true;
    });
    const gw = await startTelemetryGateway(bookinfoConfig({ productpage: up.port }));
    try {
      const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.get(
          { host: '127.0.0.1', port: gw.port(8080), path: '/productpage', headers: { connection: 'close' } },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
      });
      await arrival;
      const healthUrl = url(gw.gateway, 'health', '/healthz/ready');
      expect((await fetchText(healthUrl)).status).toBe(200);
      const closing = gw.close();
      const during = await fetchText(healthUrl);
      expect(during).toMatchObject({ status: 503, body: 'meshgate is draining (shutting down)\n' });
      release!();
      expect(await inFlight).toEqual({ status: 200, body: 'done' });
      await closing;
      // Once closed, nothing listens any more.
      await expect(fetchText(healthUrl)).rejects.toThrow();
    } finally {
      release?.();
      await up.close();
    }
  });
});
