import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../config/diagnostics.js';
import { loadText } from '../../config/load.js';
import { parseConfigText } from '../../config/load.js';
import { validateDocuments, compileDocuments } from '../../config/pipeline.js';
import { buildRegistry } from '../../config/registry.js';
import { inferPortProtocol } from '../../config/port-protocol.js';
import { apiProvenance } from '../../config/sources/source.js';
import { yamlDocuments } from '../helpers/resources.js';
import {
  BOOKINFO_GATEWAY,
  bookinfoKubeObjects,
  DESTINATION_RULE_ALL,
  endpointSlice,
  kubeService,
  pod,
} from '../helpers/kube-bookinfo.js';

const opts = { defaultNamespace: 'default' };

function load(...docs: string[]) {
  return loadText(yamlDocuments(...docs), 'k.yaml', opts);
}

function registryOf(...docs: string[]) {
  const { resources, objects } = load(...docs);
  return buildRegistry(resources, objects);
}

function endpointsOf(host: string, ...docs: string[]) {
  const svc = registryOf(...docs).lookup(host);
  return svc?.endpoints.map((e) => ({ address: e.address, ports: e.ports, version: e.labels.version }));
}

describe('inferPortProtocol', () => {
  // Istio pkg/config/kube/conversion_test.go TestConvertProtocol, every case.
  it.each([
    ['resolves empty', 0, '', 'TCP', undefined, undefined],
    ['resolves from protocol directly', 0, '', 'UDP', undefined, 'UDP'],
    ['resolves from port name', 0, 'http-something', 'TCP', undefined, 'HTTP'],
    ['prefers appProto over portName', 0, 'http-something', 'TCP', 'https', 'HTTPS'],
    ['resolves from appProto', 0, 'something-httpx', 'TCP', 'https', 'HTTPS'],
    ['resolves grpc-web', 0, 'grpc-web-x', 'TCP', undefined, 'GRPC-Web'],
    ['makes sure grpc-web is not resolved incorrectly', 0, 'grpcweb-x', 'TCP', undefined, undefined],
    ['resolves based on known ports', 3306, 'random-name', 'TCP', undefined, 'TCP'],
    ['standard app protocol', 3306, 'random-name', 'TCP', 'kubernetes.io/h2c', 'HTTP2'],
  ])('Istio case "%s"', (_name, port, name, l4, app, expected) => {
    expect(inferPortProtocol(port, name, l4, app)).toBe(expected);
  });

  it.each([
    ['http', 'HTTP'],
    ['http2-api', 'HTTP2'],
    ['grpc-api', 'GRPC'],
    ['tcp-db', 'TCP'],
    ['tls-passthrough', 'TLS'],
    ['https-web', 'HTTPS'],
    ['mongo-main', 'Mongo'],
    ['redis', 'Redis'],
    ['HTTP-Upper', 'HTTP'],
    ['web', undefined],
    ['httpx', undefined],
  ])('port name %s → %s', (name, expected) => {
    expect(inferPortProtocol(9080, name, undefined, undefined)).toBe(expected);
  });

  it('an unknown appProtocol hides the port name (Istio reads only appProtocol then)', () => {
    expect(inferPortProtocol(9080, 'http', 'TCP', 'custom')).toBeUndefined();
  });
});

