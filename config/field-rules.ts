/**
 * What every field rule shares: the {@link Validator} that collects one resource's diagnostics, and
 * Istio's value rules (host names, ports, durations, RE2 regexes, string matches, header names,
 * exportTo, protocols).
 */
import { isIP } from 'node:net';
import { parseDurationMs } from './duration.js';
import { compileRe2 } from '../routes/regex.js';
import { Codes, type Diagnostic } from './diagnostics.js';
import { resourceKey, type Resource } from './resources.js';
import { fieldPath, isRecord } from './schema.js';

/** Collects the diagnostics of one resource. */
export class Validator {
  constructor(
    private readonly r: Resource,
    private readonly out: Diagnostic[],
  ) {}

  error(path: string, message: string): void {
    this.push('error', Codes.SchemaValidationError, path, message);
  }

  warn(path: string, message: string): void {
    this.push('warning', Codes.SchemaWarning, path, message);
  }

  deprecated(path: string, message: string): void {
    this.push('warning', Codes.Deprecated, path, message);
  }

  private push(severity: Diagnostic['severity'], code: string, path: string, message: string): void {
    this.out.push({
      severity,
      code,
      layer: 'schema',
      resource: resourceKey(this.r),
      source: this.r.source,
      path,
      message,
    });
  }
}

/** Proto3 semantics: `null`, `undefined` and `''` all mean "not set". */
export function isSet(x: unknown): boolean {
  return x !== undefined && x !== null && x !== '';
}

export function list<T>(x: readonly T[] | null | undefined): readonly T[];
export function list(x: unknown): readonly unknown[];
export function list(x: unknown): readonly unknown[] {
  return Array.isArray(x) ? x : [];
}

export function entries(x: unknown): [string, unknown][] {
  return isRecord(x) ? Object.entries(x) : [];
}

export function field(o: unknown, name: string): unknown {
  return isRecord(o) ? o[name] : undefined;
}

/** Kubernetes DNS-1123 label: subset names, port names, namespaces. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A host-name label (RFC 1123, either case). */
const HOST_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

