/**
 * The HTTP filter contract (Envoy `StreamDecoderFilter` / `StreamEncoderFilter`): the connection
 * manager calls each filter of the chain in order with the request head; a filter either lets the
 * next one run or stops the chain (it answered, or it resumes the chain later, e.g. after a fault
 * delay). Response heads pass the filters in reverse order. Filters are stateless singletons: their
 * per-route config sits on the compiled `RouteEntry`, and what they remember per stream sits on
 * the stream.
 */
import type { Readable } from 'node:stream';
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
   * Whether {@link encodeHeaders} would act on this stream's response head. When no filter's would,
   * the router forwards the upstream head as received, without building a header object. A filter
   * with `encodeHeaders` and without this predicate is always run.
   */
  encodesHeaders?(stream: S): boolean;
  /**
   * The stream closed (Envoy `StreamFilterBase::onDestroy`): called once per stream for each filter
   * whose decode step ran, also when the downstream left early, so a filter holding a per-stream
   * resource (a fault delay's timer) frees it at once instead of when it would have fired.
   */
  onDestroy?(stream: S): void;
}

/**
 * A filter's per-stream body transcoding (Envoy's `decodeData` / `encodeData` / `encodeTrailers`
 * of one filter, e.g. gRPC-Web): set on the stream by the filter's decode step, read by the router
 * and the stream's encoders. Streams without one pay one `undefined` check per hook.
 */
export interface StreamTranscoder {
  /** Rewrites the upstream request head the router built (`[name, value, …]`, names lowercase). */
  upstreamHeaders(out: string[]): void;
  /** The request body as it is sent upstream (its length is then unknown: no `content-length`). */
  decodeBody(body: Readable): Readable;
  /** The response head is held back (the transcoder writes it when the response ends). */
  readonly holdsHead: boolean;
  /** One upstream response body chunk → the bytes to send downstream now (empty: nothing yet). */
  encodeData(chunk: Buffer): Buffer;
  /**
   * The upstream response ended with `trailers` (undefined or empty: none): writes whatever is
   * left (a held head, trailers carried in the body) and ends the downstream response.
   */
  encodeTrailers(trailers: HeaderObject | undefined): void;
}
