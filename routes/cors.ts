/**
 * `HTTPRoute.corsPolicy` compiled for Envoy's CORS filter semantics (Istio `translateCORSPolicy`):
 * origin matchers built once, list fields joined with `,`, `maxAge` in whole seconds.
 */
import type { CorsPolicy, StringMatch } from '../config/resources.js';
import { parseDurationMs } from '../config/duration.js';
import { compileStringMatch, type StringPredicate } from './string-match.js';

/** A compiled CORS policy; header values are ready to send. */
export interface CorsConfig {
  /** True when `origin` is allowed (`allowOrigins` exact/prefix/regex, legacy `allowOrigin` exact). */
  readonly allowsOrigin: (origin: string) => boolean;
  /** `access-control-allow-methods` (`allowMethods` joined), undefined when unset. */
  readonly allowMethods: string | undefined;
  /** `access-control-allow-headers` (`allowHeaders` joined), undefined when unset. */
  readonly allowHeaders: string | undefined;
  /** `access-control-expose-headers` (`exposeHeaders` joined), undefined when unset. */
  readonly exposeHeaders: string | undefined;
  /** `access-control-max-age` in seconds (`maxAge`), undefined when unset. */
  readonly maxAge: string | undefined;
  /** `allowCredentials: true` adds `access-control-allow-credentials: true`. */
  readonly allowCredentials: boolean;
  /**
   * `unmatchedPreflights`: FORWARD (default) sends a preflight whose origin is not allowed on to the
   * upstream; IGNORE answers it locally without CORS headers.
   */
  readonly forwardUnmatchedPreflights: boolean;
}

/**
 * Compiles a CORS policy; undefined when the route has none.
 * An origin matcher whose value is `*` (exact, or a legacy `allowOrigin` entry) allows every origin,
 * as Envoy tests each matcher against `*` too.
 * @throws InvalidMatchError for a regex validation should have rejected.
 */
export function compileCors(p: CorsPolicy | undefined): CorsConfig | undefined {
  if (!p) return undefined;
  const matchers: StringMatch[] = [
    ...(p.allowOrigins ?? []),
    ...(p.allowOrigin ?? []).map((exact) => ({ exact })),
  ];
  const preds: StringPredicate[] = [];
  let any = false;
  for (const m of matchers) {
    if (m.exact === '*' || m.prefix === '*') any = true;
    else preds.push(compileStringMatch(m));
  }
  const allowsOrigin = any
    ? () => true
    : (origin: string) => {
        for (let i = 0; i < preds.length; i++) if (preds[i]!(origin)) return true;
        return false;
      };
  const join = (xs: string[] | undefined) => (xs && xs.length > 0 ? xs.join(',') : undefined);
  const maxAgeMs = parseDurationMs(p.maxAge);
  const unmatched = (p as { unmatchedPreflights?: string }).unmatchedPreflights;
  return Object.freeze({
    allowsOrigin,
    allowMethods: join(p.allowMethods),
    allowHeaders: join(p.allowHeaders),
    exposeHeaders: join(p.exposeHeaders),
    maxAge: maxAgeMs === undefined ? undefined : String(Math.floor(maxAgeMs / 1000)),
    allowCredentials: p.allowCredentials === true,
    forwardUnmatchedPreflights: unmatched !== 'IGNORE',
  });
}