describe('loading Kubernetes core objects', () => {
  it('keeps Services, EndpointSlices, Pods, Secrets, Endpoints and Namespaces; skips other kinds', () => {
    const { resources, objects, diagnostics } = load(
      ...bookinfoKubeObjects([{ service: 'reviews', version: 'v1', port: 9 }]),
      'apiVersion: v1\nkind: Endpoints\nmetadata: { name: reviews }\nsubsets: []',
      'apiVersion: v1\nkind: Secret\nmetadata: { name: cred }\ntype: kubernetes.io/tls\ndata: {}',
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: bookinfo }',
    );
    expect(resources).toEqual([]);
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      'Service/default/reviews',
      'Pod/default/reviews-v1-5d8c7b9f4-xv1',
      'EndpointSlice/default/reviews-v1-slice',
      'Endpoints/default/reviews',
      'Secret/default/cred',
      'Namespace//bookinfo',
    ]);
    expect(diagnostics.map((d) => [d.code, d.resource])).toEqual([
      ['MG0002', 'ServiceAccount/default/bookinfo-reviews'],
      ['MG0002', 'Deployment/default/reviews-v1'],
    ]);
    expect(objects[0]!.source).toEqual({ file: 'k.yaml', docIndex: 0, line: 1 });
  });

  it.each([
    ['Service', 'v2'],
    ['EndpointSlice', 'discovery.k8s.io/v1beta1'],
    ['Pod', 'apps/v1'],
  ])('reports a %s in apiVersion %s as MG0020 naming it, and skips only it', (kind, apiVersion) => {
    const { objects, diagnostics } = load(
      `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: { name: odd }`,
      kubeService('reviews'),
    );
    expect(objects.map((o) => o.metadata.name)).toEqual(['reviews']);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({
      severity: 'warning',
      code: 'MG0020',
      resource: `${kind}/default/odd`,
      source: { file: 'k.yaml', docIndex: 0, line: 1 },
    });
    expect(diagnostics[0]!.message).toContain(apiVersion);
  });

  it('a later definition of the same Service replaces the earlier one (MG0003), as kubectl apply does', () => {
    const { objects, diagnostics } = load(kubeService('reviews', 9080), kubeService('reviews', 'http'));
    expect(objects).toHaveLength(1);
    expect(diagnostics.map((d) => d.code)).toEqual(['MG0003']);
  });
});

