/**
 * `parseYaml` details that its speed work must not change: the depth bound is measured on the
 * tokens as parsed (before go-yaml's flow colons are applied), anchors and aliases decode as before
 * (a cycle refused, a shared value kept), the caller's `process.env` is the same object after a
 * parse as before it, and a field's position found by parsing its document alone (its span) is the
 * one the whole file gives.
 */
import { describe, expect, it } from 'vitest';
import { fieldPosition, rememberOrigin } from '../../config/field-positions.js';
import type { Provenance } from '../../config/resources.js';
import { parseYaml } from '../../config/yaml-parse.js';

const limits = (maxDepth: number) => ({ maxBytes: 1 << 20, maxDepth });

describe('parseYaml', () => {
  it('counts the block map a flow `{a: b:}` holds before reading it as the scalar "b:"', () => {
    // Depth: the document's map (1), the flow map (2), the one-pair block map `b:` (3).
    expect(parseYaml('x: {a: b:}\n', limits(2), { keepNodes: false }).problem).toEqual({
      line: 1,
      column: 8,
      message: 'nesting deeper than 2 levels (mappings and sequences inside each other)',
    });
    const [doc] = parseYaml('x: {a: b:}\n', limits(3), { keepNodes: false }).documents;
    expect(doc?.value).toEqual({ x: { a: 'b:' } });
  });

  it('reads the colons of nested flow collections as go-yaml does', () => {
    const [doc] = parseYaml('x: [001:db8::, {a: b:}, [c:], {d: [e:]}]\n', undefined, {
      keepNodes: false,
    }).documents;
    expect(doc?.value).toEqual({ x: ['001:db8::', { a: 'b:' }, ['c:'], { d: ['e:'] }] });
  });

  it('decodes aliases of an anchored value that holds no cycle', () => {
    const [doc] = parseYaml('a: &m {name: a}\nb: *m\nc: [*m, *m]\n', undefined, {
      keepNodes: false,
    }).documents;
    expect(doc?.problem).toBeUndefined();
    expect(doc?.value).toEqual({ a: { name: 'a' }, b: { name: 'a' }, c: [{ name: 'a' }, { name: 'a' }] });
  });

  it.each([
    ['a map', 'a: &m {name: a, self: *m}\n'],
    ['a sequence', 'a: &s [1, *s]\n'],
    ['a second document, after one without anchors', 'a: 1\n---\nb: &m {c: *m}\n'],
  ])('refuses an alias inside its own anchor (%s)', (_name, text) => {
    const docs = parseYaml(text, undefined, { keepNodes: false }).documents;
    expect(docs.at(-1)?.problem?.message).toBe('a YAML alias refers to its own ancestor');
  });

  it('leaves process.env the same object, before and after, also for a file it refuses', () => {
    const env = process.env;
    parseYaml('a: 1\n---\nb: [1, 2]\n');
    expect(process.env).toBe(env);
    parseYaml('['.repeat(500), limits(100));
    expect(process.env).toBe(env);
  });

  it('gives no document spans for a file with directives (a slice would lose them)', () => {
    const { documents } = parseYaml('%YAML 1.1\n---\na: 1\n---\nb: 2\n', undefined, { keepNodes: false });
    expect(documents.map((d) => d.value)).toEqual([{ a: 1 }, { b: 2 }]);
    expect(documents.map((d) => d.span)).toEqual([undefined, undefined]);
  });
});

/** Documents of every shape a span has to cut right: markers, end markers, comments, Lists, flow. */
const MULTI = [
  '# leading comment',
  '',
  'apiVersion: v1',
  'kind: A',
  'metadata: {name: first}',
  'spec:',
  '  text: |',
  '    --- not a marker',
  '    ...',
  '  port: 80',
  '---',
  '# comment inside',
  'apiVersion: v1',
  'kind: List',
  'items:',
  '- kind: B',
  '  spec: {hosts: [a, b], deep: {x: [1, {v: 2}]}}',
  '-   kind: C',
  '    spec:',
  '      z: 3',
  '...',
  '# after an end marker',
  '--- {apiVersion: v1, kind: D, spec: {w: [x:, y]}}',
  '---',
  '',
  '---',
  'kind: E',
  'spec:',
  '  a:',
  '    b: c',
  '',
].join('\n');

describe('field positions from one document', () => {
  const cases: [number, readonly (string | number)[], string][] = [
    [0, [], 'spec.port'],
    [0, [], 'spec.text'],
    [0, [], 'metadata.name'],
    [1, ['items', 0], 'spec.deep.x[1].v'],
    [1, ['items', 0], 'spec.hosts[1]'],
    [1, ['items', 1], 'spec.z'],
    [1, ['items', 1], 'spec.missing'],
    [2, [], 'spec.w[1]'],
    [4, [], 'spec.a.b'],
  ];

  it.each(['\n', '\r\n'])('are the positions the whole file gives (line ends %j)', (eol) => {
    const text = MULTI.replaceAll('\n', eol);
    const { documents } = parseYaml(text, undefined, { keepNodes: false });
    expect(documents.map((d) => d.span !== undefined)).toEqual([true, true, true, true, true]);
    const positions = (withSpan: boolean) =>
      cases.map(([docIndex, prefix, path]) => {
        const source: Provenance = { file: 'm.yaml', docIndex, line: documents[docIndex]!.line };
        rememberOrigin(source, text, prefix, withSpan ? documents[docIndex]!.span : undefined);
        return fieldPosition(source, path);
      });
    const fromSpans = positions(true);
    expect(fromSpans).toEqual(positions(false));
    expect(fromSpans).toEqual([
      { line: 10, column: 3 },
      { line: 7, column: 3 },
      { line: 5, column: 12 },
      { line: 17, column: 40 },
      { line: 17, column: 21 },
      { line: 20, column: 7 },
      { line: 19, column: 5 },
      { line: 23, column: 46 },
      { line: 30, column: 5 },
    ]);
  });
});
