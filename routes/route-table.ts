/**
 * The compiled HTTP route configuration (Envoy `RouteConfiguration`): virtual hosts with their
 * domains, each holding ordered route entries whose matchers and actions were built at compile
 * time. Lookups here are the only per-request routing work.
 */
import type { ResolvedDestination } from '../config/cluster.js';
import type { CorsConfig } from './cors.js';
import { stripPort } from './host-names.js';
import { HostTable } from './host-table.js';
import type { Re2Regex } from './regex.js';

/** What matchers see of a request. Header names are lowercase (as Node delivers them). */
export interface RequestView {
  readonly method: string;
  /** Origin-form request target, query included (`/productpage?u=1`). */
  readonly url: string;
  /** Index of `?` in `url`, or `url.length`. */
  readonly pathEnd: number;
  /** Host header (`:authority`) as sent, port included. */
  readonly authority: string;
  readonly scheme: 'http' | 'https';
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** One compiled `HTTPMatchRequest`. */
export interface CompiledMatch {
  readonly test: (r: RequestView) => boolean;
  /**
   * The prefix this match matched, for `rewrite.uri` and `redirect.prefixRewrite` (Envoy
   * `prefix_rewrite` replaces it): `uri.prefix`, or `/` when the match has no `uri` condition (Istio's
   * implicit prefix); undefined for exact and regex URI matches (the whole path is replaced).
   */
  readonly uriPrefix: string | undefined;
  /** Whether this match was a catch-all (no conditions, or prefix `/` / regex `.*` only). */
  readonly catchAll: boolean;
}

/** Header operations (`headers.request|response`), names lowercased at compile time. */
export interface HeaderMutation {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
  /** `remove` plus the names `set` replaces: what a request header list drops before set/add (compiled once). */
  readonly drop: ReadonlySet<string>;
}

/** A weighted destination of a forward action. */
export interface WeightedCluster {
  readonly destination: ResolvedDestination;
  readonly weight: number;
  /**
   * `Host`/`:authority` set by this destination's `headers.request` (Envoy weighted-cluster
   * `host_rewrite_literal`); the route's `hostRewrite` wins over it.
   */
  readonly hostRewrite: string | undefined;
  readonly requestHeaders: HeaderMutation | undefined;
  readonly responseHeaders: HeaderMutation | undefined;
}

/** Istio `HTTPRetry` compiled to Envoy's retry policy. */
export interface RetryPolicy {
  /** Retries after the first try (Istio `attempts`); 0 disables. */
  readonly numRetries: number;
  /** Per-try timeout in ms, 0 = none. */
  readonly perTryTimeoutMs: number;
  readonly on5xx: boolean;
  readonly onGatewayError: boolean;
  readonly onReset: boolean;
  readonly onConnectFailure: boolean;
  readonly onRetriable4xx: boolean;
  readonly onRefusedStream: boolean;
  readonly retriableStatusCodes: ReadonlySet<number>;
  /**
   * gRPC statuses retried when a response carries them in its head (trailers-only): `cancelled` 1,
   * `deadline-exceeded` 4, `resource-exhausted` 8, `internal` 13, `unavailable` 14.
   */
  readonly retriableGrpcStatuses: ReadonlySet<number>;
}

/** `fault.delay` / `fault.abort`; fractions in [0, 1]. */
export interface FaultPolicy {
  readonly delay: { readonly ms: number; readonly fraction: number } | undefined;
  readonly abort:
    | { readonly status: number; readonly grpcStatus: string | undefined; readonly fraction: number }
    | undefined;
}

/** One mirror target with the fraction of requests copied to it. */
export interface MirrorPolicy {
  readonly destination: ResolvedDestination;
  readonly fraction: number;
}

/** `rewrite` compiled. */
export interface RewritePolicy {
  /** Replacement for the matched prefix (`rewrite.uri`). */
  readonly uri: string | undefined;
  readonly authority: string | undefined;
  /** `uriRegexRewrite`: every match of `pattern` replaced by `substitution` (RE2 syntax, `\\1` a group). */
  readonly regex: { readonly pattern: Re2Regex; readonly substitution: string } | undefined;
}

export type RouteAction =
  | {
      readonly kind: 'forward';
      readonly clusters: readonly WeightedCluster[];
      /** Sum of weights, for the weighted pick. */
      readonly totalWeight: number;
    }
  | {
      readonly kind: 'redirect';
      /** Replaces the whole path, query kept (Envoy `path_redirect`). */
      readonly uri: string | undefined;
      /** Replaces the matched prefix (Envoy redirect `prefix_rewrite`); wins over `uri`. */
      readonly prefixRewrite: string | undefined;
      readonly authority: string | undefined;
      readonly scheme: string | undefined;
      /**
       * Envoy `port_redirect`, decided at compile time: `port`, or for `derivePort: FROM_REQUEST_PORT`
       * the server/service port the routes were built for; undefined when it is the scheme's default
       * (the Host keeps the port it was sent with, except a switch to https drops `:80`).
       */
      readonly port: number | undefined;
      /** `derivePort: FROM_REQUEST_PORT` was written (for config dumps; `port` already carries it). */
      readonly deriveFromRequestPort: boolean;
      readonly status: number;
    }
  | { readonly kind: 'direct'; readonly status: number; readonly body: Buffer | undefined };

/** One compiled `HTTPRoute` (Envoy route entry). */
export interface RouteEntry {
  /** `<vs namespace>/<vs name>` plus rule name or index, e.g. `default/bookinfo.0`. */
  readonly name: string;
  readonly virtualService: string;
  /** OR-ed matches; empty means the rule matches everything. */
  readonly matches: readonly CompiledMatch[];
  readonly catchAll: boolean;
  readonly action: RouteAction;
  /** Route `timeout` in ms, 0 = none (Istio's default). */
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly fault: FaultPolicy | undefined;
  readonly mirrors: readonly MirrorPolicy[];
  readonly rewrite: RewritePolicy | undefined;
  /**
   * Upstream authority (Envoy route `host_rewrite_literal`): `rewrite.authority`, else a `Host` /
   * `:authority` set or added by the rule's (or its single destination's) `headers.request`.
   * Undefined keeps the request's Host; a picked cluster's own `hostRewrite` applies only then.
   */
  readonly hostRewrite: string | undefined;
  /** Request header operations; never contains `host` (see `hostRewrite`). */
  readonly requestHeaders: HeaderMutation | undefined;
  /** Response header operations, applied to upstream replies and to redirect / direct responses. */
  readonly responseHeaders: HeaderMutation | undefined;
  /** `corsPolicy` (Envoy CORS filter, answered by gateway/cors.ts); undefined when the rule has none. */
  readonly cors?: CorsConfig;
}

/** Envoy virtual host: domains and ordered routes. */
export interface VirtualHost {
  /** `<domain>:<port>` as Istio names it. */
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly RouteEntry[];
  /** `tls.httpsRedirect` on the server: plaintext requests get 301 to https. */
  readonly requireTls: boolean;
}

/** Result of a route lookup. */
export type RouteMatch =
  | {
      readonly virtualHost: VirtualHost;
      readonly route: RouteEntry;
      readonly match: CompiledMatch | undefined;
    }
  | { readonly virtualHost: VirtualHost | undefined; readonly route: undefined; readonly match: undefined };

/**
 * Envoy `RouteConfiguration`: virtual hosts indexed for lookup by Host header in a {@link HostTable}:
 * exact domains, `*.suffix` wildcards by suffix length (longest first), then the `*` host.
 */
export class RouteConfiguration {
  private readonly hosts = new HostTable<VirtualHost>();