describe('registry from Kubernetes Services', () => {
  const reviews = (version: string, port: number, ready = true) => ({
    service: 'reviews',
    version,
    port,
    ready,
  });

  it('serves name.ns.svc.cluster.local with Istio port protocols, MESH_INTERNAL', () => {
    const svc = registryOf(kubeService('reviews')).lookup('reviews.default.svc.cluster.local');
    expect(svc).toMatchObject({
      hostname: 'reviews.default.svc.cluster.local',
      namespace: 'default',
      ports: [{ number: 9080, name: 'http', protocol: 'HTTP', targetPort: 9080 }],
      location: 'MESH_INTERNAL',
      endpoints: [],
      source: 'Service/default/reviews',
    });
  });

  it('takes endpoints from EndpointSlices: ready ones only, labels from the targetRef Pod', () => {
    const w = [reviews('v1', 8001), reviews('v2', 8002), reviews('v3', 8003, false)];
    const eps = endpointsOf(
      'reviews.default.svc.cluster.local',
      ...bookinfoKubeObjects(w), // Service, Pods and one slice per Pod
    );
    expect(eps).toEqual([
      { address: '127.0.0.1', ports: { http: 8001 }, version: 'v1' },
      { address: '127.0.0.1', ports: { http: 8002 }, version: 'v2' },
    ]);
  });

  it('a slice endpoint whose Pod is not in the input still serves, without labels', () => {
    const eps = endpointsOf(
      'reviews.default.svc.cluster.local',
      kubeService('reviews'),
      endpointSlice(reviews('v1', 8001)),
    );
    expect(eps).toEqual([{ address: '127.0.0.1', ports: { http: 8001 }, version: undefined }]);
  });

  const legacyEndpoints = `apiVersion: v1
kind: Endpoints
metadata: { name: reviews }
subsets:
- addresses: [{ ip: 127.0.0.1, targetRef: { kind: Pod, name: reviews-v1-5d8c7b9f4-xv1 } }]
  notReadyAddresses: [{ ip: 127.0.0.2 }]
  ports: [{ name: http, port: 7001 }]`;

  it('uses an Endpoints object when the Service has no EndpointSlice (ready addresses only)', () => {
    const eps = endpointsOf(
      'reviews.default.svc.cluster.local',
      kubeService('reviews'),
      pod(reviews('v1', 8001)),
      legacyEndpoints,
    );
    expect(eps).toEqual([{ address: '127.0.0.1', ports: { http: 7001 }, version: 'v1' }]);
  });

  it('prefers EndpointSlices over an Endpoints object', () => {
    const eps = endpointsOf(
      'reviews.default.svc.cluster.local',
      kubeService('reviews'),
      legacyEndpoints,
      endpointSlice(reviews('v2', 8002)),
    );
    expect(eps?.map((e) => e.ports.http)).toEqual([8002]);
  });

  it('derives endpoints from Running, Ready Pods the selector matches, resolving a named targetPort', () => {
    const eps = endpointsOf(
      'reviews.default.svc.cluster.local',
      ...bookinfoKubeObjects([reviews('v1', 8001), reviews('v2', 8002, false), reviews('v3', 8003)], {
        slices: false,
        targetPort: 'http',
      }),
      // A Pod of another app, same namespace: not selected.
      pod({ service: 'ratings', version: 'v1', port: 8009 }),
    );
    expect(eps).toEqual([
      { address: '127.0.0.1', ports: { http: 8001 }, version: 'v1' },
      { address: '127.0.0.1', ports: { http: 8003 }, version: 'v3' },
    ]);
  });

  it('leaves out a Pod without the container port a named targetPort names', () => {
    const eps = endpointsOf(
      'reviews.default.svc.cluster.local',
      kubeService('reviews', 'http'),
      pod(reviews('v1', 8001)),
      pod(reviews('v2', 8002)).replace('name: http, containerPort', 'name: web, containerPort'),
    );
    expect(eps).toEqual([{ address: '127.0.0.1', ports: { http: 8001 }, version: 'v1' }]);
  });

  it('a Service with Deployments but no Pods has no endpoints', () => {
    expect(
      endpointsOf(
        'reviews.default.svc.cluster.local',
        ...bookinfoKubeObjects([{ service: 'reviews', version: 'v1' }]),
      ),
    ).toEqual([]);
  });

  it('serves an ExternalName Service as DNS to the external name', () => {
    const svc = registryOf(
      'apiVersion: v1\nkind: Service\nmetadata: { name: ext }\nspec: { type: ExternalName, externalName: httpbin.org, ports: [{ port: 80, name: http }] }',
    ).lookup('ext.default.svc.cluster.local');
    expect(svc).toMatchObject({ resolution: 'DNS', endpoints: [{ address: 'httpbin.org' }] });
  });

  it('keeps ServiceEntries alongside; a Service wins a host both declare', () => {
    const se = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: both }
spec:
  hosts: [reviews.default.svc.cluster.local, httpbin.org]
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP }]`;
    const registry = registryOf(se, kubeService('reviews'));
    expect(registry.lookup('reviews.default.svc.cluster.local')?.source).toBe('Service/default/reviews');
    expect(registry.lookup('httpbin.org')?.source).toBe('ServiceEntry/default/both');
  });
});

describe('validation with Kubernetes objects', () => {
  const vs = (host: string, subset?: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: to-${host.split('.')[0]} }
spec:
  hosts: [to.example]
  gateways: [bookinfo-gateway]
  http: [{ route: [{ destination: { host: ${host}${subset ? `, subset: ${subset}` : ''} } }] }]`;

  function validate(...docs: string[]) {
    return validateDocuments(parseConfigText(yamlDocuments(...docs), 'k.yaml'), opts);
  }

  it('a VirtualService routing to a Service in the input has no IST0101 (short and full names)', () => {
    for (const host of ['reviews', 'reviews.default.svc.cluster.local']) {
      const r = validate(
        ...bookinfoKubeObjects([
          { service: 'reviews', version: 'v1' },
          { service: 'productpage', version: 'v1' },
        ]),
        BOOKINFO_GATEWAY,
        vs(host),
      );
      expect(r.diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
      expect(r.blocked).toBe(false);
    }
  });

  it('without the Service the same route is IST0101', () => {
    const r = validate(BOOKINFO_GATEWAY, vs('reviews'));
    expect(r.diagnostics.map((d) => d.code)).toContain('IST0101');
  });

  it('says, as info, that a Service with Deployments and no Pods has no endpoints (503 UH)', () => {
    const r = validate(...bookinfoKubeObjects([{ service: 'reviews', version: 'v1' }]));
    expect(r.diagnostics.filter((d) => d.code === 'MG0021')).toEqual([
      expect.objectContaining({
        severity: 'info',
        resource: 'Service/default/reviews',
        source: { file: 'k.yaml', docIndex: 0, line: 1 },
      }),
    ]);
    expect(r.diagnostics.find((d) => d.code === 'MG0021')!.message).toContain('503 UH');
  });

  it('warns about an EndpointSlice of an unknown Service, naming it, and loses nothing else', () => {
    const r = validate(
      kubeService('reviews'),
      endpointSlice({ service: 'reviews', version: 'v1', port: 8001 }),
      endpointSlice({ service: 'reveiws', version: 'v2', port: 8002 }),
    );
    expect(r.diagnostics.filter((d) => d.code === 'MG0022')).toEqual([
      expect.objectContaining({ severity: 'warning', resource: 'EndpointSlice/default/reveiws-v2-slice' }),
    ]);
    expect(r.diagnostics.find((d) => d.code === 'MG0022')!.message).toContain('default/reveiws');
    expect(r.objects).toHaveLength(3);
    const { snapshot } = compileDocuments(
      parseConfigText(
        yamlDocuments(
          kubeService('reviews'),
          endpointSlice({ service: 'reviews', version: 'v1', port: 8001 }),
        ),
        'k.yaml',
      ),
      opts,
    );
    expect(snapshot!.registry.lookup('reviews.default.svc.cluster.local')?.endpoints).toHaveLength(1);
  });

  it('checks DestinationRule subsets against the Pods behind a Service (IST0173)', () => {
    const r = validate(
      ...bookinfoKubeObjects([
        { service: 'reviews', version: 'v1', port: 8001 },
        { service: 'reviews', version: 'v2', port: 8002 },
      ]),
      DESTINATION_RULE_ALL,
    );
    const ist0173 = r.diagnostics.filter((d) => d.code === 'IST0173');
    expect(ist0173.map((d) => [d.resource, d.path])).toEqual([
      ['DestinationRule/default/reviews', 'spec.subsets[2]'],
    ]);
    expect(ist0173[0]!.message).toContain('Service/default/reviews');
    // Services without Pods are not checked (nothing to compare with), as for the other hosts here.
    expect(r.diagnostics.filter((d) => d.code === 'IST0174')).toHaveLength(3);
  });

  it('names an object from the API server by kind/ns/name@resourceVersion', () => {
    const r = validateDocuments(
      {
        documents: [
          {
            object: {
              apiVersion: 'v1',
              kind: 'Service',
              metadata: { name: 'reviews', namespace: 'default', resourceVersion: '4711' },
              spec: { selector: { app: 'reviews' }, ports: [{ port: 9080, name: 'http' }] },
            },
            source: apiProvenance('Service', 'default', 'reviews', '4711'),
          },
        ],
        diagnostics: [],
      },
      opts,
    );
    const d = r.diagnostics.find((x) => x.code === 'MG0021')!;
    expect(formatDiagnostic(d)).toContain(
      'Service/default/reviews (kubernetes:Service/default/reviews@4711)',
    );
  });
});

