/**
 * The admin port against a real gateway: config dump of the Bookinfo routes, clusters with their
 * endpoints, readiness, log level changes, and access control for non-loopback clients.
 */
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../gateway/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import type { TestGateway } from '../helpers/gateway.js';
import { httpGet } from '../helpers/clients.js';
import { baseUrl, bookinfoConfig, fetchText, startTelemetryGateway } from '../helpers/telemetry.js';

const PRODUCTPAGE = 'outbound|9080||productpage.default.svc.cluster.local';

interface DumpRoute {
  name: string;
  match: unknown;
  action: { kind: string; clusters: { name: string; weight: number }[] };
  timeout_ms: number;
  retries: { attempts: number; per_try_timeout_ms: number; retry_on: string[] };
}
interface Dump {
  version_info: string;
  listeners: { name: string; route_config_name: string; bound: string }[];
  route_configs: {
    name: string;
    virtual_hosts: { name: string; domains: string[]; routes: DumpRoute[] }[];
  }[];
  clusters: {
    name: string;
    service: string;
    endpoints: { address: string; port: number; labels: Record<string, string> }[];
  }[];
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  }
  return undefined;
}

describe('admin port', () => {
  let productpage: TestUpstream;
  let gw: TestGateway;
  let admin: string;

  beforeAll(async () => {
    productpage = await startUpstream('productpage');
    gw = await startTelemetryGateway(bookinfoConfig({ productpage: productpage.port }));
    admin = baseUrl(gw, 'admin');
  });

  afterAll(async () => {
    await gw?.close();
    await productpage?.close();
  });

  it('binds to loopback by default', () => {
    expect(gw.gateway.observability.adminAddress()?.address).toBe('127.0.0.1');
  });

  it('/config_dump shows the routes the bookinfo VirtualService compiled to', async () => {
    const r = await fetchText(`${admin}/config_dump`);
    expect(r.status).toBe(200);
    expect(r.type).toContain('application/json');
    const dump = JSON.parse(r.body) as Dump;
    expect(dump.version_info).toBe(String(gw.gateway.snapshot.version));
    expect(dump.listeners[0]).toMatchObject({ name: '0.0.0.0_8080', route_config_name: 'http.8080' });
    expect(dump.listeners[0]!.bound).toBe(`0.0.0.0:${gw.port(8080)}`);
    const rc = dump.route_configs.find((c) => c.name === 'http.8080')!;
    expect(rc.virtual_hosts).toHaveLength(1);
    expect(rc.virtual_hosts[0]).toMatchObject({ name: '*:8080', domains: ['*'] });
    const [bookinfo, reviews] = rc.virtual_hosts[0]!.routes;
    expect(bookinfo!.name).toBe('default/bookinfo.0');
    expect(bookinfo!.match).toEqual([
      { path: { exact: '/productpage' } },
      { path: { prefix: '/static' } },
      { path: { exact: '/login' } },
      { path: { exact: '/logout' } },
      { path: { prefix: '/api/v1/products' } },
    ]);
    expect(bookinfo!.action).toMatchObject({ kind: 'route', clusters: [{ name: PRODUCTPAGE }] });
    expect(bookinfo!.timeout_ms).toBe(0);
    expect(reviews!.action.clusters).toEqual([
      expect.objectContaining({ name: 'outbound|9080|v1|reviews.default.svc.cluster.local', weight: 50 }),
      expect.objectContaining({ name: 'outbound|9080|v2|reviews.default.svc.cluster.local', weight: 50 }),
    ]);
    expect(reviews!.timeout_ms).toBe(3000);
    expect(reviews!.retries).toEqual({
      attempts: 2,
      per_try_timeout_ms: 1000,
      retry_on: ['5xx', 'connect-failure'],
    });
    const cluster = dump.clusters.find((c) => c.name === PRODUCTPAGE)!;
    expect(cluster.service).toBe('productpage.default.svc.cluster.local');
    expect(cluster.endpoints).toEqual([
      {
        address: '127.0.0.1',
        port: productpage.port,
        weight: 1,
        labels: { app: 'productpage', version: 'v1' },
      },
    ]);
  });

  it('/clusters lists endpoints with health, weight and request counters', async () => {
    for (let i = 0; i < 4; i++) await httpGet(gw.port(8080), '/productpage');
    const r = await fetchText(`${admin}/clusters`);
    expect(r.status).toBe(200);
    const host = `${PRODUCTPAGE}::127.0.0.1:${productpage.port}`;
    expect(r.body).toContain(`${PRODUCTPAGE}::observability_name::${PRODUCTPAGE}\n`);
    expect(r.body).toContain(`${host}::health_flags::healthy\n`);
    expect(r.body).toContain(`${host}::weight::1\n`);
    expect(r.body).toContain(`${host}::rq_active::0\n`);
    expect(r.body).toMatch(new RegExp(`${host.replace(/[|.]/g, '\\$&')}::rq_total::([4-9]|\\d\\d+)\\n`));
    expect(r.body).toContain('outbound|9080|v2|reviews.default.svc.cluster.local::127.0.0.1:');
    const json = JSON.parse((await fetchText(`${admin}/clusters?format=json`)).body) as {
      cluster_statuses: { name: string; host_statuses: { health_status: { eds_health_status: string } }[] }[];
    };
    const pp = json.cluster_statuses.find((c) => c.name === PRODUCTPAGE)!;
    expect(pp.host_statuses[0]!.health_status.eds_health_status).toBe('HEALTHY');
  });

  it('/ready and /server_info report LIVE', async () => {
    const ready = await fetchText(`${admin}/ready`);
    expect(ready).toMatchObject({ status: 200, body: 'LIVE\n' });
    const info = JSON.parse((await fetchText(`${admin}/server_info`)).body) as {
      state: string;
      node: { id: string };
    };
    expect(info.state).toBe('LIVE');
    expect(info.node.id).toMatch(/^router~/);
  });

  it('POST /logging?level= changes the log level; an unknown level is a 400 listing the valid ones', async () => {
    const log = gw.gateway.log;
    const before = log.level;
    try {
      const ok = await fetchText(`${admin}/logging?level=debug`, 'POST');
      expect(ok.status).toBe(200);
      expect(log.level).toBe('debug');
      const envoyName = await fetchText(`${admin}/logging?level=warning`, 'POST');
      expect(envoyName.status).toBe(200);
      expect(log.level).toBe('warn');
      const bad = await fetchText(`${admin}/logging?level=bogus`, 'POST');
      expect(bad.status).toBe(400);
      expect(bad.body).toContain('unknown log level "bogus"');
      expect(bad.body).toContain('valid levels: trace, debug, info, warn');
      expect(log.level).toBe('warn');
      // Mutations need POST, as on Envoy's admin.
      expect((await fetchText(`${admin}/logging?level=debug`)).status).toBe(405);
    } finally {
      log.level = before;
    }
  });

  it('answers unknown paths 404 and keeps serving', async () => {
    expect((await fetchText(`${admin}/nope`)).status).toBe(404);
    expect((await fetchText(`${admin}/`)).body).toContain('/config_dump');
  });
});

