/**
 * Circuit breaking (Istio `DestinationRule.trafficPolicy.connectionPool`, Envoy cluster
 * `circuit_breakers` thresholds plus the HTTP/1.1 connection pool's pending queue), cluster-wide.
 *
 * Envoy's model, as applied here to HTTP/1.1 upstreams (one request per connection at a time):
 * - a request needs a connection; it goes at once when the cluster is below `tcp.maxConnections`
 *   (or its endpoint has no connection at all: Envoy always lets an empty host pool open one, so a
 *   limit reached on other hosts cannot starve it);
 * - otherwise it waits in the pending queue (`upstream_cx_overflow` + 1) if fewer than
 *   `http.http1MaxPendingRequests` are waiting, else it overflows;
 * - a request that must open a new connection also counts as pending until the connection is up
 *   (undici calls `onRequestStart` then), exactly as Envoy keeps it pending until the pool is ready;
 * - more than `http.http2MaxRequests` active requests overflow at once;
 * - overflow is an immediate local 503 with flag UO and `x-envoy-overloaded: true`, counted in
 *   `upstream_rq_pending_overflow` (Envoy counts max-requests overflow there too), never retried;
 * - `http.maxRetries` caps retries in flight cluster-wide; a retry over it is not made
 *   (`upstream_rq_retry_overflow`) and the last response stands.
 *
 * Connections are counted while they carry (or are opening for) a request; idle keep-alive
 * connections are not counted against `maxConnections` (they are shared by the endpoint's pool and
 * reused first). Istio's defaults are 2^32-1 for every limit, so the breaker is only built for
 * clusters whose DestinationRule sets one.
 *
 * HTTP/2 clusters: Envoy multiplexes up to `http.maxConcurrentStreams` streams (default 2^31-1)
 * on each connection, so `maxConnections` holds back a request only once every allowed connection
 * carries that many streams. The breaker's slots are then streams: `maxConnections ×
 * maxConcurrentStreams` of them (unlimited when `maxConcurrentStreams` is unset); the HTTP/2 pool
 * (h2-pool.ts) puts up to `maxConcurrentStreams` (or the peer's SETTINGS_MAX_CONCURRENT_STREAMS)
 * of them on each connection before it opens another, and opens no more than `maxConnections` per
 * endpoint: past that a request waits in the pool for a stream. A request counts as pending (bounded
 * by `http1MaxPendingRequests`) until it has a stream: when the endpoint's pool has no connected
 * session with room it must connect or wait.
 */
import type { ConnectionPoolSettings } from '../config/resources.js';
import type { StatStore } from '../telemetry/stats.js';
import type { EndpointState } from './endpoint-state.js';

/** Istio's default for every connection-pool limit (effectively unlimited). */
export const UNLIMITED = 2 ** 32 - 1;

/** Breaker state of one request attempt ({@link BreakerTicket.cbState}). */
export const TicketState = {
  /** Not admitted (no breaker, overflowed, or released). */
  None: 0,
  /** Waiting in the pending queue for a connection slot. */
  Queued: 1,
  /** Holds a connection slot; its connection is being opened (still counts as pending). */
  Connecting: 2,
  /** Holds a connection slot and its request is on the wire. */
  Active: 3,
} as const;

/** What {@link CircuitBreaker.admit} decided. */
export const Admission = {
  /** Send now. */
  Go: 0,
  /** Queued; the breaker calls `start()` when a connection slot frees up. */
  Queued: 1,
  /** Over a limit: answer 503 UO. */
  Overflow: 2,
} as const;
type AdmissionValue = (typeof Admission)[keyof typeof Admission];

/** A request attempt as the breaker sees it (the router's `UpstreamAttempt`). */
export interface BreakerTicket {
  /** Bookkeeping owned by the breaker; starts at {@link TicketState.None}. */
  cbState: number;
  /**
   * True for a retry: it carries the share of `maxRetries` granted by {@link CircuitBreaker.canRetry}
   * and gives it back when released (or when it overflows).
   */
  readonly isRetry: boolean;
  readonly endpoint: EndpointState;
  /** Sends the request; called for a queued ticket when it gets a connection slot. */
  start(): void;
}

