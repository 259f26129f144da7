/**
 * Request shaping through the gateway with real clients (istio-semantics.md §2.6, §2.7, §2.12):
 * rewrite (uri prefix, authority, uriRegexRewrite), redirect (curl), directResponse, header
 * operations at route and destination level, and CORS (preflight answered at the gateway).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { curl, httpGet } from '../helpers/clients.js';
import { HTTP_GATEWAY_GW } from '../helpers/resources.js';

function config(upstream: number): string {
  const dest = '{ host: backend, port: { number: 8080 } }';
  return `
${HTTP_GATEWAY_GW}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shaping }
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{ uri: { prefix: /old } }]
    rewrite: { uri: /new }
    route: [{ destination: ${dest} }]
  - match: [{ uri: { prefix: /whole } }]
    rewrite: { uri: /, authority: backend.internal }
    route: [{ destination: ${dest} }]
  - match: [{ uri: { prefix: /regex/ } }]
    rewrite: { uriRegexRewrite: { match: '^/regex/([a-z]+)/([0-9]+)', rewrite: '/items/\\2/\\1$&' } }
    route: [{ destination: ${dest} }]
  - match: [{ uri: { exact: /moved } }]
    redirect: { uri: /new-home }
  - match: [{ uri: { prefix: /elsewhere } }]
    redirect: { authority: example.org, scheme: https, port: 8443, redirectCode: 308 }
  - match: [{ uri: { prefix: /secure } }]
    redirect: { scheme: https, redirectCode: 302 }
  - match: [{ uri: { prefix: /maintenance } }]
    directResponse: { status: 503, body: { string: "down for maintenance" } }
  - match: [{ uri: { prefix: /empty } }]
    directResponse: { status: 204 }
  - match: [{ uri: { prefix: /headers } }]
    headers:
      request:
        set: { x-route: route, x-both: from-route }
        add: { x-added: one }
        remove: [x-drop-me]
      response:
        set: { x-resp-set: "1" }
        add: { x-resp-add: a }
        remove: [x-upstream]
    route:
    - destination: ${dest}
      headers:
        request: { set: { x-both: from-destination } }
        response: { set: { x-dest: d } }
  - match: [{ uri: { prefix: /cors-ignore } }]
    corsPolicy:
      allowOrigins: [{ exact: https://app.example }]
      unmatchedPreflights: IGNORE
    route: [{ destination: ${dest} }]
  - match: [{ uri: { prefix: /cors-any } }]
    corsPolicy: { allowOrigin: ["*"], allowMethods: [GET] }
    route: [{ destination: ${dest} }]
  - match: [{ uri: { prefix: /cors } }]
    corsPolicy:
      allowOrigins:
      - { exact: https://app.example }
      - { prefix: https://dev. }
      - { regex: 'https://[a-z]+\\.corp\\.example' }
      allowMethods: [GET, POST, PUT]
      allowHeaders: [x-custom, content-type]
      exposeHeaders: [x-exposed]
      maxAge: 24h
      allowCredentials: true
    route: [{ destination: ${dest} }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: backend }
spec:
  hosts: [backend]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${upstream} } }]
`;
}

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
}

describe('request shaping', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    up = await startUpstream('backend', (req, res) => {
      res.writeHead(200, {
        'x-upstream': 'backend',
        'x-exposed': 'yes',
        'access-control-allow-origin': 'upstream',
      });
      res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers }));
      return true;
    });
    gw = await startGateway(config(up.port));
    port = gw.port(80);
  });

  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const seen = (body: string) => JSON.parse(body) as Seen;

  it('rewrite.uri replaces the matched prefix, keeps the query and sends x-envoy-original-path', async () => {
    const r = await httpGet(port, '/old/path?q=1');
    const s = seen(r.body);
    expect(s.url).toBe('/new/path?q=1');
    expect(s.headers['x-envoy-original-path']).toBe('/old/path?q=1');
    const w = seen((await httpGet(port, '/whole?x=2', { host: 'shop.example' })).body);
    expect(w.url).toBe('/?x=2');
    expect(w.headers.host).toBe('backend.internal');
  });

  it('rewrite.uriRegexRewrite substitutes RE2 groups (\\2, \\1) and keeps a literal $&', async () => {
    const s = seen((await httpGet(port, '/regex/apple/42?k=v')).body);
    expect(s.url).toBe('/items/42/apple$&?k=v');
    expect(s.headers['x-envoy-original-path']).toBe('/regex/apple/42?k=v');
  });

  it('redirect: uri (301, query kept), authority+scheme+port+code (308), scheme only (302) — curl', async () => {
    const out = (path: string, host: string) =>
      curl([
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{redirect_url}',
        '-H',
        `Host: ${host}`,
        `http://127.0.0.1:${port}${path}`,
      ]);
    expect(await out('/moved?a=1', 'shop.example')).toBe('301 http://shop.example/new-home?a=1');
    expect(await out('/elsewhere/x', 'shop.example')).toBe('308 https://example.org:8443/elsewhere/x');
    expect(await out('/secure/login', 'shop.example:80')).toBe('302 https://shop.example/secure/login');
    expect(up.seen.filter((s) => s.url.startsWith('/moved') || s.url.startsWith('/elsewhere'))).toHaveLength(
      0,
    );
  });

  it('directResponse answers locally with status and body (text/plain), or status alone', async () => {
    const rec = gw.nextRecord();
    const r = await httpGet(port, '/maintenance');
    expect(r.status).toBe(503);
    expect(r.body).toBe('down for maintenance');
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['server']).toBe('istio-envoy');
    const log = await rec;
    expect(log.responseCodeDetails).toBe('direct_response');
    expect(log.responseFlags).toBe('-');
    const out = await curl([
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{size_download}',
      `http://127.0.0.1:${port}/empty`,
    ]);
    expect(out).toBe('204 0');
  });

  it('headers: route set/add/remove, then destination set wins; response ops both levels', async () => {
    const r = await httpGet(port, '/headers', { 'x-drop-me': '1', 'x-added': 'client' });
    const s = seen(r.body);
    expect(s.headers['x-route']).toBe('route');
    expect(s.headers['x-both']).toBe('from-destination');
    expect(s.headers['x-added']).toBe('client, one');
    expect(s.headers['x-drop-me']).toBeUndefined();
    expect(r.headers['x-resp-set']).toBe('1');
    expect(r.headers['x-resp-add']).toBe('a');
    expect(r.headers['x-dest']).toBe('d');
    expect(r.headers['x-upstream']).toBeUndefined();
  });

  it('CORS: a matching preflight is answered at the gateway (curl), the upstream never sees it', async () => {
    const before = up.seen.length;
    const out = await curl([
      '-s',
      '-D',
      '-',
      '-o',
      '/dev/null',
      '-X',
      'OPTIONS',
      '-H',
      'Origin: https://dev.shop.example',
      '-H',
      'Access-Control-Request-Method: PUT',
      '-H',
      'Access-Control-Request-Headers: x-custom',
      `http://127.0.0.1:${port}/cors/items`,
    ]);
    expect(out).toMatch(/^HTTP\/1\.1 200 OK/);
    const h = Object.fromEntries(
      out
        .split('\r\n')
        .slice(1)
        .filter((l) => l.includes(':'))
        .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    expect(h['access-control-allow-origin']).toBe('https://dev.shop.example');
    expect(h['access-control-allow-methods']).toBe('GET,POST,PUT');
    expect(h['access-control-allow-headers']).toBe('x-custom,content-type');
    expect(h['access-control-max-age']).toBe('86400');
    expect(h['access-control-allow-credentials']).toBe('true');
    expect(h['server']).toBe('istio-envoy');
    expect(up.seen.length).toBe(before);
  });

  it('CORS: non-matching preflights are forwarded (FORWARD) or answered bare (IGNORE)', async () => {
    const pre = { origin: 'https://evil.example', 'access-control-request-method': 'GET' };
    const fwd = await httpGet(port, '/cors/x', pre, 'OPTIONS');
    expect(seen(fwd.body).method).toBe('OPTIONS');
    expect(fwd.headers['access-control-allow-origin']).toBe('upstream');
    const before = up.seen.length;
    const ign = await httpGet(port, '/cors-ignore/x', pre, 'OPTIONS');
    expect(ign.status).toBe(200);
    expect(ign.headers['access-control-allow-origin']).toBeUndefined();
    expect(up.seen.length).toBe(before);
  });

  it('CORS: simple requests from allowed origins (exact, prefix, regex, legacy "*") get the CORS response headers', async () => {
    for (const origin of ['https://app.example', 'https://dev.x', 'https://team.corp.example']) {
      const r = await httpGet(port, '/cors/data', { origin });
      expect(r.status).toBe(200);
      expect(r.headers['access-control-allow-origin']).toBe(origin);
      expect(r.headers['access-control-expose-headers']).toBe('x-exposed');
      expect(r.headers['access-control-allow-credentials']).toBe('true');
    }
    const other = await httpGet(port, '/cors/data', { origin: 'https://team.corp.example.evil' });
    expect(other.headers['access-control-allow-origin']).toBe('upstream');
    expect(other.headers['access-control-expose-headers']).toBeUndefined();
    const any = await httpGet(port, '/cors-any', { origin: 'https://whoever.example' });
    expect(any.headers['access-control-allow-origin']).toBe('https://whoever.example');
    expect(any.headers['access-control-allow-credentials']).toBeUndefined();
  });
});
