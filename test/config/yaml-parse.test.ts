/**
 * `parseYaml` details that its speed work must not change: the depth bound is measured on the
 * tokens as parsed (before go-yaml's flow colons are applied), anchors and aliases decode as before
 * (a cycle refused, a shared value kept), and the caller's `process.env` is the same object after a
 * parse as before it.
 */
import { describe, expect, it } from 'vitest';
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
});
