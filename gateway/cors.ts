/**
 * Envoy's CORS decisions at the gateway, for routes with a `corsPolicy` (compiled in routes/cors.ts);
 * the filter that applies them is gateway/http/cors-filter.ts:
 * - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) whose origin is
 *   allowed is answered at the gateway: 200, no body, `access-control-allow-origin: <origin>` plus
 *   allow-methods / allow-headers / max-age / allow-credentials as configured;
 * - a preflight from another origin goes on to the upstream (`unmatchedPreflights: FORWARD`, the
 *   default) or is answered 200 without CORS headers (`IGNORE`);
 * - any other request with an allowed `Origin` is forwarded, and its response gets
 *   `access-control-allow-origin: <origin>`, `access-control-expose-headers` and
 *   `access-control-allow-credentials` as configured.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CorsConfig } from '../routes/cors.js';
import type { HeaderObject } from './header-ops.js';

/**
 * The response head for a preflight the gateway answers itself, or undefined when the request is
 * not a preflight or goes on to the upstream.
 */
export function preflightResponseHeaders(
  cors: CorsConfig,
  method: string | undefined,
  h: IncomingHttpHeaders,
): Record<string, string> | undefined {
  if (method !== 'OPTIONS') return undefined;
  const origin = h.origin;
  if (!origin || !h['access-control-request-method']) return undefined;
  const headers: Record<string, string> = { server: 'istio-envoy', 'content-length': '0' };
  if (cors.allowsOrigin(origin)) {
    headers['access-control-allow-origin'] = origin;
    if (cors.allowCredentials) headers['access-control-allow-credentials'] = 'true';
    if (cors.allowMethods !== undefined) headers['access-control-allow-methods'] = cors.allowMethods;
    if (cors.allowHeaders !== undefined) headers['access-control-allow-headers'] = cors.allowHeaders;
    if (cors.maxAge !== undefined) headers['access-control-max-age'] = cors.maxAge;
  } else if (cors.forwardUnmatchedPreflights) return undefined;
  return headers;
}

/** The `Origin` of a non-preflight request when the policy allows it (its response gets CORS headers). */
export function allowedOrigin(cors: CorsConfig, h: IncomingHttpHeaders): string | undefined {
  const origin = h.origin;
  return origin && cors.allowsOrigin(origin) ? origin : undefined;
}

/** Adds the CORS response headers for an allowed origin (overwriting the upstream's, as Envoy does). */
export function applyCorsHeaders(headers: HeaderObject, cors: CorsConfig, origin: string): void {
  headers['access-control-allow-origin'] = origin;
  if (cors.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  if (cors.exposeHeaders !== undefined) headers['access-control-expose-headers'] = cors.exposeHeaders;
}
