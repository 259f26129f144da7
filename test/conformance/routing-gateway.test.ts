/**
 * Istio routing conformance on the wire: one real gateway (ingress listener on port 80, an
 * httpsRedirect server on 8080, the mesh listener) and one real upstream; each case is one
 * VirtualService (its own host) carrying the facts of the Istio case named in `source`, and one
 * request whose status, headers and upstream view are asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { httpGet, rawExchange } from '../helpers/clients.js';
import { localServiceEntryYaml, yamlDocuments } from '../helpers/resources.js';
import { serviceBYaml } from './routing-harness.js';

const ROUTING_GO = 'tests/integration/pilot/common/routing.go';
const ROUTE_TEST = 'pilot/pkg/networking/core/route/route_test.go TestBuildHTTPRoutes';
const UPSTREAM = 'echo.default.svc.cluster.local';
const HSTS = 'max-age=31536000; includeSubDomains; preload';

interface WireCase {
  readonly source: string;
  /** The `http` rules of the case's VirtualService (YAML lines, indented for `spec.http`). */
  readonly http: string;
  readonly path: string;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly status: number;
  /** Expected response headers (lowercase names). */
  readonly response?: Record<string, string>;
  /** Host and URL the upstream must have seen (status 200 only). */
  readonly upstreamHost?: string;
  readonly upstreamUrl?: string;
  readonly upstreamHeaders?: Record<string, string>;
}

const to = `route: [{ destination: { host: ${UPSTREAM} } }]`;

