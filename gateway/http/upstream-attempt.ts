/**
 * One try of a request against one endpoint (Envoy `UpstreamRequest`): the undici dispatch handler
 * and circuit-breaker ticket of that try. Late callbacks of a try the router abandoned (retried,
 * timed out, downstream gone) are isolated here and never reach the stream.
 */
import type { Dispatcher } from 'undici';
import { TicketState, type BreakerTicket } from '../../upstream/circuit-breaker.js';
import type { ClusterState } from '../../upstream/cluster-manager.js';
import type { EndpointState } from '../../upstream/endpoint-state.js';
import type { HeaderObject } from '../header-ops.js';

/** Abort reason: the router moved on to another try. */
export class RetryAbort extends Error {}
/** Abort reason: the route timeout fired (the router already answered). */
export class TimeoutAbort extends Error {}
/** Abort reason: the downstream went away. */
export class DownstreamAbort extends Error {}

/** What an attempt reports to: the router's per-stream state. */
export interface AttemptOwner {
  /** The try whose callbacks count; any other is stale. */
  readonly attempt: UpstreamAttempt | undefined;
  send(attempt: UpstreamAttempt): void;
  onUpstreamHeaders(attempt: UpstreamAttempt, status: number, headers: HeaderObject): void;
  /** A 1xx interim response of the current try (the final one follows). */
  onUpstreamInformational(status: number, headers: HeaderObject): void;
  onUpstreamData(controller: Dispatcher.DispatchController, chunk: Buffer): void;
  onUpstreamEnd(trailers: HeaderObject | undefined): void;
  onUpstreamError(attempt: UpstreamAttempt, err: Error): void;
}

/** One try; implements undici's dispatch handler and the circuit breaker's ticket. */
export class UpstreamAttempt implements Dispatcher.DispatchHandler, BreakerTicket {
  controller: Dispatcher.DispatchController | undefined;
  released = false;
  perTryTimer: NodeJS.Timeout | undefined;
  /** Circuit-breaker bookkeeping (upstream/circuit-breaker.ts). */
  cbState: number = TicketState.None;
  /** Upstream status once headers arrived; 0 before (outlier detection input). */
  status = 0;

  constructor(
    readonly owner: AttemptOwner,
    readonly endpoint: EndpointState,
    readonly cluster: ClusterState,
    readonly isRetry: boolean,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.endpoint.active--;
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    if (this.cbState !== TicketState.None) this.cluster.breaker!.release(this);
  }

  /** The circuit breaker hands a queued attempt its connection slot. */
  start(): void {
    this.owner.send(this);
  }

  /**
   * Outlier detection input: the status of this try, else a local-origin failure as Envoy counts
   * it without split local-origin errors (timeout 504; connect failure or reset 503). A try
   * abandoned because the client left reports nothing.
   */
  private outcome(err: Error | undefined): void {
    const od = this.cluster.outlier;
    if (od === undefined || err instanceof DownstreamAbort) return;
    if (err === undefined) od.report(this.endpoint.endpoint.key, this.status);
    else if (this.status === 0)
      od.report(
        this.endpoint.endpoint.key,
        err instanceof RetryAbort || err instanceof TimeoutAbort ? 504 : 503,
      );
  }

  abort(err: Error): void {
    const c = this.controller;
    if (c && !c.aborted) c.abort(err);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cbState === TicketState.Connecting) this.cluster.breaker!.started(this);
    if (this.owner.attempt !== this) controller.abort(new RetryAbort());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: HeaderObject,
  ): void {
    if (statusCode < 200) {
      if (this.owner.attempt === this) this.owner.onUpstreamInformational(statusCode, headers);
      return;
    }
    this.status = statusCode;
    this.outcome(undefined);
    if (this.owner.attempt !== this) return controller.abort(new RetryAbort());
    this.owner.onUpstreamHeaders(this, statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.owner.attempt !== this) return;
    this.owner.onUpstreamData(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: HeaderObject): void {
    this.release();
    if (this.owner.attempt === this) this.owner.onUpstreamEnd(trailersOf(controller, trailers));
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.outcome(err);
    this.release();
    if (this.owner.attempt === this) this.owner.onUpstreamError(this, err);
  }
}

/**
 * The response trailers of a try. undici's HTTP/2 client hands its handler the trailers as an
 * object where a flat list is expected, so they arrive empty; the controller keeps the original.
 */
function trailersOf(
  controller: Dispatcher.DispatchController,
  parsed: HeaderObject,
): HeaderObject | undefined {
  for (const k in parsed) if (Object.hasOwn(parsed, k)) return parsed;
  const raw = (controller as { rawTrailers?: unknown }).rawTrailers;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const out: HeaderObject = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (k.charCodeAt(0) === 58 /* ':' */) continue;
    out[k] = Array.isArray(v) ? v.map(String) : String(v);
  }
  return out;
}
