/**
 * Istio routing conformance, compile side: each case compiles YAML carrying the facts of one Istio
 * test case (named in `source`) and asks the route table what a request gets. Pure: no sockets
 * (the wire behaviour of the same fixes is in routing-gateway.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { RouteEntry, RouteMatch } from '../../routes/route-table.js';
import { compileYaml, routeOn, serviceBYaml, type RouteRequest } from './routing-harness.js';

const ROUTE_TEST = 'pilot/pkg/networking/core/route/route_test.go TestBuildHTTPRoutes';
const ROUTING_GO = 'tests/integration/pilot/common/routing.go';

/** Gateway `gw` (port 80, all hosts) and ServiceEntries for the destinations the cases use. */
const BASE = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext }
spec:
  hosts: [foo.example.org, c-weighted.extsvc.com, b.default.svc.cluster.local]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: c-weighted }
spec:
  host: c-weighted.extsvc.com
  subsets: [{ name: v1, labels: { v: "1" } }, { name: blue, labels: { v: b } }, { name: green, labels: { v: g } }]
`;

/** A VirtualService `acme` bound to `gw` for every host, with the given `http` rules (YAML, indented 2). */
const acme = (http: string): string => `${BASE}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: acme }
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
${http}`;

interface Case {
  readonly source: string;
  readonly yaml: string;
  readonly request?: RouteRequest;
  readonly check: (m: Extract<RouteMatch, { route: RouteEntry }>) => void;
}

const cases: readonly Case[] = [
  {
    source: `${ROUTE_TEST} "for header operations for single cluster"`,
    yaml: acme(`  - headers:
      request:
        set: { x-req-set: v1, ":authority": foo.extsvc.com }
        add: { x-req-add: v2, ":authority": bar.extsvc.com }
        remove: [x-req-remove]
    route:
    - destination: { host: c-weighted.extsvc.com, subset: v1 }
      weight: 100
      headers:
        request:
          set: { x-route-req-set: v1, ":authority": internal.foo.extsvc.com }
          add: { x-route-req-add: v2, ":authority": internal.bar.extsvc.com }
          remove: [x-route-req-remove]
`),
    check: ({ route }) => {
      // `set` beats `add`, and the route's authority beats the destination's.
      expect(route.hostRewrite).toBe('foo.extsvc.com');
      expect(route.requestHeaders).toEqual({
        set: [['x-req-set', 'v1']],
        add: [['x-req-add', 'v2']],
        remove: ['x-req-remove'],
        drop: new Set(['x-req-remove', 'x-req-set']),
      });
      const a = route.action as Extract<RouteEntry['action'], { kind: 'forward' }>;
      expect(a.clusters[0]!.requestHeaders).toEqual({
        set: [['x-route-req-set', 'v1']],
        add: [['x-route-req-add', 'v2']],
        remove: ['x-route-req-remove'],
        drop: new Set(['x-route-req-remove', 'x-route-req-set']),
      });
    },
  },
  {
    source: `${ROUTE_TEST} "for header operations for weighted cluster"`,
    yaml: acme(`  - headers:
      request:
        set: { x-req-set: v1, ":authority": foo.extsvc.com }
        add: { x-req-add: v2, ":authority": bar.extsvc.com }
    route:
    - destination: { host: c-weighted.extsvc.com, subset: blue }
      weight: 9
      headers:
        request:
          set: { ":authority": blue.foo.extsvc.com }
          add: { ":authority": blue.bar.extsvc.com }
    - destination: { host: c-weighted.extsvc.com, subset: green }
      weight: 1
      headers:
        request:
          set: { ":authority": green.foo.extsvc.com }
          add: { ":authority": green.bar.extsvc.com }
`),
    check: ({ route }) => {
      expect(route.hostRewrite).toBe('foo.extsvc.com');
      const a = route.action as Extract<RouteEntry['action'], { kind: 'forward' }>;
      expect(a.clusters.map((c) => c.hostRewrite)).toEqual(['blue.foo.extsvc.com', 'green.foo.extsvc.com']);
      expect(a.clusters.map((c) => c.requestHeaders)).toEqual([undefined, undefined]);
    },
  },
  {
    source: `${ROUTE_TEST} "for host rewrite"`,
    yaml: acme(`  - match: [{ name: host-rewrite }]
    rewrite: { authority: bar.example.org }
    route: [{ destination: { host: foo.example.org }, weight: 100 }]
`),
    check: ({ route }) => expect(route.hostRewrite).toBe('bar.example.org'),
  },
  {
    source: `${ROUTE_TEST} "for prefix path rewrite"`,
    yaml: acme(`  - match: [{ name: prefix-path-rewrite }]
    rewrite: { uri: /replace-prefix }
    route: [{ destination: { host: foo.example.org }, weight: 100 }]
