/**
 * Compiles VirtualService `http` rules into route entries for one gateway server port, following
 * Istio's translation (pilot `route.go`): per-match `port`/`gateways` filtering, catch-all
 * detection, weighted destinations, redirect/directResponse, rewrite, headers, timeout, retries,
 * fault and mirror policies. Everything a request needs is decided here.
 */
import type {
  Destination,
  HeaderOperations,
  HTTPMatchRequest,
  HTTPRedirect,
  HTTPRetry,
  HTTPRoute,
  Resource,
  StringMatch,
} from '../config/resources.js';
import type { ResolvedDestination } from '../config/cluster.js';
import { parseDurationMs } from '../config/duration.js';
import { compileRe2 } from '../routes/regex.js';
import { compileCors } from '../routes/cors.js';
import { resolveGatewayRef } from '../routes/host-names.js';
import { RETRY_ON_TOKENS } from '../routes/retry-on.js';
import { compileStringMatch, isPresenceMatch, type StringPredicate } from '../routes/string-match.js';
import type {
  CompiledMatch,
  FaultPolicy,
  HeaderMutation,
  MirrorPolicy,
  RequestView,
  RetryPolicy,
  RewritePolicy,
  RouteAction,
  RouteEntry,
  WeightedCluster,
} from '../routes/route-table.js';

/** What the compiler needs to know about where the routes will serve. */
export interface HttpCompileContext {
  /** `namespace/name` of the Gateway whose server this is, or `mesh`. */
  readonly gateway: string;
  /** The Gateway server's `port.number` (what `match.port` is compared with). */
  readonly serverPort: number;
  /**
   * Whether the server terminates TLS (HTTPS): the scheme a redirect keeps when it names none, so
   * `derivePort` can drop the scheme's default port as Istio does. Default false.
   */
  readonly tls?: boolean;
  /** Destination → cluster, shared across routes of the snapshot. */
  readonly resolve: (dest: Destination, namespace: string, defaultPort: number) => ResolvedDestination;
}

/** Istio's default retry policy when `retries` is unset (since 1.24: no retriable status codes). */
const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  numRetries: 2,
  perTryTimeoutMs: 0,
  on5xx: false,
  onGatewayError: false,
  onReset: false,
  onConnectFailure: true,
  onRetriable4xx: false,
  onRefusedStream: true,
  retriableStatusCodes: new Set<number>(),
  // Istio's default retryOn carries `unavailable,cancelled`.
  retriableGrpcStatuses: new Set<number>([1, 14]),
});

const NO_RETRY: RetryPolicy = Object.freeze({
  ...DEFAULT_RETRY,
  numRetries: 0,
  onConnectFailure: false,
  onRefusedStream: false,
});

/**
 * Compiles the `http` rules of one VirtualService for one gateway server. Rules whose every match
 * is excluded by `port`/`gateways` are left out; a catch-all rule ends the list (Istio generates
 * nothing after it).
 * @throws InvalidMatchError only for regexes validation should have rejected.
 */
export function compileHttpRoutes(vs: Resource<'VirtualService'>, ctx: HttpCompileContext): RouteEntry[] {
  const ns = vs.metadata.namespace;
  const vsKey = `${ns}/${vs.metadata.name}`;
  const out: RouteEntry[] = [];
  const rules = vs.spec.http ?? [];
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.delegate) continue; // Delegation is not supported yet (README: not yet).
    let matches: CompiledMatch[] = [];
    let catchAll = true;
    if (rule.match && rule.match.length > 0) {
      for (const m of rule.match) {
        if (m.port !== undefined && m.port !== ctx.serverPort) continue;
        if (m.gateways && m.gateways.length > 0) {
          if (!m.gateways.some((g) => resolveGatewayRef(g, ns) === ctx.gateway)) continue;
        }
        matches.push(compileMatch(m));
      }
      if (matches.length === 0) continue;
      catchAll = matches.some((m) => m.catchAll);
      // A catch-all entry makes the others irrelevant.
      if (catchAll) matches = [];
    }
    const action = compileAction(rule, ns, ctx);
    out.push(
      Object.freeze({
        name: `${vsKey}.${rule.name ?? i}`,
        virtualService: vsKey,
        matches: Object.freeze(matches),
        catchAll,
        action,
        timeoutMs: parseDurationMs(rule.timeout) ?? 0,
        retry: compileRetry(rule.retries),
        fault: compileFault(rule),
        mirrors: compileMirrors(rule, ns, ctx),
        rewrite: compileRewrite(rule),
        hostRewrite: routeHostRewrite(rule),
        requestHeaders: compileHeaderOps(rule.headers?.request),
        responseHeaders: compileHeaderOps(rule.headers?.response),
        cors: compileCors(rule.corsPolicy),
      }),
    );
    if (catchAll) break;
  }
  return out;
}

