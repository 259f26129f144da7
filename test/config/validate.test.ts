import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig, loadText } from '../../config/load.js';
import { validateResources } from '../../config/validate.js';
import { formatDiagnostic, type Diagnostic } from '../../config/diagnostics.js';
import type { Kind, Resource } from '../../config/resources.js';

const opts = { defaultNamespace: 'default' };

/** Validates one resource given as the YAML of its spec. */
function check(kind: Kind, spec: string, apiVersion = 'networking.istio.io/v1'): Diagnostic[] {
  const indented = spec
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  const text = `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: t\nspec:\n${indented}\n`;
  const loaded = loadText(text, 't.yaml', opts);
  expect(loaded.diagnostics).toEqual([]);
  return validateResources(loaded.resources);
}

/** `[severity, code, path, message fragment]` of each expected diagnostic, in order. */
type Expected = [Diagnostic['severity'], string, string, string][];

function expectDiagnostics(ds: Diagnostic[], expected: Expected): void {
  expect(ds.map((d) => [d.severity, d.code, d.path])).toEqual(expected.map(([s, c, p]) => [s, c, p]));
  expected.forEach(([, , , fragment], i) => expect(ds[i]!.message).toContain(fragment));
  for (const d of ds) {
    expect(d).toMatchObject({
      layer: 'schema',
      resource: expect.stringMatching(/\/default\/t$/),
      source: { file: 't.yaml' },
    });
  }
}

const ROUTE = `route:\n  - destination:\n      host: reviews`;

describe('schema (IST0106 from the CRD schema, IST0133 unknown fields)', () => {
  it.each<[string, Kind, string, Expected]>([
    [
      'a string where an array belongs',
      'Gateway',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: "*"',
      [['error', 'IST0106', 'spec.servers[0].hosts', 'must be array (got string)']],
    ],
    [
      'an enum value, listing the allowed ones',
      'DestinationRule',
      'host: reviews\ntrafficPolicy:\n  loadBalancer:\n    simple: FASTEST',
      [
        [
          'error',
          'IST0106',
          'spec.trafficPolicy.loadBalancer.simple',
          'must be one of UNSPECIFIED, LEAST_CONN, RANDOM',
        ],
      ],
    ],
    [
      'a non-integer weight',
      'VirtualService',
      'hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: reviews}\n    weight: 1.5',
      [['error', 'IST0106', 'spec.http[0].route[0].weight', 'must be integer (got number)']],
    ],
    [
      'two match types in one StringMatch',
      'VirtualService',
      `hosts: [reviews]\nhttp:\n- match:\n  - uri: {exact: /a, prefix: /b}\n  ${ROUTE}`,
      [
        [
          'error',
          'IST0106',
          'spec.http[0].match[0].uri',
          'only one of exact, prefix, regex may be set (found exact, prefix)',
        ],
      ],
    ],
    [
      'a label value that YAML reads as a number',
      'DestinationRule',
      'host: reviews\nsubsets:\n- name: v1\n  labels:\n    version: 1',
      [['error', 'IST0106', 'spec.subsets[0].labels.version', 'must be string']],
    ],
    [
      'an unknown field (a typo)',
      'DestinationRule',
      'host: reviews\nsubsets:\n- name: v1\n  label:\n    version: v1',
      [['warning', 'IST0133', 'spec.subsets[0].label', 'unknown field "label"']],
    ],
    [
      'unknown fields deep inside a route',
      'VirtualService',
      `hosts: [reviews]\nhttp:\n- ${ROUTE}\n      subsets: v1\n  timeouts: 1s`,
      [
        ['warning', 'IST0133', 'spec.http[0].route[0].destination.subsets', 'unknown field "subsets"'],
        ['warning', 'IST0133', 'spec.http[0].timeouts', 'unknown field "timeouts"'],
      ],
    ],
    [
      'a wrong type in a field newer than the packaged schema',
      'VirtualService',
      `hosts: [reviews]\nhttp:\n- ${ROUTE}\n  mirrors:\n  - destination: {host: reviews}\n    percentage: {value: high}`,
      [['error', 'IST0106', 'spec.http[0].mirrors[0].percentage.value', 'must be number (got string)']],
    ],
  ])('reports %s', (_name, kind, spec, expected) => expectDiagnostics(check(kind, spec), expected));

  it.each([
    [
      'OPTIONAL_MUTUAL (newer than the packaged schema)',
      'Gateway',
      'servers:\n- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: [a.example.com]\n  tls: {mode: OPTIONAL_MUTUAL, credentialName: cert}',
    ],
    [
      'DYNAMIC_DNS',
      'ServiceEntry',
      'hosts: ["*.example.com"]\nresolution: DYNAMIC_DNS\nports: [{number: 80, name: http, protocol: HTTP}]',
    ],
    [
      'uriRegexRewrite and mirrors',
      'VirtualService',
      `hosts: [reviews]\nhttp:\n- ${ROUTE}\n  rewrite:\n    uriRegexRewrite: {match: "^/v1/(.*)", rewrite: "/\\\\1"}\n  mirrors:\n  - destination: {host: reviews}\n    percentage: {value: 10}`,
    ],
    [
      'tcp idleTimeout 0s',
      'DestinationRule',
      'host: reviews\ntrafficPolicy:\n  connectionPool:\n    tcp: {idleTimeout: 0s}',
    ],
  ] as [string, Kind, string][])('accepts %s', (_name, kind, spec) => {
    expect(check(kind, spec)).toEqual([]);
  });

  it.each(['networking.istio.io/v1alpha3', 'networking.istio.io/v1beta1', 'networking.istio.io/v1'])(
    'validates %s with the same schema',
    (apiVersion) => {
      const ds = check(
        'Gateway',
        'servers:\n- port: {number: 80, name: http, protocol: 5}\n  hosts: ["*"]',
        apiVersion,
      );
      expectDiagnostics(ds, [
        ['error', 'IST0106', 'spec.servers[0].port.protocol', 'must be string (got integer)'],
      ]);
    },
  );

  it('skips field rules for resources with schema errors', () => {
    // `servers: {}` fails the schema; "at least one server" would only repeat it.
    expect(check('Gateway', 'servers: {}').map((d) => d.path)).toEqual(['spec.servers']);
  });
});

