/**
 * Circuit-breaker limits of an HTTP/2 cluster: Envoy multiplexes `http.maxConcurrentStreams`
 * streams (default 2^31-1) on each connection, so `tcp.maxConnections` holds back requests only
 * beyond `maxConnections × maxConcurrentStreams` streams.
 */
import { describe, expect, it } from 'vitest';
import { breakerLimits, UNLIMITED } from '../../upstream/circuit-breaker.js';

describe('breakerLimits for HTTP/2 clusters', () => {
  it('maxConnections alone limits nothing (all streams share the connections): no breaker', () => {
    expect(breakerLimits({ tcp: { maxConnections: 1 } }, true)).toBeUndefined();
  });

  it('maxConnections × maxConcurrentStreams streams hold a slot; other limits unchanged', () => {
    expect(
      breakerLimits(
        { tcp: { maxConnections: 2 }, http: { maxConcurrentStreams: 3, http1MaxPendingRequests: 1 } },
        true,
      ),
    ).toEqual({ maxConnections: 6, maxPendingRequests: 1, maxRequests: UNLIMITED, maxRetries: UNLIMITED });
  });

  it('http2MaxRequests applies as on HTTP/1.1', () => {
    expect(breakerLimits({ http: { http2MaxRequests: 4 } }, true)?.maxRequests).toBe(4);
  });

  it('HTTP/1.1 clusters ignore maxConcurrentStreams', () => {
    expect(
      breakerLimits({ tcp: { maxConnections: 2 }, http: { maxConcurrentStreams: 3 } })?.maxConnections,
    ).toBe(2);
  });
});
