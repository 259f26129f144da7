/**
 * Wildcard virtual-host lookup by suffix-length buckets (Envoy's wildcard_virtual_host_suffixes):
 * the same answers as a scan of every `*.suffix` domain longest first, most specific wildcard wins,
 * exact domains before wildcards, `*` last, and a wildcard needs at least one character.
 */
import { describe, expect, it } from 'vitest';
import { RouteConfiguration, type VirtualHost } from '../../routes/route-table.js';

function vhost(name: string, domains: string[]): VirtualHost {
  return { name, domains, routes: [], requireTls: false };
}

/** The lookup as it was before the buckets: every wildcard, longest suffix first, first listed wins ties. */
function scanLookup(vhosts: readonly VirtualHost[]): (host: string) => VirtualHost | undefined {
  const exact = new Map<string, VirtualHost>();
  const wild: { suffix: string; vh: VirtualHost }[] = [];
  let fallback: VirtualHost | undefined;
  for (const vh of vhosts) {
    for (const d of vh.domains) {
      if (d === '*') fallback = vh;
      else if (d.startsWith('*.')) wild.push({ suffix: d.slice(1), vh });
      else exact.set(d, vh);
    }
  }
  wild.sort((a, b) => b.suffix.length - a.suffix.length);
  return (host) => {
    const h = host.toLowerCase();
    const hit = exact.get(h);
    if (hit) return hit;
    for (const w of wild) if (h.length > w.suffix.length && h.endsWith(w.suffix)) return w.vh;
    return fallback;
  };
}

/** Deterministic pseudo-random generator (tests must not depend on Math.random). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 0x1_0000_0000;
  };
}

describe('wildcard virtual hosts by suffix length', () => {
  it('picks the most specific wildcard, exact before wildcard, "*" last', () => {
    const a = vhost('a', ['*.example.com']);
    const b = vhost('b', ['*.api.example.com']);
    const c = vhost('c', ['shop.api.example.com']);
    const any = vhost('any', ['*']);
    const rc = new RouteConfiguration('http.80', [a, b, c, any]);
    expect(rc.virtualHostFor('x.api.example.com')).toBe(b);
    expect(rc.virtualHostFor('x.y.api.example.com:8080')).toBe(b);
    expect(rc.virtualHostFor('SHOP.API.EXAMPLE.COM')).toBe(c);
    expect(rc.virtualHostFor('api.example.com')).toBe(a);
    expect(rc.virtualHostFor('example.com')).toBe(any);
    // `*.example.com` needs one character before the dot.
    expect(rc.virtualHostFor('.example.com')).toBe(any);
    expect(new RouteConfiguration('http.80', [a]).virtualHostFor('.example.com')).toBeUndefined();
  });

  it('keeps the first virtual host listing a wildcard twice', () => {
    const first = vhost('first', ['*.dup.io']);
    const second = vhost('second', ['*.dup.io', 'x.io']);
    const rc = new RouteConfiguration('http.80', [first, second]);
    expect(rc.virtualHostFor('a.dup.io')).toBe(first);
    expect(rc.virtualHostFor('x.io')).toBe(second);
  });

  it('answers as the scan of every wildcard over a generated table of 2,000 hosts', () => {
    const rnd = lcg(20261203);
    const labels = ['a', 'b', 'api', 'shop', 'eu', 'us', 'x1', 'internal', 'svc'];
    const pick = (): string => labels[Math.floor(rnd() * labels.length)]!;
    const name = (parts: number): string => Array.from({ length: parts }, pick).join('.');
    const seen = new Set<string>();
    const vhosts: VirtualHost[] = [];
    for (let i = 0; i < 2000; i++) {
      const wildcard = rnd() < 0.6;
      const domain = wildcard
        ? `*.${name(1 + Math.floor(rnd() * 3))}.com`
        : `${name(1 + Math.floor(rnd() * 4))}.com`;
      // Exact duplicates are refused by the constructor (the compiler merges them first).
      if (!wildcard && seen.has(domain)) continue;
      seen.add(domain);
      vhosts.push(vhost(`vh${i}`, [domain]));
    }
    vhosts.push(vhost('catch-all', ['*']));
    const rc = new RouteConfiguration('http.80', vhosts);
    const scan = scanLookup(vhosts);
    let wildcardHits = 0;
    for (let i = 0; i < 5000; i++) {
      const host = `${name(1 + Math.floor(rnd() * 5))}.com${rnd() < 0.2 ? ':443' : ''}`;
      const expected = scan(host.replace(/:\d+$/, ''));
      if (expected !== undefined && expected.domains[0]!.startsWith('*.')) wildcardHits++;
      expect(rc.virtualHostFor(host)?.name, host).toBe(expected?.name);
    }
    // The generated table must exercise the wildcard path, not only exact hits and the fallback.
    expect(wildcardHits).toBeGreaterThan(500);
  });
});
