/**
 * What one snapshot build keeps for the next: the compiled routes of each VirtualService (per
 * gateway server), the domains it claims on each server, and the virtual hosts and route
 * configurations assembled from them. A reload that changed one VirtualService of 10,000 recompiles
 * that one and reuses the objects of the others, so the serving thread neither redoes their work nor
 * allocates them again (at 10,000 hosts a full build took ~0.4 s and most of the garbage behind the
 * reload pause).
 *
 * Every entry is keyed by the objects it was computed from (a VirtualService's `spec`, a Gateway
 * server) and checked against what else it depended on (the VirtualService's `metadata`, the cluster
 * resolver), so a reuse gives the same result as a fresh compile. Resources are immutable; a changed
 * one is a new object.
 */
import type { ClusterResolver, ResolvedDestination } from '../config/cluster.js';
import type { Resource, Server } from '../config/resources.js';
import type { RouteConfiguration, RouteEntry, VirtualHost } from '../routes/route-table.js';

/** Routes compiled from one VirtualService for one (gateway, port, tls). */
interface CompiledRoutes {
  readonly metadata: Resource['metadata'];
  readonly routes: RouteEntry[];
  /** Every destination the routes resolved, re-registered with a resolver that reuses them. */
  readonly destinations: readonly ResolvedDestination[];
  /** The resolver they were resolved against (moved forward on each reuse). */
  resolver: ClusterResolver;
}

/** The domains a VirtualService claims on one server (empty: not bound to it). */
interface ClaimedDomains {
  readonly metadata: Resource['metadata'];
  readonly gateway: string;
  readonly domains: readonly string[];
}

/** A virtual host with the route lists it was assembled from (in order). */
export interface AssembledHost {
  readonly vh: VirtualHost;
  readonly parts: readonly (readonly RouteEntry[])[];
}

/** The virtual hosts and the route configuration last built under one name. */
interface AssembledConfig {
  readonly hosts: ReadonlyMap<string, AssembledHost>;
  readonly config: RouteConfiguration;
}

/** Memo of HTTP route compilation across snapshot builds (see the module comment). */
export class RouteMemo {
  private readonly routes = new WeakMap<object, Map<string, CompiledRoutes>>();
  private readonly claims = new WeakMap<object, Map<Server, ClaimedDomains>>();
  private configs = new Map<string, AssembledConfig>();
  private nextConfigs = new Map<string, AssembledConfig>();

  /** Starts a build: route configurations recorded until {@link commit} replace the previous ones. */
  begin(): void {
    this.nextConfigs = new Map();
  }

  /** Ends a build: only the route configurations it built are kept. */
  commit(): void {
    this.configs = this.nextConfigs;
    this.nextConfigs = new Map();
  }

  /**
   * The routes of `vs` for `key` (`gateway|port|tls`) compiled by `compile`, or the ones compiled by
   * an earlier build when `vs` is unchanged and `resolver` resolves every destination as that
   * build's did. `compile` receives a resolve function that records the destinations.
   */
  compiledRoutes(
    vs: Resource<'VirtualService'>,
    key: string,
    resolver: ClusterResolver,
    compile: (record: (d: ResolvedDestination) => ResolvedDestination) => RouteEntry[],
  ): RouteEntry[] {
    let byKey = this.routes.get(vs.spec);
    const hit = byKey?.get(key);
    if (hit && hit.metadata === vs.metadata && resolver.resolvesAs(hit.resolver)) {
      for (const d of hit.destinations) resolver.adopt(d);
      hit.resolver = resolver;
      return hit.routes;
    }
    const destinations: ResolvedDestination[] = [];
    const routes = compile((d) => {
      destinations.push(d);
      return d;
    });
    if (!byKey) {
      byKey = new Map();
      this.routes.set(vs.spec, byKey);
    }
    byKey.set(key, { metadata: vs.metadata, routes, destinations, resolver });
    return routes;
  }

  /** The domains `vs` claims on `server` of `gateway`, computed by `claim` unless known. */
  claimedDomains(
    vs: Resource<'VirtualService'>,
    server: Server,
    gateway: string,
    claim: () => readonly string[],
  ): readonly string[] {
    let byServer = this.claims.get(vs.spec);
    const hit = byServer?.get(server);
    if (hit && hit.metadata === vs.metadata && hit.gateway === gateway) return hit.domains;
    const domains = claim();
    if (!byServer) {
      byServer = new Map();
      this.claims.set(vs.spec, byServer);
    }
    byServer.set(server, { metadata: vs.metadata, gateway, domains });
    return domains;
  }

  /** The virtual hosts of route configuration `name` as the previous build assembled them. */
  previousHosts(name: string): ReadonlyMap<string, AssembledHost> | undefined {
    return this.configs.get(name)?.hosts;
  }

  /** The route configuration `name` of the previous build. */
  previousConfig(name: string): RouteConfiguration | undefined {
    return this.configs.get(name)?.config;
  }

  /** Records what this build assembled under `name`. */
  record(name: string, hosts: ReadonlyMap<string, AssembledHost>, config: RouteConfiguration): void {
    this.nextConfigs.set(name, { hosts, config });
  }
}

/** Whether two lists hold the same objects in the same order. */
export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
