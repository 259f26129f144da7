/**
 * What Envoy's HTTP connection manager does to a request from an external client before routing, at an
 * Istio gateway (`use_remote_address: true`, so every downstream is treated as external here):
 * - 431 past `max_request_headers_count` (100); the 60 KiB `max_request_headers_kb` limit is the codec's
 *   (node's `maxHeaderSize`, answered by the listener's client-error handler);
 * - 400 for a `#fragment` in the request target (`http_reject_path_with_fragment`), for two `Host`
 *   headers, and for a path `normalize_path` refuses (`%00`);
 * - the path normalized as Istio's default BASE (`path-normalization.ts`), so routes and the upstream
 *   see the normalized path;
 * - the `x-envoy-*` request headers Envoy only trusts from internal callers removed
 *   (`ConnectionManagerUtility::cleanInternalHeaders`, plus `x-envoy-internal`, which only Envoy sets),
 *   so a client cannot steer retries or timeouts.
 */
import type { IncomingMessage } from 'node:http';
import type { LocalReply } from '../local-reply.js';
import { ResponseFlag } from '../response-flags.js';
import { normalizePathBase } from './path-normalization.js';

/** Envoy's default `common_http_protocol_options.max_headers_count`. */
const MAX_REQUEST_HEADERS_COUNT = 100;

/** Removed from edge requests only (`use_remote_address: true`, an Istio gateway), not at a sidecar. */
const EDGE_ONLY_HEADERS = [
  'x-envoy-decorator-operation',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
];

/**
 * Request headers removed from external requests at a gateway: Envoy's `cleanInternalHeaders` list
 * (with the edge-only ones) and `x-envoy-internal`, which only Envoy sets.
 */
const INTERNAL_ONLY_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  ...EDGE_ONLY_HEADERS,
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-retry-on',
  'x-envoy-retry-grpc-on',
  'x-envoy-max-retries',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-force-trace',
  'x-envoy-ip-tags',
  'x-envoy-original-url',
  'x-envoy-hedge-on-per-try-timeout',
  'x-envoy-internal',
]);

/** The same list for a sidecar's outbound listener (`use_remote_address: false`: not an edge request). */
const INTERNAL_ONLY_MESH_HEADERS: ReadonlySet<string> = new Set(
  [...INTERNAL_ONLY_REQUEST_HEADERS].filter((h) => !EDGE_ONLY_HEADERS.includes(h)),
);

/**
 * The local replies of this stage, with Envoy's statuses. `details` are Envoy's response code details
 * where Envoy has one for the case (`http1.too_many_headers`, `path_normalization_failed`).
 */
const EdgeReplies = {
  tooManyHeaders: {
    status: 431,
    flag: ResponseFlag.DownstreamProtocolError,
    body: 'Request Header Fields Too Large',
    details: 'http1.too_many_headers',
  },
  fragment: {
    status: 400,
    flag: ResponseFlag.DownstreamProtocolError,
    body: 'Bad Request',
    details: 'http.invalid_url_fragment',
  },
  duplicateHost: {
    status: 400,
    flag: ResponseFlag.DownstreamProtocolError,
    body: 'Bad Request',
    details: 'http1.duplicate_host',
  },
  pathNormalizationFailed: {
    status: 400,
    flag: undefined,
    body: 'Bad Request',
    details: 'path_normalization_failed',
  },
} as const satisfies Record<string, LocalReply>;

/**
 * Checks and rewrites one request in place before routing: `req.url` becomes the normalized target and
 * internal-only headers leave `req.rawHeaders` and `req.headers`.
 * @param edge true at a gateway listener (every client external), false on the mesh (sidecar) listener.
 * @returns the local reply to send instead of routing, or undefined to go on.
 */
export function applyEdgeRequestPolicy(req: IncomingMessage, edge = true): LocalReply | undefined {
  const internalOnly = edge ? INTERNAL_ONLY_REQUEST_HEADERS : INTERNAL_ONLY_MESH_HEADERS;
  const raw = req.rawHeaders;
  if (raw.length > 2 * MAX_REQUEST_HEADERS_COUNT) return EdgeReplies.tooManyHeaders;
  let hosts = 0;
  let strip = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Cheap first-letter tests keep the common request off the lower-casing path.
    const c = name.charCodeAt(0) | 0x20;
    if (c === 0x68 /* h */ && name.length === 4 && name.toLowerCase() === 'host') hosts++;
    else if (c === 0x78 /* x */ && internalOnly.has(name.toLowerCase())) strip = true;
  }
  if (hosts > 1) return EdgeReplies.duplicateHost;
  const url = req.url ?? '/';
  if (url.includes('#')) return EdgeReplies.fragment;
  const normalized = normalizeTarget(url);
  if (normalized === undefined) return EdgeReplies.pathNormalizationFailed;
  if (normalized !== url) req.url = normalized;
  if (strip) stripHeaders(req, internalOnly);
  return undefined;
}

/** Normalizes the path of an origin-form (`/p?q`) or absolute-form (`http://h/p?q`) target; `*` as is. */
function normalizeTarget(url: string): string | undefined {
  if (url.charCodeAt(0) === 0x2f) return normalizePathBase(url);
  const m = /^(https?:\/\/[^/?#]*)(.*)$/is.exec(url);
  if (!m || m[2] === '') return url;
  const path = normalizePathBase(m[2]!);
  return path === undefined ? undefined : m[1]! + path;
}

function stripHeaders(req: IncomingMessage, names: ReadonlySet<string>): void {
  const raw = req.rawHeaders;
  let w = 0;
  for (let r = 0; r < raw.length; r += 2) {
    if (names.has(raw[r]!.toLowerCase())) continue;
    raw[w++] = raw[r]!;
    raw[w++] = raw[r + 1]!;
  }
  raw.length = w;
  const headers = req.headers;
  for (const name of names) delete headers[name];
}
