/** gRPC status codes (grpc/doc/statuscodes.md) by the names Istio's `fault.abort.grpcStatus` uses. */

const GRPC_CODES: Readonly<Record<string, string>> = {
  OK: '0',
  CANCELLED: '1',
  UNKNOWN: '2',
  INVALID_ARGUMENT: '3',
  DEADLINE_EXCEEDED: '4',
  NOT_FOUND: '5',
  ALREADY_EXISTS: '6',
  PERMISSION_DENIED: '7',
  RESOURCE_EXHAUSTED: '8',
  FAILED_PRECONDITION: '9',
  ABORTED: '10',
  OUT_OF_RANGE: '11',
  UNIMPLEMENTED: '12',
  INTERNAL: '13',
  UNAVAILABLE: '14',
  DATA_LOSS: '15',
  UNAUTHENTICATED: '16',
};

/** The numeric `grpc-status` for a code name (case-insensitive) or number; unknown names give 2 (UNKNOWN). */
export function grpcStatusCode(name: string): string {
  return GRPC_CODES[name.toUpperCase()] ?? (/^\d+$/.test(name) ? name : '2');
}

/** Whether a request is gRPC (`content-type: application/grpc`, `+proto`, `-web`…). */
export function isGrpcContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc');
}

/**
 * The `grpc-status` Envoy gives a local reply with this HTTP status (Envoy
 * `Grpc::Utility::httpToGrpcStatus`, after gRPC's http-grpc-status-mapping): 400 → 13 INTERNAL,
 * 401 → 16 UNAUTHENTICATED, 403 → 7 PERMISSION_DENIED, 404 → 12 UNIMPLEMENTED, 429/502/503/504 →
 * 14 UNAVAILABLE, anything else → 2 UNKNOWN.
 */
function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

/**
 * The gRPC status of a local reply to a gRPC request as Envoy gives it: `grpc-status` (given, e.g.
 * a fault's `grpcStatus`, else mapped from the HTTP status) and the reply body as a percent-encoded
 * `grpc-message`. The HTTP status of such a reply is 200.
 */
export function grpcStatusTrailers(
  httpStatus: number,
  body: string,
  grpcStatus: string | undefined,
): Record<string, string> {
  const t: Record<string, string> = { 'grpc-status': grpcStatus ?? String(httpToGrpcStatus(httpStatus)) };
  if (body.length > 0) t['grpc-message'] = percentEncodeGrpcMessage(body);
  return t;
}

/**
 * gRPC's `grpc-message` encoding (PROTOCOL-HTTP2.md): bytes outside printable ASCII (0x20–0x7E)
 * and `%` are percent-encoded, everything else is sent as is.
 */
function percentEncodeGrpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out +=
      b < 0x20 || b > 0x7e || b === 0x25
        ? `%${b.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(b);
  }
  return out;
}
