/**
 * Circuit breaker bookkeeping without sockets: admission, the pending queue, overflow counting with
 * Envoy's stat names, retry budget, and release in every state.
 */
import { describe, expect, it } from 'vitest';
import {
  Admission,
  breakerLimits,
  CircuitBreaker,
  TicketState,
  UNLIMITED,
  type BreakerTicket,
} from '../../upstream/circuit-breaker.js';
import type { EndpointState } from '../../upstream/endpoint-state.js';
import { StatStore } from '../../telemetry/stats.js';

/** An endpoint whose pool reports `free` idle connections. */
function endpoint(port: number, free = 0): EndpointState {
  return {
    endpoint: { address: '127.0.0.1', port, labels: {}, weight: 1, key: `127.0.0.1:${port}` },
    active: 0,
    pool: { stats: { free } },
  } as unknown as EndpointState;
}

class Ticket implements BreakerTicket {
  cbState: number = TicketState.None;
  started = 0;
  constructor(
    readonly endpoint: EndpointState,
    readonly isRetry = false,
  ) {}
  start(): void {
    this.started++;
  }
}

const NAME = 'outbound|8000||httpbin.default.svc.cluster.local';
const stat = (s: StatStore, n: string) => s.get(`cluster.${NAME}.${n}`);

function breaker(cp: Parameters<typeof breakerLimits>[0]) {
  const stats = new StatStore();
  const cb = new CircuitBreaker(breakerLimits(cp)!, NAME);
  cb.bindStats(stats);
  return { cb, stats };
}

describe('breakerLimits', () => {
  it('is undefined when nothing is limited (Istio defaults 2^32-1) and treats 0/negative as unset', () => {
    expect(breakerLimits(undefined)).toBeUndefined();
    expect(
      breakerLimits({ tcp: { maxConnections: 0 }, http: { http1MaxPendingRequests: -1 } }),
    ).toBeUndefined();
    expect(breakerLimits({ http: { maxRequestsPerConnection: 1 } })).toBeUndefined();
    expect(breakerLimits({ tcp: { maxConnections: 1 } })).toEqual({
      maxConnections: 1,
      maxPendingRequests: UNLIMITED,
      maxRequests: UNLIMITED,
      maxRetries: UNLIMITED,
    });
  });
});

describe('CircuitBreaker', () => {
  it('maxConnections 1 + http1MaxPendingRequests 1: one active, one queued, the rest overflow', () => {
    const { cb, stats } = breaker({ tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } });
    const ep = endpoint(1, 1); // an idle connection: the first request is not pending
    const [a, b, c, d] = [new Ticket(ep), new Ticket(ep), new Ticket(ep), new Ticket(ep)];
    expect(cb.admit(a)).toBe(Admission.Go);
    expect(cb.admit(b)).toBe(Admission.Queued);
    expect(cb.admit(c)).toBe(Admission.Overflow);
    expect(cb.admit(d)).toBe(Admission.Overflow);
    expect(stat(stats, 'upstream_rq_pending_overflow')).toBe(2);
    expect(stat(stats, 'upstream_cx_overflow')).toBe(3);
    expect(stat(stats, 'upstream_rq_pending_total')).toBe(1);
    expect(stat(stats, 'upstream_rq_pending_active')).toBe(1);
    expect(stat(stats, 'upstream_cx_active')).toBe(1);
    // a finishes: b gets the slot and stays pending until its connection is up.
    cb.release(a);
    expect(b.started).toBe(1);
    expect(b.cbState).toBe(TicketState.Connecting);
    expect(stat(stats, 'upstream_rq_pending_active')).toBe(1);
    cb.started(b);
    expect(stat(stats, 'upstream_rq_pending_active')).toBe(0);
    cb.release(b);
    expect(stat(stats, 'upstream_cx_active')).toBe(0);
    expect(cb.active).toBe(0);
  });

  it('counts a request that must open a connection as pending, and overflows when the queue is full', () => {
    const { cb, stats } = breaker({ tcp: { maxConnections: 5 }, http: { http1MaxPendingRequests: 1 } });
    const ep = endpoint(1, 0); // no idle connection
    const a = new Ticket(ep);
    const b = new Ticket(ep);
    expect(cb.admit(a)).toBe(Admission.Go);
    expect(a.cbState).toBe(TicketState.Connecting);
    // a is still connecting (pending): b cannot wait as well.
    expect(cb.admit(b)).toBe(Admission.Overflow);
    cb.started(a);
    expect(cb.admit(b)).toBe(Admission.Go);
    expect(stat(stats, 'upstream_rq_pending_total')).toBe(2);
    expect(stat(stats, 'upstream_rq_pending_overflow')).toBe(1);
  });

  it('lets an endpoint without connections open one even at the cluster limit (Envoy)', () => {
    const { cb } = breaker({ tcp: { maxConnections: 1 } });
    const a = new Ticket(endpoint(1, 1));
    const b = new Ticket(endpoint(2, 1));
    expect(cb.admit(a)).toBe(Admission.Go);
    expect(cb.admit(b)).toBe(Admission.Go);
    expect(cb.active).toBe(2);
  });

  it('http2MaxRequests overflows at once (no queue) and counts upstream_rq_pending_overflow', () => {
    const { cb, stats } = breaker({ http: { http2MaxRequests: 2 } });
    const ep = endpoint(1, 5);
    expect(cb.admit(new Ticket(ep))).toBe(Admission.Go);
    expect(cb.admit(new Ticket(ep))).toBe(Admission.Go);
    expect(cb.admit(new Ticket(ep))).toBe(Admission.Overflow);
    expect(stat(stats, 'upstream_rq_pending_overflow')).toBe(1);
  });

  it('removes a queued attempt released before its turn (timeout, client gone)', () => {
    const { cb, stats } = breaker({ tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 5 } });
    const ep = endpoint(1, 1);
    const a = new Ticket(ep);
    const b = new Ticket(ep);
    const c = new Ticket(ep);
    cb.admit(a);
    cb.admit(b);
    cb.admit(c);
    cb.release(b);
    expect(stat(stats, 'upstream_rq_pending_active')).toBe(1);
    cb.release(a);
    expect(b.started).toBe(0);
    expect(c.started).toBe(1);
  });

  it('maxRetries: grants retries up to the limit, counts upstream_rq_retry_overflow, gives grants back', () => {
    const { cb, stats } = breaker({ http: { maxRetries: 1 } });
    expect(cb.canRetry()).toBe(true);
    expect(cb.canRetry()).toBe(false);
    expect(stat(stats, 'upstream_rq_retry_overflow')).toBe(1);
    const r = new Ticket(endpoint(1, 1), true);
    expect(cb.admit(r)).toBe(Admission.Go);
    cb.release(r);
    expect(cb.retriesActive).toBe(0);
    expect(cb.canRetry()).toBe(true);
    cb.returnRetry();
    expect(cb.retriesActive).toBe(0);
  });

  it('lists its counters at zero in the stat text once bound', () => {
    const { stats } = breaker({ tcp: { maxConnections: 1 } });
    const text = stats.toText();
    for (const n of [
      'upstream_rq_pending_overflow',
      'upstream_cx_overflow',
      'upstream_rq_pending_total',
      'upstream_rq_pending_active',
      'upstream_cx_active',
      'upstream_rq_retry_overflow',
    ])
      expect(text).toContain(`cluster.${NAME}.${n}: 0`);
  });
});
