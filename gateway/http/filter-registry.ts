/**
 * The HTTP filter chain of every HTTP connection manager, in Istio's gateway order: gRPC-Web
 * (first, as Istio puts it; it acts on `GRPC-WEB` listeners only), CORS, fault, router. A new
 * filter (authentication, rate limiting, …) is a new file and one line here; its per-route config
 * goes on the compiled `RouteEntry`, and a route without it costs one check.
 */
import type { StreamFilter } from './active-stream.js';
import { corsFilter } from './cors-filter.js';
import { faultFilter } from './fault-filter.js';
import { grpcWebFilter } from './grpc-web-filter.js';
import { routerFilter } from './router-filter.js';

/** Filters in decode order; the router is always last. */
export const HTTP_FILTERS: readonly StreamFilter[] = Object.freeze([
  grpcWebFilter,
  corsFilter,
  faultFilter,
  routerFilter,
]);