const HTTP_SERVER = 'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ["*"]';
const HTTPS = (tls: string, hosts = '[a.example.com]') =>
  `servers:\n- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ${hosts}\n  tls: ${tls}`;

describe('Gateway rules', () => {
  it.each<[string, string, Expected]>([
    ['a valid HTTP server', HTTP_SERVER, []],
    [
      'a valid SIMPLE server with files',
      HTTPS('{mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}'),
      [],
    ],
    ['a valid MUTUAL server with credentialName', HTTPS('{mode: MUTUAL, credentialName: cred}'), []],
    [
      'valid host forms',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ["ns/a.example.com", "./b.example.com", "*/c.example.com", "*.d.example.com", "10.0.0.1", "*/*"]',
      [],
    ],
    ['no servers', 'servers: []', [['error', 'IST0106', 'spec.servers', 'at least one server']]],
    [
      'no hosts',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: []',
      [['error', 'IST0106', 'spec.servers[0].hosts', 'at least one host']],
    ],
    [
      'a missing port name',
      'servers:\n- port: {number: 80, protocol: HTTP}\n  hosts: ["*"]',
      [['error', 'IST0106', 'spec.servers[0].port.name', 'port name is required']],
    ],
    [
      'duplicate port names',
      `${HTTP_SERVER}\n- port: {number: 81, name: http, protocol: HTTP}\n  hosts: ["*"]`,
      [['error', 'IST0106', 'spec.servers[1].port.name', 'port names must be unique']],
    ],
    [
      'targetPort',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP, targetPort: 8080}\n  hosts: ["*"]',
      [['error', 'IST0106', 'spec.servers[0].port.targetPort', 'targetPort has no effect']],
    ],
    [
      'an invalid protocol',
      'servers:\n- port: {number: 80, name: http, protocol: SPDY}\n  hosts: ["*"]',
      [['error', 'IST0106', 'spec.servers[0].port.protocol', 'invalid protocol "SPDY"']],
    ],
    [
      'port 0',
      'servers:\n- port: {number: 0, name: http, protocol: HTTP}\n  hosts: ["*"]',
      [['error', 'IST0106', 'spec.servers[0].port.number', 'between 1 and 65535']],
    ],
    [
      'a short host',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: [productpage]',
      [['error', 'IST0106', 'spec.servers[0].hosts[0]', 'short names are not allowed']],
    ],
    [
      'a partial wildcard',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ["*foo.com"]',
      [['error', 'IST0106', 'spec.servers[0].hosts[0]', 'partial wildcards are not allowed']],
    ],
    [
      'a wildcard in the middle',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ["a.*.com"]',
      [['error', 'IST0106', 'spec.servers[0].hosts[0]', 'leftmost label']],
    ],
    [
      'too many slashes',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ["a/b/c.com"]',
      [['error', 'IST0106', 'spec.servers[0].hosts[0]', 'namespace/host']],
    ],
    [
      'HTTPS without tls',
      'servers:\n- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: [a.example.com]',
      [['error', 'IST0106', 'spec.servers[0].tls', 'must have TLS settings']],
    ],
    [
      'TLS without tls',
      'servers:\n- port: {number: 443, name: tls, protocol: TLS}\n  hosts: [a.example.com]',
      [['error', 'IST0106', 'spec.servers[0].tls', 'must have TLS settings']],
    ],
    [
      'HTTP with httpsRedirect',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ["*"]\n  tls: {httpsRedirect: true}',
      [],
    ],
    [
      'HTTP with a TLS mode',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ["*"]\n  tls: {httpsRedirect: true, mode: SIMPLE}',
      [['error', 'IST0106', 'spec.servers[0].tls', 'may only set tls.httpsRedirect (found mode)']],
    ],
    [
      'TCP with tls',
      'servers:\n- port: {number: 31400, name: tcp, protocol: TCP}\n  hosts: ["*"]\n  tls: {mode: SIMPLE}',
      [['error', 'IST0106', 'spec.servers[0].tls', 'TCP servers cannot have TLS settings']],
    ],
    [
      'SIMPLE without certificates',
      HTTPS('{mode: SIMPLE}'),
      [
        [
          'error',
          'IST0106',
          'spec.servers[0].tls.serverCertificate',
          'SIMPLE mode requires serverCertificate',
        ],
        ['error', 'IST0106', 'spec.servers[0].tls.privateKey', 'SIMPLE mode requires privateKey'],
      ],
    ],
    [
      'MUTUAL without a CA',
      HTTPS('{mode: MUTUAL, serverCertificate: /c, privateKey: /k}'),
      [['error', 'IST0106', 'spec.servers[0].tls.caCertificates', 'MUTUAL mode requires caCertificates']],
    ],
    [
      'OPTIONAL_MUTUAL without a CA',
      HTTPS('{mode: OPTIONAL_MUTUAL, serverCertificate: /c, privateKey: /k}'),
      [
        [
          'error',
          'IST0106',
          'spec.servers[0].tls.caCertificates',
          'OPTIONAL_MUTUAL mode requires caCertificates',
        ],
      ],
    ],
    [
      'two certificate sources',
      HTTPS('{mode: SIMPLE, credentialName: c, serverCertificate: /c, privateKey: /k}'),
      [['error', 'IST0106', 'spec.servers[0].tls', 'use one certificate source']],
    ],
    [
      'ISTIO_MUTUAL with files',
      HTTPS('{mode: ISTIO_MUTUAL, caCertificates: /ca}'),
      [
        [
          'error',
          'IST0106',
          'spec.servers[0].tls',
          'ISTIO_MUTUAL uses the mesh certificates; caCertificates',
        ],
      ],
    ],
    [
      'PASSTHROUGH with files',
      HTTPS('{mode: PASSTHROUGH, serverCertificate: /c}'),
      [['warning', 'IST0133', 'spec.servers[0].tls', 'are ignored']],
    ],
    [
      'HTTPS with httpsRedirect',
      HTTPS('{mode: SIMPLE, credentialName: c, httpsRedirect: true}'),
      [['warning', 'IST0133', 'spec.servers[0].tls.httpsRedirect', 'only applies to plain-text HTTP']],
    ],
    [
      'min > max protocol version',
      HTTPS('{mode: SIMPLE, credentialName: c, minProtocolVersion: TLSV1_3, maxProtocolVersion: TLSV1_2}'),
      [['error', 'IST0106', 'spec.servers[0].tls.maxProtocolVersion', 'lower than minProtocolVersion']],
    ],
    [
      'an invalid bind',
      'servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  bind: localhost\n  hosts: ["*"]',
      [['error', 'IST0106', 'spec.servers[0].bind', 'IP address or a unix:// path']],
    ],
  ])('%s', (_name, spec, expected) => expectDiagnostics(check('Gateway', spec), expected));
});