/** The thresholds of {@link CircuitBreaker}, each ≥ 1 (Istio default {@link UNLIMITED}). */
export interface BreakerLimits {
  /** `tcp.maxConnections`: connections to all endpoints of the cluster (HTTP/2: streams, see {@link breakerLimits}). */
  readonly maxConnections: number;
  /** `http.http1MaxPendingRequests`: requests waiting for a connection. */
  readonly maxPendingRequests: number;
  /** `http.http2MaxRequests`: concurrent requests (HTTP/1.1 and HTTP/2). */
  readonly maxRequests: number;
  /** `http.maxRetries`: concurrent retries. */
  readonly maxRetries: number;
}

/**
 * Reads the limits from `connectionPool`; zero, negative or missing values mean "unset" (Istio's
 * 2^32-1). Returns undefined when no limit is set, so such clusters carry no breaker at all.
 * @param http2 the cluster speaks HTTP/2 upstream: a connection slot is a stream, and
 *   `maxConnections` allows `maxConnections × http.maxConcurrentStreams` of them.
 */
export function breakerLimits(
  cp: ConnectionPoolSettings | undefined,
  http2 = false,
): BreakerLimits | undefined {
  const streamsPerConnection = http2 ? limit(cp?.http?.maxConcurrentStreams) : 1;
  const limits: BreakerLimits = {
    maxConnections: Math.min(limit(cp?.tcp?.maxConnections) * streamsPerConnection, UNLIMITED),
    maxPendingRequests: limit(cp?.http?.http1MaxPendingRequests),
    maxRequests: limit(cp?.http?.http2MaxRequests),
    maxRetries: limit(cp?.http?.maxRetries),
  };
  const any =
    limits.maxConnections < UNLIMITED ||
    limits.maxPendingRequests < UNLIMITED ||
    limits.maxRequests < UNLIMITED ||
    limits.maxRetries < UNLIMITED;
  return any ? limits : undefined;
}

function limit(n: number | undefined): number {
  return typeof n === 'number' && n > 0 ? Math.min(n, UNLIMITED) : UNLIMITED;
}

/** Cluster-wide admission control for one cluster; see the module comment for the rules. */
export class CircuitBreaker {
  /** Requests holding a connection slot (opening or on the wire) = busy connections. */
  active = 0;
  /** Requests waiting: queued, or holding a slot whose connection is being opened. */
  pendingActive = 0;
  /** Retries admitted and not finished. */
  retriesActive = 0;
  private readonly queue: BreakerTicket[] = [];
  /** Busy connections per endpoint (for Envoy's "an empty host pool may always connect"). */
  private readonly perEndpoint = new Map<EndpointState, number>();
  private stats: StatStore | undefined;
  private readonly names: {
    readonly pendingOverflow: string;
    readonly pendingTotal: string;
    readonly pendingActive: string;
    readonly cxOverflow: string;
    readonly cxActive: string;
    readonly retryOverflow: string;
  };

  /** @param clusterName the Envoy cluster name; stats live under `cluster.<clusterName>.`. */
  constructor(
    readonly limits: BreakerLimits,
    clusterName: string,
  ) {
    const p = `cluster.${clusterName}.`;
    this.names = {
      pendingOverflow: `${p}upstream_rq_pending_overflow`,
      pendingTotal: `${p}upstream_rq_pending_total`,
      pendingActive: `${p}upstream_rq_pending_active`,
      cxOverflow: `${p}upstream_cx_overflow`,
      cxActive: `${p}upstream_cx_active`,
      retryOverflow: `${p}upstream_rq_retry_overflow`,
    };
  }

  /** Publishes the counters into `stats` (zeros included, as Envoy lists them) and keeps them there. */
  bindStats(stats: StatStore): void {
    if (this.stats === stats) return;
    this.stats = stats;
    for (const n of [
      this.names.pendingOverflow,
      this.names.pendingTotal,
      this.names.cxOverflow,
      this.names.retryOverflow,
    ])
      stats.inc(n, 0);
    this.gauges();
  }

