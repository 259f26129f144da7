/**
 * `istioctl analyze` conformance: the config-only cases of Istio's analyzer tests
 * (pkg/config/analysis/analyzers/analyzers_test.go TestAnalyzers, named per case), each with our own
 * YAML carrying the facts of its testdata file. Istio runs one analyzer per case, so each case looks
 * only at the codes (and, for IST0101, the message kinds) that analyzer reports. Kubernetes Services
 * of the testdata are passed as known services.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { KnownService } from '../../config/analyze.js';
import { analyzeYaml, asMessage, compare, doc, normalise, yaml, type Message } from './analyze-harness.js';

interface AnalyzerCase {
  /** analyzers_test.go case name. */
  readonly name: string;
  readonly yaml: string;
  readonly known?: readonly KnownService[];
  /** Codes the Istio analyzer of the case reports. */
  readonly codes: readonly string[];
  /** For IST0101: which references the analyzer checks (message prefix). */
  readonly refs?: RegExp;
  readonly expected: readonly Message[];
}

const server = (port: number | undefined, hosts: string[], extra: Record<string, unknown> = {}) => ({
  ...(port === undefined
    ? {}
    : { port: { number: port, name: `p${port}`, protocol: port === 80 ? 'HTTP' : 'TCP' } }),
  hosts,
  ...extra,
});
const gw = (nsName: string, selector: Record<string, string>, servers: unknown[]) =>
  doc('Gateway', nsName, { selector, servers });
const ingress = { istio: 'ingressgateway' };
const route = (host: string, extra: Record<string, unknown> = {}) => ({
  route: [{ destination: { host, ...extra } }],
});
const svc = (host: string, namespace: string, ports: number[], exportTo?: string[]): KnownService => ({
  host,
  namespace,
  ports,
  exportTo,
});

const tlsServer = (host: string, credentialName: string) =>
  server(443, [host], { tls: { mode: 'SIMPLE', credentialName } });

const dbTls = (tls: unknown, ports?: unknown, selector = false) =>
  doc('DestinationRule', 'db-tls', {
    host: 'mydbserver.prod.svc.cluster.local',
    trafficPolicy: {
      ...(tls ? { tls } : {}),
      ...(ports ? { portLevelSettings: [{ port: { number: 443 }, tls: ports }] } : {}),
    },
    ...(selector ? { workloadSelector: { matchLabels: { app: 'db' } } } : {}),
  });
const FILES = {
  clientCertificate: '/etc/certs/myclientcert.pem',
  privateKey: '/etc/certs/client_private_key.pem',
};
const CA = ['IST0128', 'IST0129'];

/** The gateways and VirtualServices of the "host defined in virtualservice not found in the gateway" files. */
function hostNotFoundInGateway(): string {
  const g = (name: string, servers: unknown[]) => gw(`istio-system/${name}`, ingress, servers);
  const v = (name: string, gateways: string[], hosts: string[]) =>
    doc('VirtualService', name, {
      gateways: gateways.map((x) => `istio-system/${x}`),
      hosts,
      http: [{ match: [{ uri: { prefix: '/' } }], ...route('ratings') }],
    });
  return yaml(
    g('testing-gateway-01-test-01', [server(80, ['testing-01.com'])]),
    v('testing-service-01-test-01', ['testing-gateway-01-test-01'], ['testing-01.com']),
    v('testing-service-02-test-01', ['testing-gateway-01-test-01'], ['wrong-01.com']),
    g('testing-gateway-01-test-02', [server(80, ['*.testing-02.com'])]),
    v('testing-service-01-test-02', ['testing-gateway-01-test-02'], ['web.testing-02.com']),
    v('testing-service-02-test-02', ['testing-gateway-01-test-02'], ['web.wrong.com']),
    g('testing-gateway-01-test-03', [server(80, ['*.api.testing-03.com'])]),
    g('testing-gateway-02-test-03', [server(80, ['*.homepage.testing-03.com'])]),
    v(
      'testing-service-01-test-03',
      ['testing-gateway-01-test-03', 'testing-gateway-02-test-03'],
      ['user.api.testing-03.com', 'profile.homepage.testing-03.com'],
    ),
    v(
      'testing-service-02-test-03',
      ['testing-gateway-01-test-03', 'testing-gateway-02-test-03'],
      ['user.api.testing-03.com'],
    ),
    g('testing-gateway-01-test-04', [
      server(80, ['*.testing-01-04.com']),
      server(80, ['web.testing-02-04.com']),
    ]),
    v('testing-service-01-test-04', ['testing-gateway-01-test-04'], ['web.testing-02-04.com']),
    v('testing-service-02-test-04', ['testing-gateway-01-test-04'], ['profile.user.testing-01-04.com']),
    v(
      'testing-service-03-test-04',
      ['testing-gateway-01-test-04'],
      ['user.testing-02-04.com', 'users.testing-02-04.com'],
    ),
  );
}

