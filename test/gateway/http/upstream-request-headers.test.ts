/**
 * The upstream request head: hop-by-hop removal (RFC 9110 §7.6.1, Connection-named headers too),
 * owned headers dropped, x-forwarded-for / -proto, HTTP/2 pseudo-headers skipped, rewrite and
 * header operations in Envoy's order, the mirror's `-shadow` authority.
 */
import { compileHeaderOps } from '../../../compile/http-routes.js';
import { describe, expect, it } from 'vitest';
import {
  applyRouteToUpstream,
  copyRequestHeaders,
  shadowAuthority,
} from '../../../gateway/http/upstream-request-headers.js';
import type { CompiledMatch, RouteEntry, WeightedCluster } from '../../../routes/route-table.js';
import { compileRe2, type Re2Regex } from '../../../routes/regex.js';

function re2(pattern: string): Re2Regex {
  const r = compileRe2(pattern, '', false);
  if (!r.ok) throw new Error(r.reason);
  return r.regex;
}

const pairs = (l: string[]) => {
  const o: [string, string][] = [];
  for (let i = 0; i < l.length; i += 2) o.push([l[i]!, l[i + 1]!]);
  return o;
};

describe('copyRequestHeaders', () => {
  it('drops hop-by-hop, Connection-named and proxy-owned headers, appends x-forwarded-for', () => {
    const out: string[] = [];
    const ids = { requestId: undefined as string | undefined };
    const body = copyRequestHeaders(
      [
        'Host',
        'a.example',
        'Connection',
        'keep-alive, X-Secret',
        'X-Secret',
        's',
        'Keep-Alive',
        '5',
        'X-Forwarded-For',
        '1.1.1.1',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Client-Cert',
        'forged',
        'X-Envoy-Attempt-Count',
        '9',
        'Expect',
        '100-continue',
        'X-Request-Id',
        'rid',
        'Content-Length',
        '3',
        'Accept',
        '*/*',
      ],
      '10.0.0.1',
      'http',
      out,
      ids,
    );
    expect(body).toBe(true);
    expect(ids.requestId).toBe('rid');
    expect(pairs(out)).toEqual([
      ['x-request-id', 'rid'],
      ['content-length', '3'],
      ['accept', '*/*'],
      ['x-forwarded-for', '1.1.1.1, 10.0.0.1'],
      ['x-forwarded-proto', 'http'],
    ]);
  });

  it('skips HTTP/2 pseudo-headers, keeps te: trailers; no body without content-length or transfer-encoding', () => {
    const out: string[] = [];
    const body = copyRequestHeaders(
      [':method', 'GET', ':path', '/', ':authority', 'a', ':scheme', 'https', 'te', 'trailers', 'x-a', '1'],
      '::1',
      'https',
      out,
      { requestId: undefined },
    );
    expect(body).toBe(false);
    expect(pairs(out)).toEqual([
      ['te', 'trailers'],
      ['x-a', '1'],
      ['x-forwarded-for', '::1'],
      ['x-forwarded-proto', 'https'],
    ]);
  });
});

const wc: WeightedCluster = {
  destination: {} as WeightedCluster['destination'],
  weight: 100,
  requestHeaders: compileHeaderOps({ set: { 'x-dest': 'v1' } }),
  responseHeaders: undefined,
  hostRewrite: undefined,
};

function route(r: Partial<RouteEntry>): RouteEntry {
  return {
    name: 'r',
    virtualService: 'default/vs',
    matches: [],
    catchAll: true,
    action: { kind: 'forward', clusters: [wc], totalWeight: 100 },
    timeoutMs: 0,
    retry: {} as RouteEntry['retry'],
    fault: undefined,
    mirrors: [],
    rewrite: undefined,
    requestHeaders: undefined,
    responseHeaders: undefined,
    hostRewrite: undefined,
    ...r,
  };
}

describe('applyRouteToUpstream', () => {
  it('replaces the matched prefix, keeps the query, records x-envoy-original-path', () => {
    const out: string[] = [];
    const match = { uriPrefix: '/api' } as CompiledMatch;
    const r = route({
      rewrite: { uri: '/v2', authority: 'b.internal', regex: undefined },
      hostRewrite: 'b.internal',
      timeoutMs: 1500,
    });
    expect(applyRouteToUpstream(out, '/api/x?q=1', 'a.example', r, wc, match)).toBe('/v2/x?q=1');
    expect(pairs(out)).toEqual([
      ['x-envoy-original-path', '/api/x?q=1'],
      ['x-dest', 'v1'],
      ['host', 'b.internal'],
      ['x-envoy-expected-rq-timeout-ms', '1500'],
      ['x-envoy-attempt-count', '1'],
    ]);
  });

  it('regex rewrite; an unchanged path adds no x-envoy-original-path; "" becomes "/"', () => {
    const rx = route({
      rewrite: {
        uri: undefined,
        authority: undefined,
        regex: { pattern: re2('^/a/(.*)$'), substitution: '/\\1' },
      },
    });
    const out: string[] = [];
    expect(applyRouteToUpstream(out, '/a/b', 'h', rx, wc, undefined)).toBe('/b');
    const same: string[] = [];
    expect(applyRouteToUpstream(same, '/z', 'h', rx, wc, undefined)).toBe('/z');
    expect(same).not.toContain('x-envoy-original-path');
    const prefix = route({ rewrite: { uri: '', authority: undefined, regex: undefined } });
    expect(applyRouteToUpstream([], '/api', 'h', prefix, wc, { uriPrefix: '/api' } as CompiledMatch)).toBe(
      '/',
    );
  });
});

describe('shadowAuthority', () => {
  it('suffixes the host before the port', () => {
    expect(shadowAuthority('a.example')).toBe('a.example-shadow');
    expect(shadowAuthority('a.example:8080')).toBe('a.example-shadow:8080');
    expect(shadowAuthority('[::1]:80')).toBe('[::1]-shadow:80');
  });
});
