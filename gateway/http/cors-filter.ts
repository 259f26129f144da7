/** Envoy's CORS filter (`envoy.filters.http.cors`): per-route config is `RouteEntry.cors`. */
import { allowedOrigin, applyCorsHeaders, preflightResponseHeaders } from '../cors.js';
import type { StreamFilter } from './active-stream.js';
import { FilterStatus } from './filter.js';

/** Answers allowed preflights; marks allowed origins so their responses get the CORS headers. */
export const corsFilter: StreamFilter = {
  name: 'envoy.filters.http.cors',
  decodeHeaders(s) {
    const cors = s.route!.cors;
    if (cors === undefined) return FilterStatus.Continue;
    const req = s.req;
    const preflight = preflightResponseHeaders(cors, req.method, req.headers);
    if (preflight !== undefined) {
      s.details = 'cors_response';
      s.res.writeHead(200, preflight);
      s.res.end();
      return FilterStatus.StopIteration;
    }
    s.corsOrigin = allowedOrigin(cors, req.headers);
    return FilterStatus.Continue;
  },
  encodesHeaders: (s) => s.corsOrigin !== undefined,
  encodeHeaders(s, _status, headers) {
    if (s.corsOrigin !== undefined) applyCorsHeaders(headers, s.route!.cors!, s.corsOrigin);
  },
};
