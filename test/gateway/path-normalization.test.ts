/**
 * Istio's default path normalization (BASE = Envoy `normalize_path: true`, no slash merging, escaped
 * slashes kept). Every expected value names its source:
 * - ENVOY-NV / ENVOY-CASE / ENVOY-INV / ENVOY-NORMAL: envoyproxy/envoy test/common/http/path_utility_test.cc,
 *   TEST_F(PathUtilityTest, NormalizeValidPaths / NormalizeCasePath / InvalidPaths / AlreadyNormalPaths).
 * - ISTIO-BASE: istio/istio tests/integration/security/normalization_test.go, TestNormalization, case "Base".
 * - ISTIO-PCT: same test, case "PercentEncoded" (`/admin%XX` for every byte; run under
 *   DECODE_AND_MERGE_SLASHES, which differs from BASE only for %2F and %5C, so those two are not taken).
 * - ISTIO-NOTNORM: same test, case "NotNormalized" (paths with no `%2F`, `%5C` or `//`, so BASE agrees).
 * - ISTIO-INV: same test, case "Invalid" (`/admin%00` → 400).
 * - DERIVED: the probe paths, worked out from the rules the cases above pin down (named per row).
 */
import { describe, expect, it } from 'vitest';
import { normalizePathBase } from '../../gateway/http/path-normalization.js';