  /**
   * Admits an attempt. `Go`: the caller sends it now. `Queued`: the breaker calls `t.start()` when
   * a slot frees up (or never, if the caller releases it first). `Overflow`: answer 503 UO.
   */
  admit(t: BreakerTicket): AdmissionValue {
    const l = this.limits;
    if (this.active >= l.maxRequests) return this.overflow(t);
    const onEndpoint = this.perEndpoint.get(t.endpoint) ?? 0;
    if (this.active < l.maxConnections || onEndpoint === 0) {
      // A new connection is needed when the endpoint's pool has no idle one; the request then
      // waits (pending) until it is connected, and only if the pending queue has room.
      const connecting = t.endpoint.pool.stats.free === 0;
      if (connecting) {
        if (this.pendingActive >= l.maxPendingRequests) return this.overflow(t);
        this.pendingActive++;
        this.stats?.inc(this.names.pendingTotal);
      }
      t.cbState = connecting ? TicketState.Connecting : TicketState.Active;
      this.take(t, onEndpoint);
      this.gauges();
      return Admission.Go;
    }
    this.stats?.inc(this.names.cxOverflow);
    if (this.pendingActive >= l.maxPendingRequests) return this.overflow(t);
    this.pendingActive++;
    this.stats?.inc(this.names.pendingTotal);
    t.cbState = TicketState.Queued;
    this.queue.push(t);
    this.gauges();
    return Admission.Queued;
  }

  /** The attempt's request got its connection (undici `onRequestStart`): no longer pending. */
  started(t: BreakerTicket): void {
    if (t.cbState !== TicketState.Connecting) return;
    t.cbState = TicketState.Active;
    this.pendingActive--;
    this.gauges();
  }

  /**
   * The attempt is over (response complete, failed, abandoned for a retry or timeout, or the client
   * left): frees what it held and hands a freed connection slot to the oldest queued attempt.
   */
  release(t: BreakerTicket): void {
    const state = t.cbState;
    if (state === TicketState.None) return;
    t.cbState = TicketState.None;
    if (t.isRetry) this.retriesActive--;
    if (state === TicketState.Queued) {
      const i = this.queue.indexOf(t);
      if (i >= 0) this.queue.splice(i, 1);
      this.pendingActive--;
    } else {
      if (state === TicketState.Connecting) this.pendingActive--;
      this.active--;
      const n = this.perEndpoint.get(t.endpoint) ?? 1;
      if (n <= 1) this.perEndpoint.delete(t.endpoint);
      else this.perEndpoint.set(t.endpoint, n - 1);
      this.drain();
    }
    this.gauges();
  }

  /**
   * Grants one retry if fewer than `http.maxRetries` are in flight; the grant travels with the retry
   * attempt (`isRetry`) and is given back when it is released, or with {@link returnRetry} if no
   * attempt is made. On "no", counts `upstream_rq_retry_overflow`: the caller keeps the current
   * response or failure.
   */
  canRetry(): boolean {
    if (this.retriesActive < this.limits.maxRetries) {
      this.retriesActive++;
      return true;
    }
    this.stats?.inc(this.names.retryOverflow);
    return false;
  }

  /** Gives back a retry grant that no attempt used (the request ended during the back-off). */
  returnRetry(): void {
    this.retriesActive--;
  }

  private take(t: BreakerTicket, onEndpoint: number): void {
    this.active++;
    this.perEndpoint.set(t.endpoint, onEndpoint + 1);
  }

  /** Starts queued attempts while connection slots are free (FIFO, like Envoy's pending list). */
  private drain(): void {
    while (
      this.queue.length > 0 &&
      this.active < this.limits.maxConnections &&
      this.active < this.limits.maxRequests
    ) {
      const t = this.queue.shift()!;
      // Still pending until its connection is up; it already holds its retry share.
      t.cbState = TicketState.Connecting;
      this.active++;
      this.perEndpoint.set(t.endpoint, (this.perEndpoint.get(t.endpoint) ?? 0) + 1);
      t.start();
    }
  }

  private overflow(t: BreakerTicket): AdmissionValue {
    if (t.isRetry) this.retriesActive--;
    this.stats?.inc(this.names.pendingOverflow);
    return Admission.Overflow;
  }

  private gauges(): void {
    const s = this.stats;
    if (s === undefined) return;
    s.set(this.names.pendingActive, this.pendingActive);
    s.set(this.names.cxActive, this.active);
  }
}