/** Compiles one `HTTPMatchRequest` into an AND of predicates. */
function compileMatch(m: HTTPMatchRequest): CompiledMatch {
  const tests: ((r: RequestView) => boolean)[] = [];
  let uriPrefix: string | undefined;
  let uriCatchAll = true;
  const ignoreCase = m.ignoreUriCase === true;
  // No `uri` condition: Istio emits Envoy `prefix: "/"`, so a prefix rewrite replaces that `/`.
  if (!m.uri) uriPrefix = '/';
  if (m.uri) {
    if (m.uri.prefix !== undefined) {
      uriPrefix = m.uri.prefix;
      if (m.uri.prefix !== '/') {
        uriCatchAll = false;
        const p = compileStringMatch({ prefix: m.uri.prefix }, ignoreCase);
        tests.push((r) => p(r.url));
      }
    } else if (m.uri.regex !== undefined && m.uri.regex !== '.*') {
      uriCatchAll = false;
      const p = compileStringMatch({ regex: m.uri.regex }, ignoreCase);
      tests.push((r) => p(r.url.slice(0, r.pathEnd)));
    } else if (m.uri.exact !== undefined) {
      uriCatchAll = false;
      const p = compileStringMatch({ exact: m.uri.exact }, ignoreCase);
      tests.push((r) => p(r.pathEnd === r.url.length ? r.url : r.url.slice(0, r.pathEnd)));
    }
  }
  let other = false;
  if (m.scheme) {
    other = true;
    const p = compileStringMatch(m.scheme);
    tests.push((r) => p(r.scheme));
  }
  if (m.method) {
    other = true;
    const p = compileStringMatch(m.method);
    tests.push((r) => p(r.method));
  }
  if (m.authority) {
    other = true;
    const p = compileStringMatch(m.authority);
    tests.push((r) => p(r.authority));
  }
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    other = true;
    tests.push(headerTest(name.toLowerCase(), sm, false));
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    other = true;
    tests.push(headerTest(name.toLowerCase(), sm, true));
  }
  const query = Object.entries(m.queryParams ?? {});
  if (query.length > 0) {
    other = true;
    const preds = query.map(([k, sm]) => [k, compileStringMatch(sm)] as const);
    tests.push((r) => {
      if (r.pathEnd === r.url.length) return false;
      const params = new URLSearchParams(r.url.slice(r.pathEnd + 1));
      for (const [k, p] of preds) {
        const v = params.get(k);
        if (!p(v === null ? undefined : v)) return false;
      }
      return true;
    });
  }
  if (m.sourceLabels || m.sourceNamespace) {
    // Source workload identity is not known at an edge gateway; such a match cannot hold.
    other = true;
    tests.push(() => false);
  }
  const catchAll = uriCatchAll && !other;
  const test = and(tests);
  return Object.freeze({ test, uriPrefix, catchAll });
}

function headerTest(name: string, sm: StringMatch, inverted: boolean): (r: RequestView) => boolean {
  // Pseudo-headers name request properties.
  const read: (r: RequestView) => string | undefined =
    name === ':method'
      ? (r) => r.method
      : name === ':authority'
        ? (r) => r.authority
        : name === ':scheme'
          ? (r) => r.scheme
          : name === ':path'
            ? (r) => r.url
            : (r) => {
                const v = r.headers[name];
                return Array.isArray(v) ? v.join(',') : v;
              };
  const p: StringPredicate = compileStringMatch(sm);
  if (!inverted) return (r) => p(read(r));
  // withoutHeaders: `{}` matches an absent header; otherwise an absent header counts as "".
  if (isPresenceMatch(sm)) return (r) => read(r) === undefined;
  return (r) => !p(read(r) ?? '');
}

function and(tests: ((r: RequestView) => boolean)[]): (r: RequestView) => boolean {
  switch (tests.length) {
    case 0:
      return () => true;
    case 1:
      return tests[0]!;
    case 2: {
      const [a, b] = tests as [(r: RequestView) => boolean, (r: RequestView) => boolean];
      return (r) => a(r) && b(r);
    }
    default:
      return (r) => {
        for (let i = 0; i < tests.length; i++) if (!tests[i]!(r)) return false;
        return true;
      };
  }
}

