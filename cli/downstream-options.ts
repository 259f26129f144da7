/**
 * The downstream flags of `meshgate run`: shutdown (`--drain-duration`, `--drain-timeout`) and
 * connection limits (`--max-connections-per-listener`) parsed into gateway options. Their `parseArgs`
 * definitions and usage text are in `flags.ts`, which must not import the gateway.
 */
import { parseDurationMs } from '../config/duration.js';
import { DEFAULT_DRAIN_MS, DEFAULT_DRAIN_TIMEOUT_MS, type DrainOptions } from '../gateway/gateway.js';

/**
 * Parses a Go duration (`5s`, `500ms`, `1m30s`, `0`), as Istio's agent flags take them.
 * @returns milliseconds, or undefined when the text is not a duration.
 */
export function parseGoDurationMs(text: string): number | undefined {
  const t = text.trim();
  if (t === '0') return 0;
  const part = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/y;
  let total = 0;
  let at = 0;
  while (at < t.length) {
    part.lastIndex = at;
    const m = part.exec(t);
    if (!m) return undefined;
    total += parseDurationMs(m[0])!;
    at = part.lastIndex;
  }
  return at > 0 ? total : undefined;
}

/** The parsed values of the downstream flags (`DOWNSTREAM_ARG_OPTIONS` in `flags.ts`). */
interface DownstreamArgValues {
  readonly 'drain-duration'?: string;
  readonly 'drain-timeout'?: string;
  readonly 'max-connections-per-listener'?: string;
}

/**
 * Turns `--drain-duration` / `--drain-timeout` into {@link DrainOptions} (defaults 5 s / 20 s).
 * @throws Error naming the flag and the bad value.
 */
export function parseDrainOptions(v: DownstreamArgValues): DrainOptions {
  const read = (flag: 'drain-duration' | 'drain-timeout', dflt: number): number => {
    const text = v[flag];
    if (text === undefined) return dflt;
    const ms = parseGoDurationMs(text);
    if (ms === undefined)
      throw new Error(`--${flag}: "${text}" must be a duration such as 5s, 500ms or 1m30s`);
    return Math.round(ms);
  };
  return {
    drainMs: read('drain-duration', DEFAULT_DRAIN_MS),
    timeoutMs: read('drain-timeout', DEFAULT_DRAIN_TIMEOUT_MS),
  };
}

/**
 * Parses `--max-connections-per-listener` (a positive integer).
 * @returns undefined when the flag is absent (no limit).
 * @throws Error naming the bad value.
 */
export function parseMaxConnections(v: DownstreamArgValues): number | undefined {
  const text = v['max-connections-per-listener'];
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) {
    throw new Error(`--max-connections-per-listener: "${text}" must be a positive whole number`);
  }
  return n;
}
