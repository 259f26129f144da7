import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig, loadText } from '../../config/load.js';
import { validateResources } from '../../config/validate.js';
import { analyzeResources } from '../../config/analyze.js';
import { resourceKey } from '../../config/resources.js';
import { parseYaml } from '../../config/yaml-parse.js';

const opts = { defaultNamespace: 'default' };
const FIXTURES = 'test/fixtures/config';

const GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`;

const VS = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: vs
  namespace: shop
spec:
  hosts: [cart]
  http:
  - route:
    - destination: {host: cart}
`;

describe('loadText', () => {
  it('loads multi-document YAML with one provenance per document', () => {
    const text = `# leading comment\n${GATEWAY}---\n\n${VS}`;
    const { resources, diagnostics } = loadText(text, 'a.yaml', opts);
    expect(diagnostics).toEqual([]);
    expect(resources.map(resourceKey)).toEqual(['Gateway/default/gw', 'VirtualService/shop/vs']);
    expect(resources[0]!.source).toEqual({ file: 'a.yaml', docIndex: 0, line: 2 });
    // `---` is line 10, then an empty line: the second document starts at line 12.
    expect(resources[1]!.source).toEqual({ file: 'a.yaml', docIndex: 1, line: 12 });
    expect(resources[1]!.apiVersion).toBe('networking.istio.io/v1beta1');
    expect(resources[1]!.spec).toEqual({
      hosts: ['cart'],
      http: [{ route: [{ destination: { host: 'cart' } }] }],
    });
  });

  it('fills in the default namespace and keeps explicit ones', () => {
    const { resources } = loadText(`${GATEWAY}---\n${VS}`, 'a.yaml', { defaultNamespace: 'prod' });
    expect(resources.map((r) => r.metadata.namespace)).toEqual(['prod', 'shop']);
  });

  it('unpacks kind: List items with the line of each item', () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: a}
  spec: {host: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
- apiVersion: networking.istio.io/v1alpha3
  kind: DestinationRule
  metadata: {name: b, namespace: other}
  spec: {host: b}
`;
    const { resources, diagnostics } = loadText(text, 'list.yaml', opts);
    expect(resources.map(resourceKey)).toEqual(['DestinationRule/default/a', 'DestinationRule/other/b']);
    expect(resources.map((r) => r.source)).toEqual([
      { file: 'list.yaml', docIndex: 0, line: 4 },
      { file: 'list.yaml', docIndex: 0, line: 11 },
    ]);
    expect(diagnostics).toEqual([
      expect.objectContaining({
        code: 'MG0002',
        severity: 'info',
        resource: 'ConfigMap/default/cm',
        source: { file: 'list.yaml', docIndex: 0, line: 8 },
      }),
    ]);
  });

  it.each([
    [
      'Deployment',
      'apps/v1',
      'Deployment',
      'skipped Deployment/default/productpage-v1: not an Istio networking resource',
    ],
    [
      'ConfigMap',
      'v1',
      'ConfigMap',
      'skipped ConfigMap/default/productpage-v1: not an Istio networking resource',
    ],
    [
      'an unserved Istio kind',
      'networking.istio.io/v1',
      'Sidecar',
      'skipped Sidecar/default/productpage-v1: Sidecar is not served by meshgate',
    ],
  ])('skips %s with one MG0002 info', (_name, apiVersion, kind, message) => {
    const text = `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: productpage-v1\nspec:\n  a: 1\n`;
    const { resources, diagnostics } = loadText(text, 'k8s.yaml', opts);
    expect(resources).toEqual([]);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ severity: 'info', code: 'MG0002', layer: 'schema' });
    expect(diagnostics[0]!.message).toContain(message);
  });

  it.each([
    [
      'an unknown version of a served kind',
      'apiVersion: networking.istio.io/v1beta2\nkind: Gateway\nmetadata: {name: gw}\n',
      'apiVersion',
      'apiVersion "networking.istio.io/v1beta2" is not served for Gateway (supported: networking.istio.io/v1alpha3, networking.istio.io/v1beta1, networking.istio.io/v1)',
    ],
    [
      'an unknown version without a name',
      'apiVersion: networking.istio.io/v1beta2\nkind: VirtualService\nmetadata: {}\n',
      'apiVersion',
      'is not served for VirtualService (supported: networking.istio.io/v1alpha3',
    ],
    [
      'a misspelt kind',
      'apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: vs}\n',
      'kind',
      'kind "VirtualServce" does not exist in networking.istio.io (kinds: Gateway, VirtualService, DestinationRule, ServiceEntry, WorkloadEntry,',
    ],
  ])('refuses %s in networking.istio.io with an error naming what exists', (_name, text, path, message) => {
    const { resources, diagnostics } = loadText(text, 'k8s.yaml', opts);
    expect(resources).toEqual([]);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ severity: 'error', code: 'IST0106', layer: 'schema', path });
    expect(diagnostics[0]!.message).toContain(message);
  });

  it.each([
    ['an empty file', ''],
    ['only comments', '# nothing here\n'],
    ['empty documents', '---\n---\n# c\n---\n'],
  ])('ignores %s silently', (_name, text) => {
    expect(loadText(text, 'e.yaml', opts)).toEqual({ resources: [], objects: [], diagnostics: [] });
  });

  it.each([
    ['a YAML syntax error', `${GATEWAY}---\nkind: [oops\n`, 'e.yaml:11:', 'invalid YAML', 11],
    ['a missing apiVersion', 'kind: Gateway\nmetadata: {name: x}\n', 'missing apiVersion', '', 1],
    ['a missing kind and name', 'apiVersion: v1\nmetadata: {}\n', 'missing kind, metadata.name', '', 1],
    ['a scalar document', 'just a string\n', 'not a Kubernetes object', '', 1],
    ['a sequence document', '- a\n- b\n', 'not a Kubernetes object', '', 1],
    [
      'a non-string namespace',
      'apiVersion: v1\nkind: X\nmetadata: {name: a, namespace: [x]}\n',
      'metadata.namespace must be a string',
      '',
      1,
    ],
    ['a recursive alias', 'apiVersion: v1\nkind: X\nmetadata: &m {name: a, self: *m}\n', 'alias', '', 1],
    [
      'a List item that is not an object',
      'apiVersion: v1\nkind: List\nitems:\n- 42\n',
      'items[0]',
      'not a Kubernetes object',
      4,
    ],
  ])('reports %s as MG0001 with file and line', (_name, text, fragment, fragment2, line) => {
    const { diagnostics } = loadText(text, 'e.yaml', opts);
    const errors = diagnostics.filter((d) => d.code === 'MG0001');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ severity: 'error', layer: 'schema', source: { file: 'e.yaml', line } });
    expect(errors[0]!.message).toContain('e.yaml');
    expect(errors[0]!.message).toContain(fragment);
    expect(errors[0]!.message).toContain(fragment2);
  });

  it('keeps the valid documents of a file with a syntax error', () => {
    const { resources, diagnostics } = loadText(`${GATEWAY}---\nkind: [oops\n---\n${VS}`, 'e.yaml', opts);
    expect(resources.map(resourceKey)).toEqual(['Gateway/default/gw', 'VirtualService/shop/vs']);
    expect(diagnostics.map((d) => [d.code, d.source?.docIndex])).toEqual([['MG0001', 1]]);
  });

  it('warns about a duplicate and lets the later definition replace the earlier (kubectl apply)', () => {
    const text = `${GATEWAY}---\n${GATEWAY.replace('"*"', 'a.example.com')}`;
    const { resources, diagnostics } = loadText(text, 'dup.yaml', opts);
    expect(resources).toHaveLength(1);
    expect(resources[0]!.spec).toMatchObject({ servers: [{ hosts: ['a.example.com'] }] });
    expect(diagnostics).toEqual([
      expect.objectContaining({
        severity: 'warning',
        code: 'MG0003',
        layer: 'reference',
        resource: 'Gateway/default/gw',
        source: { file: 'dup.yaml', docIndex: 1, line: 10 },
      }),
    ]);
    expect(diagnostics[0]!.message).toMatch(/replaces the one in dup\.yaml \(document 0, line 1\)/);
  });

  it('reads YAML 1.1 scalars as kubectl does', () => {
    const text = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: w
  labels: {on: yes, ts: 2024-01-01T00:00:00Z, time: 12:30}
spec:
  address: 10.0.0.1
`;
    const [r] = loadText(text, 'w.yaml', opts).resources;
    expect(r!.metadata.labels).toEqual({ true: true, ts: '2024-01-01T00:00:00Z', time: '12:30' });
  });

  it('reads scalars as go-yaml v2 (sigs.k8s.io/yaml) does: "." and "001:db8::" are strings', () => {
    // Istio pkg/config/validation/testdata/crds/serviceentry-valid.yaml carries `[1.2.3.4, 001:db8::]`.
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [a.example.com]
  exportTo: [., "*"]
  addresses: [1.2.3.4, 001:db8::]
  ports:
  - {number: 80, name: http, protocol: HTTP}
  resolution: NONE
  endpoints:
  - {address: 001:db8::1, labels: {a: b:}}
`;
    const { resources, diagnostics } = loadText(text, 'se.yaml', opts);
    expect(diagnostics).toEqual([]);
    const spec = resources[0]!.spec as Record<string, unknown>;
    expect(spec.exportTo).toEqual(['.', '*']);
    expect(spec.addresses).toEqual(['1.2.3.4', '001:db8::']);
    expect(spec.endpoints).toEqual([{ address: '001:db8::1', labels: { a: 'b:' } }]);
    // A real flow pair keeps its meaning: `:` followed by a space.
    const [pair] = loadText(
      'apiVersion: v1\nkind: X\nmetadata: {name: x}\nspec: [a: b, .5, 0755, 1_000, off]\n',
      'x.yaml',
      opts,
    ).diagnostics;
    expect(pair?.code).toBe('MG0002');
  });

  it.each([
    ['200 KB of "["', '['.repeat(200_000), 1, 101],
    ['deeply nested block sequences', `${'- '.repeat(500)}x\n`, 1, 201],
    ['deeply nested flow maps', `a: ${'{b: '.repeat(300)}1${'}'.repeat(300)}\n`, 1, 400],
  ])('refuses %s with an error (bounded nesting), again and again', (_name, text, line, column) => {
    for (let i = 0; i < 5; i++) {
      const { resources, diagnostics } = loadText(text, 'deep.yaml', opts);
      expect(resources).toEqual([]);
      expect(diagnostics).toHaveLength(1);
      expect(diagnostics[0]).toMatchObject({ severity: 'error', code: 'MG0001', source: { line } });
      expect(diagnostics[0]!.message).toBe(
        `deep.yaml:${line}:${column}: cannot read YAML: nesting deeper than 100 levels (mappings and sequences inside each other)`,
      );
    }
  });

  it('reads nesting up to the bound', () => {
    const value = `${'{a: '.repeat(95)}1${'}'.repeat(95)}`;
    const text = `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {x: ${value}}\n`;
    const { resources, diagnostics } = loadText(text, 'g.yaml', opts);
    expect(diagnostics).toEqual([]);
    expect(resources).toHaveLength(1);
  });

  it('refuses a file over the size bound', () => {
    const parsed = parseYaml('a: 12345\n', { maxBytes: 8, maxDepth: 100 });
    expect(parsed.documents).toEqual([]);
    expect(parsed.problem).toEqual({ line: 1, column: 1, message: 'file is 9 bytes; the limit is 8' });
  });

  it('treats a missing spec as empty', () => {
    const [r] = loadText(
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\n',
      'g.yaml',
      opts,
    ).resources;
    expect(r!.spec).toEqual({});
  });
});

describe('loadConfig', () => {
  it('loads a directory like kubectl apply -f: sorted, not recursive, yaml/yml/json only', async () => {
    const { resources, objects, diagnostics } = await loadConfig([`${FIXTURES}/multi`], opts);
    expect(resources.map((r) => [resourceKey(r), r.source.file, r.source.docIndex, r.source.line])).toEqual([
      ['Gateway/edge/web', `${FIXTURES}/multi/01-gateway.yaml`, 0, 2],
      // Replaced in place by the later definition in 06-duplicate.yml (kubectl apply semantics).
      ['VirtualService/default/web', `${FIXTURES}/multi/06-duplicate.yml`, 0, 2],
      ['DestinationRule/default/web', `${FIXTURES}/multi/02-list.yaml`, 0, 5],
      ['ServiceEntry/default/web', `${FIXTURES}/multi/02-list.yaml`, 0, 21],
      ['ServiceEntry/default/external', `${FIXTURES}/multi/04-broken.yaml`, 0, 1],
      ['WorkloadEntry/vms/vm-1', `${FIXTURES}/multi/05-workloads.json`, 0, 1],
    ]);
    // Reading problems (MG0001, MG0004) come first, then those of translating the documents.
    expect(diagnostics.map((d) => [d.code, d.severity, d.resource ?? d.source?.file])).toEqual([
      ['MG0001', 'error', `${FIXTURES}/multi/04-broken.yaml`],
      ['MG0002', 'info', 'Deployment/default/web-v1'],
      ['MG0002', 'info', 'Deployment/default/productpage-v1'],
      ['MG0002', 'info', 'ServiceAccount/default/bookinfo-productpage'],
      ['IST0106', 'error', 'VirtualService/default/future'],
      ['MG0002', 'info', 'Sidecar/default/default'],
      ['MG0003', 'warning', 'VirtualService/default/web'],
    ]);
    // A Kubernetes Service is read as one of the core objects, not skipped.
    expect(objects.map((o) => [o.kind, o.metadata.namespace, o.metadata.name])).toEqual([
      ['Service', 'default', 'productpage'],
    ]);
    const syntax = diagnostics.find((d) => d.code === 'MG0001')!;
    expect(syntax.source).toMatchObject({ docIndex: 1 });
    expect(syntax.message).toMatch(/^test\/fixtures\/config\/multi\/04-broken\.yaml:\d+:\d+: invalid YAML/);
    const dup = diagnostics.find((d) => d.code === 'MG0003')!;
    expect(dup.message).toContain('01-gateway.yaml');
    expect(dup.message).toContain('06-duplicate.yml');
  });

  it('accepts files and directories mixed, in the order given', async () => {
    const { resources } = await loadConfig(
      [`${FIXTURES}/multi/05-workloads.json`, `${FIXTURES}/bookinfo-bad`],
      opts,
    );
    expect(resources[0]!.kind).toBe('WorkloadEntry');
    expect(resources.slice(1).map((r) => r.source.file.split('/').pop())).toEqual([
      'destination-rules.yaml',
      'gateway.yaml',
      'service-entries.yaml',
      'service-entries.yaml',
      'virtual-services.yaml',
      'virtual-services.yaml',
      'virtual-services.yaml',
    ]);
  });

  it('reports unreadable paths as MG0004 and keeps going', async () => {
    const { resources, diagnostics } = await loadConfig(
      [`${FIXTURES}/does-not-exist.yaml`, `${FIXTURES}/multi/05-workloads.json`],
      opts,
    );
    expect(resources).toHaveLength(1);
    expect(diagnostics).toEqual([
      expect.objectContaining({
        severity: 'error',
        code: 'MG0004',
        message: `cannot read "${FIXTURES}/does-not-exist.yaml": no such file or directory`,
      }),
    ]);
  });
});

describe('robustness (property)', () => {
  const valid = `${GATEWAY}---\n${VS}---\napiVersion: v1\nkind: List\nitems:\n- ${VS.trim().replace(/\n/g, '\n  ')}\n`;

  /** Applies random edits (delete, insert, replace a range) to a valid file. */
  const mutated = fc
    .array(
      fc.tuple(
        fc.nat(valid.length),
        fc.nat(8),
        fc.oneof(
          fc.string({ maxLength: 6 }),
          fc.constantFrom(':', '-', '---\n', '[', '{', '"', '&a', '*a', '\n  ', '\t', '#'),
        ),
      ),
      { minLength: 1, maxLength: 6 },
    )
    .map((edits) =>
      edits.reduce(
        (text, [at, del, insert]) =>
          text.slice(0, at % (text.length + 1)) + insert + text.slice((at % (text.length + 1)) + del),
        valid,
      ),
    );

  it('loadText never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const r = loadText(text, 'x.yaml', opts);
        expect(Array.isArray(r.resources)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('load → validate → analyze never throws on mutations of a valid file', () => {
    fc.assert(
      fc.property(mutated, (text) => {
        const { resources } = loadText(text, 'x.yaml', opts);
        validateResources(resources);
        analyzeResources(resources);
      }),
      { numRuns: 300 },
    );
  });
});
