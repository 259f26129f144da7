import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig, loadText } from '../../config/load.js';
import { analyzeResources } from '../../config/analyze.js';
import { validateResources } from '../../config/validate.js';
import type { Diagnostic } from '../../config/diagnostics.js';
import type { Resource } from '../../config/resources.js';

const opts = { defaultNamespace: 'default' };

/** A small, consistent world: one gateway, two services (one with two ports), their rules. */
const WORLD = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, labels: {version: v1}}
  - {address: 127.0.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi, namespace: other}
spec:
  hosts: [multi]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 9090, name: metrics, protocol: HTTP}]
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external}
spec:
  hosts: ["*.googleapis.com"]
  resolution: NONE
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

function analyze(extra: string): Diagnostic[] {
  const loaded = loadText(`${WORLD}---\n${extra}`, 'a.yaml', opts);
  expect(loaded.diagnostics).toEqual([]);
  expect(validateResources(loaded.resources).filter((d) => d.severity === 'error')).toEqual([]);
  return analyzeResources(loaded.resources);
}

/** `[severity, code, resource, path, message fragment]`. */
type Expected = [Diagnostic['severity'], string, string, string, string][];

const vs = (spec: string, name = 'v') =>
  `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}}\nspec:\n  ${spec.trim().replace(/\n/g, '\n  ')}`;

