/**
 * RE2 semantics of compiled Istio regexes: full match, case folding, RE2-only syntax accepted, JS-only
 * syntax rejected, `uriRegexRewrite` substitution (`\1`), and linear time on the classic ReDoS pattern.
 */
import { describe, expect, it } from 'vitest';
import { compileRe2, type Re2Regex } from '../../routes/regex.js';

function compiled(pattern: string, flags = '', anchored = true): Re2Regex {
  const r = compileRe2(pattern, flags, anchored);
  if (!r.ok) throw new Error(r.reason);
  return r.regex;
}

describe('compileRe2', () => {
  it.each([
    ['/api/v[0-9]+/.*', '/api/v2/users', true],
    ['/api/v[0-9]+/.*', '/x/api/v2/users', false], // full match: Envoy safe_regex is anchored
    ['/api', '/api/extra', false],
    ['(?P<ver>v[0-9])/x', 'v1/x', true], // RE2 named group
    ['(?i)/ABC', '/abc', true], // leading inline flag
    ['/a(?i)bc', '/aBC', true], // inline flag mid-pattern (RE2 accepts it)
    ['[[:alpha:]]+', 'abc', true], // POSIX class
    ['\\pL+', 'äbc', true],
    ['a{1000}', 'a'.repeat(1000), true],
  ])('%s on %s → %s', (pattern, input, want) => {
    expect(compiled(pattern).test(input)).toBe(want);
  });

  it('folds case for ignoreUriCase', () => {
    expect(compiled('/Users/[a-z]+', 'i').test('/USERS/ALICE')).toBe(true);
    expect(compiled('/Users/[a-z]+').test('/USERS/ALICE')).toBe(false);
  });

  it('unanchored patterns search (stats filter)', () => {
    expect(compiled('upstream_rq', '', false).test('cluster.a.upstream_rq_200')).toBe(true);
    expect(compiled('^cluster', '', false).test('http.cluster')).toBe(false);
  });

  it.each([
    ['a(?=b)', 'lookahead and lookbehind are not supported by RE2'],
    ['(?<!a)b', 'lookahead and lookbehind are not supported by RE2'],
    ['(a)\\1', 'backreferences are not supported by RE2'],
    ['(?<x>a)\\k<x>', 'named backreferences are not supported by RE2'],
    ['/(foo', 'invalid regex: missing )'],
    ['[a', 'invalid regex: missing ]'],
    ['a{1001}', 'invalid regex: invalid repeat count'],
    ['*a', 'invalid regex: missing argument to repetition operator'],
    ['\\C', 'invalid regex: invalid escape sequence'],
    ['x'.repeat(1025), 'regex is longer than 1024 characters'],
  ])('rejects %s: %s', (pattern, reason) => {
    expect(compileRe2(pattern)).toEqual({ ok: false, reason });
  });

  it('answers the exponential-backtracking pattern on a 10,000-character path (no match)', () => {
    // V8's backtracking engine needs ~2^n steps here (seconds at n = 27); RE2 is linear.
    const re = compiled('/(a+)+b');
    expect(re.test(`/${'a'.repeat(9999)}`)).toBe(false);
    expect(re.test(`/${'a'.repeat(9999)}b`)).toBe(true);
    expect(compiled('^(.+)+x$', '', false).test('y'.repeat(10_000))).toBe(false);
  });
});

describe('uriRegexRewrite substitution (RE2::GlobalReplace)', () => {
  it.each([
    ['^/regex/([a-z]+)/([0-9]+)', '/items/\\2/\\1$&', '/regex/apple/42', '/items/42/apple$&'],
    ['^/service/([^/]+)(/.*)$', '\\2/instance/\\1', '/service/x/y/z', '/y/z/instance/x'],
    ['a', 'b', 'banana', 'bbnbnb'], // every match replaced
    ['^/v1/', '/', '/v1/v1/x', '/v1/x'], // anchored: once
    ['/old', '\\\\x\\0', '/old/p', '\\x/old/p'], // `\\` a backslash, `\0` the whole match
    ['nomatch', 'x', '/keep', '/keep'],
  ])('%s → %s on %s = %s', (match, rewrite, input, want) => {
    const re = compiled(match, '', false);
    expect(re.replaceAll(input, rewrite)).toBe(want);
    expect(input.replace(re, rewrite)).toBe(want); // String.prototype.replace goes through Symbol.replace
    expect(String(re)).toBe(match); // config dumps print the pattern as written
  });
});
