import { describe, expect, it } from 'vitest';
import {
  hostCovers,
  intersectHosts,
  resolveGatewayRef,
  resolveShortName,
  splitAuthority,
  splitServerHost,
  stripPort,
} from '../../routes/host-names.js';

describe('host names (Istio pkg/config/host semantics)', () => {
  it.each([
    ['reviews', 'default', 'reviews.default.svc.cluster.local'],
    ['Reviews', 'prod', 'reviews.prod.svc.cluster.local'],
    ['reviews.default', 'x', 'reviews.default'],
    ['httpbin.org', 'default', 'httpbin.org'],
    ['*', 'default', '*'],
    ['*.example.com', 'default', '*.example.com'],
  ])('resolveShortName(%s, %s) = %s', (host, ns, want) => {
    expect(resolveShortName(host, ns)).toBe(want);
  });

  it.each([
    ['*', 'a.com', true],
    ['*.a.com', 'b.a.com', true],
    ['*.a.com', 'c.b.a.com', true],
    ['*.a.com', '*.b.a.com', true],
    ['*.a.com', 'a.com', false],
    ['*.a.com', '*.a.com', true],
    ['a.com', 'a.com', true],
    ['a.com', 'b.com', false],
    ['b.a.com', '*.a.com', false],
  ])('hostCovers(%s, %s) = %s', (p, h, want) => {
    expect(hostCovers(p, h)).toBe(want);
  });

  it.each([
    ['*', 'bookinfo.example.com', 'bookinfo.example.com'],
    ['*.example.com', '*', '*.example.com'],
    ['*', '*', '*'],
    ['foo.com', 'bar.com', undefined],
    ['*', 'reviews.default.svc.cluster.local', 'reviews.default.svc.cluster.local'],
  ])('intersectHosts(%s, %s) = %s', (a, b, want) => {
    expect(intersectHosts(a, b)).toBe(want);
  });

  it('resolves gateway references', () => {
    expect(resolveGatewayRef('bookinfo-gateway', 'default')).toBe('default/bookinfo-gateway');
    expect(resolveGatewayRef('istio-system/gw', 'default')).toBe('istio-system/gw');
    expect(resolveGatewayRef('./gw', 'prod')).toBe('prod/gw');
    expect(resolveGatewayRef('gw.istio-system.svc.cluster.local', 'default')).toBe('istio-system/gw');
    expect(resolveGatewayRef('mesh', 'default')).toBe('mesh');
  });

  it('splits server hosts and strips ports', () => {
    expect(splitServerHost('prod/a.com', 'gw')).toEqual({ namespace: 'prod', host: 'a.com' });
    expect(splitServerHost('./A.com', 'gw')).toEqual({ namespace: 'gw', host: 'a.com' });
    expect(splitServerHost('*', 'gw')).toEqual({ namespace: '*', host: '*' });
    expect(stripPort('a.com:8080')).toBe('a.com');
    expect(stripPort('[::1]:80')).toBe('[::1]');
    expect(stripPort('a.com')).toBe('a.com');
  });

  // RFC 3986 §3.2.2: an IPv6 literal with a port is bracketed; a bare IPv6 address carries no port.
  it.each([
    ['a.com:8080', 'a.com'],
    ['a.com', 'a.com'],
    ['A.com:80', 'A.com'],
    ['10.0.0.1:443', '10.0.0.1'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['[2001:db8::1]:443', '[2001:db8::1]'],
    ['::1', '::1'],
    ['2001:db8::1', '2001:db8::1'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
  ])('stripPort(%j) = %j', (authority, host) => {
    expect(stripPort(authority)).toBe(host);
  });

  it.each([
    ['HTTPBIN.org.:8080', 'httpbin.org', 8080],
    ['reviews', 'reviews', undefined],
    ['reviews:9080', 'reviews', 9080],
    ['[::1]:80', '[::1]', 80],
    ['[::1]', '[::1]', undefined],
    ['::1', '::1', undefined],
    ['[2001:DB8::1]:8443', '[2001:db8::1]', 8443],
    ['a.com:0', 'a.com', undefined],
    ['a.com:65536', 'a.com', undefined],
    ['a.com:http', 'a.com', undefined],
  ])('splitAuthority(%j) = { host: %j, port: %j }', (authority, host, port) => {
    expect(splitAuthority(authority)).toEqual({ host, port });
  });
});
