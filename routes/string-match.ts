/**
 * Istio `StringMatch` compiled once into a predicate.
 */
import type { StringMatch } from '../config/resources.js';
import { compileRe2 } from './regex.js';

/** A compiled string predicate; `undefined` input means "absent". */
export type StringPredicate = (value: string | undefined) => boolean;

/** Thrown only for patterns that validation should already have rejected. */
export class InvalidMatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidMatchError';
  }
}

/**
 * Compiles a StringMatch: `exact`, `prefix` or `regex` (RE2, full match). `{}` or `regex: "*"` means
 * presence (Istio's convention for header and query matches).
 * @param ignoreCase implements `ignoreUriCase` (uri only).
 * @throws InvalidMatchError for a regex that does not compile (validation rejects it first).
 */
export function compileStringMatch(m: StringMatch, ignoreCase = false): StringPredicate {
  if (m.exact !== undefined) {
    const want = ignoreCase ? m.exact.toLowerCase() : m.exact;
    return ignoreCase ? (v) => v !== undefined && v.toLowerCase() === want : (v) => v === want;
  }
  if (m.prefix !== undefined) {
    const want = ignoreCase ? m.prefix.toLowerCase() : m.prefix;
    return ignoreCase
      ? (v) => v !== undefined && v.toLowerCase().startsWith(want)
      : (v) => v !== undefined && v.startsWith(want);
  }
  if (m.regex !== undefined && m.regex !== '*') {
    const r = compileRe2(m.regex, ignoreCase ? 'i' : '');
    if (!r.ok) throw new InvalidMatchError(`invalid regex "${m.regex}": ${r.reason}`);
    const re = r.regex;
    return (v) => v !== undefined && re.test(v);
  }
  return (v) => v !== undefined;
}

/** True when the match is a presence test (`{}` or `regex: "*"`). */
export function isPresenceMatch(m: StringMatch): boolean {
  return m.exact === undefined && m.prefix === undefined && (m.regex === undefined || m.regex === '*');
}
