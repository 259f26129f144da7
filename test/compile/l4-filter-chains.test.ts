/**
 * Simulation tests for TLS and TCP ports: compile resources built in code, then ask the listener's
 * filter chains which chain a ClientHello SNI reaches and which route a connection takes. Pure, except
 * for the credential files the compiler checks for existence (made once with openssl).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Listener } from '../../config/listener.js';
import { buildSnapshot } from '../../config/snapshot.js';
import type { Resource, Server, TLSRoute, TCPRoute } from '../../config/resources.js';
import { compileSubnets, L4Codes } from '../../compile/l4-filter-chains.js';
import { FilterChainTable, selectTcpRoute, type FilterChain } from '../../routes/filter-chains.js';
import { ENVOY_DEFAULT_SERVER_CIPHERS } from '../../tls/server-tls.js';
import { createTestPki, writeCredential, type TestPki } from '../helpers/certs.js';
import { res } from '../helpers/resources.js';

let pki: TestPki;
let creds: string;

beforeAll(() => {
  pki = createTestPki();
  creds = mkdtempSync(join(tmpdir(), 'meshgate-creds-'));
  writeCredential(
    creds,
    'httpbin-credential',
    pki.issue('httpbin', { cn: 'httpbin.example.com', dns: ['httpbin.example.com'] }),
  );
  writeCredential(
    creds,
    'helloworld-credential',
    pki.issue('helloworld', { cn: 'helloworld.example.com', dns: ['helloworld.example.com'] }),
    pki.ca,
  );
});

afterAll(() => {
  pki?.close();
  if (creds) rmSync(creds, { recursive: true, force: true });
});

const gw = (name: string, servers: Server[], namespace = 'default'): Resource<'Gateway'> =>
  res('Gateway', name, { selector: { istio: 'ingressgateway' }, servers }, namespace);

const svc = (host: string, port: number, protocol = 'TCP', versions: string[] = ['v1']) =>
  res('ServiceEntry', host, {
    hosts: [host],
    location: 'MESH_INTERNAL',
    resolution: 'STATIC',
    ports: [{ number: port, name: 'tcp', protocol }],
    endpoints: versions.map((v, i) => ({
      address: '127.0.0.1',
      ports: { tcp: 20000 + i },
      labels: { version: v },
    })),
  });

const vs = (
  name: string,
  spec: { hosts: string[]; gateways: string[]; tcp?: TCPRoute[]; tls?: TLSRoute[] },
  namespace = 'default',
) => res('VirtualService', name, spec, namespace);

function listener(resources: Resource[], port: number, credentialsDir?: string): Listener | undefined {
  return buildSnapshot(resources, { credentialsDir }).snapshot.listeners.find((l) => l.port === port);
}

function chainName(c: FilterChain | undefined): string {
  return c ? c.name : 'NR';
}

describe('TCP listeners (tcp-echo)', () => {
  const echo = [
    gw('tcp-echo-gateway', [{ port: { number: 31400, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] }]),
    res('DestinationRule', 'tcp-echo', {
      host: 'tcp-echo',
      trafficPolicy: { connectionPool: { tcp: { connectTimeout: '250ms', idleTimeout: '2s' } } },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    }),
    svc('tcp-echo', 9000, 'TCP', ['v1', 'v2']),
  ];

  it('routes 31400 to v1 with the DestinationRule timeouts (tcp-echo-all-v1)', () => {
    const l = listener(
      [
        ...echo,
        vs('tcp-echo', {
          hosts: ['*'],
          gateways: ['tcp-echo-gateway'],
          tcp: [
            {
              match: [{ port: 31400 }],
              route: [{ destination: { host: 'tcp-echo', port: { number: 9000 }, subset: 'v1' } }],
            },
          ],
        }),
      ],
      31400,
    )!;
    expect(l.kind).toBe('TCP');
    const chains = l.filterChains!.chains;
    expect(chains).toHaveLength(1);
    const route = (chains[0] as Extract<FilterChain, { kind: 'tcp' }>).routes[0]!;
    expect(route.name).toBe('default/tcp-echo.tcp.0');
    expect(route.statPrefix).toBe('outbound|9000|v1|tcp-echo.default.svc.cluster.local');
    expect(route.clusters).toHaveLength(1);
    expect(route.clusters[0]!.destination.cluster!.connectTimeoutMs).toBe(250);
    expect(route.clusters[0]!.idleTimeoutMs).toBe(2000);
    expect(route.clusters[0]!.destination.cluster!.endpoints.map((e) => e.port)).toEqual([20000]);
  });

  it('keeps 80/20 weights and names the stat prefix after the VirtualService (tcp-echo-20-v2)', () => {
    const l = listener(
      [
        ...echo,
        vs('tcp-echo', {
          hosts: ['*'],
          gateways: ['tcp-echo-gateway'],
          tcp: [
            {
              match: [{ port: 31400 }],
              route: [
                { destination: { host: 'tcp-echo', port: { number: 9000 }, subset: 'v1' }, weight: 80 },
                { destination: { host: 'tcp-echo', port: { number: 9000 }, subset: 'v2' }, weight: 20 },
                { destination: { host: 'tcp-echo', port: { number: 9000 }, subset: 'v2' }, weight: 0 },
              ],
            },
          ],
        }),
      ],
      31400,
    )!;
    const route = (l.filterChains!.chains[0] as Extract<FilterChain, { kind: 'tcp' }>).routes[0]!;
    expect(route.clusters.map((c) => [c.destination.name, c.weight])).toEqual([
      ['outbound|9000|v1|tcp-echo.default.svc.cluster.local', 80],
      ['outbound|9000|v2|tcp-echo.default.svc.cluster.local', 20],
    ]);
    expect(route.totalWeight).toBe(100);
    expect(route.statPrefix).toBe('tcp-echo.default');
  });

  it('takes the first matching rule across bound VirtualServices; match.port and match.gateways filter', () => {
    const l = listener(
      [
        ...echo,
        vs('other-port', {
          hosts: ['*'],
          gateways: ['tcp-echo-gateway'],
          tcp: [{ match: [{ port: 9999 }], route: [{ destination: { host: 'tcp-echo', subset: 'v2' } }] }],
        }),
        vs('other-gateway', {
          hosts: ['*'],
          gateways: ['tcp-echo-gateway'],
          tcp: [
            {
              match: [{ gateways: ['elsewhere'] }],
              route: [{ destination: { host: 'tcp-echo', subset: 'v2' } }],
            },
          ],
        }),
        vs('unbound', {
          hosts: ['*'],
          gateways: ['mesh'],
          tcp: [{ route: [{ destination: { host: 'tcp-echo', subset: 'v2' } }] }],
        }),
        vs('first', {
          hosts: ['*'],
          gateways: ['tcp-echo-gateway'],
          tcp: [{ route: [{ destination: { host: 'tcp-echo', subset: 'v1' } }] }],
        }),
        vs('later', {
          hosts: ['*'],
          gateways: ['tcp-echo-gateway'],
          tcp: [{ route: [{ destination: { host: 'tcp-echo', subset: 'v2' } }] }],
        }),
      ],
      31400,
    )!;
    const routes = (l.filterChains!.chains[0] as Extract<FilterChain, { kind: 'tcp' }>).routes;
    expect(routes.map((r) => r.name)).toEqual(['default/first.tcp.0']);
  });

  it('honours sourceSubnet per connection, falling through to the next rule', () => {
    const l = listener(
      [
        ...echo,
        vs('tcp-echo', {
          hosts: ['*'],
          gateways: ['tcp-echo-gateway'],
          tcp: [
            {
              match: [{ sourceSubnet: '10.0.0.0/8' }],
              route: [{ destination: { host: 'tcp-echo', subset: 'v2' } }],
            },
            { route: [{ destination: { host: 'tcp-echo', subset: 'v1' } }] },
          ],
        }),
      ],
      31400,
    )!;
    const routes = (l.filterChains!.chains[0] as Extract<FilterChain, { kind: 'tcp' }>).routes;
    expect(selectTcpRoute(routes, '10.1.2.3')!.name).toBe('default/tcp-echo.tcp.0');
    expect(selectTcpRoute(routes, '::ffff:10.1.2.3')!.name).toBe('default/tcp-echo.tcp.0');
    expect(selectTcpRoute(routes, '127.0.0.1')!.name).toBe('default/tcp-echo.tcp.1');
    const only = compileSubnets(['192.168.0.0/16', '2001:db8::/32', '172.16.0.1']);
    expect([
      only.test('192.168.4.4'),
      only.test('2001:db8::1'),
      only.test('172.16.0.1'),
      only.test('172.16.0.2'),
    ]).toEqual([true, true, true, false]);
  });

  it('omits a TCP port no VirtualService routes, with a warning (Istio: "must have more than 0 chains")', () => {
    const { snapshot, diagnostics } = buildSnapshot(echo);
    expect(snapshot.listeners.find((l) => l.port === 31400)).toBeUndefined();
    expect(diagnostics.map((d) => d.code)).toContain(L4Codes.ListenerWithoutChains);
  });
});

describe('TLS listeners', () => {
  const https = (
    _name: string,
    hosts: string[],
    tls: Server['tls'],
    portName = 'https',
    number = 443,
  ): Server => ({
    port: { number, name: portName, protocol: 'HTTPS' },
    hosts,
    tls,
  });
  const httpbinVs = vs('httpbin', {
    hosts: ['httpbin.example.com'],
    gateways: ['mygateway'],
  });

  it('gives each terminating HTTPS server its own route table and chooses by SNI (exact, wildcard, none)', () => {
    const resources: Resource[] = [
      gw('mygateway', [
        https('a', ['httpbin.example.com'], { mode: 'SIMPLE', credentialName: 'httpbin-credential' }),
        https(
          'b',
          ['*.example.com'],
          { mode: 'SIMPLE', credentialName: 'helloworld-credential' },
          'https-wild',
        ),
      ]),
      res('VirtualService', 'httpbin', {
        ...httpbinVs.spec,
        http: [
          {
            match: [{ uri: { prefix: '/status' } }],
            route: [{ destination: { host: 'httpbin', port: { number: 8000 } } }],
          },
        ],
      }),
      res('VirtualService', 'hello', {
        hosts: ['helloworld.example.com'],
        gateways: ['mygateway'],
        http: [{ route: [{ destination: { host: 'helloworld', port: { number: 5000 } } }] }],
      }),
    ];
    const l = listener(resources, 443, creds)!;
    expect(l.kind).toBe('TLS');
    const t = l.filterChains!;
    expect(t.chains.map((c) => c.name)).toEqual([
      'https.443.https.mygateway.default',
      'https.443.https-wild.mygateway.default',
    ]);
    expect(chainName(t.select('httpbin.example.com'))).toBe('https.443.https.mygateway.default');
    expect(chainName(t.select('helloworld.example.com'))).toBe('https.443.https-wild.mygateway.default');
    expect(chainName(t.select('a.b.example.com'))).toBe('https.443.https-wild.mygateway.default');
    expect(chainName(t.select('example.com'))).toBe('NR');
    expect(chainName(t.select(undefined))).toBe('NR');
    const a = t.chains[0] as Extract<FilterChain, { kind: 'https' }>;
    const b = t.chains[1] as Extract<FilterChain, { kind: 'https' }>;
    expect(a.routeConfig.name).toBe('https.443.https.mygateway.default');
    expect(a.routeConfig.virtualHosts.map((v) => v.name)).toEqual(['httpbin.example.com:443']);
    // The wildcard server's table holds both hosts it covers, not only the one on its certificate.
    expect(b.routeConfig.virtualHosts.map((v) => v.name).sort()).toEqual([
      'helloworld.example.com:443',
      'httpbin.example.com:443',
    ]);
    expect(a.tls.mode).toBe('SIMPLE');
    expect(a.tls.files.certFile).toBe(join(creds, 'httpbin-credential', 'tls.crt'));
    expect([a.tls.minVersion, a.tls.maxVersion, a.tls.ciphers]).toEqual([
      'TLSv1.2',
      'TLSv1.3',
      ENVOY_DEFAULT_SERVER_CIPHERS,
    ]);
  });

  it('maps protocol versions, filters cipher suites and resolves MUTUAL CAs (credential, -cacert, caCertificates)', () => {
    writeCredential(creds, 'split', pki.issue('split', { cn: 'split.example.com' }));
    // Istio's convention: the client CA in a separate `<name>-cacert` secret.
    mkdirSync(join(creds, 'split-cacert'), { recursive: true });
    writeFileSync(join(creds, 'split-cacert', 'ca.crt'), pki.ca);
    const { snapshot, diagnostics } = buildSnapshot(
      [
        gw('mygateway', [
          https('a', ['a.example.com'], {
            mode: 'MUTUAL',
            credentialName: 'helloworld-credential',
            minProtocolVersion: 'TLSV1_3',
            cipherSuites: ['ECDHE-ECDSA-AES256-GCM-SHA384', 'NOT-A-CIPHER', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
          }),
          https('b', ['b.example.com'], { mode: 'MUTUAL', credentialName: 'split' }, 'b'),
          https(
            'c',
            ['c.example.com'],
            { mode: 'OPTIONAL_MUTUAL', credentialName: 'httpbin-credential' },
            'c',
          ),
          https(
            'd',
            ['d.example.com'],
            {
              mode: 'SIMPLE',
              serverCertificate: join(pki.dir, 'httpbin.crt'),
              privateKey: join(pki.dir, 'httpbin.key'),
              maxProtocolVersion: 'TLSV1_2',
            },
            'd',
          ),
        ]),
      ],
      { credentialsDir: creds },
    );
    const chains = snapshot.listeners[0]!.filterChains!.chains as Extract<FilterChain, { kind: 'https' }>[];
    expect(chains.map((c) => c.tls.mode)).toEqual(['MUTUAL', 'MUTUAL', 'SIMPLE']);
    expect(chains[0]!.tls.minVersion).toBe('TLSv1.3');
    expect(chains[0]!.tls.ciphers).toBe('ECDHE-ECDSA-AES256-GCM-SHA384');
    expect(chains[0]!.tls.files.caFile).toBe(join(creds, 'helloworld-credential', 'ca.crt'));
    expect(chains[1]!.tls.files.caFile).toBe(join(creds, 'split-cacert', 'ca.crt'));
    expect([chains[2]!.tls.minVersion, chains[2]!.tls.maxVersion]).toEqual(['TLSv1.2', 'TLSv1.2']);
    // OPTIONAL_MUTUAL without any CA is skipped with a diagnostic.
    const messages = diagnostics.map((d) => `${d.code} ${d.path} ${d.message}`);
    expect(messages.some((m) => m.includes('not supported') && m.includes('NOT-A-CIPHER'))).toBe(true);
    expect(messages.some((m) => m.includes('listed twice'))).toBe(true);
    expect(
      messages.some((m) => m.startsWith('IST0101 spec.servers[2].tls') && m.includes('has no client CA')),
    ).toBe(true);
    expect(snapshot.listeners[0]!.filterChains!.select('c.example.com')).toBeUndefined();
  });

  it('resolves serverCertificate paths relative to the YAML file and reports missing credentials', () => {
    const g = gw('mygateway', [
      https('a', ['a.example.com'], {
        mode: 'SIMPLE',
        serverCertificate: 'httpbin.crt',
        privateKey: 'httpbin.key',
      }),
      https('b', ['b.example.com'], { mode: 'SIMPLE', credentialName: 'missing' }, 'b'),
    ]);
    const withSource = { ...g, source: { file: join(pki.dir, 'gateway.yaml'), docIndex: 0, line: 1 } };
    const { snapshot, diagnostics } = buildSnapshot([withSource], { credentialsDir: creds });
    const c = snapshot.listeners[0]!.filterChains!.chains[0] as Extract<FilterChain, { kind: 'https' }>;
    expect(c.tls.files.certFile).toBe(join(pki.dir, 'httpbin.crt'));
    expect(diagnostics.find((d) => d.path === 'spec.servers[1].tls')?.message).toMatch(
      /credential "missing" not found/,
    );
    const noDir = buildSnapshot([withSource]).diagnostics;
    expect(noDir.some((d) => /needs --credentials-dir/.test(d.message))).toBe(true);
  });

  it('skips a TLS server whose host repeats an earlier one on the port (first wins)', () => {
    const { snapshot, diagnostics } = buildSnapshot(
      [
        gw('first', [
          https('a', ['httpbin.example.com'], { mode: 'SIMPLE', credentialName: 'httpbin-credential' }),
        ]),
        gw('second', [
          https('b', ['httpbin.example.com'], { mode: 'SIMPLE', credentialName: 'helloworld-credential' }),
        ]),
      ],
      { credentialsDir: creds },
    );
    expect(snapshot.listeners[0]!.filterChains!.chains.map((c) => c.server.gateway)).toEqual([
      'default/first',
    ]);
    expect(diagnostics.find((d) => d.resource === 'Gateway/default/second')?.code).toBe('MG0005');
  });

  it('builds one PASSTHROUGH chain per tls match, by sniHosts, duplicates skipped', () => {
    const l = listener(
      [
        gw('mygateway', [
          {
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            hosts: ['*.example.com'],
            tls: { mode: 'PASSTHROUGH' },
          },
        ]),
        vs('nginx', {
          hosts: ['nginx.example.com', '*.apps.example.com'],
          gateways: ['mygateway'],
          tls: [
            {
              match: [{ port: 443, sniHosts: ['nginx.example.com'] }],
              route: [{ destination: { host: 'my-nginx', port: { number: 443 } } }],
            },
            {
              match: [{ port: 8443, sniHosts: ['other.example.com'] }],
              route: [{ destination: { host: 'my-nginx' } }],
            },
            { match: [{ sniHosts: ['*.apps.example.com'] }], route: [{ destination: { host: 'my-nginx' } }] },
          ],
        }),
        // Sorts after `nginx` (Istio orders conflicts by creation time, then name).
        vs('nginx-dup', {
          hosts: ['nginx.example.com'],
          gateways: ['mygateway'],
          tls: [
            { match: [{ sniHosts: ['nginx.example.com'] }], route: [{ destination: { host: 'other' } }] },
          ],
        }),
        svc('my-nginx', 443, 'TLS'),
      ],
      443,
    )!;
    const t = l.filterChains!;
    expect(t.chains.map((c) => c.name)).toEqual([
      'passthrough nginx.example.com',
      'passthrough *.apps.example.com',
    ]);
    expect(chainName(t.select('nginx.example.com'))).toBe('passthrough nginx.example.com');
    expect(chainName(t.select('x.apps.example.com'))).toBe('passthrough *.apps.example.com');
    expect(chainName(t.select('unknown.example.com'))).toBe('NR');
    expect(chainName(t.select(undefined))).toBe('NR');
    const route = (t.chains[0] as Extract<FilterChain, { kind: 'tcp' }>).routes[0]!;
    expect(route.clusters[0]!.destination.name).toBe('outbound|443||my-nginx.default.svc.cluster.local');
  });

  it('omits a PASSTHROUGH port without any tls route', () => {
    const { snapshot, diagnostics } = buildSnapshot([
      gw('mygateway', [
        {
          port: { number: 443, name: 'https', protocol: 'HTTPS' },
          hosts: ['*'],
          tls: { mode: 'PASSTHROUGH' },
        },
      ]),
    ]);
    expect(snapshot.listeners).toEqual([]);
    expect(diagnostics.find((d) => d.code === L4Codes.ListenerWithoutChains)?.message).toMatch(
      /listener is omitted/,
    );
  });

  it('prefers exact SNI over wildcard over the catch-all chain', () => {
    const base = {
      server: {
        gateway: 'default/g',
        server: { port: { number: 1, name: 'x', protocol: 'TLS' }, hosts: ['*'] },
      },
      tls: undefined,
      routes: [],
    };
    const t = new FilterChainTable([
      { ...base, kind: 'tcp', name: 'any', serverNames: [] },
      { ...base, kind: 'tcp', name: 'wild', serverNames: ['*.example.com'] },
      { ...base, kind: 'tcp', name: 'deeper', serverNames: ['*.a.example.com'] },
      { ...base, kind: 'tcp', name: 'exact', serverNames: ['a.example.com'] },
    ]);
    expect(
      ['a.example.com', 'b.a.example.com', 'b.example.com', 'example.com', undefined].map((s) =>
        chainName(t.select(s)),
      ),
    ).toEqual(['exact', 'deeper', 'wild', 'any', 'any']);
  });
});
