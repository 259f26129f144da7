/**
 * The `grpc-timeout` request header (gRPC PROTOCOL-HTTP2.md: up to 8 digits and a unit `H`, `M`,
 * `S`, `m`, `u`, `n`). Envoy honours it as the stream's deadline, capped by the route timeout (Istio
 * sets `max_stream_duration.grpc_timeout_header_max` to the route timeout); on expiry the client gets
 * `grpc-status: 4` DEADLINE_EXCEEDED. Pure.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/** The deadline in ms (at least 1), or undefined when the header is absent or malformed. */
export function parseGrpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.length < 2 || v.length > 9) return undefined;
  const unit = UNIT_MS[v[v.length - 1]!];
  const digits = v.slice(0, -1);
  if (unit === undefined || !/^\d+$/.test(digits)) return undefined;
  return Math.max(1, Math.ceil(Number(digits) * unit));
}

/**
 * The timeout that applies to a gRPC stream: the `grpc-timeout` deadline when it is shorter than
 * the route timeout (or the route has none), else the route timeout; `grpc` says which one.
 * @param routeTimeoutMs 0 = no route timeout.
 */
export function effectiveTimeout(
  routeTimeoutMs: number,
  grpcTimeoutMs: number | undefined,
): { readonly ms: number; readonly grpc: boolean } {
  if (grpcTimeoutMs !== undefined && (routeTimeoutMs === 0 || grpcTimeoutMs < routeTimeoutMs)) {
    return { ms: grpcTimeoutMs, grpc: true };
  }
  return { ms: routeTimeoutMs, grpc: false };
}
