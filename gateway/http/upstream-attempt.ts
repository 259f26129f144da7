/**
 * One try of a request against one endpoint (Envoy `UpstreamRequest`): the undici dispatch handler
 * and circuit-breaker ticket of that try. Late callbacks of a try the router abandoned (retried,
 * timed out, downstream gone) are isolated here and never reach the stream.
 *
 * It implements undici's original handler callbacks (`onConnect`, `onHeaders`, `onData`,
 * `onComplete`, `onError`), which undici 7 still calls internally, rather than the controller API
 * (`onRequestStart`, `onResponseStart`, …): undici adapts a controller-API handler through a wrapper
 * and a controller object per request and parses every response head and trailer list into an
 * object on the way; the router forwards the raw list instead (gateway/http/upstream-response-headers.ts).
 */
import type { Dispatcher } from 'undici';
import { TicketState, type BreakerTicket } from '../../upstream/circuit-breaker.js';
import type { ClusterState } from '../../upstream/cluster-manager.js';
import type { EndpointState } from '../../upstream/endpoint-state.js';
import type { HeaderObject } from '../header-ops.js';
import { trailersObjectOf, type RawHeaderItem } from './upstream-response-headers.js';

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
  /**
   * The final (status ≥ 200) response head of the current try.
   * @param raw undici's flat `[name, value, …]` list, names as the upstream sent them.
   */
  onUpstreamHeaders(attempt: UpstreamAttempt, status: number, raw: readonly RawHeaderItem[]): void;
  /** A 1xx interim response of the current try (the final one follows). */
  onUpstreamInformational(status: number, raw: readonly RawHeaderItem[]): void;
  /**
   * Response body bytes of the current try.
   * @returns false when the downstream is full: the attempt is paused until {@link UpstreamAttempt.resume}.
   */
  onUpstreamData(attempt: UpstreamAttempt, chunk: Buffer): boolean;
  onUpstreamEnd(trailers: HeaderObject | undefined): void;
  onUpstreamError(attempt: UpstreamAttempt, err: Error): void;
}

/** One try; implements undici's dispatch handler and the circuit breaker's ticket. */
export class UpstreamAttempt implements Dispatcher.DispatchHandler, BreakerTicket {
  released = false;
  perTryTimer: NodeJS.Timeout | undefined;
  /** Circuit-breaker bookkeeping (upstream/circuit-breaker.ts). */
  cbState: number = TicketState.None;
  /** Upstream status once headers arrived; 0 before (outlier detection input). */
  status = 0;
  /** undici's abort of this request, once it was put on a connection. */
  private abortRequest: ((err?: Error) => void) | undefined = undefined;
  /** undici's resume of a response paused by returning false from {@link onData}. */
  private resumeResponse: (() => void) | undefined = undefined;
  private aborted = false;

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

  /** Aborts the request once it is on a connection (a queued one aborts itself when it gets there). */
  abort(err: Error): void {
    const abort = this.abortRequest;
    if (abort === undefined || this.aborted) return;
    this.aborted = true;
    abort(err);
  }

  /** Resumes a response paused for downstream backpressure. */
  resume(): void {
    this.resumeResponse?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortRequest = abort;
    if (this.cbState === TicketState.Connecting) this.cluster.breaker!.started(this);
    if (this.owner.attempt !== this) this.abort(new RetryAbort());
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) {
      if (this.owner.attempt === this) this.owner.onUpstreamInformational(statusCode, raw);
      return true;
    }
    this.status = statusCode;
    this.resumeResponse = resume;
    this.outcome(undefined);
    if (this.owner.attempt !== this) {
      this.abort(new RetryAbort());
      return true;
    }
    this.owner.onUpstreamHeaders(this, statusCode, raw);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.owner.attempt !== this) return true;
    return this.owner.onUpstreamData(this, chunk);
  }

  onComplete(trailers: string[] | null): void {
    this.release();
    if (this.owner.attempt === this) this.owner.onUpstreamEnd(trailersObjectOf(trailers));
  }

  onError(err: Error): void {
    this.outcome(err);
    this.release();
    if (this.owner.attempt === this) this.owner.onUpstreamError(this, err);
  }
}
