/**
 * Duration strings as Istio reads them: Go's `time.ParseDuration` syntax (`"1s"`, `"0.5s"`,
 * `"100ms"`, `"1m30s"`, `"1h"`, `"1.5s"`, `"250us"`), which also covers the protobuf JSON form.
 */

/** One `<number><unit>` component; Go allows `1.`, `.5` and `µs`/`μs` as well as `us`. */
const COMPONENT = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
const UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  μs: 0.001,
  ns: 0.000001,
};

/**
 * Parses a duration string into milliseconds, as Go's `time.ParseDuration` does: an optional sign,
 * then one or more `<decimal><unit>` components (units `h`, `m`, `s`, `ms`, `us`/`µs`, `ns`), or
 * `"0"`.
 * @returns the duration in ms (fractional below 1 ms, negative for a leading `-`), or `undefined`
 * when the text is not a duration.
 */
export function parseDurationMs(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  let s = text.trim();
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  COMPONENT.lastIndex = 0;
  while (COMPONENT.lastIndex < s.length) {
    const m = COMPONENT.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return sign * total;
}
