/**
 * The `retries.retryOn` vocabulary: Envoy `retry_on` conditions Istio accepts besides status codes.
 * The validator checks against it and the HTTP route compiler turns it into a `RetryPolicy`.
 */

/** Envoy `retry_on` conditions Istio accepts (besides status codes). */
export const RETRY_ON_TOKENS: ReadonlySet<string> = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);
