/**
 * Istio's default request path normalization (`meshConfig.pathNormalization` DEFAULT = BASE), applied
 * to `:path` before routing so routes, and the upstream, see one spelling of each path.
 *
 * BASE configures Envoy's HTTP connection manager with `normalize_path: true`, `merge_slashes: false`
 * and `path_with_escaped_slashes_action: KEEP_UNCHANGED`. `normalize_path` runs Envoy's
 * `PathUtil::canonicalPath` (Chromium's URL path canonicalizer) on the part before `?`:
 * - `\` becomes `/`; `.` and `..` segments are removed (RFC 3986 §5.2.4), `..` never climbs above `/`;
 * - `%2E`/`%2e` counts as a dot; escapes of unreserved characters (`A-Z a-z 0-9 - _ ~`) are decoded;
 *   every other escape (`%2F`, `%5C`, `%25`, `%c0`) is kept exactly as written, hex case included;
 * - characters a URL may not carry raw (space, `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}`, controls,
 *   bytes ≥ 0x80) are percent-encoded;
 * - `%00` (or a raw NUL) fails: Envoy answers 400;
 * - `//` is kept (no slash merging); the query string is untouched.
 */

/** Byte classes of the canonicalizer. */
const PASS = 0;
/** Needs a look (dot, slash, percent, backslash). */
const SPECIAL = 1;
/** Written percent-encoded in the canonical path. */
const ESCAPE = 2 | SPECIAL;
/** Decoded when it arrives percent-encoded (the unreserved set). */
const UNESCAPE = 4;
/** Fails normalization (NUL). */
const INVALID = 8 | SPECIAL;

const CLASS = ((): Uint8Array => {
  const t = new Uint8Array(256).fill(ESCAPE);
  t[0] = INVALID;
  for (const c of "!$&'()*+,/:;=@[]") t[c.charCodeAt(0)] = PASS;
  for (const c of '-_~') t[c.charCodeAt(0)] = UNESCAPE;
  for (let c = 0x30; c <= 0x39; c++) t[c] = UNESCAPE;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = UNESCAPE;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = UNESCAPE;
  t[0x2e] = SPECIAL; // '.'
  t[0x5c] = ESCAPE; // '\\' (turned into '/' before escaping is considered)
  return t;
})();

const HEX = '0123456789ABCDEF';

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/** The byte an escape `%XY` at `i` stands for, or -1 when `s[i..i+3)` is not a valid escape. */
function escapeAt(s: string, i: number, end: number): number {
  if (i + 3 > end || s.charCodeAt(i) !== 0x25) return -1;
  const hi = hexValue(s.charCodeAt(i + 1));
  const lo = hexValue(s.charCodeAt(i + 2));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

function isSlash(code: number): boolean {
  return code === 0x2f || code === 0x5c;
}

/** Length of a dot at `i`: 1 for `.`, 3 for `%2E`/`%2e`, 0 for anything else. */
function dotLength(s: string, i: number, end: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x2e) return 1;
  if (c === 0x25 && i + 3 <= end && s.charCodeAt(i + 1) === 0x32 && (s.charCodeAt(i + 2) | 0x20) === 0x65)
    return 3;
  return 0;
}

