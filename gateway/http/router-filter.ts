/**
 * Envoy's router filter (`envoy.filters.http.router`), always last in the chain: carries out the
 * selected route's action: redirect, direct response, or forward (gateway/http/router.ts).
 */
import type { StreamFilter } from './active-stream.js';
import { FilterStatus } from './filter.js';
import { redirectLocation } from './redirect.js';
import { Router } from './router.js';

/** Runs the route action; the chain ends here. */
export const routerFilter: StreamFilter = {
  name: 'envoy.filters.http.router',
  decodeHeaders(s) {
    const action = s.route!.action;
    switch (action.kind) {
      case 'redirect':
        s.sendRedirect(
          action.status,
          redirectLocation(action, s.rt.scheme, s.authority, s.url, s.match?.uriPrefix),
          s.route!.responseHeaders,
        );
        break;
      case 'direct':
        s.sendDirectResponse(action.status, action.body, s.route!.responseHeaders);
        break;
      case 'forward':
        new Router(s).forward(action.clusters, action.totalWeight);
        break;
    }
    return FilterStatus.StopIteration;
  },
};