`),
    request: { authority: 'x', url: '/foo' },
    // A match without `uri` is Envoy `prefix: "/"`: `/foo` becomes `/replace-prefixfoo`.
    check: ({ route, match }) => {
      expect(route.rewrite?.uri).toBe('/replace-prefix');
      expect(match?.uriPrefix).toBe('/');
    },
  },
  {
    source: `${ROUTE_TEST} "for prefix path rewrite" (rule without any match)`,
    yaml: acme(`  - rewrite: { uri: /replace-prefix }
    route: [{ destination: { host: foo.example.org } }]
`),
    request: { authority: 'x', url: '/foo' },
    check: ({ match }) => expect(match?.uriPrefix).toBe('/'),
  },
  {
    source: `${ROUTE_TEST} "for full path redirect"`,
    yaml: acme(`  - redirect: { uri: /replace-full-path }
`),
    check: ({ route }) =>
      expect(route.action).toMatchObject({
        kind: 'redirect',
        uri: '/replace-full-path',
        prefixRewrite: undefined,
      }),
  },
  {
    source: `${ROUTE_TEST} "for prefix_rewrite redirect"`,
    yaml: acme(`  - redirect: { authority: foo.example.com, prefixRewrite: /, redirectCode: 301 }
`),
    check: ({ route }) =>
      expect(route.action).toMatchObject({
        kind: 'redirect',
        authority: 'foo.example.com',
        prefixRewrite: '/',
        status: 301,
      }),
  },
  {
    source: `${ROUTE_TEST} "for redirect and header manipulation"`,
    yaml: acme(`  - redirect: { uri: example.org, authority: some-authority.default.svc.cluster.local, redirectCode: 308 }
    headers:
      response:
        set: { Strict-Transport-Security: "max-age=31536000; includeSubDomains; preload" }
`),
    check: ({ route }) => {
      expect(route.action).toMatchObject({ kind: 'redirect', status: 308 });
      expect(route.responseHeaders?.set).toEqual([
        ['strict-transport-security', 'max-age=31536000; includeSubDomains; preload'],
      ]);
    },
  },
  {
    source: `${ROUTE_TEST} "for direct response code and header manipulation"`,
    yaml: acme(`  - directResponse: { status: 200, body: { string: hello } }
    headers:
      response:
        set: { Strict-Transport-Security: "max-age=31536000; includeSubDomains; preload" }
`),
    check: ({ route }) => {
      expect(route.action.kind).toBe('direct');
      expect(route.responseHeaders?.set).toHaveLength(1);
    },
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "redirect port and scheme" (derivePort on server port 80, scheme https)`,
    yaml: acme(`  - match: [{ uri: { exact: /foo } }]
    redirect: { derivePort: FROM_REQUEST_PORT, scheme: https }
`),
    request: { authority: 'x', url: '/foo' },
    // 80 is not https's default port, so it stays: https://x:80/foo.
    check: ({ route }) => expect(route.action).toMatchObject({ kind: 'redirect', port: 80, scheme: 'https' }),
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "redirect request port" "to default" (derivePort on port 80, http)`,
    yaml: acme(`  - match: [{ uri: { exact: /foo } }]
    redirect: { derivePort: FROM_REQUEST_PORT }
`),
    request: { authority: 'x', url: '/foo' },
    check: ({ route }) => expect(route.action).toMatchObject({ kind: 'redirect', port: undefined }),
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "weird header matches" "match"`,
    yaml: acme(`  - match: [{ headers: { "a!#$%&'*+-.^_\`|~z": { exact: why } } }]
    route: [{ destination: { host: foo.example.org } }]
`),
    request: { authority: 'x', headers: { "a!#$%&'*+-.^_`|~z": 'why' } },
    check: ({ route }) => expect(route.name).toBe('default/acme.0'),
  },
  {
    source: `pkg/config/validation/validation_test.go TestValidateHTTPHeaderName "X-Requested-With" (a capitalised match name)`,
    yaml: acme(`  - match: [{ headers: { Authentication: { exact: token } } }]
    route: [{ destination: { host: foo.example.org } }]
`),
    request: { authority: 'x', headers: { authentication: 'token' } },
    check: ({ route }) => expect(route.name).toBe('default/acme.0'),
  },
];

