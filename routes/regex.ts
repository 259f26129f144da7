/**
 * RE2 regular expressions, as Istio's `StringMatch.regex`, `uriRegexRewrite.match` and Envoy's admin
 * `/stats?filter=` use them, run on re2js (a pure-JS port of RE2): linear time in the input, RE2 syntax.
 *
 * Why re2js and not V8's backtracking `RegExp`: `/(a+)+b` on a 27-character path took 2.4 s of the event
 * loop there (2.4–4.4 s measured). Why not V8's experimental linear engine (`new RegExp(src, 'l')` behind
 * `--enable-experimental-regexp-engine`, which `v8.setFlagsFromString` can turn on before the first
 * compile): measured with `bench/regex-engines.ts` on Node 20 (two runs, shared 2-core machine), re2js
 * took 0.1–1.5 µs per match on typical route and header regexes against 0.5–15 µs, and 136–140 µs for
 * `/(a+)+b` on a 10,000-character path against 3,500–3,700 µs; and the linear engine rejects the `i` flag
 * that `ignoreUriCase` needs and counted repeats such as `a{1000}` that RE2 accepts. The backtracking
 * engine is faster on benign patterns (0.01–0.3 µs), but one hostile pattern or path stalls every request.
 *
 * Envoy requires a *full* match for `StringMatch.safe_regex`; `uriRegexRewrite` replaces every match
 * (`RE2::GlobalReplace`), with `\0`–`\9` in the rewrite naming groups.
 */
import { RE2JS } from 're2js';

/** Istio's limit on regex length (`validateStringMatchRegexp`). */
const MAX_REGEX_LENGTH = 1024;

/**
 * A compiled RE2 pattern. `test` is a full match for anchored patterns and a search otherwise. It can
 * stand where a global `RegExp` stood for `String.prototype.replace`: `path.replace(re, rewrite)` replaces
 * every match, reading `rewrite` in RE2 syntax (`\1` a group, `\\` a backslash, everything else literal).
 */
export interface Re2Regex {
  /** The pattern as written. */
  readonly source: string;
  /** True when `input` matches: in full (anchored) or anywhere (unanchored). */
  test(input: string): boolean;
  /** Every non-overlapping match replaced by `rewrite` (RE2 syntax), as Envoy's `regex_rewrite`. */
  replaceAll(input: string, rewrite: string): string;
  [Symbol.replace](input: string, rewrite: string): string;
  /** Unused (RE2 matching keeps no state between calls); kept writable for code written for `RegExp`. */
  lastIndex: number;
  /** The pattern as written (config dumps print it). */
  toString(): string;
}

type RegexResult = { ok: true; regex: Re2Regex } | { ok: false; reason: string };

/**
 * JS-only syntax RE2 does not have, found before RE2 parses so the reason names the feature (RE2 itself
 * says only "invalid or unsupported Perl syntax" or "invalid escape sequence").
 */
const UNSUPPORTED: [RegExp, string][] = [
  [/\(\?<?[=!]/, 'lookahead and lookbehind are not supported by RE2'],
  [/\\[1-9]/, 'backreferences are not supported by RE2'],
  [/\\k</, 'named backreferences are not supported by RE2'],
];

/** RE2's parse errors (`error parsing regexp: <code>: `<where>``) in the short words meshgate reports. */
const SHORT_REASON: Record<string, string> = {
  'missing closing )': 'missing )',
  'missing closing ]': 'missing ]',
  'trailing backslash at end of expression': 'trailing \\',
};

function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const m = /^error parsing regexp: ([^:]+)(?::|$)/.exec(message);
  if (!m) return message;
  const code = m[1]!.trim();
  return SHORT_REASON[code] ?? code;
}

/** One piece of a parsed rewrite: a literal or a group number. */
type RewritePart = string | number;

function parseRewrite(rewrite: string): RewritePart[] {
  const parts: RewritePart[] = [];
  let literal = '';
  for (let i = 0; i < rewrite.length; i++) {
    const c = rewrite[i]!;
    const next = rewrite[i + 1];
    if (c === '\\' && next !== undefined && next >= '0' && next <= '9') {
      if (literal) parts.push(literal);
      literal = '';
      parts.push(next.charCodeAt(0) - 48);
      i++;
    } else if (c === '\\' && next === '\\') {
      literal += '\\';
      i++;
    } else {
      literal += c;
    }
  }
  if (literal) parts.push(literal);
  return parts;
}

class Re2Pattern implements Re2Regex {
  lastIndex = 0;
  /** One-entry cache: a route's rewrite string is the same on every request. */
  private rewriteSource: string | undefined;
  private rewriteParts: RewritePart[] = [];

  constructor(
    readonly source: string,
    private readonly re: RE2JS,
    private readonly anchored: boolean,
  ) {}

  test(input: string): boolean {
    return this.anchored ? this.re.testExact(input) : this.re.test(input);
  }

  replaceAll(input: string, rewrite: string): string {
    if (rewrite !== this.rewriteSource) {
      this.rewriteParts = parseRewrite(rewrite);
      this.rewriteSource = rewrite;
    }
    if (!this.re.test(input)) return input;
    const parts = this.rewriteParts;
    const m = this.re.matcher(input);
    let out = '';
    let last = 0;
    while (m.find()) {
      out += input.slice(last, m.start());
      for (const p of parts) out += typeof p === 'string' ? p : (m.group(p) ?? '');
      last = m.end();
    }
    return out + input.slice(last);
  }

  [Symbol.replace](input: string, rewrite: string): string {
    return this.replaceAll(input, rewrite);
  }

  toString(): string {
    return this.source;
  }
}

/**
 * Compiles an RE2 pattern.
 * Never throws: a malformed pattern, or JS syntax RE2 lacks (lookaround, backreferences), yields
 * `{ ok: false, reason }` in words a user can act on.
 * @param flags `'i'` for case-insensitive matching (`ignoreUriCase`); other letters are ignored.
 * @param anchored true (default): `test` is a full match, as Envoy's `safe_regex` matchers; false: a search
 *   (rewrites, admin stats filter).
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
  try {
    const re = RE2JS.compile(pattern, flags.includes('i') ? RE2JS.CASE_INSENSITIVE : 0);
    return { ok: true, regex: new Re2Pattern(pattern, re, anchored) };
  } catch (err) {
    return { ok: false, reason: `invalid regex: ${reasonOf(err)}` };
  }
}
