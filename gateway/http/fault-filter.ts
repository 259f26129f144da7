/**
 * Envoy's fault filter (`envoy.filters.http.fault`), per-route config `RouteEntry.fault` (Istio
 * `HTTPFaultInjection`): a delay holds the request (flag DI) and then the abort is drawn; an abort
 * answers with the configured status (flag FI, body `fault filter abort`), or HTTP 200 with
 * `grpc-status` for `grpcStatus`.
 */
import type { ActiveStream, StreamFilter } from './active-stream.js';
import { FilterStatus } from './filter.js';
import { grpcStatusCode } from './grpc-status.js';
import { ResponseFlag } from '../response-flags.js';

/** Draws the abort; true when the stream was answered. */
function abortStream(s: ActiveStream): boolean {
  const abort = s.route!.fault?.abort;
  if (!abort || !(abort.fraction > 0) || Math.random() >= abort.fraction) return false;
  s.addFlag(ResponseFlag.FaultInjected);
  const grpc = abort.grpcStatus;
  s.sendLocalReply(
    {
      status: grpc ? 200 : abort.status,
      flag: undefined,
      body: 'fault filter abort',
      details: 'fault_filter_abort',
    },
    grpc ? { 'grpc-status': grpcStatusCode(grpc) } : undefined,
  );
  return true;
}

/**
 * Streams held by a delay, and the delay's timer: cleared when the stream closes first (a client
 * that gives up must not stay referenced, nor wake the chain, for the rest of the delay).
 */
const delayed = new WeakMap<ActiveStream, NodeJS.Timeout>();

/** Delays and aborts requests of routes with a `fault` policy. */
export const faultFilter: StreamFilter = {
  name: 'envoy.filters.http.fault',
  decodeHeaders(s) {
    const fault = s.route!.fault;
    if (fault === undefined) return FilterStatus.Continue;
    const delay = fault.delay;
    if (delay && delay.fraction > 0 && Math.random() < delay.fraction) {
      s.addFlag(ResponseFlag.DelayInjected);
      const timer = setTimeout(() => {
        delayed.delete(s);
        if (!s.finished && !abortStream(s)) s.continueDecoding();
      }, delay.ms);
      delayed.set(s, timer);
      return FilterStatus.StopIteration;
    }
    return abortStream(s) ? FilterStatus.StopIteration : FilterStatus.Continue;
  },
  onDestroy(s) {
    const timer = delayed.get(s);
    if (timer === undefined) return;
    clearTimeout(timer);
    delayed.delete(s);
  },
};
