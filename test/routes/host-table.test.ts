/**
 * The one host lookup table (virtual hosts by Host, filter chains by SNI, services by host): Envoy's
 * domain selection order (exact, longest wildcard suffix, `*`) and first-claim-wins.
 */
import { describe, expect, it } from 'vitest';
import { HostTable } from '../../routes/host-table.js';

function table(...names: string[]): HostTable<string> {
  const t = new HostTable<string>();
  for (const n of names) t.add(n, n);
  return t;
}

describe('HostTable', () => {
  it.each([
    // Envoy route_config domain selection: exact beats wildcard beats `*`.
    ['a.foo.com', 'a.foo.com'],
    ['b.foo.com', '*.foo.com'],
    ['x.b.foo.com', '*.b.foo.com'],
    ['x.y.b.foo.com', '*.b.foo.com'],
    ['y.x.foo.com', '*.foo.com'],
    // A wildcard needs at least one character in front of its suffix.
    ['.foo.com', '*'],
    ['foo.com', '*'],
    ['bar.com', '*'],
  ])('lookup(%j) → %j', (host, want) => {
    const t = table('*.foo.com', 'a.foo.com', '*.b.foo.com', '*');
    expect(t.lookup(host)).toBe(want);
  });

  it('finds nothing without a `*` entry', () => {
    const t = table('a.com', '*.b.com');
    expect(t.lookup('c.com')).toBeUndefined();
    expect(t.fallback).toBeUndefined();
  });

  it('keeps the first value of a name and says when a name was already claimed', () => {
    const t = new HostTable<number>();
    expect(t.add('a.com', 1)).toBe(true);
    expect(t.add('a.com', 2)).toBe(false);
    expect(t.add('*.a.com', 3)).toBe(true);
    expect(t.add('*.a.com', 4)).toBe(false);
    expect(t.add('*', 5)).toBe(true);
    expect(t.add('*', 6)).toBe(false);
    expect([t.lookup('a.com'), t.lookup('b.a.com'), t.lookup('z.org')]).toEqual([1, 3, 5]);
  });

  it('answers exact, wildcard and default separately', () => {
    const t = table('a.com', '*.a.com', '*');
    expect(t.exact('a.com')).toBe('a.com');
    expect(t.exact('b.a.com')).toBeUndefined();
    expect(t.wildcard('b.a.com')).toBe('*.a.com');
    expect(t.wildcard('a.com')).toBeUndefined();
    expect(t.fallback).toBe('*');
  });

  it('a wildcard query is covered by a wildcard with the same or a shorter suffix (registry lookups)', () => {
    const t = table('*.a.com');
    expect(t.lookup('*.a.com')).toBe('*.a.com');
    expect(t.lookup('*.b.a.com')).toBe('*.a.com');
    expect(t.lookup('*.com')).toBeUndefined();
  });

  it('picks the longest of many wildcard lengths, whatever the insertion order', () => {
    const t = table('*.com', '*.c.d.com', '*.d.com', '*.b.c.d.com');
    expect(t.lookup('a.b.c.d.com')).toBe('*.b.c.d.com');
    expect(t.lookup('x.c.d.com')).toBe('*.c.d.com');
    expect(t.lookup('x.d.com')).toBe('*.d.com');
    expect(t.lookup('x.com')).toBe('*.com');
  });
});
