/**
 * Simulation tests in the manner of Istio's gateway simulation tests: compile resources, then ask
 * the route table where a request goes. Pure: no sockets.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot, type Snapshot } from '../../config/snapshot.js';
import type { Resource } from '../../config/resources.js';
import type { RequestView } from '../../routes/route-table.js';
import { res, serviceEntry } from '../helpers/resources.js';

function call(
  s: Snapshot,
  port: number,
  authority: string,
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
) {
  const l = s.listeners.find((x) => x.port === port);
  if (!l?.routeConfig) throw new Error(`no HTTP listener on ${port}`);
  const q = url.indexOf('?');
  const view: RequestView = {
    method,
    url,
    pathEnd: q < 0 ? url.length : q,
    authority,
    scheme: 'http',
    headers,
  };
  const m = l.routeConfig.route(view);
  if (!m.route) return { result: 'NR', vhost: m.virtualHost?.name };
  const a = m.route.action;
  return {
    result: a.kind === 'forward' ? a.clusters.map((c) => c.destination.name).join(' ') : a.kind,
    vhost: m.virtualHost.name,
    route: m.route.name,
    entry: m.route,
  };
}

const gateway = (name: string, port: number, hosts: string[], protocol = 'HTTP'): Resource<'Gateway'> =>
  res('Gateway', name, {
    selector: { istio: 'ingressgateway' },
    servers: [{ port: { number: port, name: 'http', protocol }, hosts }],
  });

const bookinfo = [
  gateway('bookinfo-gateway', 80, ['*']),
  res('VirtualService', 'bookinfo', {
    hosts: ['*'],
    gateways: ['bookinfo-gateway'],
    http: [
      {
        match: [
          { uri: { exact: '/productpage' } },
          { uri: { prefix: '/static' } },
          { uri: { exact: '/login' } },
          { uri: { exact: '/logout' } },
          { uri: { prefix: '/api/v1/products' } },
        ],
        route: [{ destination: { host: 'productpage', port: { number: 9080 } } }],
      },
    ],
  }),
  serviceEntry('productpage', 9080, [{ version: 'v1', port: 19080 }]),
];

describe('gateway route compilation (bookinfo)', () => {
  const { snapshot } = buildSnapshot(bookinfo);

  it('names the listener, route configuration and virtual host as Istio does', () => {
    expect(snapshot.listeners.map((l) => l.name)).toEqual(['0.0.0.0_80']);
    expect(snapshot.listeners[0]!.routeConfig!.name).toBe('http.80');
    expect(snapshot.listeners[0]!.gateways).toEqual(['default/bookinfo-gateway']);
  });

  it.each([
    ['/productpage', 'outbound|9080||productpage.default.svc.cluster.local'],
    ['/productpage?u=normal', 'outbound|9080||productpage.default.svc.cluster.local'],
    ['/static/x.css', 'outbound|9080||productpage.default.svc.cluster.local'],
    ['/staticfoo', 'outbound|9080||productpage.default.svc.cluster.local'],
    ['/api/v1/products/0/reviews', 'outbound|9080||productpage.default.svc.cluster.local'],
    ['/', 'NR'],
    ['/productpage/x', 'NR'],
    ['/login', 'outbound|9080||productpage.default.svc.cluster.local'],
  ])('%s → %s', (url, want) => {
    expect(call(snapshot, 80, 'anything.example:8080', url).result).toBe(want);
  });

  it('routes any host through the * virtual host', () => {
    expect(call(snapshot, 80, 'x', '/productpage').vhost).toBe('*:80');
  });
});

describe('virtual host selection and merging', () => {
  const resources = [
    gateway('gw', 80, ['*']),
    res('VirtualService', 'wild', {
      hosts: ['*.example.com'],
      gateways: ['gw'],
      http: [{ route: [{ destination: { host: 'b' } }] }],
    }),
    res('VirtualService', 'exact', {
      hosts: ['a.example.com'],
      gateways: ['gw'],
      http: [{ match: [{ uri: { prefix: '/only' } }], route: [{ destination: { host: 'a' } }] }],
    }),
    res('VirtualService', 'exact-2', {
      hosts: ['a.example.com'],
      gateways: ['default/gw'],
      http: [{ route: [{ destination: { host: 'b' } }] }],
    }),
    res('VirtualService', 'mesh-only', {
      hosts: ['m.other.com'],
      http: [{ route: [{ destination: { host: 'a' } }] }],
    }),
    serviceEntry('a', 80, [{ port: 1 }]),
    serviceEntry('b', 80, [{ port: 2 }]),
  ];
  const { snapshot } = buildSnapshot(resources);

  it('prefers the exact domain, then the longest wildcard; no fallback to less specific hosts', () => {
    expect(call(snapshot, 80, 'a.example.com', '/only/x').result).toBe(
      'outbound|80||a.default.svc.cluster.local',
    );
    expect(call(snapshot, 80, 'A.EXAMPLE.COM:80', '/only').vhost).toBe('a.example.com:80');
    expect(call(snapshot, 80, 'z.example.com', '/').result).toBe('outbound|80||b.default.svc.cluster.local');
    expect(call(snapshot, 80, 'example.com', '/').result).toBe('NR');
  });

  it('concatenates routes of several VirtualServices on one host, catch-alls last', () => {
    expect(call(snapshot, 80, 'a.example.com', '/other').result).toBe(
      'outbound|80||b.default.svc.cluster.local',
    );
    const vh = snapshot.listeners[0]!.routeConfig!.virtualHosts.find((v) => v.name === 'a.example.com:80')!;
    expect(vh.routes.map((r) => r.name)).toEqual(['default/exact.0', 'default/exact-2.0']);
  });

  it('ignores VirtualServices bound only to mesh', () => {
    expect(call(snapshot, 80, 'm.other.com', '/').result).toBe('NR');
  });
});

describe('http match semantics', () => {
  const resources = [
    gateway('gw', 8080, ['*']),
    res('VirtualService', 'reviews', {
      hosts: ['reviews'],
      gateways: ['gw'],
      http: [
        {
          match: [{ headers: { 'end-user': { exact: 'jason' } } }],
          route: [{ destination: { host: 'reviews', subset: 'v2' } }],
        },
        {
          match: [{ headers: { 'x-any': {} }, method: { exact: 'POST' } }],
          route: [{ destination: { host: 'reviews', subset: 'v3' } }],
        },
        {
          match: [{ withoutHeaders: { 'x-skip': {} }, queryParams: { q: { regex: 'a+' } } }],
          route: [{ destination: { host: 'reviews', subset: 'v3' } }],
        },
        { match: [{ uri: { exact: '/CASE' }, ignoreUriCase: true }], directResponse: { status: 204 } },
        { match: [{ uri: { regex: '/r/[0-9]+' } }], redirect: { uri: '/n', redirectCode: 302 } },
        {
          match: [{ port: 9999, uri: { prefix: '/p' } }],
          route: [{ destination: { host: 'reviews', subset: 'v3' } }],
        },
        {
          match: [{ gateways: ['other'], uri: { prefix: '/g' } }],
          route: [{ destination: { host: 'reviews', subset: 'v3' } }],
        },
        { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
        { route: [{ destination: { host: 'reviews', subset: 'v3' } }] },
      ],
    }),
    res('DestinationRule', 'reviews', {
      host: 'reviews',
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
        { name: 'v3', labels: { version: 'v3' } },
      ],
    }),
    serviceEntry('reviews', 9080, [
      { version: 'v1', port: 1 },
      { version: 'v2', port: 2 },
      { version: 'v3', port: 3 },
    ]),
  ];
  const { snapshot } = buildSnapshot(resources);
  const host = 'reviews.default.svc.cluster.local';
  const v = (s: string) => `outbound|9080|${s}|${host}`;

  it('matches headers exactly, first rule wins', () => {
    expect(call(snapshot, 8080, host, '/reviews/0', { 'end-user': 'jason' }).result).toBe(v('v2'));
    expect(call(snapshot, 8080, host, '/reviews/0', { 'end-user': 'json' }).result).toBe(v('v1'));
    expect(call(snapshot, 8080, host, '/reviews/0').result).toBe(v('v1'));
  });

  it('ANDs conditions of one match: header presence and method', () => {
    expect(call(snapshot, 8080, host, '/', { 'x-any': '' }, 'POST').result).toBe(v('v3'));
    expect(call(snapshot, 8080, host, '/', { 'x-any': '' }, 'GET').result).toBe(v('v1'));
  });

  it('withoutHeaders and queryParams (RE2 full match)', () => {
    expect(call(snapshot, 8080, host, '/?q=aaa').result).toBe(v('v3'));
    expect(call(snapshot, 8080, host, '/?q=aab').result).toBe(v('v1'));
    expect(call(snapshot, 8080, host, '/?q=aaa', { 'x-skip': '1' }).result).toBe(v('v1'));
  });

  it('ignoreUriCase, regex full match, redirect and direct response actions', () => {
    expect(call(snapshot, 8080, host, '/case').result).toBe('direct');
    expect(call(snapshot, 8080, host, '/r/12').result).toBe('redirect');
    expect(call(snapshot, 8080, host, '/r/12x').result).toBe(v('v1'));
  });

  it('drops matches for another port or gateway', () => {
    expect(call(snapshot, 8080, host, '/p').result).toBe(v('v1'));
    expect(call(snapshot, 8080, host, '/g').result).toBe(v('v1'));
  });

  it('stops at the first catch-all rule', () => {
    const vh = snapshot.listeners[0]!.routeConfig!.virtualHosts[0]!;
    expect(vh.routes.at(-1)!.name).toBe('default/reviews.7');
  });

  it('resolves short destination hosts and subsets to clusters with their endpoints', () => {
    const c = snapshot.clusters.get(v('v2'))!;
    expect(c.endpoints.map((e) => e.key)).toEqual(['127.0.0.1:2']);
    expect(c.lbPolicy).toBe('LEAST_REQUEST');
    expect(c.connectTimeoutMs).toBe(10_000);
  });
});

describe('weights and missing clusters', () => {
  const resources = [
    gateway('gw', 80, ['*']),
    res('VirtualService', 'split', {
      hosts: ['*'],
      gateways: ['gw'],
      http: [
        {
          match: [{ uri: { prefix: '/missing' } }],
          route: [{ destination: { host: 'reviews', subset: 'v9' } }],
        },
        {
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight: 80 },
            { destination: { host: 'reviews', subset: 'v2' }, weight: 20 },
            { destination: { host: 'reviews', subset: 'v3' }, weight: 0 },
          ],
        },
      ],
    }),
    res('DestinationRule', 'reviews', {
      host: 'reviews',
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    }),
    serviceEntry('reviews', 9080, [
      { version: 'v1', port: 1 },
      { version: 'v2', port: 2 },
    ]),
  ];
  const { snapshot } = buildSnapshot(resources);

  it('keeps relative weights and drops zero weights', () => {
    const r = call(snapshot, 80, 'x', '/');
    const a = r.entry!.action;
    expect(a.kind).toBe('forward');
    if (a.kind !== 'forward') return;
    expect(a.clusters.map((c) => [c.destination.name, c.weight])).toEqual([
      ['outbound|9080|v1|reviews.default.svc.cluster.local', 80],
      ['outbound|9080|v2|reviews.default.svc.cluster.local', 20],
    ]);
    expect(a.totalWeight).toBe(100);
  });

  it('keeps a destination whose subset is undefined, with no cluster (503 NC at request time)', () => {
    const r = call(snapshot, 80, 'x', '/missing');
    const a = r.entry!.action;
    if (a.kind !== 'forward') throw new Error('expected forward');
    expect(a.clusters).toHaveLength(1);
    expect(a.clusters[0]!.destination.cluster).toBeUndefined();
    expect(a.clusters[0]!.destination.missing).toBe('unknown-subset');
  });
});