function escaped(byte: number): string {
  return `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
}

/** True when the path needs no work: no dot, backslash, percent or character to escape. */
function alreadyCanonical(path: string, end: number): boolean {
  if (end === 0 || path.charCodeAt(0) !== 0x2f) return false;
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c > 0xff || CLASS[c]! & SPECIAL) return false;
  }
  return true;
}

/**
 * Canonicalizes the path part `path[0, end)`.
 * @returns the canonical path, or undefined when it holds `%00` / NUL (Envoy: 400).
 */
function canonicalize(path: string, end: number): string | undefined {
  if (end === 0) return '/';
  let out = isSlash(path.charCodeAt(0)) ? '' : '/';
  let ok = true;
  // Output index of the last '%' that did not start a valid escape: unescaping right after it could
  // forge a new escape ("%%30%30" → "%00"), which is then neutralised as "%25".
  let lastBadPercent = -10;
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c > 0xff) {
      // Not produced by Node's latin1 header decoding; encode as UTF-8 bytes for safety.
      for (const b of Buffer.from(String.fromCodePoint(path.codePointAt(i)!), 'utf8')) out += escaped(b);
      if (c >= 0xd800 && c <= 0xdbff) i++;
      continue;
    }
    const cls = CLASS[c]!;
    if (!(cls & SPECIAL)) {
      out += path[i];
      continue;
    }
    const dot = dotLength(path, i, end);
    if (dot > 0) {
      if (out.charCodeAt(out.length - 1) !== 0x2f) {
        out += '.'; // part of a file name
        i += dot - 1;
        continue;
      }
      const after = i + dot;
      let consumed = 0;
      let kind: 'name' | 'current' | 'parent' = 'name';
      if (after === end) kind = 'current';
      else if (isSlash(path.charCodeAt(after))) {
        kind = 'current';
        consumed = 1;
      } else {
        const dot2 = dotLength(path, after, end);
        if (dot2 > 0) {
          const after2 = after + dot2;
          if (after2 === end) {
            kind = 'parent';
            consumed = dot2;
          } else if (isSlash(path.charCodeAt(after2))) {
            kind = 'parent';
            consumed = dot2 + 1;
          }
        }
      }
      if (kind === 'name') {
        out += '.';
        i += dot - 1;
        continue;
      }
      if (kind === 'parent') out = upOneSegment(out);
      i += dot + consumed - 1;
    } else if (c === 0x5c) {
      out += '/';
    } else if (c === 0x25) {
      const byte = escapeAt(path, i, end);
      if (byte < 0) {
        lastBadPercent = out.length;
        out += '%';
        continue;
      }
      i += 2;
      const decodedClass = CLASS[byte]!;
      if (decodedClass & UNESCAPE) {
        out += String.fromCharCode(byte);
        if (lastBadPercent >= out.length - 3)
          out = neutraliseForgedEscape(path, i + 1, end, lastBadPercent, out);
      } else {
        out += path.slice(i - 2, i + 1);
        if (decodedClass === INVALID) ok = false;
      }
    } else if (cls === INVALID) {
      out += escaped(c);
      ok = false;
    } else {
      out += escaped(c);
    }
  }
  return ok ? out : undefined;
}

/** Removes the last segment of `out` (which ends with '/'), never going above the leading '/'. */
function upOneSegment(out: string): string {
  let i = out.length - 1;
  if (i === 0) return out;
  i--;
  while (i > 0 && out.charCodeAt(i) !== 0x2f) i--;
  return out.slice(0, i + 1);
}

/**
 * After decoding a character within two places of an earlier stray '%', rewrites that '%' as "%25"
 * when the output would now read as a valid escape.
 */
function neutraliseForgedEscape(path: string, next: number, end: number, bad: number, out: string): string {
  const length = out.length;
  const lastDecoded = out[length - 1]!;
  const borrowNext = bad === length - 2;
  let probe = out;
  if (borrowNext) {
    if (next === end || path.charCodeAt(next) >= 0x80) return out;
    probe += path[next];
  }
  if (escapeAt(probe, bad, probe.length) < 0) return out;
  // "%c" + decoded (or "%cd" with d still to come from the input) → "%25c" + decoded.
  const first = borrowNext ? lastDecoded : probe[bad + 1]!;
  const tail = borrowNext ? '' : lastDecoded;
  return `${probe.slice(0, bad)}%25${first}${tail}`;
}

/**
 * Normalizes an origin-form request target (`/path?query`) as Istio's BASE path normalization does.
 * @returns the normalized target (the same string when nothing changes), or undefined when Envoy
 *   rejects the path (`%00`): answer 400.
 */
export function normalizePathBase(target: string): string | undefined {
  const q = target.indexOf('?');
  const end = q < 0 ? target.length : q;
  if (alreadyCanonical(target, end)) return target;
  const path = canonicalize(target, end);
  if (path === undefined) return undefined;
  return q < 0 ? path : path + target.slice(q);
}
