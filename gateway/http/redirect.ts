/**
 * Envoy's redirect action (Istio `HTTPRoute.redirect`, `tls.httpsRedirect`): the `Location` of a
 * redirect from the request's scheme, authority and target. Pure.
 */
import { stripPort } from '../../routes/host-names.js';
import type { RouteAction } from '../../routes/route-table.js';

/** A compiled redirect action. */
export type RedirectAction = Extract<RouteAction, { kind: 'redirect' }>;

/**
 * The absolute `Location` for a redirect route: scheme and host replaced as configured; the port
 * was decided at compile time (`port`, `derivePort`), else the Host keeps its own port except that
 * a switch of scheme drops the other scheme's default port; `redirect.uri` replaces the path (the
 * query kept unless `uri` carries one), a prefix rewrite replaces the matched `uri.prefix`.
 * @param url origin-form target as received (query included).
 * @param matchedPrefix the `uri.prefix` of the match that selected the route, if any.
 */
export function redirectLocation(
  action: RedirectAction,
  requestScheme: 'http' | 'https',
  authority: string,
  url: string,
  matchedPrefix: string | undefined,
): string {
  const scheme = action.scheme ?? requestScheme;
  let hostPort = action.authority ?? authority;
  if (action.port !== undefined) hostPort = `${stripPort(hostPort)}:${action.port}`;
  else if (scheme !== requestScheme) hostPort = stripDefaultPort(hostPort);
  let path = url;
  const q = path.indexOf('?');
  if (action.prefixRewrite !== undefined) {
    const p = q < 0 ? path : path.slice(0, q);
    const rest = matchedPrefix !== undefined ? p.slice(matchedPrefix.length) : '';
    path = action.prefixRewrite + rest + (q < 0 ? '' : path.slice(q));
  } else if (action.uri !== undefined) {
    path = action.uri.includes('?') || q < 0 ? action.uri : action.uri + path.slice(q);
  }
  return `${scheme}://${hostPort}${path}`;
}

/** The `tls.httpsRedirect` target (Envoy `require_tls: ALL`): same host and target, https, default port dropped. */
export function httpsRedirectLocation(authority: string, url: string): string {
  return `https://${stripDefaultPort(authority)}${url}`;
}

function stripDefaultPort(hostPort: string): string {
  return hostPort.endsWith(':80') || hostPort.endsWith(':443') ? stripPort(hostPort) : hostPort;
}
