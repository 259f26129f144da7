/**
 * Local replies: responses the gateway makes itself, with Envoy's statuses and bodies
 * (istio-semantics.md Appendix B), and the mapping of upstream failures to them.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { ResponseFlag } from './response-flags.js';

/** The body Envoy sends for connection-level upstream failures, completed with the reset reason. */
const UPSTREAM_RESET_PREFIX = 'upstream connect error or disconnect/reset before headers. reset reason: ';

/** A decided local reply: status, flag, body and extra headers. */
export interface LocalReply {
  readonly status: number;
  readonly flag: string | undefined;
  readonly body: string;
  /** Envoy's `%RESPONSE_CODE_DETAILS%`. */
  readonly details: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export const Replies = {
  noRoute: { status: 404, flag: ResponseFlag.NoRouteFound, body: '', details: 'route_not_found' },
  noCluster: { status: 503, flag: ResponseFlag.NoClusterFound, body: '', details: 'cluster_not_found' },
  noHealthyUpstream: {
    status: 503,
    flag: ResponseFlag.NoHealthyUpstream,
    body: 'no healthy upstream',
    details: 'no_healthy_upstream',
  },
  connectFailure: {
    status: 503,
    flag: ResponseFlag.UpstreamConnectionFailure,
    body: `${UPSTREAM_RESET_PREFIX}connection failure`,
    details: 'upstream_reset_before_response_started{connection_failure}',
  },
  connectionTermination: {
    status: 503,
    flag: ResponseFlag.UpstreamConnectionTermination,
    body: `${UPSTREAM_RESET_PREFIX}connection termination`,
    details: 'upstream_reset_before_response_started{connection_termination}',
  },
  overflow: {
    status: 503,
    flag: ResponseFlag.UpstreamOverflow,
    body: `${UPSTREAM_RESET_PREFIX}overflow`,
    details: 'upstream_reset_before_response_started{overflow}',
    headers: { 'x-envoy-overloaded': 'true' },
  },
  protocolError: {
    status: 502,
    flag: ResponseFlag.UpstreamProtocolError,
    body: `${UPSTREAM_RESET_PREFIX}protocol error`,
    details: 'upstream_reset_before_response_started{protocol_error}',
  },
  timeout: {
    status: 504,
    flag: ResponseFlag.UpstreamRequestTimeout,
    body: 'upstream request timeout',
    details: 'upstream_response_timeout',
  },
  badRequest: {
    status: 400,
    flag: ResponseFlag.DownstreamProtocolError,
    body: 'Bad Request',
    details: 'http1.codec_error',
  },
  /** An `Upgrade` other than websocket (Istio's only `upgrade_configs` entry): refused by the HCM. */
  upgradeFailed: { status: 403, flag: undefined, body: '', details: 'upgrade_failed' },
  http10: { status: 426, flag: undefined, body: 'Upgrade Required', details: 'low_version' },
} as const satisfies Record<string, LocalReply>;

/** Error codes (node and undici) that mean the connection to the upstream never came up. */
const CONNECT_FAILURE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
]);

/**
 * Classifies an upstream error: a connect failure (UF, retriable as connect-failure), a response
 * Envoy's codec would refuse (a malformed or oversized head, an unexpected 100: UPE), or a reset (UC).
 */
export function classifyUpstreamError(err: unknown): 'connect-failure' | 'protocol-error' | 'reset' {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = e?.code;
  if (typeof code !== 'string') return 'reset';
  if (CONNECT_FAILURE_CODES.has(code)) return 'connect-failure';
  if (code === 'UND_ERR_HEADERS_OVERFLOW' || code.startsWith('HPE_')) return 'protocol-error';
  if (code === 'UND_ERR_SOCKET' && (e?.message === 'bad response' || e?.message === 'bad upgrade')) {
    return 'protocol-error';
  }
  return 'reset';
}

/** The part of a downstream response a local reply writes to (HTTP/1.1 and HTTP/2 alike). */
interface LocalReplySink {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(body: string): unknown;
}

/**
 * Writes a local reply as Envoy does: `server: istio-envoy`, `content-type: text/plain` and
 * `content-length` when there is a body, `date` from Node. `closeOn400` adds `connection: close`
 * to a 400 (HTTP/1.1 only: HTTP/2 forbids connection headers).
 * @returns bytes of body written.
 */
export function writeLocalReply(
  res: LocalReplySink,
  reply: LocalReply,
  extra?: Record<string, string>,
  closeOn400 = true,
): number {
  const body = reply.body;
  const headers: Record<string, string | number> = {
    server: 'istio-envoy',
    'content-length': Buffer.byteLength(body),
  };
  if (body.length > 0) headers['content-type'] = 'text/plain';
  if (reply.headers) Object.assign(headers, reply.headers);
  if (extra) Object.assign(headers, extra);
  if (closeOn400 && reply.status === 400) headers['connection'] = 'close';
  res.writeHead(reply.status, headers);
  res.end(body);
  return Buffer.byteLength(body);
}