/** [input, expected normalized target or 400, source]. */
const TABLE: readonly [string, string | 400, string][] = [
  ['/xyz', '/xyz', 'ENVOY-NORMAL'],
  ['/x/y/z', '/x/y/z', 'ENVOY-NORMAL'],
  ['/a/b/../c', '/a/c', 'ENVOY-NV parent dir'],
  ['/a/b/./c', '/a/b/c', 'ENVOY-NV current dir'],
  ['a/b/../c', '/a/c', 'ENVOY-NV non / start'],
  ['/a/b/../../../../c', '/c', 'ENVOY-NV out number parent'],
  ['/a/..\\c', '/c', 'ENVOY-NV "..\\" canonicalization'],
  ['/%c0%af', '/%c0%af', 'ENVOY-NV 2 bytes unicode reserved characters'],
  ['/%5c%25', '/%5c%25', 'ENVOY-NV reserved characters'],
  ['/a/b/%2E%2E/c', '/a/c', 'ENVOY-NV %2E escape'],
  ['/a/b/%2E./c', '/a/c', 'ENVOY-NV'],
  ['/a/b/%2E/c', '/a/b/c', 'ENVOY-NV'],
  ['..', '/', 'ENVOY-NV'],
  ['/../a/b', '/a/b', 'ENVOY-NV'],
  ['/./a/b', '/a/b', 'ENVOY-NV'],
  ['/A/B/C', '/A/B/C', 'ENVOY-CASE not normalize to lower case'],
  ['/a/b/%2e%2e/c', '/a/c', 'ENVOY-CASE %2e can be normalized to .'],
  ['/a/%2F%2f/c', '/a/%2F%2f/c', 'ENVOY-CASE %2F is not normalized to %2f'],
  ['/xyz/.%00../abc', 400, 'ENVOY-INV'],
  ['/xyz/%00.%00./abc', 400, 'ENVOY-INV'],
  ['/xyz/AAAAA%%0000/abc', 400, 'ENVOY-INV'],
  ['/', '/', 'ISTIO-BASE'],
  ['/app/', '/app/', 'ISTIO-BASE'],
  ['/app/../admin', '/admin', 'ISTIO-BASE'],
  ['/app', '/app', 'ISTIO-BASE'],
  ['/app//', '/app//', 'ISTIO-BASE (no slash merging)'],
  ['/app/%2f', '/app/%2f', 'ISTIO-BASE (escaped slash kept)'],
  ['/app%2f/', '/app%2f/', 'ISTIO-BASE'],
  ['/xyz%30..//abc', '/xyz0..//abc', 'ISTIO-BASE'],
  ['/app/%2E./admin', '/admin', 'ISTIO-BASE'],
  ['/app\\admin', '/app/admin', 'ISTIO-BASE'],
  ['/app/\\/\\/\\admin', '/app//////admin', 'ISTIO-BASE'],
  ['/%2Fapp%5cadmin%5Cabc', '/%2Fapp%5cadmin%5Cabc', 'ISTIO-BASE'],
  ['/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc', '/%5Capp%2f%5c%2F..%2fadmin%5c/abc', 'ISTIO-BASE'],
  ['/app//../admin', '/app/admin', 'ISTIO-BASE'],
  ['/app//../../admin', '/admin', 'ISTIO-BASE'],
  ['/admin%00', 400, 'ISTIO-INV'],
  ['/admin%61', '/admina', 'ISTIO-PCT'],
  ['/admin%2d', '/admin-', 'ISTIO-PCT'],
  ['/admin%5f', '/admin_', 'ISTIO-PCT'],
  ['/admin%7e', '/admin~', 'ISTIO-PCT'],
  ['/admin%39', '/admin9', 'ISTIO-PCT'],
  ['/admin%2e', '/admin.', 'ISTIO-PCT'],
  ['/admin%20', '/admin%20', 'ISTIO-PCT (not unreserved: kept)'],
  ['/admin%25', '/admin%25', 'ISTIO-PCT'],
  ['/admin%3f', '/admin%3f', 'ISTIO-PCT'],
  ['/admin%c0', '/admin%c0', 'ISTIO-PCT'],
  ['/admin%ff', '/admin%ff', 'ISTIO-PCT'],
  ['/.../admin', '/.../admin', 'ISTIO-NOTNORM'],
  ['/..../admin', '/..../admin', 'ISTIO-NOTNORM'],
  ['/..;/admin', '/..;/admin', 'ISTIO-NOTNORM'],
  ['/;/admin', '/;/admin', 'ISTIO-NOTNORM'],
  ['/admin;a=b/xyz', '/admin;a=b/xyz', 'ISTIO-NOTNORM'],
  ['/admin,a=b/xyz', '/admin,a=b/xyz', 'ISTIO-NOTNORM'],
  ['/%252e%252e/admin', '/%252e%252e/admin', 'ISTIO-NOTNORM'],
  ['/%c0%ae%c0%ae/admin', '/%c0%ae%c0%ae/admin', 'ISTIO-NOTNORM'],
  ['/0x2e0x2e/admin', '/0x2e0x2e/admin', 'ISTIO-NOTNORM'],
  ['/Admin', '/Admin', 'ISTIO-NOTNORM'],
  ['/x/../admin', '/admin', 'DERIVED from ENVOY-NV parent dir'],
  ['/./admin', '/admin', 'DERIVED from ENVOY-NV /./a/b'],
  ['/%61dmin', '/admin', 'DERIVED from ISTIO-PCT %61'],
  ['/x/..\\admin', '/admin', 'DERIVED from ENVOY-NV "..\\"'],
  ['/static/%2E%2E/%2E%2E/etc/passwd', '/etc/passwd', 'DERIVED from ENVOY-NV %2E escape + out number parent'],
  [
    '/app/../admin?x=/../y&z=%2E%2E',
    '/admin?x=/../y&z=%2E%2E',
    'DERIVED: canonicalPath stops at "?" (query untouched)',
  ],
  ['/a//b%2Fc?q=1', '/a//b%2Fc?q=1', 'DERIVED from ISTIO-BASE /app// and /app/%2f'],
];

describe('Istio BASE path normalization', () => {
  it('has at least 40 cases', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(40);
  });

  it.each(TABLE)('%s → %s (%s)', (input, want) => {
    expect(normalizePathBase(input) ?? 400).toBe(want);
  });

  it('returns the very same string when the path is already canonical (no copy on the hot path)', () => {
    const p = '/api/v1/users?x=1';
    expect(normalizePathBase(p)).toBe(p);
  });

  it('percent-encodes characters a path may not carry raw', () => {
    expect(normalizePathBase('/a b"<>^`{|}')).toBe('/a%20b%22%3C%3E%5E%60%7B%7C%7D');
    expect(normalizePathBase('/caf\u00e9')).toBe('/caf%E9'); // Node hands latin1: one byte per char
  });

  it('neutralises escapes forged by decoding (Chromium nested-escape rule)', () => {
    expect(normalizePathBase('/%%30%30')).toBe('/%2500');
    expect(normalizePathBase('/%%300')).toBe('/%2500');
  });
});