describe('VirtualService rules', () => {
  const vs = (http: string, head = 'hosts: [reviews]') => `${head}\nhttp:\n- ${http}`;
  it.each<[string, string, Expected]>([
    ['a valid route', vs(ROUTE), []],
    ['a valid delegate (no hosts, http only)', `http:\n- ${ROUTE}`, []],
    ['no routes at all', 'hosts: [reviews]', [['error', 'IST0106', 'spec', 'http, tcp or tls']]],
    [
      'no hosts but gateways',
      `gateways: [gw]\nhttp:\n- ${ROUTE}`,
      [['error', 'IST0106', 'spec.hosts', 'hosts is required']],
    ],
    [
      'a mesh VS with host *',
      vs(ROUTE, 'hosts: ["*"]'),
      [['error', 'IST0106', 'spec.hosts[0]', 'wildcard host "*" is not allowed']],
    ],
    ['host * bound to a gateway', vs(ROUTE, 'hosts: ["*"]\ngateways: [gw]'), []],
    [
      'overlapping hosts',
      vs(ROUTE, 'hosts: ["*.foo.com", a.foo.com]\ngateways: [gw]'),
      [['error', 'IST0106', 'spec.hosts[1]', 'duplicate host: "a.foo.com" overlaps "*.foo.com"']],
    ],
    [
      'an invalid host',
      vs(ROUTE, 'hosts: ["bad_host.com"]'),
      [['error', 'IST0106', 'spec.hosts[0]', 'label "bad_host" is not a valid DNS label']],
    ],
    [
      'a legacy gateway name',
      vs(ROUTE, 'hosts: [reviews]\ngateways: [gw.istio-system.svc.cluster.local]'),
      [['warning', 'IST0133', 'spec.gateways[0]', 'prefer namespace/name: "istio-system/gw"']],
    ],
    [
      'a malformed regex',
      vs(`match:\n  - uri:\n      regex: "/(foo"\n  ${ROUTE}`),
      [['error', 'IST0106', 'spec.http[0].match[0].uri.regex', 'invalid regex "/(foo": missing )']],
    ],
    [
      'RE2-only limits (lookahead)',
      vs(`match:\n  - headers:\n      x-a:\n        regex: "a(?=b)"\n  ${ROUTE}`),
      [['error', 'IST0106', 'spec.http[0].match[0].headers["x-a"].regex', 'lookahead']],
    ],
    [
      'an empty uri prefix',
      // Envoy's route prefix may be empty (matches all); Istio accepts it (TestValidateRootHTTPRoute).
      vs(`match:\n  - uri:\n      prefix: ""\n  ${ROUTE}`),
      [],
    ],
    [
      'an uppercase header name (any token; matched case-insensitively)',
      vs(`match:\n  - headers:\n      End-User:\n        exact: jason\n  ${ROUTE}`),
      [],
    ],
    [
      'a header presence match',
      // `regex: "*"` means presence only under withoutHeaders; under headers it is RE2 and invalid.
      vs(
        `match:\n  - headers:\n      x-a: {}\n      x-b: {regex: "*"}\n    withoutHeaders:\n      x-c: {regex: "*"}\n  ${ROUTE}`,
      ),
      [
        [
          'error',
          'IST0106',
          'spec.http[0].match[0].headers["x-b"].regex',
          'missing argument to repetition operator',
        ],
      ],
    ],
    [
      'no action',
      vs('match:\n  - uri: {prefix: /}'),
      [['error', 'IST0106', 'spec.http[0]', 'must set one of route, redirect, directResponse or delegate']],
    ],
    [
      'route and redirect',
      vs(`${ROUTE}\n  redirect: {uri: /x}`),
      [['error', 'IST0106', 'spec.http[0]', 'mutually exclusive (found route, redirect)']],
    ],
    [
      'redirect with rewrite and fault',
      vs(
        'redirect: {uri: /x}\n  rewrite: {uri: /y}\n  fault: {abort: {httpStatus: 500, percentage: {value: 1}}}',
      ),
      [
        ['error', 'IST0106', 'spec.http[0].rewrite', 'rewrite cannot be combined with redirect'],
        ['error', 'IST0106', 'spec.http[0].fault', 'fault cannot be combined with redirect'],
      ],
    ],
    [
      'directResponse with rewrite',
      vs('directResponse: {status: 200}\n  rewrite: {uri: /y}'),
      [['error', 'IST0106', 'spec.http[0].rewrite', 'rewrite cannot be combined with directResponse']],
    ],
    [
      'a bad redirectCode',
      vs('redirect: {uri: /x, redirectCode: 200}'),
      [['error', 'IST0106', 'spec.http[0].redirect.redirectCode', 'must be a 3xx status']],
    ],
    [
      'an empty redirect',
      vs('redirect: {redirectCode: 302}'),
      [['error', 'IST0106', 'spec.http[0].redirect', 'at least one of uri']],
    ],
    [
      'a directResponse status',
      vs('directResponse: {status: 700}'),
      [['error', 'IST0106', 'spec.http[0].directResponse.status', 'between 200 and 599']],
    ],
    [
      'a > 1 MB directResponse body',
      vs(`directResponse:\n    status: 200\n    body: {string: "${'x'.repeat(1024 * 1024 + 1)}"}`),
      [['error', 'IST0106', 'spec.http[0].directResponse.body.string', 'at most 1 MB']],
    ],
    [
      'a > 100 KB directResponse body',
      vs(`directResponse:\n    status: 200\n    body: {string: "${'x'.repeat(100 * 1024 + 1)}"}`),
      [['warning', 'IST0133', 'spec.http[0].directResponse.body.string', 'over 100 KB']],
    ],
    [
      'rewrite uri and uriRegexRewrite',
      vs(`${ROUTE}\n  rewrite: {uri: /a, uriRegexRewrite: {match: a, rewrite: b}}`),
      [['error', 'IST0106', 'spec.http[0].rewrite', 'mutually exclusive']],
    ],
    [
      'rewrite uri and authority with whitespace or control characters (they would split the request line or Host)',
      vs(`${ROUTE}\n  rewrite: {uri: "/a b", authority: "x.com\\r\\nx-injected: 1"}`),
      [
        ['error', 'IST0106', 'spec.http[0].rewrite.uri', 'must not contain whitespace or control characters'],
        [
          'error',
          'IST0106',
          'spec.http[0].rewrite.authority',
          'must not contain whitespace or control characters',
        ],
      ],
    ],
    [
      'a bad uriRegexRewrite',
      vs(`${ROUTE}\n  rewrite: {uriRegexRewrite: {match: "[a", rewrite: b}}`),
      [['error', 'IST0106', 'spec.http[0].rewrite.uriRegexRewrite.match', 'invalid regex "[a": missing ]']],
    ],
    [
      'authority set twice',
      vs(`${ROUTE}\n  rewrite: {authority: a.com}\n  headers: {request: {set: {host: b.com}}}`),
      [['error', 'IST0106', 'spec.http[0].rewrite.authority', 'both by rewrite.authority']],
    ],
    [
      'a bad timeout',
      vs(`${ROUTE}\n  timeout: 10`),
      [['error', 'IST0106', 'spec.http[0].timeout', 'must be string']],
    ],
    [
      'an unparsable timeout',
      vs(`${ROUTE}\n  timeout: 10 seconds`),
      [['error', 'IST0106', 'spec.http[0].timeout', 'invalid duration "10 seconds"']],
    ],
    [
      'a sub-millisecond timeout',
      vs(`${ROUTE}\n  timeout: 500us`),
      [['error', 'IST0106', 'spec.http[0].timeout', 'at least 1ms']],
    ],
    [
      'a zero timeout',
      vs(`${ROUTE}\n  timeout: 0s`),
      [['error', 'IST0106', 'spec.http[0].timeout', 'at least 1ms']],
    ],
    [
      'a negative weight',
      vs('route:\n  - destination: {host: a}\n    weight: -1\n  - destination: {host: b}\n    weight: 5'),
      [['error', 'IST0106', 'spec.http[0].route[0].weight', 'must be >= 0 (got -1)']],
    ],
    [
      'all-zero weights',
      vs('route:\n  - destination: {host: a}\n  - destination: {host: b}\n    weight: 0'),
      [['error', 'IST0106', 'spec.http[0].route', 'total destination weight = 0']],
    ],
    ['a single destination weight', vs('route:\n  - destination: {host: a}\n    weight: 0'), []],
    [
      'destination host *',
      vs('route:\n  - destination: {host: "*"}'),
      [['error', 'IST0106', 'spec.http[0].route[0].destination.host', 'destination host "*" is not allowed']],
    ],
    [
      'a bad subset name',
      vs('route:\n  - destination: {host: a, subset: V_1}'),
      [['error', 'IST0106', 'spec.http[0].route[0].destination.subset', 'DNS-1123 label']],
    ],
    [
      'retries with attempts 0',
      vs(`${ROUTE}\n  retries: {attempts: 0, retryOn: 5xx}`),
      [['error', 'IST0106', 'spec.http[0].retries', 'retryOn set while attempts is 0']],
    ],
    [
      'retries without attempts',
      vs(`${ROUTE}\n  retries: {perTryTimeout: 1s}`),
      [['error', 'IST0106', 'spec.http[0].retries', 'perTryTimeout set while attempts is 0']],
    ],
    [
      'negative attempts',
      vs(`${ROUTE}\n  retries: {attempts: -1}`),
      [['error', 'IST0106', 'spec.http[0].retries.attempts', 'must be >= 0']],
    ],
    [
      'a bad retryOn token',
      vs(`${ROUTE}\n  retries: {attempts: 2, retryOn: "5xx,connect-failure,503,sometimes"}`),
      [['error', 'IST0106', 'spec.http[0].retries.retryOn', '"sometimes" is not a valid retryOn']],
    ],
    [
      'a bad perTryTimeout',
      vs(`${ROUTE}\n  retries: {attempts: 2, perTryTimeout: 1x}`),
      [['error', 'IST0106', 'spec.http[0].retries.perTryTimeout', 'invalid duration']],
    ],
    [
      'an empty fault',
      vs(`${ROUTE}\n  fault: {}`),
      [['error', 'IST0106', 'spec.http[0].fault', 'delay and/or abort']],
    ],
    [
      'exponentialDelay',
      vs(`${ROUTE}\n  fault: {delay: {exponentialDelay: 1s}}`),
      [['error', 'IST0106', 'spec.http[0].fault.delay.exponentialDelay', 'not supported']],
    ],
    [
      'http2Error',
      vs(`${ROUTE}\n  fault: {abort: {http2Error: x}}`),
      [['error', 'IST0106', 'spec.http[0].fault.abort.http2Error', 'not supported']],
    ],
    [
      'an abort status out of range',
      vs(`${ROUTE}\n  fault: {abort: {httpStatus: 601}}`),
      [['error', 'IST0106', 'spec.http[0].fault.abort.httpStatus', 'between 200 and 599']],
    ],
    [
      'abort status 600 (accepted by Istio)',
      vs(`${ROUTE}\n  fault: {abort: {httpStatus: 600, percentage: {value: 1}}}`),
      [],
    ],
    [
      'a fault percentage over 100',
      vs(`${ROUTE}\n  fault: {delay: {fixedDelay: 1s, percentage: {value: 101}}}`),
      [['error', 'IST0106', 'spec.http[0].fault.delay.percentage.value', 'between 0 and 100']],
    ],
    [
      'legacy fault percent',
      vs(`${ROUTE}\n  fault: {delay: {fixedDelay: 5s, percent: 50}}`),
      [['warning', 'IST0002', 'spec.http[0].fault.delay.percent', 'deprecated; use percentage.value']],
    ],
    [
      'mirror and mirrors',
      vs(`${ROUTE}\n  mirror: {host: a}\n  mirrors: [{destination: {host: b}}]`),
      [['error', 'IST0106', 'spec.http[0].mirrors', 'cannot both be set']],
    ],
    [
      'a mirror percentage over 100',
      vs(`${ROUTE}\n  mirror: {host: a}\n  mirrorPercentage: {value: 150}`),
      [['error', 'IST0106', 'spec.http[0].mirrorPercentage.value', 'between 0 and 100']],
    ],
    [
      'legacy mirrorPercent',
      vs(`${ROUTE}\n  mirror: {host: a}\n  mirrorPercent: 20`),
      [['warning', 'IST0002', 'spec.http[0].mirrorPercent', 'deprecated']],
    ],
    [
      'a CORS method and maxAge',
      vs(`${ROUTE}\n  corsPolicy: {allowMethods: [GET, FETCH], maxAge: 1500ms}`),
      [
        [
          'error',
          'IST0106',
          'spec.http[0].corsPolicy.allowMethods[1]',
          '"FETCH" is not a supported HTTP method',
        ],
        ['error', 'IST0106', 'spec.http[0].corsPolicy.maxAge', 'seconds'],
      ],
    ],
    [
      'removing a pseudo-header',
      vs(`${ROUTE}\n  headers: {request: {remove: [":path"]}}`),
      [['error', 'IST0106', 'spec.http[0].headers.request.remove[0]', 'cannot be removed']],
    ],
    [
      'a delegate without a name',
      vs('delegate: {namespace: ns}'),
      [['error', 'IST0106', 'spec.http[0].delegate.name', 'delegate name is required']],
    ],
    [
      'an invalid match port',
      vs(`match:\n  - port: 70000\n  ${ROUTE}`),
      [['error', 'IST0106', 'spec.http[0].match[0].port', 'between 1 and 65535']],
    ],
  ])('%s', (_name, spec, expected) => expectDiagnostics(check('VirtualService', spec), expected));

  it.each<[string, string, Expected]>([
    [
      'a valid TLS route',
      'hosts: ["*.example.com"]\ngateways: [gw]\ntls:\n- match:\n  - sniHosts: [a.example.com]\n  route:\n  - destination: {host: a}',
      [],
    ],
    [
      'a TLS route without sniHosts',
      'hosts: [a.example.com]\ngateways: [gw]\ntls:\n- match:\n  - port: 443\n  route:\n  - destination: {host: a}',
      [['error', 'IST0106', 'spec.tls[0].match[0].sniHosts', 'sniHosts is required']],
    ],
    [
      'an SNI host outside the VS hosts',
      'hosts: [a.example.com]\ngateways: [gw]\ntls:\n- match:\n  - sniHosts: [b.example.com]\n  route:\n  - destination: {host: a}',
      [['error', 'IST0106', 'spec.tls[0].match[0].sniHosts[0]', 'not covered by any host']],
    ],
    [
      'a TLS route without match',
      'hosts: [a.example.com]\ngateways: [gw]\ntls:\n- route:\n  - destination: {host: a}',
      [['error', 'IST0106', 'spec.tls[0].match', 'at least one match']],
    ],
    [
      'a TCP route without destinations',
      'hosts: ["*"]\ngateways: [gw]\ntcp:\n- match:\n  - port: 31400',
      [['error', 'IST0106', 'spec.tcp[0].route', 'at least one destination']],
    ],
    [
      'TCP weights all zero',
      'hosts: ["*"]\ngateways: [gw]\ntcp:\n- route:\n  - destination: {host: a}\n    weight: 0\n  - destination: {host: b}\n    weight: 0',
      [['error', 'IST0106', 'spec.tcp[0].route', 'total destination weight = 0']],
    ],
    [
      'a bad destination subnet',
      'hosts: ["*"]\ngateways: [gw]\ntcp:\n- match:\n  - destinationSubnets: [10.0.0.0/33]\n  route:\n  - destination: {host: a}',
      [['error', 'IST0106', 'spec.tcp[0].match[0].destinationSubnets[0]', 'invalid IP or CIDR']],
    ],
    [
      'tcp routes in a delegate',
      'tcp:\n- route:\n  - destination: {host: a}',
      [['error', 'IST0106', 'spec.tcp', 'can only have http routes']],
    ],
  ])('%s', (_name, spec, expected) => expectDiagnostics(check('VirtualService', spec), expected));
});