const cases: readonly WireCase[] = [
  {
    source: `${ROUTING_GO} virtualServiceCases "added header"`,
    http: `- ${to}\n  headers: { request: { add: { istio-custom-header: user-defined-value } } }`,
    path: '/',
    status: 200,
    upstreamHeaders: { 'istio-custom-header': 'user-defined-value' },
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "set header"`,
    http: `- ${to}\n  headers: { request: { set: { x-custom: some-value } } }`,
    path: '/',
    status: 200,
    upstreamHeaders: { 'x-custom': 'some-value' },
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "set authority header"`,
    http: `- ${to}\n  headers: { request: { set: { ":authority": my-custom-authority } } }`,
    path: '/',
    status: 200,
    upstreamHost: 'my-custom-authority',
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "set host header in destination"`,
    http: `- route:\n  - destination: { host: ${UPSTREAM} }\n    headers: { request: { set: { Host: my-custom-authority } } }`,
    path: '/',
    status: 200,
    upstreamHost: 'my-custom-authority',
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "set authority header in destination"`,
    http: `- route:\n  - destination: { host: ${UPSTREAM} }\n    headers: { request: { set: { ":authority": my-custom-authority } } }`,
    path: '/',
    status: 200,
    upstreamHost: 'my-custom-authority',
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "set host header in route and destination"`,
    http: `- route:\n  - destination: { host: ${UPSTREAM} }\n    headers: { request: { set: { Host: dest-authority } } }\n  headers: { request: { set: { ":authority": route-authority } } }`,
    path: '/',
    status: 200,
    upstreamHost: 'route-authority',
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "set host header in route and multi destination"`,
    http: `- route:\n  - destination: { host: ${UPSTREAM} }\n    headers: { request: { set: { Host: dest-authority } } }\n    weight: 50\n  - destination: { host: ${UPSTREAM} }\n    weight: 50\n  headers: { request: { set: { ":authority": route-authority } } }`,
    path: '/',
    status: 200,
    upstreamHost: 'route-authority',
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "set host header multi destination"`,
    http: `- route:\n  - destination: { host: ${UPSTREAM} }\n    headers: { request: { set: { Host: dest-authority } } }\n    weight: 50\n  - destination: { host: ${UPSTREAM} }\n    headers: { request: { set: { Host: dest-authority } } }\n    weight: 50`,
    path: '/',
    status: 200,
    upstreamHost: 'dest-authority',
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "rewrite authority"`,
    http: `- match: [{ uri: { exact: /foo } }]\n  rewrite: { authority: new-authority }\n  ${to}`,
    path: '/foo',
    status: 200,
    upstreamHost: 'new-authority',
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "redirect"`,
    http: `- match: [{ uri: { exact: /foo } }]\n  redirect: { uri: /new/path }\n- match: [{ uri: { exact: /new/path } }]\n  ${to}`,
    path: '/foo?key=value',
    status: 301,
    response: { location: 'http://HOST/new/path?key=value' },
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "redirect port and scheme"`,
    http: `- match: [{ uri: { exact: /foo } }]\n  redirect: { derivePort: FROM_REQUEST_PORT, scheme: https }`,
    path: '/foo',
    status: 301,
    response: { location: 'https://HOST:80/foo' },
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "redirect prefix_rewrite"`,
    http: `- match: [{ uri: { prefix: /foo/ } }]\n  redirect: { prefixRewrite: /new/ }\n- match: [{ uri: { prefix: /new/ } }]\n  ${to}`,
    path: '/foo/bar?q=1',
    status: 301,
    response: { location: 'http://HOST/new/bar?q=1' },
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "rewrite uri"`,
    http: `- match: [{ uri: { exact: /foo } }]\n  rewrite: { uri: /new/path }\n  ${to}`,
    path: '/foo?key=value',
    status: 200,
    upstreamUrl: '/new/path?key=value',
  },
  {
    source: `${ROUTE_TEST} "for prefix path rewrite" (no uri match: Envoy prefix "/")`,
    http: `- match: [{ name: prefix-path-rewrite }]\n  rewrite: { uri: /replace-prefix }\n  ${to}`,
    path: '/foo',
    status: 200,
    upstreamUrl: '/replace-prefixfoo',
  },
  {
    source: `${ROUTE_TEST} "for redirect and header manipulation"`,
    http: `- redirect: { uri: /elsewhere, authority: some-authority.default.svc.cluster.local, redirectCode: 308 }\n  headers: { response: { set: { Strict-Transport-Security: "${HSTS}" } } }`,
    path: '/',
    status: 308,
    response: {
      location: 'http://some-authority.default.svc.cluster.local/elsewhere',
      'strict-transport-security': HSTS,
    },
  },
  {
    source: `${ROUTE_TEST} "for direct response code and header manipulation"`,
    http: `- directResponse: { status: 200, body: { string: hello } }\n  headers: { response: { set: { Strict-Transport-Security: "${HSTS}" } } }`,
    path: '/',
    status: 200,
    response: { 'strict-transport-security': HSTS },
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "pseudo header matches" "no match"`,
    http: `- match: [{ headers: { ":method": { exact: GET } } }]\n  ${to}`,
    path: '/',
    method: 'POST',
    status: 404,
  },
  {
    source: `${ROUTING_GO} virtualServiceCases "pseudo header matches" "match"`,
    http: `- match: [{ headers: { ":method": { exact: GET } } }]\n  ${to}`,
    path: '/',
    status: 200,
  },
  {
    source: `pkg/config/validation/validation_test.go TestValidateHTTPHeaderName "X-Requested-With" (match on Authentication)`,
    http: `- match: [{ headers: { Authentication: { exact: token } } }]\n  ${to}`,
    path: '/',
    headers: { authentication: 'token' },
    status: 200,
  },
  {
    source: `pkg/config/validation/validation_test.go TestValidateHTTPHeaderName "X-Requested-With" (no Authentication header)`,
    http: `- match: [{ headers: { Authentication: { exact: token } } }]\n  ${to}`,
    path: '/',
    status: 404,
  },
];

const hostOf = (i: number): string => `case-${i}.example.com`;

function config(upstreamPort: number): string {
  const vss = cases.map(
    (c, i) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: case-${i} }
spec:
  hosts: [${hostOf(i)}]
  gateways: [gw]
  http:
${c.http
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}`,
  );
  return yamlDocuments(
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  servers:
  - { port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }
  - port: { number: 8080, name: http-redirect, protocol: HTTP }
    hosts: [routed.example.com, unrouted.example.com]
    tls: { httpsRedirect: true }`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: routed }
spec:
  hosts: [routed.example.com]
  gateways: [gw]
  http: [{ ${to} }]`,
    localServiceEntryYaml('echo', { number: 80, name: 'http', protocol: 'HTTP' }, upstreamPort),
    serviceBYaml(upstreamPort),
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: b-redirect }
spec:
  hosts: [b]
  http:
  - match: [{ uri: { exact: /foo } }]
    redirect: { derivePort: FROM_REQUEST_PORT }
  - match: [{ uri: { exact: /old } }]
    redirect: { uri: /new }`,
    ...vss,
  );
}

let upstream: TestUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startUpstream('echo');
  gw = await startGateway(config(upstream.port), { meshPort: 0 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('routing conformance on the wire (ingress listener)', () => {
  it.each(cases.map((c, i) => [c.source, c, i] as const))('%s', async (_source, c, i) => {
    const host = hostOf(i);
    const before = upstream.seen.length;
    const r = await httpGet(gw.port(80), c.path, { host, ...c.headers }, c.method ?? 'GET');
    expect(r.status).toBe(c.status);
    for (const [k, v] of Object.entries(c.response ?? {})) expect(r.headers[k]).toBe(v.replace('HOST', host));
    if (c.upstreamHost !== undefined || c.upstreamUrl !== undefined || c.upstreamHeaders !== undefined) {
      expect(upstream.seen.length).toBe(before + 1);
      const seen = upstream.seen.at(-1)!;
      if (c.upstreamHost !== undefined) expect(seen.headers.host).toBe(c.upstreamHost);
      if (c.upstreamUrl !== undefined) expect(seen.url).toBe(c.upstreamUrl);
      for (const [k, v] of Object.entries(c.upstreamHeaders ?? {})) expect(seen.headers[k]).toBe(v);
    } else if (c.status !== 200) {
      expect(upstream.seen.length).toBe(before);
    }
  });

  it.each([
    ['routed.example.com', 'a host a VirtualService routes'],
    ['unrouted.example.com', 'a server host no VirtualService routes'],
  ])(`${ROUTING_GO} gatewayCases "https redirect": 301 to https for %s (%s)`, async (host) => {
    const r = await httpGet(gw.port(8080), '/path?x=1', { host });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe(`https://${host}/path?x=1`);
  });

  it(`${ROUTING_GO} gatewayCases "404": a host outside the httpsRedirect server is 404 NR`, async () => {
    const r = await httpGet(gw.port(8080), '/', { host: 'other.example.com' });
    expect(r.status).toBe(404);
  });
});

describe('routing conformance on the wire (mesh listener)', () => {
  /** One request to the mesh listener; `target` is origin-form or absolute-form. */
  async function meshGet(
    target: string,
    host: string,
  ): Promise<{ status: number; location: string | undefined }> {
    const raw = await rawExchange(
      gw.meshPort(),
      `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
    const location = /\r\nlocation: ([^\r]*)/i.exec(raw)?.[1];
    return { status, location };
  }

  it.each([
    ['to default', '/foo', 'b', 'http://b/foo'],
    ['to default with host port', '/foo', 'b:80', 'http://b:80/foo'],
    ['non-default', 'http://b:85/foo', 'b', 'http://b:85/foo'],
    ['non-default with host port', '/foo', 'b:85', 'http://b:85/foo'],
  ])(
    `${ROUTING_GO} virtualServiceCases "redirect request port" %s`,
    async (_name, target, host, location) => {
      const r = await meshGet(target, host);
      expect(r).toEqual({ status: 301, location });
    },
  );

  it(`${ROUTING_GO} virtualServiceCases "redirect" (mesh): a redirect without port keeps the Host, never the listener port`, async () => {
    const r = await meshGet('/old', 'b');
    expect(r).toEqual({ status: 301, location: 'http://b/new' });
  });
});