describe('admin access from non-loopback clients', () => {
  const ext = externalAddress();

  it.skipIf(!ext)(
    'bound to 0.0.0.0 it refuses non-loopback clients with 403 unless --admin-allow-remote',
    async () => {
      const up = await startUpstream('productpage');
      const yaml = bookinfoConfig({ productpage: up.port });
      const closed = await startTelemetryGateway(yaml, { adminAddress: '0.0.0.0' });
      const open = await startTelemetryGateway(yaml, { adminAddress: '0.0.0.0', adminAllowRemote: true });
      try {
        const port = closed.gateway.observability.adminAddress()!.port;
        // Connecting to the machine's own external address makes that address the client's too.
        const remote = await request(`http://${ext}:${port}/config_dump`);
        expect(remote.statusCode).toBe(403);
        expect(await remote.body.text()).toContain('restricted to loopback');
        const local = await request(`http://127.0.0.1:${port}/ready`);
        expect(local.statusCode).toBe(200);
        await local.body.dump();
        const allowed = await request(
          `http://${ext}:${open.gateway.observability.adminAddress()!.port}/ready`,
        );
        expect(allowed.statusCode).toBe(200);
        await allowed.body.dump();
      } finally {
        await closed.close();
        await open.close();
        await up.close();
      }
    },
  );

  it.skipIf(!ext)(
    'bound to loopback (the default) it is not reachable from another address at all',
    async () => {
      const up = await startUpstream('productpage');
      const gw = await startTelemetryGateway(bookinfoConfig({ productpage: up.port }));
      try {
        const port = gw.gateway.observability.adminAddress()!.port;
        await expect(request(`http://${ext}:${port}/ready`)).rejects.toThrow(/ECONNREFUSED/);
      } finally {
        await gw.close();
        await up.close();
      }
    },
  );
});

describe('telemetry port conflicts', () => {
  it('refuses to start with a message naming a port already in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'mg-admin-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, bookinfoConfig({ productpage: 1 }));
    try {
      const r = await Gateway.start(
        {
          paths: [file],
          defaultNamespace: 'default',
          accessLog: 'off',
          portMap: new Map([[8080, 0]]),
          telemetry: { adminPort: taken, healthPort: 0, statsAddress: '127.0.0.1' },
        },
        pino({ level: 'silent' }),
      );
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.portErrors?.map((e) => e.message)).toEqual([
        `cannot bind the admin port on 127.0.0.1:${taken}: address already in use; choose another with --admin-port <port> (0 picks a free one)`,
      ]);
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