describe('routing conformance (compiled routes)', () => {
  it.each(cases.map((c) => [c.source, c] as const))('%s', (_source, c) => {
    const compiled = compileYaml(c.yaml);
    expect(compiled.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const m = routeOn(compiled.snapshot!, 80, c.request ?? { authority: 'x', url: '/' });
    if (!m.route) throw new Error('no route');
    c.check(m);
  });

  it(`${ROUTING_GO} virtualServiceCases "weird header matches" "no match": 404 NR without the header`, () => {
    const compiled = compileYaml(
      acme(`  - match: [{ headers: { "a!#$%&'*+-.^_\`|~z": { exact: why } } }]
    route: [{ destination: { host: foo.example.org } }]
`),
    );
    expect(routeOn(compiled.snapshot!, 80, { authority: 'x' }).route).toBeUndefined();
  });

  it(`${ROUTING_GO} gatewayCases "https redirect": every server host of an httpsRedirect server redirects`, () => {
    const compiled = compileYaml(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gateway }
spec:
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: [a.example.com, b.example.com]
    tls: { httpsRedirect: true }
`);
    for (const host of ['a.example.com', 'b.example.com:80']) {
      const m = routeOn(compiled.snapshot!, 80, { authority: host });
      expect(m.virtualHost?.requireTls).toBe(true);
    }
    expect(routeOn(compiled.snapshot!, 80, { authority: 'c.example.com' }).virtualHost).toBeUndefined();
  });
});

describe('routing conformance: mesh listener', () => {
  const MESH_B = `${serviceBYaml()}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: default }
spec:
  hosts: [b]
  http:
  - match: [{ uri: { exact: /foo } }]
    redirect: { derivePort: FROM_REQUEST_PORT }
`;

  it.each([
    ['to default', 'b', undefined],
    ['to default with host port', 'b:80', undefined],
    ['non-default', 'b:85', 85],
    ['non-default with host port', 'b:85', 85],
  ] as const)(
    `${ROUTING_GO} virtualServiceCases "redirect request port" %s: the service port, not the local listener port`,
    (_name, authority, port) => {
      const compiled = compileYaml(MESH_B, { meshPort: 0 });
      const m = routeOn(compiled.snapshot!, 'mesh', { authority, url: '/foo' });
      expect(m.route?.action).toMatchObject({ kind: 'redirect', port });
    },
  );

  it(`${ROUTE_TEST} "for virtualservices and services with overlapping wildcard hosts": the most specific wildcard VirtualService serves a service`, () => {
    const vs = (name: string, host: string, dest: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name} }
spec:
  hosts: ["${host}"]
  http: [{ route: [{ destination: { host: ${dest}, port: { number: 8080 } } }] }]
`;
    const compiled = compileYaml(
      `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: example-wildcard }
spec:
  hosts: ["*.example.org"]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{ number: 8080, name: http, protocol: HTTP }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: example }
spec:
  hosts: [goodbye.hello.example.org, foo.example.org]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 8080, name: http, protocol: HTTP }]
` +
        vs('wildcard', '*.example.org', 'foo.example.org') +
        vs('nested', '*.hello.example.org', 'goodbye.hello.example.org') +
        vs('google', '*.google.com', 'foo.example.org'),
      { meshPort: 0 },
    );
    const s = compiled.snapshot!;
    expect(routeOn(s, 'mesh', { authority: 'goodbye.hello.example.org:8080' }).route?.virtualService).toBe(
      'default/nested',
    );
    expect(routeOn(s, 'mesh', { authority: 'foo.example.org:8080' }).route?.virtualService).toBe(
      'default/wildcard',
    );
  });

  it(`${ROUTE_TEST} "for virtualservices and services with overlapping wildcard hosts" (a *.cluster.local mesh VirtualService covers the services under it)`, () => {
    const compiled = compileYaml(
      `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews }
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: all-local }
spec:
  hosts: ["*.cluster.local"]
  http: [{ timeout: 3s, route: [{ destination: { host: reviews.default.svc.cluster.local } }] }]
`,
      { meshPort: 0 },
    );
    for (const authority of ['reviews:9080', 'reviews.default.svc.cluster.local:9080']) {
      const m = routeOn(compiled.snapshot!, 'mesh', { authority });
      expect(m.route?.virtualService).toBe('default/all-local');
      expect(m.route?.timeoutMs).toBe(3000);
    }
  });
});

describe('routing conformance: conflict order', () => {
  /** A mesh VirtualService for `svc.example.com` created at `stamp`, routing to `dest`. */
  const stampedVs = (name: string, stamp: string, dest: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, creationTimestamp: "${stamp}" }
spec:
  hosts: [svc.example.com]
  http: [{ route: [{ destination: { host: ${dest} } }] }]
`;
  const twoVirtualServices = (aStamp: string, bStamp: string) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext }
spec:
  hosts: [one.example.com, two.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP }]
${stampedVs('zz-first-in-file', aStamp, 'one.example.com')}${stampedVs('aa-second-in-file', bStamp, 'two.example.com')}`;

  it.each([
    [
      'older creationTimestamp wins',
      '2024-01-01T00:00:00Z',
      '2024-06-01T00:00:00Z',
      'default/zz-first-in-file',
    ],
    [
      'older creationTimestamp wins (file order reversed)',
      '2024-06-01T00:00:00Z',
      '2024-01-01T00:00:00Z',
      'default/aa-second-in-file',
    ],
    [
      'same creationTimestamp: name decides',
      '2024-01-01T00:00:00Z',
      '2024-01-01T00:00:00Z',
      'default/aa-second-in-file',
    ],
  ])('pilot/pkg/model/config.go sortConfigByCreationTime: %s', (_name, aStamp, bStamp, winner) => {
    const compiled = compileYaml(twoVirtualServices(aStamp, bStamp), { meshPort: 0 });
    const m = routeOn(compiled.snapshot!, 'mesh', { authority: 'svc.example.com' });
    expect(m.route?.virtualService).toBe(winner);
  });
});
