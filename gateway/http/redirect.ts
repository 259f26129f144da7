/**
 * Envoy's redirect action (Istio `HTTPRoute.redirect`, `tls.httpsRedirect`): the `Location` of a
 * redirect from the request's scheme, authority and target. Pure.
 */
import type { RouteAction } from '../../routes/route-table.js';

/** A compiled redirect action. */
export type RedirectAction = Extract<RouteAction, { kind: 'redirect' }>;

/**
 * The absolute `Location` for a redirect route: scheme, host and port replaced as configured
 * (`port`, `derivePort: FROM_REQUEST_PORT` → the listener port), a default port for the target
 * scheme dropped, `uri` replacing the path (the query kept unless `uri` carries one).
 * @param url origin-form target as received (query included).
 * @param listenerPort the port the request arrived on (for `FROM_REQUEST_PORT`).
 */
export function redirectLocation(
  action: RedirectAction,
  requestScheme: 'http' | 'https',
  authority: string,
  url: string,
  listenerPort: number,
): string {
  const scheme = action.scheme ?? requestScheme;
  let hostPort = action.authority ?? authority;
  if (action.port !== undefined || action.deriveFromRequestPort) {
    hostPort = `${stripPort(hostPort)}:${action.port ?? listenerPort}`;
  } else if (action.scheme !== undefined && action.scheme !== requestScheme) {
    hostPort = stripDefaultPort(hostPort);
  }
  hostPort = stripDefaultPortFor(hostPort, scheme);
  let path = url;
  if (action.uri !== undefined) {
    const q = path.indexOf('?');
    path = action.uri.includes('?') || q < 0 ? action.uri : action.uri + path.slice(q);
  }
  return `${scheme}://${hostPort}${path}`;
}

/** The `tls.httpsRedirect` target (Envoy `require_tls: ALL`): same host and target, https, default port dropped. */
export function httpsRedirectLocation(authority: string, url: string): string {
  return `https://${stripDefaultPort(authority)}${url}`;
}

function stripPort(hostPort: string): string {
  const colon = hostPort.lastIndexOf(':');
  return colon > 0 && hostPort.indexOf(']') < colon ? hostPort.slice(0, colon) : hostPort;
}

function stripDefaultPort(hostPort: string): string {
  return hostPort.endsWith(':80') || hostPort.endsWith(':443') ? stripPort(hostPort) : hostPort;
}

function stripDefaultPortFor(hostPort: string, scheme: string): string {
  if ((scheme === 'http' && hostPort.endsWith(':80')) || (scheme === 'https' && hostPort.endsWith(':443'))) {
    return stripPort(hostPort);
  }
  return hostPort;
}
