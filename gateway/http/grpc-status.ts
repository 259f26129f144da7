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
