/**
 * Router retry state with injected randomness: retriable outcomes per `retryOn` token, tries left,
 * the jittered exponential back-off (25 ms base, 250 ms cap) and when `URX` is earned.
 */
import { describe, expect, it } from 'vitest';
import { NO_RETRY_POLICY, RetryState, RETRY_BACKOFF_MAX_MS } from '../../../gateway/http/retry-state.js';
import type { RetryPolicy } from '../../../routes/route-table.js';

function policy(p: Partial<RetryPolicy>): RetryPolicy {
  return { ...NO_RETRY_POLICY, numRetries: 2, ...p };
}

describe('RetryState', () => {
  it('classifies statuses per retryOn token', () => {
    const fivexx = new RetryState(policy({ on5xx: true }));
    expect([500, 503, 599, 404, 409].map((s) => fivexx.retriableStatus(s))).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
    const gw = new RetryState(policy({ onGatewayError: true }));
    expect([500, 502, 503, 504, 505].map((s) => gw.retriableStatus(s))).toEqual([
      false,
      true,
      true,
      true,
      false,
    ]);
    const r4 = new RetryState(policy({ onRetriable4xx: true, retriableStatusCodes: new Set([418]) }));
    expect([409, 418, 404].map((s) => r4.retriableStatus(s))).toEqual([true, true, false]);
  });

  it('retries gRPC statuses of trailers-only responses per retryOn token', () => {
    const r = new RetryState(policy({ retriableGrpcStatuses: new Set([14, 1]) }));
    expect(['14', '1', '0', '13'].map((v) => r.retriableGrpcStatus(v))).toEqual([true, true, false, false]);
  });

  it('classifies failures: connect-failure vs reset (reset, 5xx and gateway-error retry resets)', () => {
    expect(new RetryState(policy({ onConnectFailure: true })).retriableFailure('connect-failure')).toBe(true);
    expect(new RetryState(policy({ onConnectFailure: true })).retriableFailure('reset')).toBe(false);
    for (const p of [{ onReset: true }, { on5xx: true }, { onGatewayError: true }]) {
      const r = new RetryState(policy(p));
      expect(r.retriableFailure('reset')).toBe(true);
      expect(r.retriablePerTryTimeout()).toBe(true);
      expect(r.retriableFailure('connect-failure')).toBe(false);
    }
  });

  it('counts tries and draws the back-off from [0, (2^n - 1) × 25 ms) capped at 250 ms', () => {
    const r = new RetryState(policy({ numRetries: 5 }), () => 0.999999);
    const delays: number[] = [];
    while (r.hasTriesLeft) delays.push(Math.floor(r.next()));
    expect(delays).toEqual([24, 74, 174, 249, 249]);
    expect(r.tries).toBe(6);
    expect(Math.max(...delays)).toBeLessThanOrEqual(RETRY_BACKOFF_MAX_MS);
    expect(() => r.next()).toThrow(/no tries left/);
    const zero = new RetryState(policy({ numRetries: 1 }), () => 0);
    expect(zero.next()).toBe(0);
  });

  it('earns URX only with retries configured and a replayable body', () => {
    const r = new RetryState(policy({ on5xx: true }));
    expect(r.limitExceeded(true)).toBe(true);
    expect(r.limitExceeded(false)).toBe(false);
    r.disable();
    expect(r.hasTriesLeft).toBe(false);
    expect(r.limitExceeded(true)).toBe(false);
    const none = new RetryState(policy({ numRetries: 0, on5xx: true }));
    expect(none.limitExceeded(true)).toBe(false);
    none.disable(); // shared instances without retries are left untouched
    expect(none.hasTriesLeft).toBe(false);
  });
});