/** The "…not found in the gateway with ns" file: `./host`, `*\/host`, `*\/*` and plain server hosts. */
function hostNotFoundWithNamespace(): string {
  const pairs: [string, string][] = [
    ['testing-gateway', './testing-01.com'],
    ['testing-gateway-2', '*/testing-01.com'],
    ['testing-gateway-3', '*/*'],
    ['testing-gateway-4', 'testing-01.com'],
  ];
  return yaml(
    ...pairs.flatMap(([name, host], i) => [
      gw(`istio-system/${name}`, ingress, [server(80, [host])]),
      ...['istio-system', 'default'].map((ns) =>
        doc('VirtualService', `${ns}/testing-service-01-test-0${i + 1}`, {
          gateways: [`istio-system/${name}`],
          hosts: ['testing-01.com'],
          http: [{ match: [{ uri: { prefix: '/' } }], ...route('ratings') }],
        }),
      ),
    ]),
  );
}

/**
 * A VirtualService of the overlapping-matches file: rules `[name, matches]`, each match `[uri, method?]`
 * where a uri is a prefix, or an exact path when written `=/path`; the first rule routes to
 * sample.foo, later ones to sample.bar subset v1.
 */
function overlappingVs(
  name: string,
  rules: readonly (readonly [string, readonly (readonly [string, string?])[]])[],
): string {
  return doc('VirtualService', name, {
    hosts: ['sample.baz.svc.cluster.local'],
    http: rules.map(([ruleName, matches], i) => ({
      name: ruleName,
      match: matches.map(([uri, method]) => ({
        uri: uri.startsWith('=') ? { exact: uri.slice(1) } : { prefix: uri },
        ...(method ? { method: { exact: method } } : {}),
      })),
      ...(i === 0
        ? route('sample.foo.svc.cluster.local')
        : route('sample.bar.svc.cluster.local', { subset: 'v1' })),
    })),
  });
}

const GATEWAY_REFS = /^(Referenced gateway|one or more host)/;

