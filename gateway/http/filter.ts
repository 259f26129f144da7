/**
 * The HTTP filter contract (Envoy `StreamDecoderFilter` / `StreamEncoderFilter`): the connection
 * manager calls each filter of the chain in order with the request head; a filter either lets the
 * next one run or stops the chain (it answered, or it resumes the chain later, e.g. after a fault
 * delay). Response heads pass the filters in reverse order. Filters are stateless singletons: their
 * per-route config sits on the compiled `RouteEntry`, and what they remember per stream sits on
 * the stream.
 */
import type { HeaderObject } from '../header-ops.js';

/** What a filter's decode step tells the connection manager. */
export const FilterStatus = {
  /** Run the next filter. */
  Continue: 0,
  /** Stop here: the filter answered the request or will resume the chain itself. */
  StopIteration: 1,
} as const;
export type FilterStatus = (typeof FilterStatus)[keyof typeof FilterStatus];

/**
 * One HTTP filter. `S` is the stream type (the connection manager's `ActiveStream`); it is a type
 * parameter so this contract does not depend on the stream's module.
 */
export interface HttpFilter<S> {
  /** Envoy filter name, for logs (`envoy.filters.http.cors`, …). */
  readonly name: string;
  /** Sees the request head once a route was selected (`stream.route` is set). */
  decodeHeaders(stream: S): FilterStatus;
  /** Sees (and may change) the upstream response head before it is sent downstream. */
  encodeHeaders?(stream: S, status: number, headers: HeaderObject): void;
  /**
   * The stream closed (Envoy `StreamFilterBase::onDestroy`): called once per stream for each filter
   * whose decode step ran, also when the downstream left early, so a filter holding a per-stream
   * resource (a fault delay's timer) frees it at once instead of when it would have fired.
   */
  onDestroy?(stream: S): void;
}
