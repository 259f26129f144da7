/** `grpc-timeout` parsing (gRPC PROTOCOL-HTTP2.md units) and its cap by the route timeout. */
import { describe, expect, it } from 'vitest';
import { effectiveTimeout, parseGrpcTimeoutMs } from '../../../gateway/http/grpc-timeout.js';

describe('grpc-timeout', () => {
  it('parses every unit; rejects malformed values', () => {
    expect(['1H', '2M', '3S', '250m', '1500u', '2000000n'].map((v) => parseGrpcTimeoutMs(v))).toEqual([
      3_600_000, 120_000, 3000, 250, 2, 2,
    ]);
    expect(parseGrpcTimeoutMs('1n')).toBe(1);
    for (const bad of [undefined, '', 'm', '10', '10x', '-1m', '123456789m', '1.5S']) {
      expect(parseGrpcTimeoutMs(bad)).toBeUndefined();
    }
  });

  it('is capped by the route timeout and applies alone when the route has none', () => {
    expect(effectiveTimeout(1000, 200)).toEqual({ ms: 200, grpc: true });
    expect(effectiveTimeout(1000, 5000)).toEqual({ ms: 1000, grpc: false });
    expect(effectiveTimeout(0, 5000)).toEqual({ ms: 5000, grpc: true });
    expect(effectiveTimeout(750, undefined)).toEqual({ ms: 750, grpc: false });
  });
});
