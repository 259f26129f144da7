/**
 * The incremental snapshot build: a build after a change reuses what it compiled from unchanged
 * resource objects (routes, virtual hosts, clusters, the registry) and gives exactly what a fresh
 * build of the same input gives; the sliced build gives the same snapshot as the one-shot build.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot, SnapshotBuilder, type Snapshot } from '../../config/snapshot.js';
import type { Resource } from '../../config/resources.js';
import { res, serviceEntry } from '../helpers/resources.js';

const GATEWAY = res('Gateway', 'gw', {
  selector: { istio: 'ingressgateway' },
  servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
});

function virtualService(i: number, header = 'v1'): Resource<'VirtualService'> {
  return res('VirtualService', `vs-${i}`, {
    hosts: [`svc-${i}.example.com`],
    gateways: ['gw'],
    http: [
      {
        route: [{ destination: { host: `svc-${i}.local`, subset: 'a' } }],
        headers: { response: { set: { 'x-config': header } } },
      },
    ],
  });
}

function destinationRule(
  i: number,
  lb: 'ROUND_ROBIN' | 'RANDOM' = 'ROUND_ROBIN',
): Resource<'DestinationRule'> {
  return res('DestinationRule', `dr-${i}`, {
    host: `svc-${i}.local`,
    trafficPolicy: { loadBalancer: { simple: lb } },
    subsets: [{ name: 'a', labels: { version: 'a' } }],
  });
}

/** Gateway + per host a ServiceEntry, a DestinationRule and a VirtualService. */
function config(hosts: number): Resource[] {
  const out: Resource[] = [GATEWAY];
  for (let i = 0; i < hosts; i++)
    out.push(
      serviceEntry(`svc-${i}.local`, 80, [{ version: 'a', port: 9000 + i }]),
      destinationRule(i),
      virtualService(i),
    );
  return out;
}

/** What a snapshot routes, as data: virtual hosts with their routes' destinations and response headers, and clusters. */
function routing(s: Snapshot): unknown {
  return {
    listeners: s.listeners.map((l) => ({
      name: l.name,
      hosts: l.routeConfig?.virtualHosts.map((vh) => ({
        name: vh.name,
        routes: vh.routes.map((r) => ({
          name: r.name,
          to: r.action.kind === 'forward' ? r.action.clusters.map((c) => c.destination.name) : r.action.kind,
          set: r.responseHeaders?.set,
        })),
      })),
    })),
    clusters: [...s.clusters.values()].map((c) => [c.name, c.lbPolicy, c.endpoints.map((e) => e.key)]),
  };
}

function replace(list: readonly Resource[], next: Resource): Resource[] {
  return list.map((r) => (r.kind === next.kind && r.metadata.name === next.metadata.name ? next : r));
}

function virtualHost(s: Snapshot, host: string) {
  return s.listeners[0]!.routeConfig!.virtualHostFor(host);
}

describe('SnapshotBuilder', () => {
  it('rebuilds only the changed VirtualService: the others keep their virtual hosts, every cluster its object', () => {
    const builder = new SnapshotBuilder();
    const v1 = config(50);
    const first = builder.build(v1).snapshot;
    const v2 = replace(v1, virtualService(7, 'v2'));
    const second = builder.build(v2).snapshot;

    expect(routing(second)).toEqual(routing(buildSnapshot(v2).snapshot));
    expect(virtualHost(second, 'svc-7.example.com')!.routes[0]!.responseHeaders?.set).toEqual([
      ['x-config', 'v2'],
    ]);
    expect(virtualHost(second, 'svc-7.example.com')).not.toBe(virtualHost(first, 'svc-7.example.com'));
    expect(virtualHost(second, 'svc-8.example.com')).toBe(virtualHost(first, 'svc-8.example.com'));
    expect(second.registry).toBe(first.registry);
    for (const [name, cluster] of second.clusters) expect(first.clusters.get(name)).toBe(cluster);
    expect(second.clusters.size).toBe(50);
  });

  it('recompiles the clusters and routes a changed DestinationRule feeds', () => {
    const builder = new SnapshotBuilder();
    const v1 = config(5);
    const first = builder.build(v1).snapshot;
    const v2 = replace(v1, destinationRule(3, 'RANDOM'));
    const second = builder.build(v2).snapshot;

    expect(routing(second)).toEqual(routing(buildSnapshot(v2).snapshot));
    const name = 'outbound|80|a|svc-3.local';
    expect(second.clusters.get(name)!.lbPolicy).toBe('RANDOM');
    expect(first.clusters.get(name)!.lbPolicy).toBe('ROUND_ROBIN');
    const routed = virtualHost(second, 'svc-3.example.com')!.routes[0]!.action;
    expect(routed.kind === 'forward' && routed.clusters[0]!.destination.cluster).toBe(
      second.clusters.get(name),
    );
  });

  it('follows a changed ServiceEntry to its cluster endpoints', () => {
    const builder = new SnapshotBuilder();
    const v1 = config(5);
    builder.build(v1);
    const v2 = replace(v1, serviceEntry('svc-2.local', 80, [{ version: 'a', port: 7777 }]));
    const second = builder.build(v2).snapshot;

    expect(routing(second)).toEqual(routing(buildSnapshot(v2).snapshot));
    expect(second.clusters.get('outbound|80|a|svc-2.local')!.endpoints.map((e) => e.key)).toEqual([
      '127.0.0.1:7777',
    ]);
  });

  it('drops a removed host and serves an added one, in creation order', () => {
    const builder = new SnapshotBuilder();
    const v1 = config(5);
    builder.build(v1);
    const v2 = [
      ...v1.filter((r) => r.metadata.name !== 'vs-1'),
      res('VirtualService', 'vs-0a', {
        hosts: ['new.example.com'],
        gateways: ['gw'],
        http: [{ route: [{ destination: { host: 'svc-0.local', subset: 'a' } }] }],
      }),
    ];
    const second = builder.build(v2).snapshot;

    expect(routing(second)).toEqual(routing(buildSnapshot(v2).snapshot));
    expect(virtualHost(second, 'svc-1.example.com')).toBeUndefined();
    expect(virtualHost(second, 'new.example.com')).toBeDefined();
  });

  it('gives the same snapshot sliced as at once, and after a change back', async () => {
    const builder = new SnapshotBuilder();
    const v1 = config(300);
    const sliced = (await builder.buildSliced(v1, {}, [], 0)).snapshot;
    expect(routing(sliced)).toEqual(routing(buildSnapshot(v1).snapshot));
    const v2 = replace(v1, virtualService(100, 'v2'));
    expect(routing((await builder.buildSliced(v2, {}, [], 0)).snapshot)).toEqual(
      routing(buildSnapshot(v2).snapshot),
    );
    const back = (await builder.buildSliced(v1, {}, [], 0)).snapshot;
    expect(routing(back)).toEqual(routing(sliced));
    expect(virtualHost(back, 'svc-100.example.com')!.routes[0]!.responseHeaders?.set).toEqual([
      ['x-config', 'v1'],
    ]);
  });
});
