/**
 * The upstream request head the router sends (Envoy edge-proxy semantics, Istio gateway defaults):
 * hop-by-hop headers dropped (RFC 9110 §7.6.1), `x-forwarded-for` appended with the client address,
 * `x-forwarded-proto` set, `x-forwarded-client-cert` and the headers the proxy owns removed, then the
 * route's rewrite, header operations, `host`, `x-envoy-expected-rq-timeout-ms` and
 * `x-envoy-attempt-count`. Pure: the caller supplies the request id and trace context.
 */
import { stripPort } from '../../routes/host-names.js';
import type { CompiledMatch, RouteEntry, WeightedCluster } from '../../routes/route-table.js';
import { dropFromList, HOP_BY_HOP, mutateHeaderList } from '../header-ops.js';

/** Receives the downstream `x-request-id` when the request carried one. */
interface RequestIdSink {
  requestId: string | undefined;
}

/**
 * Copies the downstream headers into `out` (flat `[name, value, …]`, names lowercase) and adds
 * the forwarding headers.
 * @param raw `rawHeaders` as received; HTTP/2 pseudo-headers (`:path`, …) are skipped.
 * @param client the downstream peer address (IPv4-mapped IPv6 unwrapped).
 * @returns whether the request head announces a body (`content-length` > 0 or `transfer-encoding`).
 */
export function copyRequestHeaders(
  raw: readonly string[],
  client: string,
  scheme: 'http' | 'https',
  out: string[],
  ids: RequestIdSink,
): boolean {
  let connectionTokens: string | undefined;
  let xff: string | undefined;
  let hasBody = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (HOP_BY_HOP.has(name)) {
      // `te: trailers` is the one TE value HTTP/2 allows, and gRPC servers expect it.
      if (name === 'te' && value.trim().toLowerCase() === 'trailers') {
        out.push(name, 'trailers');
        continue;
      }
      if (name === 'connection') connectionTokens = value.toLowerCase();
      else if (name === 'transfer-encoding') hasBody = true;
      continue;
    }
    switch (name) {
      case 'host':
      case 'x-forwarded-proto':
      case 'x-envoy-attempt-count':
      case 'expect':
      case 'x-forwarded-client-cert': // SANITIZE_SET: only the TLS chain sets it, from a verified certificate.
        continue;
      case 'x-forwarded-for':
        xff = xff === undefined ? value : `${xff},${value}`;
        continue;
      case 'x-request-id':
        ids.requestId = value;
        break;
      case 'content-length':
        if (value !== '0') hasBody = true;
        break;
      default:
        if (name.charCodeAt(0) === 58 /* ':' */) continue; // HTTP/2 pseudo-header
        break;
    }
    out.push(name, value);
  }
  // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1). Most clients send only
  // `keep-alive` or `close`, which name no header: no token list is built for them.
  if (connectionTokens !== undefined && connectionTokens !== 'keep-alive' && connectionTokens !== 'close') {
    dropFromList(out, new Set(connectionTokens.split(',').map((t) => t.trim())));
  }
  out.push('x-forwarded-for', xff === undefined ? client : `${xff}, ${client}`);
  out.push('x-forwarded-proto', scheme);
  return hasBody;
}

/**
 * Applies the route to the upstream head: `rewrite.uri` (replacing the matched `uri.prefix`, else the
 * whole path; query kept; `x-envoy-original-path` added when the path changed), `rewrite.uriRegexRewrite`,
 * the host rewrite (route, else destination), the route's then the destination's `headers.request`, `host`, and Envoy's
 * `x-envoy-expected-rq-timeout-ms` / `x-envoy-attempt-count: 1`.
 * @param url origin-form target as received (query included).
 * @returns the upstream request target.
 */
export function applyRouteToUpstream(
  out: string[],
  url: string,
  authority: string,
  route: RouteEntry,
  wc: WeightedCluster,
  match: CompiledMatch | undefined,
): string {
  let path = url;
  let host = authority;
  const rw = route.rewrite;
  if (rw) {
    const q = path.indexOf('?');
    const p = q < 0 ? path : path.slice(0, q);
    let np = p;
    if (rw.uri !== undefined) {
      np = match?.uriPrefix !== undefined ? rw.uri + p.slice(match.uriPrefix.length) : rw.uri;
      if (np === '') np = '/';
    } else if (rw.regex) {
      rw.regex.pattern.lastIndex = 0;
      np = p.replace(rw.regex.pattern, rw.regex.substitution);
    }
    if (np !== p) {
      out.push('x-envoy-original-path', url);
      path = q < 0 ? np : np + path.slice(q);
    }
  }
  // `rewrite.authority` (route) wins over a destination's own host rewrite.
  const hostRewrite = route.hostRewrite ?? wc.hostRewrite;
  if (hostRewrite !== undefined) host = hostRewrite;
  if (route.requestHeaders) mutateHeaderList(out, route.requestHeaders);
  if (wc.requestHeaders) mutateHeaderList(out, wc.requestHeaders);
  out.push('host', host);
  if (route.timeoutMs > 0) out.push('x-envoy-expected-rq-timeout-ms', String(route.timeoutMs));
  out.push('x-envoy-attempt-count', '1');
  return path;
}

/** The `<host>-shadow[:port]` authority Envoy gives mirrored requests. */
export function shadowAuthority(host: string): string {
  const name = stripPort(host);
  return `${name}-shadow${host.slice(name.length)}`;
}
