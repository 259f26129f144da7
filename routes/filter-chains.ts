/**
 * The filter chains of a TLS or TCP listener, as the data path reads them (Envoy `FilterChain`s with
 * their `server_names` and the tcp_proxy routes they hold). Built by `compile/l4-filter-chains.ts`;
 * read by `gateway/tls-listener.ts`, `gateway/passthrough.ts` and `gateway/tcp-proxy.ts`.
 */
import type { ResolvedDestination } from '../config/cluster.js';
import type { BoundServer } from '../config/bound-server.js';
import type { ServerTlsContext } from '../tls/server-tls.js';
import { HostTable } from './host-table.js';
import type { RouteConfiguration } from './route-table.js';

/** One weighted destination of a TCP route (Envoy tcp_proxy `weighted_clusters`). */
export interface WeightedL4Cluster {
  readonly destination: ResolvedDestination;
  /** Relative weight (> 0). */
  readonly weight: number;
  /** `connectionPool.tcp.idleTimeout` of the destination's DestinationRule in ms; 0 disables; default 1 h. */
  readonly idleTimeoutMs: number;
}

/** Client source addresses a TCP rule is limited to (`match.sourceSubnet`). */
export interface SourceSubnets {
  /** The CIDRs as written, for dumps. */
  readonly cidrs: readonly string[];
  /** Whether a downstream remote address (IPv4, IPv6 or IPv4-mapped IPv6) is inside one of them. */
  test(address: string): boolean;
}

/** A compiled `tcp` or `tls` rule: where the connection goes (Envoy `tcp_proxy`). */
export interface TcpProxyRoute {
  /** `<vs namespace>/<vs name>.tcp.<rule index>` or `.tls.<rule index>`. */
  readonly name: string;
  /** `<namespace>/<name>` of the VirtualService. */
  readonly virtualService: string;
  /** Envoy `stat_prefix`, as Istio sets it: the cluster name for one destination, `<vs name>.<vs namespace>` for several. */
  readonly statPrefix: string;
  /** `sourceSubnet` of the matches that selected the rule; undefined = any client. */
  readonly sourceSubnets: SourceSubnets | undefined;
  readonly clusters: readonly WeightedL4Cluster[];
  /** Sum of the weights. */
  readonly totalWeight: number;
}

interface ChainBase {
  /** Readable identity, e.g. `https.443.https.mygateway.default` or `passthrough nginx.example.com`. */
  readonly name: string;
  /** SNI values this chain answers (`*.suffix` wildcards allowed); empty = any SNI and no SNI. */
  readonly serverNames: readonly string[];
  /** The Gateway server it was built from. */
  readonly server: BoundServer;
}

/** TLS terminated by the gateway, then the HTTP router on the server's own route table. */
export interface HttpsFilterChain extends ChainBase {
  readonly kind: 'https';
  readonly tls: ServerTlsContext;
  readonly routeConfig: RouteConfiguration;
}

/** TCP proxy: plain TCP, TLS passthrough (`tls` undefined, bytes untouched) or TLS terminated then TCP. */
export interface TcpFilterChain extends ChainBase {
  readonly kind: 'tcp';
  readonly tls: ServerTlsContext | undefined;
  /** Candidate rules in order; the first whose `sourceSubnets` admits the client wins. */
  readonly routes: readonly TcpProxyRoute[];
}

/** One Envoy filter chain of a TLS or TCP listener. */
export type FilterChain = HttpsFilterChain | TcpFilterChain;

/**
 * The filter chains of one listener with Envoy's `server_names` selection: exact SNI, then the
 * longest matching `*.suffix` wildcard (which covers deeper names too), then the chain without
 * server names. No SNI only reaches the chain without server names.
 */
export class FilterChainTable {
  private readonly bySni = new HostTable<FilterChain>();

  /** @param chains deduplicated by the compiler: the first claim of an SNI value wins. */
  constructor(readonly chains: readonly FilterChain[]) {
    for (const c of chains) {
      if (c.serverNames.length === 0) this.bySni.add('*', c);
      else for (const n of c.serverNames) this.bySni.add(n, c);
    }
  }

  /** The chain for a ClientHello's SNI (lowercase; undefined when absent); undefined = no chain (Envoy `filter_chain_not_found`). */
  select(serverName: string | undefined): FilterChain | undefined {
    return serverName ? this.bySni.lookup(serverName) : this.bySni.fallback;
  }
}

/** The first rule of a TCP chain admitting a client address; undefined = no route (Envoy NR). */
export function selectTcpRoute(
  routes: readonly TcpProxyRoute[],
  remoteAddress: string | undefined,
): TcpProxyRoute | undefined {
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!;
    if (!r.sourceSubnets || (remoteAddress !== undefined && r.sourceSubnets.test(remoteAddress))) return r;
  }
  return undefined;
}