describe('DestinationRule rules', () => {
  const tp = (policy: string) => `host: reviews\ntrafficPolicy:\n  ${policy.replace(/\n/g, '\n  ')}`;
  it.each<[string, string, Expected]>([
    ['a valid rule', 'host: reviews\nsubsets:\n- name: v1\n  labels: {version: v1}', []],
    ['a missing host', 'subsets:\n- name: v1', [['error', 'IST0106', 'spec.host', 'host is required']]],
    [
      'an empty trafficPolicy',
      'host: reviews\ntrafficPolicy: {}',
      [['error', 'IST0106', 'spec.trafficPolicy', 'at least one field']],
    ],
    [
      'negative connection pool numbers',
      tp('connectionPool:\n  tcp: {maxConnections: -1}\n  http: {http1MaxPendingRequests: -5}'),
      [
        ['error', 'IST0106', 'spec.trafficPolicy.connectionPool.tcp.maxConnections', 'must be >= 0 (got -1)'],
        [
          'error',
          'IST0106',
          'spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests',
          'must be >= 0 (got -5)',
        ],
      ],
    ],
    [
      'an empty connection pool',
      tp('connectionPool: {}'),
      [['error', 'IST0106', 'spec.trafficPolicy.connectionPool', 'tcp and/or http']],
    ],
    [
      'a bad connectTimeout',
      tp('connectionPool:\n  tcp: {connectTimeout: 0s}'),
      [['error', 'IST0106', 'spec.trafficPolicy.connectionPool.tcp.connectTimeout', 'at least 1ms']],
    ],
    [
      'maxEjectionPercent > 100',
      tp('outlierDetection: {maxEjectionPercent: 120, minHealthPercent: -1}'),
      [
        ['error', 'IST0106', 'spec.trafficPolicy.outlierDetection.maxEjectionPercent', 'between 0 and 100'],
        ['error', 'IST0106', 'spec.trafficPolicy.outlierDetection.minHealthPercent', 'between 0 and 100'],
      ],
    ],
    [
      'legacy consecutiveErrors',
      tp('outlierDetection: {consecutiveErrors: 5}'),
      [
        [
          'warning',
          'IST0002',
          'spec.trafficPolicy.outlierDetection.consecutiveErrors',
          'ignored by current Istio; meshgate honours it as consecutiveGatewayErrors',
        ],
      ],
    ],
    [
      'a bad outlier interval',
      tp('outlierDetection: {interval: fast}'),
      [['error', 'IST0106', 'spec.trafficPolicy.outlierDetection.interval', 'invalid duration']],
    ],
    [
      'duplicate subset names',
      'host: reviews\nsubsets:\n- name: v1\n- name: v1',
      [['error', 'IST0106', 'spec.subsets[1].name', 'duplicate subset name "v1"']],
    ],
    [
      'an invalid subset name',
      'host: reviews\nsubsets:\n- name: V1.0',
      [['error', 'IST0106', 'spec.subsets[0].name', 'DNS-1123 label']],
    ],
    [
      'two hash keys',
      tp('loadBalancer:\n  consistentHash: {httpHeaderName: x-user, useSourceIp: true}'),
      [
        [
          'error',
          'IST0106',
          'spec.trafficPolicy.loadBalancer.consistentHash',
          'exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName (found httpHeaderName, useSourceIp)',
        ],
      ],
    ],
    [
      'no hash key',
      tp('loadBalancer:\n  consistentHash: {minimumRingSize: 1024}'),
      [['error', 'IST0106', 'spec.trafficPolicy.loadBalancer.consistentHash', '(found none)']],
    ],
    [
      'simple and consistentHash',
      tp('loadBalancer:\n  simple: RANDOM\n  consistentHash: {useSourceIp: true}'),
      [
        [
          'error',
          'IST0106',
          'spec.trafficPolicy.loadBalancer',
          'simple and consistentHash are mutually exclusive',
        ],
      ],
    ],
    [
      'LEAST_CONN',
      tp('loadBalancer: {simple: LEAST_CONN}'),
      [['warning', 'IST0002', 'spec.trafficPolicy.loadBalancer.simple', 'use LEAST_REQUEST']],
    ],
    [
      'MUTUAL without client certificate',
      tp('tls: {mode: MUTUAL}'),
      [
        [
          'error',
          'IST0106',
          'spec.trafficPolicy.tls.clientCertificate',
          'MUTUAL mode requires clientCertificate',
        ],
        ['error', 'IST0106', 'spec.trafficPolicy.tls.privateKey', 'MUTUAL mode requires privateKey'],
      ],
    ],
    ['MUTUAL with credentialName', tp('tls: {mode: MUTUAL, credentialName: cred}'), []],
    [
      'ISTIO_MUTUAL with files',
      tp('tls: {mode: ISTIO_MUTUAL, clientCertificate: /c}'),
      [['warning', 'IST0133', 'spec.trafficPolicy.tls', 'ISTIO_MUTUAL uses the mesh certificates']],
    ],
    [
      'port-level settings without a port',
      tp('portLevelSettings:\n- loadBalancer: {simple: RANDOM}'),
      [['error', 'IST0106', 'spec.trafficPolicy.portLevelSettings[0].port.number', 'need a port number']],
    ],
    [
      'subset policies',
      'host: reviews\nsubsets:\n- name: v1\n  trafficPolicy:\n    connectionPool:\n      http: {maxRetries: -2}',
      [['error', 'IST0106', 'spec.subsets[0].trafficPolicy.connectionPool.http.maxRetries', 'must be >= 0']],
    ],
  ])('%s', (_name, spec, expected) => expectDiagnostics(check('DestinationRule', spec), expected));
});

