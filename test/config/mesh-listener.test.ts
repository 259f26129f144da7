/**
 * The mesh listener's route table, without sockets: which virtual host and route a workload's Host
 * reaches (names with and without port, short names), default routes for ServiceEntry hosts, the
 * outbound policy host, first-wins for two mesh VirtualServices on one host, and mesh `tls` rules.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot } from '../../config/snapshot.js';
import { MeshRouteConfiguration } from '../../config/mesh-listener.js';
import { meshHostNames } from '../../compile/mesh-listener.js';
import type { RequestView } from '../../routes/route-table.js';
import { res, serviceEntry } from '../helpers/resources.js';

const view = (authority: string, headers: Record<string, string> = {}): RequestView => ({
  method: 'GET',
  url: '/',
  pathEnd: 1,
  authority,
  scheme: 'http',
  headers,
});

function build(policy: 'ALLOW_ANY' | 'REGISTRY_ONLY' = 'ALLOW_ANY') {
  const resources = [
    serviceEntry('reviews', 9080, [
      { version: 'v1', port: 1 },
      { version: 'v2', port: 2 },
    ]),
    res('ServiceEntry', 'httpbin-ext', {
      hosts: ['httpbin.org'],
      ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
      resolution: 'DNS',
      location: 'MESH_EXTERNAL',
    }),
    res('DestinationRule', 'reviews', {
      host: 'reviews',
      subsets: [{ name: 'v2', labels: { version: 'v2' } }],
    }),
    res('VirtualService', 'reviews', {
      hosts: ['reviews'],
      http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }],
    }),
    res('VirtualService', 'reviews-again', {
      hosts: ['reviews'],
      http: [{ route: [{ destination: { host: 'reviews' } }] }],
    }),
    res('VirtualService', 'gateway-only', {
      hosts: ['httpbin.org'],
      gateways: ['some-gateway'],
      http: [{ timeout: '1s', route: [{ destination: { host: 'httpbin.org' } }] }],
    }),
    res('VirtualService', 'google', {
      hosts: ['www.google.com'],
      tls: [
        {
          match: [{ port: 443, sniHosts: ['www.google.com'] }],
          route: [{ destination: { host: 'www.google.com', port: { number: 443 } } }],
        },
      ],
    }),
  ];
  const { snapshot, diagnostics } = buildSnapshot(resources, { meshPort: 0, outboundTrafficPolicy: policy });
  const listener = snapshot.listeners.find((l) => l.name === 'virtualOutbound')!;
  return { snapshot, diagnostics, listener, rc: listener.routeConfig as MeshRouteConfiguration };
}

describe('mesh listener route table', () => {
  it('serves the names a workload uses, with and without the port', () => {
    const { rc } = build();
    for (const host of [
      'reviews',
      'reviews:9080',
      'reviews.default',
      'reviews.default.svc:9080',
      'reviews.default.svc.cluster.local:9080',
    ]) {
      const m = rc.route(view(host));
      expect(m.virtualHost?.name, host).toBe('reviews.default.svc.cluster.local:9080');
      expect(m.route?.name, host).toBe('default/reviews.0');
    }
    // A port the service does not declare is not that service.
    expect(rc.route(view('reviews:8080')).route?.name).toBe('allow_any');
  });

  it('first mesh VirtualService for a host wins (IST0109 warning); gateway-only ones are ignored', () => {
    const { diagnostics, rc } = build();
    expect(
      diagnostics.some((d) => d.code === 'IST0109' && d.resource === 'VirtualService/default/reviews-again'),
    ).toBe(true);
    const m = rc.route(view('httpbin.org'));
    expect(m.route?.name).toBe('default');
    expect(m.route?.timeoutMs).toBe(0);
    expect(m.route?.action.kind === 'forward' && m.route.action.clusters[0]!.destination.name).toBe(
      'outbound|80||httpbin.org',
    );
  });

  it('unknown hosts: allow_any → PassthroughCluster, or block_all → 502', () => {
    const allow = build('ALLOW_ANY');
    const a = allow.rc.route(view('example.com:8080'));
    expect(a.route?.name).toBe('allow_any');
    expect(a.route?.action.kind === 'forward' && a.route.action.clusters[0]!.destination.name).toBe(
      'PassthroughCluster',
    );
    expect(allow.snapshot.clusters.has('PassthroughCluster')).toBe(true);
    const block = build('REGISTRY_ONLY').rc.route(view('example.com'));
    expect(block.route?.name).toBe('block_all');
    expect(block.route?.action).toMatchObject({ kind: 'direct', status: 502 });
  });

  it('compiles mesh tls rules and knows registered host:port pairs', () => {
    const { listener } = build();
    expect(listener.mesh?.tlsRoutes.map((r) => [r.name, r.sniHosts, r.port])).toEqual([
      ['default/google.tls.0', ['www.google.com'], 443],
    ]);
    expect(listener.mesh?.serviceDestination('httpbin.org', 80)?.name).toBe('outbound|80||httpbin.org');
    expect(listener.mesh?.serviceDestination('httpbin.org', 81)).toBeUndefined();
    expect(listener.address).toBe('127.0.0.1');
  });

  it('no mesh listener without meshPort', () => {
    const { snapshot } = buildSnapshot([], {});
    expect(snapshot.listeners.some((l) => l.name === 'virtualOutbound')).toBe(false);
  });

  it('helpers', () => {
    expect(meshHostNames('ratings.bookinfo.svc.cluster.local')).toEqual([
      'ratings.bookinfo.svc.cluster.local',
      'ratings',
      'ratings.bookinfo',
      'ratings.bookinfo.svc',
    ]);
    expect(meshHostNames('httpbin.org')).toEqual(['httpbin.org']);
  });
});