describe('malformed Kubernetes objects', () => {
  /** Every field path of a decoded object (objects and arrays walked), for mutation. */
  function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
    if (typeof value !== 'object' || value === null) return [prefix];
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
    return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
  }

  function mutate(root: unknown, path: (string | number)[], replacement: unknown): unknown {
    const copy: unknown = structuredClone(root);
    let node = copy as Record<string | number, unknown>;
    for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
    node[path[path.length - 1]!] = replacement;
    return copy;
  }

  it('never throw in validation or compilation, whatever field holds a value of the wrong type', () => {
    const yaml = yamlDocuments(
      ...bookinfoKubeObjects([
        { service: 'reviews', version: 'v1', port: 8001 },
        { service: 'reviews', version: 'v2', port: 8002 },
      ]),
      'apiVersion: v1\nkind: Endpoints\nmetadata: { name: reviews }\nsubsets: [{ addresses: [{ ip: 127.0.0.1 }], ports: [{ name: http, port: 1 }] }]',
      'apiVersion: v1\nkind: Secret\nmetadata: { name: cred }\ndata: { cert: eA==, key: eA== }\nstringData: { cacert: x }',
      BOOKINFO_GATEWAY.replace('protocol: HTTP', 'protocol: HTTPS').replace(
        'hosts: ["*"]',
        'hosts: ["*"]\n    tls: { mode: MUTUAL, credentialName: cred }',
      ),
      DESTINATION_RULE_ALL,
    );
    const input = parseConfigText(yaml, 'k.yaml');
    let runs = 0;
    input.documents.forEach((doc, i) => {
      for (const path of paths(doc.object).filter(
        (p) => p.length > 1 && p[0] !== 'apiVersion' && p[0] !== 'kind',
      )) {
        for (const odd of ['x', 42, null, [], {}, true]) {
          const documents = input.documents.map((d, j) =>
            j === i ? { ...d, object: mutate(d.object, path, odd) } : d,
          );
          expect(() => compileDocuments({ documents, diagnostics: [] }, opts)).not.toThrow();
          runs++;
        }
      }
    });
    expect(runs).toBeGreaterThan(500);
  });
});