describe('ServiceEntry and WorkloadEntry rules', () => {
  const ports = 'ports:\n- {number: 80, name: http, protocol: HTTP}';
  it.each<[string, string, Expected]>([
    [
      'a valid STATIC entry',
      `hosts: [a.example.com]\nresolution: STATIC\n${ports}\nendpoints:\n- address: 10.0.0.1\n  ports: {http: 8080}`,
      [],
    ],
    ['no hosts', `hosts: []\n${ports}`, [['error', 'IST0106', 'spec.hosts', 'at least one host']]],
    [
      'host *',
      `hosts: ["*"]\n${ports}`,
      [['error', 'IST0106', 'spec.hosts[0]', 'not allowed in a ServiceEntry']],
    ],
    [
      'a partial wildcard (warning)',
      `hosts: ["*foo.com"]\n${ports}`,
      [['warning', 'IST0133', 'spec.hosts[0]', 'partial wildcards']],
    ],
    [
      'duplicate port names and numbers',
      'hosts: [a.example.com]\nports:\n- {number: 80, name: http, protocol: HTTP}\n- {number: 80, name: http, protocol: HTTP}',
      [
        ['error', 'IST0106', 'spec.ports[1].name', 'already used by spec.ports[0]'],
        ['error', 'IST0106', 'spec.ports[1].number', 'already declared by spec.ports[0]'],
      ],
    ],
    [
      'STATIC with a DNS name',
      `hosts: [a.example.com]\nresolution: STATIC\n${ports}\nendpoints:\n- address: backend.example.com`,
      [['error', 'IST0106', 'spec.endpoints[0].address', 'is not a valid IP address']],
    ],
    [
      'STATIC with a unix socket',
      `hosts: [a.example.com]\nresolution: STATIC\n${ports}\nendpoints:\n- address: unix:///var/run/a.sock`,
      [],
    ],
    [
      'DNS with a wildcard host and no endpoints',
      `hosts: ["*.example.com"]\nresolution: DNS\n${ports}`,
      [['error', 'IST0106', 'spec.hosts[0]', 'must be fully qualified names']],
    ],
    [
      'an undeclared endpoint port',
      `hosts: [a.example.com]\nresolution: STATIC\n${ports}\nendpoints:\n- address: 10.0.0.1\n  ports: {grpc: 9000}`,
      [['error', 'IST0106', 'spec.endpoints[0].ports.grpc', 'not declared in spec.ports']],
    ],
    [
      'workloadSelector with endpoints',
      `hosts: [a.example.com]\nresolution: STATIC\n${ports}\nworkloadSelector: {labels: {app: a}}\nendpoints:\n- address: 10.0.0.1`,
      [['error', 'IST0106', 'spec.workloadSelector', 'mutually exclusive']],
    ],
    [
      'several hosts on a TCP port',
      'hosts: [a.example.com, b.example.com]\nresolution: DNS\nports:\n- {number: 5432, name: tcp, protocol: TCP}',
      [['error', 'IST0106', 'spec.ports[0].protocol', 'ports must be HTTP or TLS']],
    ],
    [
      'a bad CIDR with DNS',
      `hosts: [a.example.com]\nresolution: DNS\naddresses: [10.0.0.0/24]\n${ports}`,
      [['error', 'IST0106', 'spec.addresses[0]', 'CIDR addresses need resolution NONE or STATIC']],
    ],
  ])('%s', (_name, spec, expected) => expectDiagnostics(check('ServiceEntry', spec), expected));

  it('checks WorkloadEntry addresses and ports', () => {
    expectDiagnostics(check('WorkloadEntry', 'address: "bad address"\nports: {http: 0}'), [
      ['error', 'IST0106', 'spec.address', 'is not a valid FQDN or an IP address'],
      ['error', 'IST0106', 'spec.ports.http', 'between 1 and 65535'],
    ]);
  });
});