const cases: readonly AnalyzerCase[] = [
  {
    name: 'conflicting gateways detect',
    yaml: yaml(
      gw('beta', ingress, [server(80, ['foo.bar'])]),
      gw('alpha', ingress, [server(80, ['foo.bar'])]),
    ),
    codes: ['IST0145'],
    expected: [
      ['IST0145', 'Gateway alpha'],
      ['IST0145', 'Gateway beta'],
    ],
  },
  {
    name: 'gateways with different port are non-conflicting',
    yaml: yaml(
      gw('beta', ingress, [server(443, ['foo.bar'])]),
      gw('alpha', ingress, [server(80, ['foo.bar'])]),
    ),
    codes: ['IST0145'],
    expected: [],
  },
  {
    name: 'conflicting gateways with multiple port declarations',
    yaml: yaml(
      gw('beta', ingress, [server(80, ['foo.bar']), server(90, ['foo.bar'])]),
      gw('alpha', ingress, [server(70, ['foo.bar']), server(90, ['foo.bar'])]),
    ),
    codes: ['IST0145'],
    expected: [
      ['IST0145', 'Gateway alpha'],
      ['IST0145', 'Gateway beta'],
    ],
  },
  {
    name: 'conflicting gateways detect by sub selector',
    yaml: yaml(
      gw('beta', { istio: 'ingressgateway', app: 'istio-ingressgateway', cusKey: 'cusValue' }, [
        server(80, ['foo.bar']),
      ]),
      gw('alpha', { istio: 'ingressgateway', cusKey: 'cusValue' }, [server(80, ['foo.bar'])]),
    ),
    codes: ['IST0145'],
    expected: [
      ['IST0145', 'Gateway alpha'],
      ['IST0145', 'Gateway beta'],
    ],
  },
  {
    name: 'conflicting gateways detect: no port',
    yaml: yaml(
      gw('beta', ingress, [server(undefined, ['foo.bar'])]),
      gw('alpha', ingress, [server(undefined, ['bar.bar'])]),
    ),
    codes: ['IST0145'],
    expected: [],
  },
  {
    name: 'Analyze conflicting gateway with list type',
    yaml: yaml(
      gw('alpha', ingress, [server(80, ['foo.bar'])]),
      `apiVersion: v1\nkind: List\nitems:\n${[
        { name: 'beta-l', port: 80 },
        { name: 'alpha-l', port: 80 },
      ]
        .map(
          (g) =>
            `- ${JSON.stringify({
              apiVersion: 'networking.istio.io/v1',
              kind: 'Gateway',
              metadata: { name: g.name },
              spec: { selector: ingress, servers: [server(g.port, ['foo.bar'])] },
            })}`,
        )
        .join('\n')}\n`,
    ),
    codes: ['IST0145'],
    expected: [
      ['IST0145', 'Gateway alpha'],
      ['IST0145', 'Gateway alpha-l'],
      ['IST0145', 'Gateway beta-l'],
    ],
  },
  {
    name: 'virtualServiceConflictingMeshGatewayHosts',
    yaml: yaml(
      ...(
        [
          ['foo/productpage', ['productpage']],
          ['foo/bogus-productpage', ['productpage']],
          ['foo/reviews', ['reviews']],
          ['bar/reviews', ['reviews.foo.svc.cluster.local'], ['istio-ingressgateway']],
          ['foo/ratings', ['ratings'], ['mesh']],
          ['bar/ratings', ['ratings.foo.svc.cluster.local', 'google.com'], ['istio-ingressgateway', 'mesh']],
          ['team1/ratings', ['ratings'], ['mesh'], ['.']],
          [
            'team2/ratings',
            ['ratings.team1.svc.cluster.local', 'google.com'],
            ['istio-ingressgateway', 'mesh'],
            ['.'],
          ],
          ['team3/ratings', ['ratings'], ['mesh'], ['*']],
          ['team4/ratings', ['ratings.team3.svc.cluster.local'], ['istio-ingressgateway', 'mesh']],
        ] as const
      ).map(
        ([n, hosts, gateways, exportTo]: readonly [
          string,
          readonly string[],
          (readonly string[])?,
          (readonly string[])?,
        ]) =>
          doc('VirtualService', n, {
            hosts,
            ...(gateways ? { gateways } : {}),
            ...(exportTo ? { exportTo } : {}),
            http: [route(hosts[0]!)],
          }),
      ),
    ),
    codes: ['IST0109'],
    expected: [
      ['IST0109', 'VirtualService team3/ratings'],
      ['IST0109', 'VirtualService team4/ratings'],
      ['IST0109', 'VirtualService foo/ratings'],
      ['IST0109', 'VirtualService bar/ratings'],
      ['IST0109', 'VirtualService foo/productpage'],
      ['IST0109', 'VirtualService foo/bogus-productpage'],
      ['IST0109', 'VirtualService team2/ratings'],
    ],
  },
  {
    name: 'virtualServiceConflictingMeshGatewayHostsWithExportTo',
    yaml: yaml(
      ...(
        [
          ['foo/productpage', '*.productpage', undefined],
          ['bar/productpage', '*.productpage', undefined],
          ['foo/productpage-b', '*.productpage.b', ['foo']],
          ['bar/productpage-b', '*.productpage.b', ['.']],
          ['foo/productpage-c', '*.productpage.c', ['foo']],
          ['bar/productpage-c', '*.productpage.c', ['*']],
          ['foo/productpage-d', '*.productpage.d', ['.']],
          ['bar/productpage-d', '*.d', ['*']],
        ] as const
      ).map(([n, h, e]) =>
        doc('VirtualService', n, { hosts: [h], ...(e ? { exportTo: e } : {}), http: [route('productpage')] }),
      ),
    ),
    codes: ['IST0109'],
    expected: [
      ['IST0109', 'VirtualService foo/productpage'],
      ['IST0109', 'VirtualService bar/productpage'],
      ['IST0109', 'VirtualService foo/productpage-c'],
      ['IST0109', 'VirtualService bar/productpage-c'],
      ['IST0109', 'VirtualService foo/productpage-d'],
      ['IST0109', 'VirtualService bar/productpage-d'],
    ],
  },
  {
    name: 'virtualServiceDestinationHosts',
    yaml: yaml(
      doc('ServiceEntry', 'external-reviews', { hosts: ['external-reviews.org'] }),
      doc('ServiceEntry', 'eu-wildcard', { hosts: ['*.eu.bookinfo.com'] }),
      doc('ServiceEntry', 'default-ignore/service-entry-ignore', { exportTo: ['.'], hosts: ['*'] }),
      doc('ServiceEntry', 'other/service-entry-other', { exportTo: ['.'], hosts: ['other.bookinfo.com'] }),
      doc('ServiceEntry', 'other/service-entry-exported', {
        exportTo: ['default'],
        hosts: ['abc.bookinfo.com'],
      }),
      doc('VirtualService', 'reviews', { http: [route('reviews', { subset: 'v1' })] }),
      doc('VirtualService', 'reviews-bogushost', {
        http: [{ route: [{}, { destination: { host: 'reviews-bogus', subset: 'v1' } }] }],
      }),
      doc('VirtualService', 'reviews-fqdn', {
        http: [route('reviews.default.svc.cluster.local', { subset: 'v1' })],
      }),
      doc('VirtualService', 'reviews-external', { http: [route('external-reviews.org')] }),
      doc('VirtualService', 'reviews-bookinfo-eu', { http: [route('reviews.eu.bookinfo.com')] }),
      doc('VirtualService', 'reviews-bookinfo-eu-wildcard', { http: [route('*.eu.bookinfo.com')] }),
      doc('VirtualService', 'reviews-bookinfo-other', { http: [route('other.bookinfo.com')] }),
      doc('VirtualService', 'reviews-mirror', {
        http: [{ ...route('reviews', { subset: 'v1' }), mirror: { host: 'reviews', subset: 'v1' } }],
      }),
      doc('VirtualService', 'reviews-mirror-bogushost', {
        http: [{ ...route('reviews', { subset: 'v1' }), mirror: { host: 'reviews-bogus', subset: 'v1' } }],
      }),
      doc('VirtualService', 'reviews-bogusport', {
        http: [route('reviews', { subset: 'v1', port: { number: 999 } })],
      }),
      doc('VirtualService', 'reviews-2port-missing', { http: [route('reviews-2port', { subset: 'v1' })] }),
      doc('VirtualService', 'reviews-2port-present', {
        http: [route('reviews-2port', { subset: 'v1', port: { number: 80 } })],
      }),
      doc('VirtualService', 'istio-system/cross-namespace', {
        hosts: ['reviews'],
        http: [route('reviews.default.svc.cluster.local')],
      }),
      doc('VirtualService', 'istio-system/cross-namespace-details', {
        hosts: ['details'],
        http: [route('details.default.svc.cluster.local')],
      }),
      doc('VirtualService', 'banana/banana-details', {
        hosts: ['details'],
        http: [route('details.default.svc.cluster.local')],
      }),
      ...['hello1/hello', 'hello2/hello', 'hello/hello'].map((n) =>
        doc('VirtualService', n, { hosts: ['hello'], http: [route('hello.hello.svc.cluster.local')] }),
      ),
      doc('VirtualService', 'hello/hello-export-to-bogus', {
        hosts: ['hello'],
        exportTo: ['bogus'],
        http: [route('hello.hello.svc.cluster.local')],
      }),
      doc('VirtualService', 'vs-to-extporto-serviceentry', { http: [route('abc.bookinfo.com')] }),
    ),
    known: [
      svc('reviews.default.svc.cluster.local', 'default', [42]),
      svc('reviews-2port.default.svc.cluster.local', 'default', [80, 443]),
      svc('details.default.svc.cluster.local', 'default', [9080], ['banana']),
      svc('hello.hello.svc.cluster.local', 'hello', [9080], ['hello1', 'hello2', '.']),
    ],
    codes: ['IST0101', 'IST0112'],
    refs: /^Referenced (host|mirror host|host:port) not found/,
    expected: [
      ['IST0101', 'VirtualService default/reviews-bogushost'],
      ['IST0101', 'VirtualService default/reviews-bogushost'],
      ['IST0101', 'VirtualService default/reviews-bookinfo-other'],
      ['IST0101', 'VirtualService default/reviews-mirror-bogushost'],
      ['IST0101', 'VirtualService default/reviews-bogusport'],
      ['IST0112', 'VirtualService default/reviews-2port-missing'],
      ['IST0101', 'VirtualService istio-system/cross-namespace-details'],
      ['IST0101', 'VirtualService hello/hello-export-to-bogus'],
    ],
  },
  {
    name: 'virtualServiceDestinationRules',
    yaml: yaml(
      doc('DestinationRule', 'reviews', {
        host: 'reviews',
        subsets: [{ labels: { version: 'v1' }, name: 'v1' }],
      }),
      doc('VirtualService', 'reviews', { http: [route('reviews', { subset: 'v1' })] }),
      doc('VirtualService', 'reviews-bogussubset', { http: [route('reviews', { subset: 'bogus' })] }),
      doc('VirtualService', 'reviews-fqdn', {
        http: [route('reviews.default.svc.cluster.local', { subset: 'v1' })],
      }),
      doc('VirtualService', 'reviews-mirror', {
        http: [{ ...route('reviews', { subset: 'v1' }), mirror: { host: 'reviews', subset: 'v1' } }],
      }),
      doc('VirtualService', 'reviews-mirror-bogussubset', {
        http: [{ ...route('reviews', { subset: 'v1' }), mirror: { host: 'reviews', subset: 'bogus' } }],
      }),
    ),
    codes: ['IST0101'],
    refs: /^Referenced (host|mirror)\+subset/,
    expected: [
      ['IST0101', 'VirtualService default/reviews-bogussubset'],
      ['IST0101', 'VirtualService default/reviews-mirror-bogussubset'],
    ],
  },
  {
    name: 'virtualServiceGateways',
    yaml: yaml(
      gw('httpbin-gateway', ingress, []),
      gw('another/crossnamespace-gw', ingress, []),
      doc('VirtualService', 'httpbin', { hosts: ['*'], gateways: ['httpbin-gateway'] }),
      doc('VirtualService', 'httpbin-bogus', { hosts: ['*'], gateways: ['httpbin-gateway-bogus'] }),
      doc('VirtualService', 'httpbin-mesh', { hosts: ['*'], gateways: ['mesh'] }),
      doc('VirtualService', 'cross-test', { hosts: ['*'], gateways: ['another/crossnamespace-gw'] }),
    ),
    codes: ['IST0101', 'IST0132'],
    refs: GATEWAY_REFS,
    expected: [
      ['IST0101', 'VirtualService httpbin-bogus'],
      ['IST0132', 'VirtualService default/cross-test'],
      ['IST0132', 'VirtualService httpbin-bogus'],
      ['IST0132', 'VirtualService httpbin'],
    ],
  },
  {
    name: 'virtualServiceInternalGatewayRef',
    yaml: doc('VirtualService', 'httpbin', {
      hosts: ['foo.com'],
      gateways: ['istio-ingress/gateway~istio-autogenerated-k8s-gateway~foo'],
      http: [route('httpbin', { port: { number: 80 } })],
    }),
    codes: ['IST0165', 'IST0101', 'IST0132'],
    refs: GATEWAY_REFS,
    expected: [['IST0165', 'VirtualService httpbin']],
  },
  {
    name: 'dupmatches',
    yaml: yaml(
      doc('VirtualService', 'foo/sample-foo-cluster01', {
        hosts: ['sample.foo.svc.cluster.local'],
        http: [
          {
            fault: { delay: { fixedDelay: '5s', percentage: { value: 100 } } },
            ...route('sample.foo.svc.cluster.local'),
          },
          {
            mirror: { host: 'sample.bar.svc.cluster.local' },
            ...route('sample.bar.svc.cluster.local', { subset: 'v1' }),
          },
        ],
      }),
      doc('VirtualService', 'duplicate-match', {
        hosts: ['sample.baz.svc.cluster.local'],
        http: [
          {
            name: 'send /api/v1/products to sample.foo',
            match: [{ name: 'prefix /api/v1/products', uri: { prefix: '/api/v1/products' } }],
            ...route('sample.foo.svc.cluster.local'),
          },
          {
            name: 'send /api/v1/products to sample.bar',
            match: [{ uri: { prefix: '/api/v1/products' } }],
            ...route('sample.bar.svc.cluster.local', { subset: 'v1' }),
          },
        ],
      }),
      doc('VirtualService', 'almost-duplicate-match', {
        hosts: ['sample.bar.svc.cluster.local'],
        http: [
          { match: [{ uri: { prefix: '/api/v1/products' } }], ...route('sample.foo.svc.cluster.local') },
          {
            name: 'send /api/v1/products and /potato to sample.bar',
            match: [
              { name: 'prefix /api/v1/products', uri: { prefix: '/api/v1/products' } },
              { name: 'prefix /potato', uri: { prefix: '/potato' } },
            ],
            ...route('sample.bar.svc.cluster.local', { subset: 'v1' }),
          },
        ],
      }),
      ...(
        [
          ['duplicate-tcp-match', [[{ port: 31400 }], [{ port: 31400 }]]],
          ['duplicate-empty-tcp', [undefined, undefined]],
          ['almost-duplicate-tcp-match', [[{ port: 31400 }], [{ port: 31400 }, { port: 31401 }]]],
        ] as const
      ).map(([name, matches]) =>
        doc('VirtualService', name, {
          hosts: ['*'],
          gateways: ['tcp-echo-gateway'],
          tcp: matches.map((match, i) => ({
            ...(match ? { match } : {}),
            ...route('tcp-echo', { port: { number: 9000 }, subset: `v${i + 1}` }),
          })),
        }),
      ),
      doc('VirtualService', 'none/tls-routing', {
        hosts: ['www1.googleapis.com', 'api1.facebook.com'],
        tls: [
          { match: [{ port: 2443, sniHosts: ['www1.googleapis.com'] }], ...route('www1.googleapis.com') },
          { match: [{ port: 2443, sniHosts: ['www1.googleapis.com'] }], ...route('api1.facebook.com') },
        ],
      }),
      doc('VirtualService', 'none/tls-routing-almostmatch', {
        hosts: ['www1.example.com'],
        tls: [
          { match: [{ port: 2443, sniHosts: ['www1.example.com'] }], ...route('www1.googleapis.com') },
          {
            match: [
              { port: 2443, sniHosts: ['www1.example.com'] },
              { port: 8443, sniHosts: ['www1.example.com'] },
            ],
            ...route('api1.facebook.com'),
          },
        ],
      }),
      ...(
        [
          [
            'non-method-get',
            [['send product to sample.foo', [['/api/v1/product'], ['/api/v1/products', 'GET']]]],
          ],
          ['uri-with-prefix-exact', [['send product to sample.foo', [['/'], ['=/', 'GET']]]]],
          [
            'overlapping-in-single-match',
            [
              [
                'send product to sample.foo',
                [
                  ['/api/v1/product', 'GET'],
                  ['/api/v1/products', 'GET'],
                ],
              ],
            ],
          ],
          [
            'overlapping-in-two-matches',
            [
              ['send product to sample.foo', [['/api/v1/product', 'GET']]],
              ['send products to sample.bar', [['/api/v1/products', 'GET']]],
            ],
          ],
          [
            'overlapping-mathes-with-different-methods',
            [
              ['send product to sample.foo', [['/api/v1/prod', 'GET']]],
              [
                'send products to sample.bar',
                [
                  ['/api/v1/product', 'GET'],
                  ['/api/v1/products', 'POST'],
                ],
              ],
            ],
          ],
        ] as const
      ).map(([name, rules]) => overlappingVs(name, rules)),
    ),
    codes: ['IST0130', 'IST0131'],
    expected: [
      ['IST0130', 'VirtualService duplicate-match'],
      ['IST0130', 'VirtualService foo/sample-foo-cluster01'],
      ['IST0131', 'VirtualService almost-duplicate-match'],
      ['IST0131', 'VirtualService duplicate-match'],
      ['IST0130', 'VirtualService duplicate-tcp-match'],
      ['IST0130', 'VirtualService duplicate-empty-tcp'],
      ['IST0131', 'VirtualService almost-duplicate-tcp-match'],
      ['IST0131', 'VirtualService duplicate-tcp-match'],
      ['IST0130', 'VirtualService none/tls-routing'],
      ['IST0131', 'VirtualService none/tls-routing-almostmatch'],
      ['IST0131', 'VirtualService none/tls-routing'],
      ['IST0131', 'VirtualService non-method-get'],
      ['IST0131', 'VirtualService overlapping-in-single-match'],
      ['IST0131', 'VirtualService overlapping-in-two-matches'],
      ['IST0131', 'VirtualService overlapping-mathes-with-different-methods'],
    ],
  },
  {
    name: 'host defined in virtualservice not found in the gateway',
    yaml: hostNotFoundInGateway(),
    codes: ['IST0101', 'IST0132'],
    refs: GATEWAY_REFS,
    expected: [
      ['IST0132', 'VirtualService default/testing-service-02-test-01'],
      ['IST0132', 'VirtualService default/testing-service-02-test-02'],
      ['IST0132', 'VirtualService default/testing-service-02-test-03'],
      ['IST0132', 'VirtualService default/testing-service-03-test-04'],
    ],
  },
  {
    name: 'host defined in virtualservice not found in the gateway(beta version)',
    yaml: hostNotFoundInGateway().replaceAll('networking.istio.io/v1\n', 'networking.istio.io/v1beta1\n'),
    codes: ['IST0101', 'IST0132'],
    refs: GATEWAY_REFS,
    expected: [
      ['IST0132', 'VirtualService default/testing-service-02-test-01'],
      ['IST0132', 'VirtualService default/testing-service-02-test-02'],
      ['IST0132', 'VirtualService default/testing-service-02-test-03'],
      ['IST0132', 'VirtualService default/testing-service-03-test-04'],
    ],
  },
  {
    name: 'host defined in virtualservice not found in the gateway with ns',
    yaml: hostNotFoundWithNamespace(),
    codes: ['IST0101', 'IST0132'],
    refs: GATEWAY_REFS,
    expected: [['IST0132', 'VirtualService default/testing-service-01-test-01']],
  },
  {
    name: 'host defined in virtualservice not found in the gateway with ns(beta version)',
    yaml: hostNotFoundWithNamespace().replaceAll('networking.istio.io/v1\n', 'networking.istio.io/v1beta1\n'),
    codes: ['IST0101', 'IST0132'],
    refs: GATEWAY_REFS,
    expected: [['IST0132', 'VirtualService default/testing-service-01-test-01']],
  },
  {
    name: 'missing Addresses and Protocol in Service Entry',
    yaml: yaml(
      ...(
        [
          ['01', undefined, 'HTTPS'],
          ['02', ['10.0.0.1'], 'HTTPS'],
          ['03', undefined, undefined],
          ['04', undefined, ''],
          ['05', undefined, 'HTTPS'],
          ['06', ['10.0.0.1'], 'TCP'],
          ['07', undefined, 'TCP'],
        ] as const
      ).map(([n, addresses, protocol]) =>
        doc('ServiceEntry', `service-entry-test-${n}`, {
          hosts: ['istio.io'],
          ...(addresses ? { addresses } : {}),
          exportTo: ['.'],
          ports: [{ number: 443, name: 'https', ...(protocol === undefined ? {} : { protocol }) }],
          location: 'MESH_EXTERNAL',
          resolution: 'DNS',
        }),
      ),
    ),
    codes: ['IST0134'],
    expected: [
      ['IST0134', 'ServiceEntry default/service-entry-test-03'],
      ['IST0134', 'ServiceEntry default/service-entry-test-04'],
      ['IST0134', 'ServiceEntry default/service-entry-test-07'],
    ],
  },
  ...(['lowercase', 'uppercase'] as const).map((c): AnalyzerCase => ({
    name: `ServiceEntry Addresses Required ${c === 'lowercase' ? 'Lowercase' : 'Uppercase'} Protocol`,
    yaml: doc('ServiceEntry', `address-missing-${c}`, {
      hosts: ['dummy.testing.io'],
      ports: [{ name: 'tcp', number: 22, protocol: c === 'lowercase' ? 'tcp' : 'TCP' }],
    }),
    codes: ['IST0134'],
    expected: [['IST0134', `ServiceEntry address-missing-${c}`]],
  })),
  {
    name: 'ServiceEntry conflicting protocols on same host and port',
    yaml: yaml(
      ...(
        [
          ['se-https', 'example.com', 13835, 'HTTPS'],
          ['se-http', 'example.com', 13835, 'HTTP'],
          ['se-no-conflict', 'other.com', 443, 'HTTPS'],
        ] as const
      ).map(([n, h, port, protocol]) =>
        doc('ServiceEntry', n, {
          hosts: [h],
          ports: [{ name: `${protocol.toLowerCase()}-${port}`, number: port, protocol }],
          resolution: 'DNS',
          location: 'MESH_EXTERNAL',
        }),
      ),
    ),
    codes: ['IST0177'],
    expected: [
      ['IST0177', 'ServiceEntry default/se-http'],
      ['IST0177', 'ServiceEntry default/se-https'],
    ],
  },
  {
    name: 'ServiceEntry no conflict same protocol',
    yaml: yaml(
      ...['se-https-only', 'se-https-only-2'].map((n, i) =>
        doc('ServiceEntry', n, {
          hosts: ['example.com'],
          ports: [{ name: `https-443${i ? '-2' : ''}`, number: 443, protocol: 'HTTPS' }],
          resolution: 'DNS',
          location: 'MESH_EXTERNAL',
        }),
      ),
    ),
    codes: ['IST0177'],
    expected: [],
  },
  {
    name: 'ServiceEntry no conflict non-overlapping exportTo scopes',
    yaml: yaml(
      ...(
        [
          ['ns1/se-ns1', 'HTTP'],
          ['ns2/se-ns2', 'HTTPS'],
        ] as const
      ).map(([n, protocol]) =>
        doc('ServiceEntry', n, {
          hosts: ['example.com'],
          ports: [{ name: `${protocol.toLowerCase()}-8080`, number: 8080, protocol }],
          resolution: 'DNS',
          location: 'MESH_EXTERNAL',
          exportTo: ['.'],
        }),
      ),
    ),
    codes: ['IST0177'],
    expected: [],
  },
  {
    name: 'certificate duplication in Gateway',
    yaml: yaml(
      gw('istio-system/gateway-01-test-01', ingress, [tlsServer('01.test-01.com', 'test-01-wildcard-cert')]),
      gw('istio-system/gateway-02-test-01', ingress, [tlsServer('02.test-01.com', 'test-01-wildcard-cert')]),
      gw('istio-system/gateway-01-test-02', ingress, [tlsServer('01.test-02.com', 'test-02-wildcard-cert')]),
      gw('istio-system/gateway-02-test-02', { ...ingress, type: 'internal' }, [
        tlsServer('02.test-02.com', 'test-02-wildcard-cert'),
      ]),
      gw('gateway-01-test-03', ingress, [tlsServer('01.test-03.com', 'test-03-wildcard-cert')]),
      gw('istio-system/gateway-02-test-03', { ...ingress, type: 'internal' }, [
        tlsServer('02.test-03.com', 'test-03-wildcard-cert'),
      ]),
      gw('istio-system/gateway-01-test-04', ingress, [
        tlsServer('01.test-04.com', '01-test-04-wildcard-cert'),
      ]),
      gw('istio-system/gateway-02-test-04', ingress, [
        tlsServer('02.test-04.com', '02-test-04-wildcard-cert'),
      ]),
      gw('istio-system/gateway-01-test-05', ingress, [
        tlsServer('01.test-05.com', '01-test-05-wildcard-cert'),
      ]),
      gw('istio-system/gateway-02-test-05', { ...ingress, type: 'internal' }, [
        tlsServer('02.test-05.com', '02-test-05-wildcard-cert'),
      ]),
      gw('gateway-01-test-06', ingress, [tlsServer('01.test-06.com', '01-test-06-wildcard-cert')]),
      gw('istio-system/gateway-02-test-06', ingress, [
        tlsServer('02.test-06.com', '02-test-06-wildcard-cert'),
      ]),
      gw('gateway-03-test-06', ingress, [server(80, ['03.test-06.com'])]),
      gw('gateway-04-test-06', ingress, [server(80, ['04.test-06.com'])]),
    ),
    codes: ['IST0138'],
    expected: [
      ['IST0138', 'Gateway istio-system/gateway-01-test-01'],
      ['IST0138', 'Gateway istio-system/gateway-02-test-01'],
      ['IST0138', 'Gateway istio-system/gateway-01-test-02'],
      ['IST0138', 'Gateway default/gateway-01-test-03'],
    ],
  },
  {
    name: 'destinationrule with no cacert, simple at destinationlevel',
    yaml: dbTls({ mode: 'SIMPLE', ...FILES }),
    codes: CA,
    expected: [['IST0128', 'DestinationRule db-tls']],
  },
  {
    name: 'destinationrule with no cacert, mutual at destinationlevel',
    yaml: dbTls({ mode: 'MUTUAL', ...FILES }).replace('db-tls', 'db-mtls'),
    codes: CA,
    expected: [['IST0128', 'DestinationRule db-mtls']],
  },
  {
    name: 'destinationrule with no cacert, simple at portlevel',
    yaml: dbTls(undefined, { mode: 'SIMPLE', ...FILES, sni: 'my-nginx.mesh-external.svc.cluster.local' }),
    codes: CA,
    expected: [['IST0129', 'DestinationRule db-tls']],
  },
  {
    name: 'destinationrule with credentialname, simple at destinationlevel, no workloadSelector',
    yaml: dbTls({ mode: 'SIMPLE', credentialName: 'db-credential' }),
    codes: CA,
    expected: [['IST0128', 'DestinationRule db-tls']],
  },
  {
    name: 'destinationrule with credentialname, simple at destinationlevel, workloadSelector',
    yaml: dbTls({ mode: 'SIMPLE', credentialName: 'db-credential' }, undefined, true),
    codes: CA,
    expected: [],
  },
  {
    name: 'destinationrule with credentialname, simple at portlevel, no workloadSelector',
    yaml: dbTls(undefined, { mode: 'SIMPLE', credentialName: 'db-credential' }),
    codes: CA,
    expected: [['IST0129', 'DestinationRule db-tls']],
  },
  {
    name: 'destinationrule with credentialname, simple at portlevel, workloadSelector',
    yaml: dbTls(undefined, { mode: 'SIMPLE', credentialName: 'db-credential' }, true),
    codes: CA,
    expected: [],
  },
  {
    name: 'destinationrule with no cacert, mutual at portlevel',
    yaml: dbTls(undefined, { mode: 'MUTUAL', ...FILES }).replace('db-tls', 'db-mtls'),
    codes: CA,
    expected: [['IST0129', 'DestinationRule db-mtls']],
  },
  {
    name: 'destinationrule with no cacert, mutual at destinationlevel and simple at port level',
    yaml: dbTls({ mode: 'MUTUAL', ...FILES }, { mode: 'SIMPLE', ...FILES }).replace('db-tls', 'db-mtls'),
    codes: CA,
    expected: [
      ['IST0128', 'DestinationRule db-mtls'],
      ['IST0129', 'DestinationRule db-mtls'],
    ],
  },
  {
    name: 'destinationrule with no cacert, simple at destinationlevel and mutual at port level',
    yaml: dbTls({ mode: 'SIMPLE', ...FILES }, { mode: 'MUTUAL', ...FILES }).replace('db-tls', 'db-mtls'),
    codes: CA,
    expected: [
      ['IST0129', 'DestinationRule db-mtls'],
      ['IST0128', 'DestinationRule db-mtls'],
    ],
  },
  {
    name: 'destinationrule with both cacerts',
    yaml: dbTls(
      { mode: 'MUTUAL', ...FILES, caCertificates: '/etc/certs/root.pem' },
      { mode: 'SIMPLE', ...FILES, caCertificates: '/etc/certs/root.pem' },
    ).replace('db-tls', 'db-mtls'),
    codes: CA,
    expected: [],
  },
];

const tally = { cases: 0, expected: 0, matched: 0, extra: 0 };

describe('istioctl analyze conformance (analyzers_test.go TestAnalyzers)', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const found = analyzeYaml(c.yaml, c.known)
      .filter((d) => c.codes.includes(d.code))
      .filter((d) => d.code !== 'IST0101' || !c.refs || c.refs.test(d.message))
      .map(asMessage);
    const expected = c.expected.map(normalise);
    const r = compare(found, expected);
    tally.cases++;
    tally.expected += expected.length;
    tally.matched += r.matched;
    tally.extra += r.extra.length;
    expect({ missing: r.missing, extra: r.extra }).toEqual({ missing: [], extra: [] });
  });

  afterAll(() => {
    // The corpus figure the issue tracks (expected messages found, false positives).
    console.log(
      `analyzers_test.go: ${tally.cases} cases, ${tally.matched} of ${tally.expected} expected messages found, ${tally.extra} false positives`,
    );
  });
});
