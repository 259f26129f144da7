/**
 * Unreachable rules and ineffective matches of one VirtualService (Istio IST0130
 * VirtualServiceUnreachableRule, IST0131 VirtualServiceIneffectiveMatch), as Istio's VirtualService
 * validation finds them: a match equal to an earlier one (its `name` aside), a rule after a rule
 * without matches, a rule whose every match is taken, and an HTTP `uri.prefix` match that an
 * earlier, shorter prefix with the same other conditions already covers.
 */
import { isRecord } from './schema.js';

/** What a finding is reported with: rule and match labels as Istio prints them (`"name"` or `#n`). */
interface MatchFinding {
  readonly code: 'unreachable' | 'ineffective';
  /** `spec.<section>[i]` of the rule, and `.match[j]` for an ineffective match. */
  readonly path: string;
  readonly message: string;
}

/** Canonical JSON (sorted keys) of a match, its `name` left out: two equal matches give one string. */
function matchKey(match: unknown): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (!isRecord(v)) return v;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) if (k !== 'name') out[k] = canon(v[k]);
    return out;
  };
  return JSON.stringify(canon(match) ?? null);
}

function ruleLabel(rule: unknown, i: number, http: boolean): string {
  return http && isRecord(rule) && typeof rule.name === 'string' && rule.name !== ''
    ? JSON.stringify(rule.name)
    : `#${i}`;
}

function matchLabel(match: unknown, j: number, http: boolean): string {
  return http && isRecord(match) && typeof match.name === 'string' && match.name !== ''
    ? JSON.stringify(match.name)
    : `#${j}`;
}

/** The fields Istio compares for prefix overlap: each value `exact:x`, `prefix:x` or empty. */
interface PrefixMatch {
  /** Field path of the match. */
  readonly at: string;
  readonly rule: string;
  readonly match: string;
  readonly prefix: string;
  readonly port: number;
  readonly method: string;
  readonly authority: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly query: ReadonlyMap<string, string>;
  readonly without: ReadonlyMap<string, string>;
}

function exactOrPrefix(sm: unknown): string {
  if (!isRecord(sm)) return '';
  if (typeof sm.exact === 'string' && sm.exact !== '') return `exact:${sm.exact}`;
  if (typeof sm.prefix === 'string' && sm.prefix !== '') return `prefix:${sm.prefix}`;
  return '';
}

function stringMap(m: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (isRecord(m)) for (const [k, v] of Object.entries(m)) out.set(k, exactOrPrefix(v));
  return out;
}

function prefixMatchOf(match: unknown, at: string, rule: string, label: string): PrefixMatch | undefined {
  if (!isRecord(match) || !isRecord(match.uri)) return undefined;
  const prefix = match.uri.prefix;
  if (typeof prefix !== 'string' || prefix === '') return undefined;
  return {
    at,
    rule,
    match: label,
    prefix,
    port: typeof match.port === 'number' ? match.port : 0,
    // No method condition counts as GET, as Istio assumes.
    method: exactOrPrefix(match.method) || 'exact:GET',
    authority: exactOrPrefix(match.authority),
    headers: stringMap(match.headers),
    query: stringMap(match.queryParams),
    without: stringMap(match.withoutHeaders),
  };
}

/** Whether the earlier match `a` takes every request the later `b` would (Istio's `coveredValidation`). */
function covers(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix) || a.port !== b.port) return false;
  const valueCovers = (x: string, y: string) => x === y || x.startsWith(y);
  if (!valueCovers(a.method, b.method) || !valueCovers(a.authority, b.authority)) return false;
  const mapCovers = (x: ReadonlyMap<string, string>, y: ReadonlyMap<string, string>) => {
    if (x.size !== y.size) return false;
    for (const [k, v] of x) {
      const w = y.get(k);
      if (w === undefined || !valueCovers(v, w)) return false;
    }
    return true;
  };
  return mapCovers(a.headers, b.headers) && mapCovers(a.query, b.query) && mapCovers(a.without, b.without);
}

/**
 * Finds unreachable rules and ineffective matches in one section (`http`, `tcp` or `tls`) of a
 * VirtualService spec. Reads the rules defensively (the spec may have failed validation).
 */
export function unreachableMatches(section: 'http' | 'tcp' | 'tls', rules: unknown): MatchFinding[] {
  const out: MatchFinding[] = [];
  if (!Array.isArray(rules)) return out;
  const http = section === 'http';
  const seen = new Map<string, number>();
  let emptyAt = -1;
  const prefixes: PrefixMatch[] = [];
  const unreachable = (i: number, label: string, reason: string) =>
    out.push({
      code: 'unreachable',
      path: `spec.${section}[${i}]`,
      message: `VirtualService rule ${label} not used (${reason}).`,
    });
  const ineffective = (path: string, rule: string, match: string, dup: string) =>
    out.push({
      code: 'ineffective',
      path,
      message: `VirtualService rule ${rule} match ${match} is not used (duplicate/overlapping match in rule ${dup}).`,
    });
  rules.forEach((rule, i) => {
    if (!isRecord(rule)) return;
    const label = ruleLabel(rule, i, http);
    const matches = Array.isArray(rule.match) ? rule.match : [];
    if (matches.length === 0) {
      if (emptyAt >= 0) unreachable(i, label, 'only the last rule can have no matches');
      emptyAt = i;
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      if (emptyAt >= 0) return unreachable(i, label, 'route without matches defined before');
      const key = matchKey(m);
      const dup = seen.get(key);
      if (dup !== undefined) {
        ineffective(
          `spec.${section}[${i}].match[${j}]`,
          label,
          matchLabel(m, j, http),
          ruleLabel(rules[dup], dup, http),
        );
        duplicates++;
        return;
      }
      seen.set(key, i);
      if (http) {
        const pm = prefixMatchOf(m, `spec.http[${i}].match[${j}]`, label, matchLabel(m, j, http));
        if (pm) prefixes.push(pm);
      }
    });
    if (duplicates === matches.length) unreachable(i, label, 'all matches used by prior rules');
  });
  for (let a = 0; a < prefixes.length; a++) {
    for (let b = a + 1; b < prefixes.length; b++) {
      const pa = prefixes[a]!;
      const pb = prefixes[b]!;
      if (pa.prefix === pb.prefix || !covers(pa, pb)) continue;
      ineffective(
        pb.at,
        pb.rule,
        `${pb.match} of prefix ${pb.prefix}`,
        `${pa.match} of prefix ${pa.prefix} on ${pa.rule}`,
      );
    }
  }
  return out;
}
