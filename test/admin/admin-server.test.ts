/** The admin and health apps in isolation (fastify inject): access control, states, bad input. */
import { describe, expect, it } from 'vitest';
import {
  createAdminServer,
  isLoopback,
  type AdminBackend,
  type ServerState,
} from '../../admin/admin-server.js';
import { createStatsServer } from '../../admin/health-server.js';

function backend(state: ServerState = 'LIVE'): AdminBackend & { level: string } {
  return {
    level: 'info',
    state: () => state,
    serverInfo: () => ({ state }),
    configDump: () => ({ listeners: [] }),
    clustersText: () => 'c::observability_name::c\n',
    clustersJson: () => ({ cluster_statuses: [] }),
    listenersText: () => '',
    statsText: (f) => (f ? 'filtered: 1\n' : 'a: 1\n'),
    prometheusText: async () => 'istio_build{component="proxy",tag="x"} 1\n',
    prometheusContentType: 'text/plain; version=0.0.4; charset=utf-8',
    logLevel() {
      return this.level;
    },
    setLogLevel(l) {
      if (!['debug', 'info'].includes(l)) return false;
      this.level = l;
      return true;
    },
  };
}

describe('admin server', () => {
  it('refuses non-loopback clients with 403 unless remote access is allowed', async () => {
    const closed = createAdminServer(backend(), { allowRemote: false });
    const open = createAdminServer(backend(), { allowRemote: true });
    for (const remoteAddress of ['10.0.0.7', '192.168.1.2', '::ffff:10.0.0.7', '2001:db8::1']) {
      const r = await closed.inject({ url: '/config_dump', remoteAddress });
      expect(r.statusCode).toBe(403);
      expect(r.body).toContain('restricted to loopback');
      expect((await open.inject({ url: '/config_dump', remoteAddress })).statusCode).toBe(200);
    }
    for (const remoteAddress of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1']) {
      expect((await closed.inject({ url: '/ready', remoteAddress })).statusCode).toBe(200);
    }
    // Refused before any handler runs: POSTs cannot change state either.
    const b = backend();
    const app = createAdminServer(b, { allowRemote: false });
    expect(
      (await app.inject({ method: 'POST', url: '/logging?level=debug', remoteAddress: '10.0.0.7' }))
        .statusCode,
    ).toBe(403);
    expect(b.level).toBe('info');
    await Promise.all([closed.close(), open.close(), app.close()]);
  });

  it('answers /ready 503 with the state until LIVE', async () => {
    for (const [state, code] of [
      ['PRE_INITIALIZING', 503],
      ['DRAINING', 503],
      ['LIVE', 200],
    ] as const) {
      const app = createAdminServer(backend(state), { allowRemote: false });
      const r = await app.inject({ url: '/ready', remoteAddress: '127.0.0.1' });
      expect([r.statusCode, r.body]).toEqual([code, `${state}\n`]);
      await app.close();
    }
  });

  it('rejects bad input with 4xx and keeps serving', async () => {
    const app = createAdminServer(backend(), { allowRemote: false });
    const get = (url: string, method: 'GET' | 'POST' = 'GET') =>
      app.inject({ url, method, remoteAddress: '127.0.0.1' });
    expect((await get('/logging?level=bogus', 'POST')).statusCode).toBe(400);
    expect((await get('/logging', 'POST')).statusCode).toBe(400);
    expect((await get('/logging?level=debug')).statusCode).toBe(405);
    expect((await get('/stats?filter=[')).statusCode).toBe(400);
    expect((await get('/stats?filter=x')).body).toBe('filtered: 1\n');
    expect((await get('/stats?format=prometheus')).body).toContain('istio_build');
    expect((await get('/logging?level=debug', 'POST')).body).toBe('active level: debug\n');
    expect((await get('/config_dump')).statusCode).toBe(200);
    await app.close();
  });

  it('classifies loopback addresses', () => {
    expect([isLoopback('127.0.0.1'), isLoopback('::1'), isLoopback('::ffff:127.0.0.9')]).toEqual([
      true,
      true,
      true,
    ]);
    expect([isLoopback('10.0.0.1'), isLoopback('::'), isLoopback(undefined)]).toEqual([false, false, false]);
  });
});

describe('health server', () => {
  it('serves /healthz/ready from the state and nothing of the admin', async () => {
    let state: ServerState = 'PRE_INITIALIZING';
    const app = createStatsServer(
      {
        state: () => state,
        notReadyReason: () => 'not yet',
        prometheusText: async () => '',
        prometheusContentType: 'text/plain',
      },
      { health: true, prometheus: false },
    );
    expect((await app.inject({ url: '/healthz/ready', remoteAddress: '10.0.0.7' })).statusCode).toBe(503);
    state = 'LIVE';
    expect((await app.inject({ url: '/healthz/ready', remoteAddress: '10.0.0.7' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/stats/prometheus' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/config_dump' })).statusCode).toBe(404);
    await app.close();
  });
});