export function isLabel(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

type DomainProblem = { partialWildcard: boolean; reason: string };

/**
 * Istio's `ValidateWildcardDomain`: `*`, `*.suffix` or a plain DNS name; every label RFC 1123;
 * at most 255 characters; a top-level label that is not all digits; a trailing dot allowed.
 */
export function domainProblem(host: string): DomainProblem | undefined {
  if (host === '') return { partialWildcard: false, reason: 'empty host name' };
  if (host.length > 255) return { partialWildcard: false, reason: 'longer than 255 characters' };
  if (host === '*') return undefined;
  const labels = host.split('.');
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop(); // trailing dot
  const first = labels[0]!;
  const partial = first !== '*' && first.startsWith('*');
  if (partial && !PARTIAL_WILDCARD_LABEL.test(first)) {
    return { partialWildcard: false, reason: `label ${JSON.stringify(first)} is not a valid DNS label` };
  }
  for (const label of first.startsWith('*') ? labels.slice(1) : labels) {
    if (label.includes('*')) {
      return {
        partialWildcard: false,
        reason: 'a wildcard may only be the whole leftmost label ("*.example.com")',
      };
    }
    if (label.length > 63 || !HOST_LABEL.test(label)) {
      return { partialWildcard: false, reason: `label ${JSON.stringify(label)} is not a valid DNS label` };
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) {
    return { partialWildcard: false, reason: 'the top-level domain cannot be all-numeric' };
  }
  if (partial) {
    return {
      partialWildcard: true,
      reason: `partial wildcards are not allowed (use "*.${labels.slice(1).join('.')}")`,
    };
  }
  return undefined;
}

/** Istio's wildcard DNS label: `*foo` or `*-foo` (a `*` then a label). */
const PARTIAL_WILDCARD_LABEL = /^\*-?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

/**
 * Istio's `ValidateWildcardDomain`: like {@link domainProblem}, but a first label such as `*foo` or
 * `*-foo` is allowed (destinations, DestinationRule and VirtualService hosts).
 */
export function wildcardDomainProblem(host: string): string | undefined {
  const problem = domainProblem(host);
  return problem?.partialWildcard ? undefined : problem?.reason;
}

/** Valid host name or IP address (VirtualService hosts, destinations, SNI hosts). */
export function hostProblem(host: string): string | undefined {
  if (isIP(host) !== 0) return undefined;
  return wildcardDomainProblem(host);
}

/**
 * Istio's check of SNI names generated for AUTO_PASSTHROUGH (`outbound_.<port>_._.<host>`), allowed
 * as hosts and SNI hosts of VirtualServices bound to gateways.
 */
export function autoSniProblem(host: string): string | undefined {
  const parts = host.split('_');
  const format = 'outbound_.<port>_._.<hostname>';
  if (parts.length < 4) return `should follow the ${format} format`;
  if (parts[0] !== 'outbound') return `label ${JSON.stringify(parts[0])} is invalid`;
  if (!/[0-9]/.test(parts[1]!.replace(/^\.+|\.+$/g, '')))
    return `the port should follow the ${format} format`;
  if (!/[a-zA-Z]/.test(parts[3]!.replace(/^\.+|\.+$/g, '')))
    return `the hostname should follow the ${format} format`;
  return undefined;
}

/** A JWT claim in a header-match key (`@request.auth.claims.sub`, `@request.auth.claims[a][b]`). */
export function isJwtClaimRoute(name: string): boolean {
  if (!name.toLowerCase().startsWith('@request.auth.claims')) return false;
  const rest = name.slice('@request.auth.claims'.length);
  return (
    (rest.startsWith('.') && rest.length > 1) ||
    (rest.startsWith('[') && rest.endsWith(']') && rest.length > 2)
  );
}

export function isCidrOrIp(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s) !== 0;
  const family = isIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

export function checkPort(v: Validator, path: string, n: unknown): void {
  if (!isSet(n)) return;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    v.error(path, `port number must be between 1 and 65535 (got ${JSON.stringify(n)})`);
  }
}

export function checkNonNegative(v: Validator, path: string, n: unknown): void {
  if (typeof n === 'number' && n < 0) v.error(path, `must be >= 0 (got ${n})`);
}

export function checkPercent(v: Validator, path: string, n: unknown): void {
  if (typeof n === 'number' && (n < 0 || n > 100)) v.error(path, `must be between 0 and 100 (got ${n})`);
}

/**
 * Istio's `ValidateDuration`: a protobuf duration of at least 1 ms, in whole milliseconds.
 * `allowZero` for the fields where `0s` means "disabled" (`tcp.idleTimeout`, cookie `ttl`).
 */
export function checkDuration(
  v: Validator,
  path: string,
  text: unknown,
  allowZero = false,
): number | undefined {
  if (!isSet(text)) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    v.error(
      path,
      `invalid duration ${JSON.stringify(text)} (expected a number with a unit, e.g. "500ms", "1s", "2m")`,
    );
    return undefined;
  }
  if (allowZero && ms === 0) return 0;
  if (ms < 1) v.error(path, `duration must be at least 1ms (got ${JSON.stringify(text)})`);
  else if (Math.abs(ms - Math.round(ms)) > 1e-6) {
    v.error(path, `duration must be a whole number of milliseconds (got ${JSON.stringify(text)})`);
  }
  return ms;
}

/** JS RegExp errors in the words RE2 (and so Istio) uses for the same mistakes. */
const RE2_WORDING: [RegExp, string][] = [
  [/Unterminated group/, 'missing )'],
  [/Unmatched '\)'/, 'unexpected )'],
  [/Unterminated character class/, 'missing ]'],
  [/Nothing to repeat/, 'missing argument to repetition operator'],
  [/\\ at end of pattern/, 'trailing \\'],
  [/numbers out of order/, 'invalid repeat count'],
  [/Range out of order/, 'invalid character class range'],
  [/Invalid group/, 'invalid or unsupported group syntax'],
];

function re2Reason(reason: string): string {
  // compileRe2 reports `invalid regex: /^(?:…)$/: Unterminated group`; keep only the reason.
  const bare = reason.replace(/^invalid regex: /, '').replace(/^\/.*\/[a-z]*: /s, '');
  return RE2_WORDING.find(([re]) => re.test(bare))?.[1] ?? bare;
}

/** Istio's `validateStringRegexp`: RE2 syntax, at most 1024 characters. */
export function checkRegex(v: Validator, path: string, pattern: string, anchored = true): void {
  const result = compileRe2(pattern, '', anchored);
  if (!result.ok) v.error(path, `invalid regex ${JSON.stringify(pattern)}: ${re2Reason(result.reason)}`);
}

