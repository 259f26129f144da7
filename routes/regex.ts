/**
 * RE2 regular expressions, as Istio's `StringMatch.regex` and `uriRegexRewrite.match` use them, run on
 * JavaScript's RegExp engine.
 *
 * Envoy matches with Google RE2 and requires a *full* match. RE2 has no backreferences and no
 * lookaround; JavaScript has both, so patterns using them are rejected here exactly where Istio's
 * validation (which compiles with RE2) would reject them. RE2-only syntax that JS lacks is translated:
 * `(?P<name>...)` named groups and leading inline flags `(?i)`, `(?s)`, `(?m)`.
 */

/** Istio's limit on regex length (`validateStringMatchRegexp`). */
export const MAX_REGEX_LENGTH = 1024;

export type RegexResult = { ok: true; regex: RegExp } | { ok: false; reason: string };

const UNSUPPORTED: [RegExp, string][] = [
  [/\(\?<?[=!]/, 'lookahead and lookbehind are not supported by RE2'],
  [/\\[1-9]/, 'backreferences are not supported by RE2'],
  [/\\k</, 'named backreferences are not supported by RE2'],
];

/**
 * Compiles an RE2 pattern for full matching (`^(?:pattern)$`).
 * Never throws: a malformed pattern yields `{ ok: false, reason }` in the words a user can act on.
 * @param flags extra JS flags, e.g. `'i'` for `ignoreUriCase`.
 */
export function compileRe2(pattern: string, flags = '', anchored = true): RegexResult {
  if (pattern.length > MAX_REGEX_LENGTH) {
    return { ok: false, reason: `regex is longer than ${MAX_REGEX_LENGTH} characters` };
  }
  // Escaped backslashes cannot start a construct; drop them before looking for unsupported syntax.
  const scan = pattern.replace(/\\\\/g, '');
  for (const [re, reason] of UNSUPPORTED) {
    if (re.test(scan)) return { ok: false, reason };
  }
  let body = pattern.replace(/\(\?P</g, '(?<');
  let f = flags;
  const inline = /^\(\?([imsU]+)\)/.exec(body);
  if (inline) {
    for (const c of inline[1]!) {
      if (c === 'U') return { ok: false, reason: 'the ungreedy flag (?U) is not supported' };
      if (!f.includes(c)) f += c;
    }
    body = body.slice(inline[0].length);
  }
  if (/\(\?[a-zA-Z-]*[:)]/.test(body.replace(/\\\(/g, ''))) {
    // Inline flag groups in the middle of a pattern are RE2 syntax JS cannot express.
    return { ok: false, reason: 'inline flag groups are only supported at the start of the pattern' };
  }
  try {
    return { ok: true, regex: new RegExp(anchored ? `^(?:${body})$` : body, f) };
  } catch (err) {
    return {
      ok: false,
      reason: `invalid regex: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`,
    };
  }
}