function compileAction(rule: HTTPRoute, ns: string, ctx: HttpCompileContext): RouteAction {
  if (rule.redirect) return compileRedirect(rule.redirect, ctx);
  if (rule.directResponse) {
    const b = rule.directResponse.body;
    const body =
      b?.string !== undefined
        ? Buffer.from(b.string)
        : b?.bytes !== undefined
          ? Buffer.from(b.bytes, 'base64')
          : undefined;
    return Object.freeze({ kind: 'direct', status: rule.directResponse.status, body });
  }
  const dests = rule.route ?? [];
  const clusters: WeightedCluster[] = [];
  for (const d of dests) {
    // One destination takes all traffic whatever its weight; with several, zero weights are dropped.
    const weight = dests.length === 1 ? 1 : (d.weight ?? 0);
    if (weight <= 0) continue;
    clusters.push(
      Object.freeze({
        destination: ctx.resolve(d.destination, ns, ctx.serverPort),
        weight,
        hostRewrite: headerAuthority(d.headers?.request),
        requestHeaders: compileHeaderOps(d.headers?.request),
        responseHeaders: compileHeaderOps(d.headers?.response),
      }),
    );
  }
  const totalWeight = clusters.reduce((s, c) => s + c.weight, 0);
  return Object.freeze({ kind: 'forward', clusters: Object.freeze(clusters), totalWeight });
}

/**
 * Compiles `headers.request|response`; `undefined` when there is nothing to do. `Host` and
 * `:authority` are left out: Istio turns them into the route's authority rewrite
 * (`headerAuthority`), never into a second Host header.
 */
export function compileHeaderOps(ops: HeaderOperations | undefined): HeaderMutation | undefined {
  if (!ops) return undefined;
  const pairs = (m: Record<string, string> | undefined) =>
    Object.entries(m ?? {})
      .map(([k, v]) => [k.toLowerCase(), String(v)] as const)
      .filter(([k]) => !isAuthorityHeader(k));
  const set = pairs(ops.set);
  const add = pairs(ops.add);
  const remove = (ops.remove ?? []).map((k) => k.toLowerCase());
  if (set.length + add.length + remove.length === 0) return undefined;
  return Object.freeze({ set, add, remove, drop: new Set([...remove, ...set.map(([k]) => k)]) });
}

function isAuthorityHeader(lowerName: string): boolean {
  return lowerName === 'host' || lowerName === ':authority';
}

/**
 * The authority a `headers.request` block sets (Istio `TranslateHeadersOperations`): `Host` or
 * `:authority` (any case) in `set`, else in `add`; undefined when neither names it.
 */
function headerAuthority(ops: HeaderOperations | undefined): string | undefined {
  const find = (m: Record<string, string> | undefined): string | undefined => {
    for (const [k, v] of Object.entries(m ?? {})) if (isAuthorityHeader(k.toLowerCase())) return String(v);
    return undefined;
  };
  return ops ? (find(ops.set) ?? find(ops.add)) : undefined;
}

/**
 * The route-level authority rewrite (Envoy `host_rewrite_literal`), in Istio's precedence:
 * `rewrite.authority`, then the rule's `headers.request` authority, then (one destination only)
 * that destination's. With several destinations each keeps its own, and the route's wins.
 */
function routeHostRewrite(rule: HTTPRoute): string | undefined {
  const dests = rule.route ?? [];
  return (
    rule.rewrite?.authority ??
    headerAuthority(rule.headers?.request) ??
    (dests.length === 1 ? headerAuthority(dests[0]!.headers?.request) : undefined)
  );
}

/**
 * Compiles `redirect` (Istio `ApplyRedirect`): the port is decided here, per listener port as Istio
 * generates routes: `derivePort: FROM_REQUEST_PORT` is the server (or service) port, and a port equal
 * to the scheme's default (80 for http, 443 for https) is dropped, leaving the request's Host as sent.
 */
function compileRedirect(r: HTTPRedirect, ctx: HttpCompileContext): RouteAction {
  let port: number | undefined;
  if (r.port !== undefined || r.derivePort !== undefined) {
    port = r.port ?? (r.derivePort === 'FROM_REQUEST_PORT' ? ctx.serverPort : undefined);
    const scheme = r.scheme ?? (ctx.tls === true ? 'https' : 'http');
    if ((port === 80 && scheme === 'http') || (port === 443 && scheme === 'https')) port = undefined;
  }
  return Object.freeze({
    kind: 'redirect',
    uri: r.uri,
    prefixRewrite: r.prefixRewrite === '' ? undefined : r.prefixRewrite,
    authority: r.authority,
    scheme: r.scheme,
    port,
    deriveFromRequestPort: r.derivePort === 'FROM_REQUEST_PORT',
    status: r.redirectCode ?? 301,
  });
}