describe('samples', () => {
  const files = ['samples/bookinfo', 'samples/bookinfo/tasks', 'samples/httpbin', 'samples/tcp-echo'].flatMap(
    (dir) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => join(dir, f)),
  );
  it.each(files)('%s passes validation', async (file) => {
    const { resources, diagnostics } = await loadConfig([file], opts);
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(validateResources(resources).filter((d) => d.severity !== 'info')).toEqual([]);
  });
});

describe('robustness (property)', () => {
  const seeds = [
    ...loadText(
      [
        `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ["*.example.com"]\n    tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k, caCertificates: /ca}`,
        `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  hosts: [a.example.com]\n  gateways: [g]\n  http:\n  - match:\n    - uri: {regex: "/a.*"}\n      headers: {x-a: {exact: b}}\n    route:\n    - destination: {host: a, subset: v1, port: {number: 80}}\n      weight: 10\n    - destination: {host: b}\n      weight: 90\n    retries: {attempts: 2, retryOn: 5xx, perTryTimeout: 1s}\n    fault: {delay: {fixedDelay: 1s, percentage: {value: 5}}}\n    mirror: {host: c}\n    corsPolicy: {allowMethods: [GET], maxAge: 10s}\n    rewrite: {uri: /b}\n  tls:\n  - match: [{sniHosts: [a.example.com]}]\n    route: [{destination: {host: a}}]`,
        `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: a\n  trafficPolicy:\n    connectionPool: {tcp: {maxConnections: 1}, http: {maxRetries: 3}}\n    outlierDetection: {consecutive5xxErrors: 2, interval: 1s}\n    loadBalancer: {consistentHash: {httpCookie: {name: c, ttl: 0s}}}\n    tls: {mode: MUTUAL, clientCertificate: /c, privateKey: /k}\n    portLevelSettings: [{port: {number: 80}, loadBalancer: {simple: RANDOM}}]\n  subsets: [{name: v1, labels: {version: v1}}]`,
        `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\nspec:\n  hosts: [a.example.com]\n  resolution: STATIC\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  endpoints: [{address: 10.0.0.1, ports: {http: 8080}, labels: {version: v1}}]`,
      ].join('\n---\n'),
      's.yaml',
      opts,
    ).resources,
  ];

  /** Replaces random leaves of a valid spec with random JSON values (mostly of the same type). */
  const leafValue = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.integer({ min: -100000, max: 100000 }),
    fc.constantFrom('', '*', '/(x', 'a.*.b', '0s', '1.5ms', 'V1', '*/*', 'unix://x', '10.0.0.0/8', null),
  );
  const mutation = fc.tuple(
    fc.nat(seeds.length - 1),
    fc.array(fc.tuple(fc.nat(), leafValue), { minLength: 1, maxLength: 5 }),
  );

  function mutate(spec: unknown, edits: [number, unknown][]): unknown {
    const copy = structuredClone(spec);
    for (const [pick, value] of edits) {
      const slots: [Record<string, unknown> | unknown[], string | number][] = [];
      const walk = (node: unknown): void => {
        const children: [string | number, unknown][] = Array.isArray(node)
          ? node.map((c, i) => [i, c])
          : node && typeof node === 'object'
            ? Object.entries(node)
            : [];
        for (const [key, child] of children) {
          slots.push([node as Record<string, unknown>, key]);
          walk(child);
        }
      };
      walk(copy);
      if (slots.length === 0) continue;
      const [parent, key] = slots[pick % slots.length]!;
      (parent as Record<string | number, unknown>)[key] = value;
    }
    return copy;
  }

  it('validateResources never throws on mutated specs', () => {
    fc.assert(
      fc.property(mutation, ([i, edits]) => {
        const seed = seeds[i]!;
        const r = { ...seed, spec: mutate(seed.spec, edits) } as Resource;
        const ds = validateResources([r]);
        expect(ds.every((d) => typeof d.message === 'string' && d.message.length > 0)).toBe(true);
        // No rule may trip over a shape the schema let through.
        expect(ds.filter((d) => d.message.startsWith('validation stopped early'))).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('validateResources never throws on arbitrary JSON specs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Kind>(
          'Gateway',
          'VirtualService',
          'DestinationRule',
          'ServiceEntry',
          'WorkloadEntry',
        ),
        fc.jsonValue({ maxDepth: 4 }),
        (kind, spec) => {
          const r = { ...seeds[0]!, kind, spec } as Resource;
          const ds = validateResources([r]);
          expect(ds.filter((d) => d.message.startsWith('validation stopped early'))).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('one pass, at the field', () => {
  it('reports schema errors and field-rule errors of one resource together', () => {
    const ds = check(
      'VirtualService',
      `hosts: [reviews]
http:
- timeout: 5
  match:
  - uri: {regex: "a(b"}
  route:
  - destination: {host: reviews}
    weight: -1`,
    );
    expect(ds.map((d) => [d.severity, d.path])).toEqual([
      ['error', 'spec.http[0].timeout'],
      ['error', 'spec.http[0].match[0].uri.regex'],
      ['error', 'spec.http[0].route[0].weight'],
    ]);
  });

  it('names the line and column of the offending field, not of the document', () => {
    const text = `# leading comment
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: t}
spec:
  hosts: [reviews]
  http:
  - match:
    - uri:
        regex: "a(b"
    route: [{destination: {host: reviews}, weight: -1}]
`;
    const ds = validateResources(loadText(text, 'pos.yaml', opts).resources);
    expect(ds.map((d) => [d.path, d.source?.line, d.source?.column])).toEqual([
      ['spec.http[0].match[0].uri.regex', 10, 9],
      ['spec.http[0].route[0].weight', 11, 44],
    ]);
    expect(formatDiagnostic(ds[0]!)).toContain('(pos.yaml#0:10:9) spec.http[0].match[0].uri.regex:');
  });

  it('points into the items of a kind: List, and at the parent of a missing field', () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: a}
  spec:
    subsets:
    - {name: v1}
`;
    const ds = validateResources(loadText(text, 'list.yaml', opts).resources);
    expect(ds.map((d) => [d.path, d.source?.line, d.source?.column])).toEqual([['spec.host', 7, 3]]);
  });
});

describe('durations (Go syntax, as Istio parses them)', () => {
  it.each(['1m30s', '1h', '500ms', '1.5s', '2h45m', '0.5s', '100ms'])('accepts timeout %s', (d) => {
    expect(check('VirtualService', `hosts: [a.example.com]\nhttp:\n- timeout: ${d}\n  ${ROUTE}`)).toEqual([]);
  });

  it.each([
    ['1m30', 'invalid duration'],
    ['90', 'invalid duration'],
    ['1.5', 'invalid duration'],
    ['1d', 'invalid duration'],
    ['0.5ms', 'at least 1ms'],
  ])('refuses timeout %s', (d, fragment) => {
    expectDiagnostics(
      check('VirtualService', `hosts: [a.example.com]\nhttp:\n- timeout: "${d}"\n  ${ROUTE}`),
      [['error', 'IST0106', 'spec.http[0].timeout', fragment]],
    );
  });
});
