/**
 * Protobuf duration strings as Istio writes them: `"1s"`, `"0.5s"`, `"100ms"`, `"3m"`, `"1h"`, `"250us"`.
 */

const DURATION = /^(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)$/;
const UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  ns: 0.000001,
};

/**
 * Parses a duration string into milliseconds.
 * @returns the duration in ms (fractional below 1 ms), or `undefined` when the text is not a duration.
 */
export function parseDurationMs(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}