/** gRPC `retryOn` tokens and the `grpc-status` each retries (Envoy `x-envoy-retry-grpc-on`). */
const GRPC_RETRY_ON: Readonly<Record<string, readonly number[]>> = {
  cancelled: [1],
  'deadline-exceeded': [4],
  'resource-exhausted': [8],
  internal: [13],
  unavailable: [14],
};

/** Compiles `HTTPRetry` (Istio `retry.ConvertPolicy`). Unset → Istio's default policy. */
function compileRetry(r: HTTPRetry | undefined): RetryPolicy {
  if (!r) return DEFAULT_RETRY;
  if (!r.attempts || r.attempts <= 0) return NO_RETRY;
  const tokens = (r.retryOn ?? 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const codes = new Set<number>();
  for (const t of tokens) {
    if (/^\d{3}$/.test(t)) codes.add(Number(t));
    else if (!RETRY_ON_TOKENS.has(t)) continue;
  }
  const has = (t: string) => tokens.includes(t);
  return Object.freeze({
    numRetries: r.attempts,
    perTryTimeoutMs: parseDurationMs(r.perTryTimeout) ?? 0,
    on5xx: has('5xx'),
    onGatewayError: has('gateway-error'),
    onReset: has('reset'),
    onConnectFailure: has('connect-failure') || has('5xx') || has('gateway-error') || has('reset'),
    onRetriable4xx: has('retriable-4xx'),
    onRefusedStream: has('refused-stream'),
    retriableStatusCodes: codes,
    retriableGrpcStatuses: new Set(tokens.flatMap((t) => GRPC_RETRY_ON[t] ?? [])),
  });
}

function percentOf(
  p: { value?: number } | undefined,
  legacy: number | undefined,
  whenAbsent: number,
): number {
  if (p && typeof p.value === 'number') return Math.min(Math.max(p.value, 0), 100) / 100;
  if (typeof legacy === 'number') return Math.min(Math.max(legacy, 0), 100) / 100;
  return whenAbsent;
}

function compileFault(rule: HTTPRoute): FaultPolicy | undefined {
  const f = rule.fault;
  if (!f) return undefined;
  // Percentage omitted ⇒ 0%: the fault never fires (istio/istio#36303).
  const delay =
    f.delay?.fixedDelay !== undefined
      ? {
          ms: parseDurationMs(f.delay.fixedDelay) ?? 0,
          fraction: percentOf(f.delay.percentage, f.delay.percent, 0),
        }
      : undefined;
  const abort =
    f.abort && (f.abort.httpStatus !== undefined || f.abort.grpcStatus !== undefined)
      ? {
          status: f.abort.httpStatus ?? 200,
          grpcStatus: f.abort.grpcStatus,
          fraction: percentOf(f.abort.percentage, undefined, 0),
        }
      : undefined;
  if (!delay && !abort) return undefined;
  return Object.freeze({ delay, abort });
}

function compileMirrors(rule: HTTPRoute, ns: string, ctx: HttpCompileContext): MirrorPolicy[] {
  const out: MirrorPolicy[] = [];
  if (rule.mirror) {
    const legacy = rule.mirrorPercent ?? rule.mirror_percent;
    // Percentage omitted ⇒ 100%.
    const fraction = percentOf(rule.mirrorPercentage, legacy, 1);
    if (fraction > 0) out.push({ destination: ctx.resolve(rule.mirror, ns, ctx.serverPort), fraction });
  }
  for (const m of rule.mirrors ?? []) {
    const fraction = percentOf(m.percentage, undefined, 1);
    if (fraction > 0) out.push({ destination: ctx.resolve(m.destination, ns, ctx.serverPort), fraction });
  }
  return out;
}

function compileRewrite(rule: HTTPRoute): RewritePolicy | undefined {
  const rw = rule.rewrite;
  if (!rw) return undefined;
  let regex: RewritePolicy['regex'];
  if (rw.uriRegexRewrite?.match !== undefined) {
    const r = compileRe2(rw.uriRegexRewrite.match, '', false);
    if (r.ok) {
      // The substitution stays in RE2 syntax (`\1`): the compiled pattern reads it when replacing.
      regex = { pattern: r.regex, substitution: rw.uriRegexRewrite.rewrite ?? '' };
    }
  }
  if (rw.uri === undefined && rw.authority === undefined && !regex) return undefined;
  return Object.freeze({ uri: rw.uri, authority: rw.authority, regex });
}