/**
 * Istio's `validateStringMatch`: a `prefix` must not be empty (unless `emptyPrefixAllowed`, the uri
 * case), a `regex` must not be empty and must compile as RE2.
 */
export function checkStringMatch(v: Validator, path: string, m: unknown, emptyPrefixAllowed: boolean): void {
  if (!isRecord(m)) return;
  if (!emptyPrefixAllowed && m.prefix === '') v.error(fieldPath(path, 'prefix'), 'prefix must not be empty');
  if (m.regex === '') v.error(fieldPath(path, 'regex'), 'regex must not be empty');
  else if (typeof m.regex === 'string') checkRegex(v, fieldPath(path, 'regex'), m.regex);
}

/** Pseudo-headers a header match may name. */
const PSEUDO_HEADERS = new Set([':method', ':authority', ':path', ':scheme', ':status']);

/** Istio's `ValidateHTTPHeaderNameOrJwtClaimRoute`: a token, a pseudo-header or a JWT claim. */
export function checkMatchHeaderName(v: Validator, path: string, name: string): void {
  if (name === '') v.error(path, 'header name must not be empty');
  else if (!isJwtClaimRoute(name) && !PSEUDO_HEADERS.has(name) && !isHeaderName(name))
    v.error(path, `${JSON.stringify(name)} is not a valid header name`);
}

const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function isHeaderName(name: string): boolean {
  return HTTP_TOKEN.test(name);
}

export const PROTOCOLS = [
  'HTTP',
  'HTTPS',
  'HTTP2',
  'GRPC',
  'GRPC-WEB',
  'HTTP_PROXY',
  'TCP',
  'TLS',
  'MONGO',
  'MYSQL',
  'REDIS',
  'UDP',
];

/** Istio's `ValidateUnixAddress`: an absolute path to a file, or an abstract socket (`@name`). */
export function unixAddressProblem(path: string): string | undefined {
  if (path === '') return 'unix address must not be empty';
  if (path.startsWith('@')) return undefined;
  if (!path.startsWith('/') || path.endsWith('/')) return `${path} is not an absolute path to a file`;
  return undefined;
}

/**
 * Istio's `ValidateFQDN`: a DNS name (no wildcard), every label RFC 1123, at most 255 characters.
 * @returns the reason it is not one.
 */
export function fqdnProblem(name: string): string | undefined {
  if (name.includes('*')) return 'wildcards are not allowed';
  return domainProblem(name)?.reason;
}

/**
 * Istio's `validateExportTo`: `.` (this namespace), `*` (all), namespace names, and for
 * ServiceEntries `~` (none); no duplicates (`.` counts as this namespace); `*` and `~` alone.
 */
export function validateExportTo(
  v: Validator,
  exportTo: unknown,
  namespace: string,
  isServiceEntry: boolean,
  isDestinationRuleWithSelector = false,
): void {
  const values = list(exportTo);
  const seen = new Set<string>();
  values.forEach((e, i) => {
    const p = `spec.exportTo[${i}]`;
    const text = String(e);
    const key = text === '.' ? namespace : text;
    if (seen.has(key)) {
      v.error(
        p,
        text === key
          ? `duplicate exportTo entry ${JSON.stringify(text)}`
          : `duplicate exportTo entries: "." and this namespace ${namespace}`,
      );
      return;
    }
    if (key === '*' || (key === '~' && isServiceEntry) || isLabel(key)) seen.add(key);
    else
      v.error(
        p,
        `invalid exportTo ${JSON.stringify(text)}: expected ".", "*"${isServiceEntry ? ', "~"' : ''} or a namespace name`,
      );
  });
  // A DestinationRule with a workloadSelector applies to workloads of its own namespace only.
  if (isDestinationRuleWithSelector && seen.size > 0) {
    if (!seen.has(namespace))
      v.error(
        'spec.exportTo',
        'a DestinationRule with a workloadSelector cannot be exported beyond its namespace',
      );
    else if (seen.size > 1)
      v.error(
        'spec.exportTo',
        'a DestinationRule with a workloadSelector can only be exported to its own namespace',
      );
  }
  if (seen.has('*') && values.length > 1)
    v.error('spec.exportTo', '"*" cannot be combined with other exportTo values');
  if (seen.has('~') && values.length > 1)
    v.error('spec.exportTo', '"~" (export to no one) cannot be combined with other exportTo values');
}
