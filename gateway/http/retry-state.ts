/**
 * Envoy's router retry state for one downstream request (Istio `HTTPRoute.retries` compiled to a
 * {@link RetryPolicy}): which outcomes are retriable, how many tries are left, the back-off before
 * the next try and whether an exhausted retry earns the `URX` flag. Pure: the policy is applied
 * once at construction, randomness is injected, and the router schedules the returned delays.
 */
import type { RetryPolicy } from '../../routes/route-table.js';

/** Envoy's retry back-off base interval, ms (fully jittered, exponential). */
const RETRY_BACKOFF_BASE_MS = 25;
/** Envoy's retry back-off ceiling: 10 × the base interval, ms. */
export const RETRY_BACKOFF_MAX_MS = 250;

/** How an upstream try failed without a response: never connected (UF), reset (UC), or a response Envoy's codec refuses (UPE). */
type UpstreamFailure = 'connect-failure' | 'protocol-error' | 'reset';

/** A policy that never retries (routes with `attempts: 0`; the base for other policies in tests). */
export const NO_RETRY_POLICY: RetryPolicy = Object.freeze({
  numRetries: 0,
  perTryTimeoutMs: 0,
  on5xx: false,
  onGatewayError: false,
  onReset: false,
  onConnectFailure: false,
  onRetriable4xx: false,
  onRefusedStream: false,
  retriableStatusCodes: new Set<number>(),
  retriableGrpcStatuses: new Set<number>(),
});

/** Retry bookkeeping of one request; `tries` counts tries made (`x-envoy-attempt-count`). */
export class RetryState {
  /** Retries still allowed. */
  private left: number;
  /** Tries made so far, the first one included. */
  tries = 1;
  /** False once a streamed body was sent: the request cannot be sent again (no retry, no URX). */
  private replayable = true;

  /**
   * @param random uniform in [0, 1), for the back-off jitter (Math.random in production).
   */
  constructor(
    readonly policy: RetryPolicy,
    private readonly random: () => number = Math.random,
  ) {
    this.left = policy.numRetries;
  }

  /** Whether another try may be made (the circuit breaker's retry budget is the router's check). */
  get hasTriesLeft(): boolean {
    return this.left > 0;
  }

  /** The request body streams and cannot be replayed: no retries from now on. */
  disable(): void {
    // A state without retries may be shared between requests: it has nothing to disable.
    if (this.policy.numRetries === 0) return;
    this.left = 0;
    this.replayable = false;
  }

  /** `5xx`, `gateway-error`, `retriable-4xx` (409) and `retriable-status-codes` for a response status. */
  retriableStatus(status: number): boolean {
    const p = this.policy;
    return (
      (p.on5xx && status >= 500) ||
      (p.onGatewayError && status >= 502 && status <= 504) ||
      (p.onRetriable4xx && status === 409) ||
      p.retriableStatusCodes.has(status)
    );
  }

  /** gRPC `retryOn` tokens for a `grpc-status` in a response head (a trailers-only response). */
  retriableGrpcStatus(value: string | string[]): boolean {
    const v = Array.isArray(value) ? value[0] : value;
    return v !== undefined && this.policy.retriableGrpcStatuses.has(Number(v));
  }

  /** `connect-failure` for a refused connection; `reset`, `5xx` or `gateway-error` for a reset or protocol error. */
  retriableFailure(kind: UpstreamFailure): boolean {
    const p = this.policy;
    return kind === 'connect-failure' ? p.onConnectFailure : p.onReset || p.on5xx || p.onGatewayError;
  }

  /** A per-try timeout is retried under `5xx`, `gateway-error` or `reset` (Envoy). */
  retriablePerTryTimeout(): boolean {
    const p = this.policy;
    return p.on5xx || p.onGatewayError || p.onReset;
  }

  /** Whether a retriable outcome that is not retried ends with the `URX` flag. */
  limitExceeded(retriable: boolean): boolean {
    return retriable && this.policy.numRetries > 0 && this.replayable;
  }

  /**
   * Counts the next try and returns its back-off in ms: Envoy's jittered exponential back-off,
   * uniform in [0, (2^n − 1) × 25 ms) for retry n, capped at 250 ms.
   * @throws Error when no tries are left (callers check {@link hasTriesLeft}).
   */
  next(): number {
    if (this.left <= 0) throw new Error('retry state: no tries left');
    this.left--;
    this.tries++;
    const ceiling = Math.min(RETRY_BACKOFF_MAX_MS, (2 ** (this.tries - 1) - 1) * RETRY_BACKOFF_BASE_MS);
    return this.random() * ceiling;
  }
}