  /**
   * @param name `http.<port>` or `https.<port>.<portName>.<gateway>.<ns>`.
   * @throws Error when two virtual hosts claim one exact domain or `*` (the compiler de-duplicates
   * first); of two claiming one wildcard, the first keeps it.
   */
  constructor(
    readonly name: string,
    readonly virtualHosts: readonly VirtualHost[],
  ) {
    for (const vh of virtualHosts) {
      for (const d of vh.domains) {
        if (this.hosts.add(d, vh) || d.startsWith('*.')) continue;
        throw new Error(
          d === '*'
            ? `route configuration ${name}: two virtual hosts for "*"`
            : `route configuration ${name}: duplicate domain "${d}"`,
        );
      }
    }
  }

  /** Picks the virtual host for a Host header value (port stripped, case-insensitive); no fallback to less specific hosts. */
  virtualHostFor(authority: string): VirtualHost | undefined {
    return this.hosts.lookup(stripPort(authority).toLowerCase());
  }

  /** Virtual host, then the first route whose any match holds (Istio order). */
  route(r: RequestView): RouteMatch {
    const vh = this.virtualHostFor(r.authority);
    if (!vh) return NO_ROUTE;
    const routes = vh.routes;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i]!;
      const ms = route.matches;
      if (ms.length === 0) return { virtualHost: vh, route, match: IMPLICIT_PREFIX_MATCH };
      for (let j = 0; j < ms.length; j++) {
        if (ms[j]!.test(r)) return { virtualHost: vh, route, match: ms[j] };
      }
    }
    return { virtualHost: vh, route: undefined, match: undefined };
  }
}

/** The match of a rule without conditions: Istio emits it as Envoy `prefix: "/"`. */
const IMPLICIT_PREFIX_MATCH: CompiledMatch = Object.freeze({
  test: () => true,
  uriPrefix: '/',
  catchAll: true,
});

const NO_ROUTE: RouteMatch = { virtualHost: undefined, route: undefined, match: undefined };