describe('analyzeResources', () => {
  it('finds nothing wrong in a consistent configuration', () => {
    const ds = analyze(
      vs(`hosts: [www.example.com]
gateways: [istio-system/gw]
http:
- route:
  - destination: {host: reviews, subset: v1}
    weight: 90
  - destination: {host: multi.other.svc.cluster.local, port: {number: 80}}
    weight: 10
  mirror: {host: storage.googleapis.com}`),
    );
    expect(ds).toEqual([]);
  });

  it.each<[string, string, Expected]>([
    [
      'a missing gateway',
      vs(
        'hosts: [www.example.com]\ngateways: [istio-system/nope, mesh]\nhttp:\n- route:\n  - destination: {host: reviews}',
      ),
      [
        [
          'error',
          'IST0101',
          'VirtualService/default/v',
          'spec.gateways[0]',
          'Referenced gateway not found: "istio-system/nope"',
        ],
        [
          'warning',
          'IST0132',
          'VirtualService/default/v',
          'spec.gateways[0]',
          'one or more host [www.example.com] defined in VirtualService default/v not found in Gateway istio-system/nope.',
        ],
      ],
    ],
    [
      'a short gateway name resolved in the VS namespace',
      vs('hosts: [www.example.com]\ngateways: [gw]\nhttp:\n- route:\n  - destination: {host: reviews}'),
      [
        [
          'error',
          'IST0101',
          'VirtualService/default/v',
          'spec.gateways[0]',
          'Referenced gateway not found: "default/gw"',
        ],
        [
          'warning',
          'IST0132',
          'VirtualService/default/v',
          'spec.gateways[0]',
          'not found in Gateway default/gw.',
        ],
      ],
    ],
    [
      'a legacy gateway name resolved to ns/name',
      vs(
        'hosts: [www.example.com]\ngateways: [gw.istio-system.svc.cluster.local]\nhttp:\n- route:\n  - destination: {host: reviews}',
      ),
      [],
    ],
    [
      'a missing gateway in a match',
      vs(
        'hosts: [www.example.com]\ngateways: [istio-system/gw]\nhttp:\n- match:\n  - gateways: [istio-system/gone]\n  route:\n  - destination: {host: reviews}',
      ),
      [
        [
          'error',
          'IST0101',
          'VirtualService/default/v',
          'spec.http[0].match[0].gateways[0]',
          'Referenced gateway not found: "istio-system/gone"',
        ],
      ],
    ],
    [
      'an unknown destination host',
      vs('hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: ratings}'),
      [
        [
          'error',
          'IST0101',
          'VirtualService/default/v',
          'spec.http[0].route[0].destination.host',
          'Referenced host not found: "ratings"',
        ],
      ],
    ],
    [
      'a short host resolved in another namespace',
      vs('hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: multi, port: {number: 80}}'),
      [
        [
          'error',
          'IST0101',
          'VirtualService/default/v',
          'spec.http[0].route[0].destination.host',
          'Referenced host not found: "multi"',
        ],
      ],
    ],
    [
      'an unknown mirror host',
      vs('hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: reviews}\n  mirror: {host: shadow}'),
      [
        [
          'error',
          'IST0101',
          'VirtualService/default/v',
          'spec.http[0].mirror.host',
          'Referenced mirror host not found: "shadow"',
        ],
      ],
    ],
    [
      'a missing subset',
      vs('hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: reviews, subset: v9}'),
      [
        [
          'error',
          'IST0101',
          'VirtualService/default/v',
          'spec.http[0].route[0].destination.subset',
          'Referenced host+subset in destinationrule not found: "reviews+v9"',
        ],
      ],
    ],
    [
      'a subset of a host without DestinationRule',
      vs(
        'hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: multi.other.svc.cluster.local, subset: v1, port: {number: 80}}',
      ),
      [
        [
          'error',
          'IST0101',
          'VirtualService/default/v',
          'spec.http[0].route[0].destination.subset',
          '"multi.other.svc.cluster.local+v1"',
        ],
      ],
    ],
    [
      'a port the service does not declare',
      vs('hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: reviews, port: {number: 8080}}'),
      [
        [
          'error',
          'IST0101',
          'VirtualService/default/v',
          'spec.http[0].route[0].destination.port.number',
          'Referenced host:port not found: "reviews:8080"',
        ],
      ],
    ],
    [
      'no port to a service with several',
      vs('hosts: [reviews]\ntcp:\n- route:\n  - destination: {host: multi.other.svc.cluster.local}'),
      [
        [
          'error',
          'IST0112',
          'VirtualService/default/v',
          'spec.tcp[0].route[0].destination.port',
          'that exposes multiple ports [80 9090]. Specifying a port in the destination is required to disambiguate.',
        ],
      ],
    ],
    [
      'VS hosts the gateway does not expose',
      vs(
        'hosts: [www.example.org]\ngateways: [istio-system/gw]\nhttp:\n- route:\n  - destination: {host: reviews}',
      ),
      [
        [
          'warning',
          'IST0132',
          'VirtualService/default/v',
          'spec.gateways[0]',
          'one or more host [www.example.org] defined in VirtualService default/v not found in Gateway istio-system/gw.',
        ],
      ],
    ],
    [
      'two mesh VirtualServices for one host',
      `${vs('hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: reviews}', 'a')}\n---\n${vs('hosts: [reviews.default.svc.cluster.local]\ngateways: [mesh]\nhttp:\n- route:\n  - destination: {host: reviews}', 'b')}`,
      [
        [
          'error',
          'IST0109',
          'VirtualService/default/a',
          'metadata.name',
          'The VirtualServices default/a,default/b associated with mesh gateway define the same host */reviews.default.svc.cluster.local',
        ],
        [
          'error',
          'IST0109',
          'VirtualService/default/b',
          'metadata.name',
          'merging the conflicting VirtualServices',
        ],
      ],
    ],
    [
      'two Gateways sharing a host on one port',
      `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw2}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*.example.com"]\n  - port: {number: 81, name: http2, protocol: HTTP}\n    hosts: ["*.example.com"]`,
      [
        [
          'error',
          'IST0145',
          'Gateway/istio-system/gw',
          'spec.servers[0]',
          'Conflict with gateways default/gw2 (workload selector istio=ingressgateway, port 80, hosts *.example.com).',
        ],
        [
          'error',
          'IST0145',
          'Gateway/default/gw2',
          'spec.servers[0]',
          'Conflict with gateways istio-system/gw (workload selector istio=ingressgateway, port 80, hosts *.example.com).',
        ],
      ],
    ],
    [
      'a DestinationRule for an unknown host',
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec:\n  host: ratings',
      [
        [
          'warning',
          'IST0174',
          'DestinationRule/default/ratings',
          'spec.host',
          'The host ratings.default.svc.cluster.local defined in the DestinationRule does not match any services in the mesh.',
        ],
      ],
    ],
    [
      'a subset that selects no endpoint',
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews3}\nspec:\n  host: reviews\n  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v3, labels: {version: v3}}',
      [
        [
          'error',
          'IST0173',
          'DestinationRule/default/reviews3',
          'spec.subsets[1]',
          'The Subset v3 defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream). (labels version=v3, endpoints of ServiceEntry/default/reviews)',
        ],
      ],
    ],
  ])('reports %s', (_name, extra, expected) => {
    const ds = analyze(extra);
    expect(ds.map((d) => [d.severity, d.code, d.resource, d.path])).toEqual(
      expected.map(([s, c, r, p]) => [s, c, r, p]),
    );
    expected.forEach(([, , , , fragment], i) => expect(ds[i]!.message).toContain(fragment));
    for (const d of ds) expect(d).toMatchObject({ layer: 'reference', source: { file: 'a.yaml' } });
  });

  it('selects WorkloadEntries through a workloadSelector', () => {
    const ds = analyze(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm}
spec:
  hosts: [vm.example.com]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1}
spec: {address: 10.1.0.1, labels: {app: vm, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: vm}
spec:
  host: vm.example.com
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]`);
    expect(ds.map((d) => [d.code, d.path])).toEqual([['IST0173', 'spec.subsets[1]']]);
  });

  it('reports the three mistakes of a bad Bookinfo with file, resource and field path (the missing Gateway also exposes no host)', async () => {
    const dir = 'test/fixtures/config/bookinfo-bad';
    const { resources, diagnostics } = await loadConfig([dir], opts);
    const all = [...diagnostics, ...validateResources(resources), ...analyzeResources(resources)];
    const found = all.map((d) => ({
      code: d.code,
      severity: d.severity,
      file: d.source?.file,
      resource: d.resource,
      path: d.path,
      message: d.message,
    }));
    expect(found).toEqual([
      {
        code: 'IST0106',
        severity: 'error',
        file: `${dir}/virtual-services.yaml`,
        resource: 'VirtualService/default/productpage',
        path: 'spec.http[0].match[1].uri.regex',
        message: 'invalid regex "/(foo": missing )',
      },
      {
        code: 'IST0101',
        severity: 'error',
        file: `${dir}/virtual-services.yaml`,
        resource: 'VirtualService/default/bookinfo',
        path: 'spec.gateways[0]',
        message: 'Referenced gateway not found: "default/bookinfo-gw"',
      },
      {
        code: 'IST0132',
        severity: 'warning',
        file: `${dir}/virtual-services.yaml`,
        resource: 'VirtualService/default/bookinfo',
        path: 'spec.gateways[0]',
        message:
          'one or more host [*] defined in VirtualService default/bookinfo not found in Gateway default/bookinfo-gw.',
      },
      {
        code: 'IST0101',
        severity: 'error',
        file: `${dir}/virtual-services.yaml`,
        resource: 'VirtualService/default/reviews',
        path: 'spec.http[1].route[0].destination.subset',
        message: 'Referenced host+subset in destinationrule not found: "reviews+v9"',
      },
    ]);
    expect(all.find((d) => d.resource === 'VirtualService/default/reviews')!.source!.line).toBe(22);
  });

  describe('a * ServiceEntry only covers the hosts it can serve', () => {
    const dest = vs(
      'hosts: [www.example.com]\nhttp:\n- route:\n  - destination: {host: nowhere.example.net}',
    );
    const notFound = [['IST0101', 'spec.http[0].route[0].destination.host']];
    const run = (se: string) => {
      const loaded = loadText(`${WORLD}---\n${se}---\n${dest}`, 'a.yaml', opts);
      const invalid = new Set(
        validateResources(loaded.resources).flatMap((d) =>
          d.severity === 'error' && d.layer === 'schema' && d.resource ? [d.resource] : [],
        ),
      );
      return analyzeResources(loaded.resources, { invalid })
        .filter((d) => d.resource === 'VirtualService/default/v')
        .map((d) => [d.code, d.path]);
    };
    const se = (meta: string, spec: string) =>
      `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {${meta}}\nspec: {${spec}}\n`;

    it.each([
      [
        'a `*` host (fails validation)',
        se('name: all', 'hosts: ["*"], resolution: NONE, ports: [{number: 80, name: http, protocol: HTTP}]'),
      ],
      [
        'a wildcard that fails validation',
        se(
          'name: dns',
          'hosts: ["*.example.net"], resolution: DNS, ports: [{number: 80, name: http, protocol: HTTP}]',
        ),
      ],
      [
        'a wildcard in another namespace exported to "."',
        se(
          'name: other, namespace: elsewhere',
          'hosts: ["*.example.net"], resolution: NONE, exportTo: ["."], ports: [{number: 80, name: http, protocol: HTTP}]',
        ),
      ],
    ])('%s', (_name, entry) => expect(run(entry)).toEqual(notFound));

    it('a valid wildcard visible here does cover the host', () => {
      const entry = se(
        'name: other, namespace: elsewhere',
        'hosts: ["*.example.net"], resolution: NONE, exportTo: [default], ports: [{number: 80, name: http, protocol: HTTP}]',
      );
      expect(run(entry)).toEqual([]);
    });
  });

  it('takes hosts known from elsewhere (Kubernetes Services) as services, with their exportTo', () => {
    const loaded = loadText(
      `${WORLD}---\n${vs('hosts: [details]\nhttp:\n- route:\n  - destination: {host: details.shop.svc.cluster.local}')}\n---\n` +
        'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: details}\nspec: {host: details.shop.svc.cluster.local}\n',
      'a.yaml',
      opts,
    );
    const known = (exportTo?: string[]) =>
      analyzeResources(loaded.resources, {
        knownServices: [
          { host: 'details.shop.svc.cluster.local', namespace: 'shop', ports: [9080], exportTo },
        ],
      }).map((d) => d.code);
    expect(analyzeResources(loaded.resources).map((d) => d.code)).toEqual(['IST0101', 'IST0174']);
    expect(known()).toEqual([]);
    expect(known(['.'])).toEqual(['IST0101']);
  });

  it('never throws on arbitrary resources', () => {
    const kinds = fc.constantFrom(
      'Gateway',
      'VirtualService',
      'DestinationRule',
      'ServiceEntry',
      'WorkloadEntry',
    );
    const resource = fc.record({
      kind: kinds,
      name: fc.string({ maxLength: 3 }),
      spec: fc.jsonValue({ maxDepth: 4 }),
    });
    fc.assert(
      fc.property(fc.array(resource, { maxLength: 6 }), (rs) => {
        const resources = rs.map(
          (r, i) =>
            ({
              apiVersion: 'networking.istio.io/v1',
              kind: r.kind,
              metadata: { name: r.name, namespace: 'default' },
              spec: r.spec,
              source: { file: 'f.yaml', docIndex: i, line: 1 },
            }) as Resource,
        );
        analyzeResources(resources);
      }),
      { numRuns: 300 },
    );
  });
});
