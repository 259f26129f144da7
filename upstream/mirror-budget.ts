/**
 * Bounds the mirror copies in flight to one mirror cluster (issue 5). Envoy sends shadow requests
 * through the mirror cluster's connection pools and circuit breakers; with Istio's unlimited
 * defaults a shadow that answers slowly makes the proxy open one connection per copy until it
 * runs out of file descriptors, and in Node every new connection costs the event loop that also
 * serves the primary. So copies beyond a budget are dropped (fire-and-forget allows it) and
 * counted as the mirror cluster's `upstream_rq_pending_overflow`, as an Envoy shadow over its
 * cluster's breaker would be. The budget is the mirror cluster's own `connectionPool` limit when
 * its DestinationRule sets one, else {@link DEFAULT_MIRRORS_IN_FLIGHT}.
 */
import type { UpstreamHandler } from './upstream-handler.js';
import type { BreakerLimits } from './circuit-breaker.js';

/** Copies in flight per mirror cluster when its DestinationRule sets no `connectionPool` limit. */
export const DEFAULT_MIRRORS_IN_FLIGHT = 256;

/** The budget for a mirror cluster with these circuit-breaker limits (undefined: none set). */
export function mirrorLimit(limits: BreakerLimits | undefined): number {
  return limits ? Math.min(limits.maxConnections, limits.maxRequests) : DEFAULT_MIRRORS_IN_FLIGHT;
}

/** Copies in flight to one mirror cluster. */
export class MirrorBudget {
  inFlight = 0;

  /** @param limit most copies in flight at once. */
  constructor(readonly limit: number) {}

  /**
   * Takes a slot for one copy.
   * @returns the handler to dispatch the copy with (it discards the response and frees the slot),
   *   or undefined when the budget is spent and the copy must be dropped.
   */
  take(): MirrorCopy | undefined {
    if (this.inFlight >= this.limit) return undefined;
    this.inFlight++;
    return new MirrorCopy(this);
  }
}

/** Handler of one copy: the response is read and dropped, errors are ignored. */
class MirrorCopy implements UpstreamHandler {
  private done = false;
  constructor(private readonly budget: MirrorBudget) {}
  onConnect(): void {}
  onHeaders(): boolean {
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    this.finish();
  }
  onError(): void {
    this.finish();
  }
  /** Frees the slot once (also used when dispatch throws). */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.budget.inFlight--;
  }
}
