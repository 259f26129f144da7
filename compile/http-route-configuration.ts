/**
 * Compiles the HTTP route configuration of Gateway servers (pilot `BuildGatewayHTTPRouteConfig`):
 * which VirtualServices bind to which server hosts, and the virtual hosts they make.
 */
import type { ClusterResolver } from '../config/cluster.js';
import type { BoundServer } from '../config/bound-server.js';
import type { Resource } from '../config/resources.js';
import {
  intersectHosts,
  resolveGatewayRef,
  resolveShortName,
  splitServerHost,
} from '../routes/host-names.js';
import { RouteConfiguration, type RouteEntry, type VirtualHost } from '../routes/route-table.js';
import { compileHttpRoutes, type HttpCompileContext } from './http-routes.js';
import { RouteMemo, sameItems, type AssembledHost } from './route-memo.js';
import { ITEMS_PER_STEP, runSteps, type Steps } from './steps.js';

/**
 * Builds `http.<port>`: for every server on the port and every VirtualService bound to its Gateway
 * (document order), the intersection of server hosts (namespace-filtered) with VS hosts gives the
 * virtual host domains; routes of several VSs on one domain are concatenated and catch-all routes
 * moved last (Istio `SortVHostRoutes`). `tls`: the server terminates TLS (the scheme redirects keep).
 * `name`: the route configuration's name (`http.<port>`; a terminating HTTPS server's filter chain
 * passes `https.<port>.<portName>.<gateway>.<ns>`). `memo`: what earlier builds compiled (reused
 * where its inputs are the same objects; see `route-memo.ts`); default: none.
 */
export function buildHttpRouteConfiguration(
  ...args: Parameters<typeof httpRouteConfigurationSteps>
): RouteConfiguration {
  return runSteps(httpRouteConfigurationSteps(...args));
}

/** {@link buildHttpRouteConfiguration} in steps (see `steps.ts`). */
export function* httpRouteConfigurationSteps(
  port: number,
  servers: readonly BoundServer[],
  virtualServices: readonly Resource<'VirtualService'>[],
  resolver: ClusterResolver,
  tls = false,
  name = `http.${port}`,
  memo: RouteMemo = new RouteMemo(),
): Steps<RouteConfiguration> {
  const byDomain = new Map<string, DomainRoutes>();
  for (const { gateway, server } of servers) {
    const gwNamespace = gateway.slice(0, gateway.indexOf('/'));
    let serverHosts: { namespace: string; host: string }[] | undefined;
    let n = 0;
    for (const vs of virtualServices) {
      if (++n % ITEMS_PER_STEP === 0) yield;
      const domains = memo.claimedDomains(vs, server, gateway, () => {
        serverHosts ??= server.hosts.map((h) => splitServerHost(h, gwNamespace));
        return claimDomains(vs, gateway, serverHosts);
      });
      if (domains.length === 0) continue;
      const vsKey = `${vs.metadata.namespace}/${vs.metadata.name}`;
      const routes = memo.compiledRoutes(vs, `${gateway}|${port}|${tls}`, resolver, (record) => {
        const ctx: HttpCompileContext = {
          gateway,
          serverPort: port,
          tls,
          resolve: (dest, ns, defaultPort) => record(resolver.resolve(dest, ns, defaultPort)),
        };
        return compileHttpRoutes(vs, ctx);
      });
      const redirect = server.tls?.httpsRedirect === true;
      for (const d of domains) {
        let vh = byDomain.get(d);
        if (!vh) {
          vh = { parts: [], vsKeys: undefined, requireTls: redirect };
          byDomain.set(d, vh);
        }
        if (redirect) vh.requireTls = true;
        if (!addOnce(vh, vsKey)) continue;
        vh.parts.push(routes);
      }
    }
    if (server.tls?.httpsRedirect === true) {
      // Every host of an httpsRedirect server redirects, routed by a VirtualService or not (Istio
      // adds a route-less `require_tls` virtual host for the others).
      serverHosts ??= server.hosts.map((h) => splitServerHost(h, gwNamespace));
      for (const { host } of serverHosts) {
        const vh = byDomain.get(host);
        if (vh) vh.requireTls = true;
        else byDomain.set(host, { parts: [], vsKeys: undefined, requireTls: true });
      }
    }
  }
  // Virtual hosts assembled from the same route lists as last time are the same objects.
  const previous = memo.previousHosts(name);
  const hosts = new Map<string, AssembledHost>();
  const virtualHosts: VirtualHost[] = [];
  let allReused = previous !== undefined && previous.size === byDomain.size;
  let n = 0;
  for (const [domain, vh] of byDomain) {
    if (++n % ITEMS_PER_STEP === 0) yield;
    const before = previous?.get(domain);
    let assembled: AssembledHost;
    if (before && before.vh.requireTls === vh.requireTls && sameItems(before.parts, vh.parts)) {
      assembled = before;
    } else {
      allReused = false;
      const routes = vh.parts.length === 1 ? vh.parts[0]! : vh.parts.flat();
      const ordered = [...routes.filter((r) => !r.catchAll), ...routes.filter((r) => r.catchAll)];
      assembled = {
        parts: vh.parts,
        vh: Object.freeze({
          name: `${domain}:${port}`,
          domains: [domain],
          routes: Object.freeze(ordered),
          requireTls: vh.requireTls,
        }),
      };
    }
    hosts.set(domain, assembled);
    virtualHosts.push(assembled.vh);
  }
  const before = memo.previousConfig(name);
  const config =
    allReused && before && sameItems(before.virtualHosts, virtualHosts)
      ? before
      : new RouteConfiguration(name, virtualHosts);
  memo.record(name, hosts, config);
  return config;
}

/** The route lists of one domain, in VirtualService order, while a route configuration is assembled. */
interface DomainRoutes {
  readonly parts: (readonly RouteEntry[])[];
  /**
   * VirtualServices already added (one VS adds its routes to a domain once): the only one as a
   * string, a set once there are several (most domains have one; no set allocated for them).
   */
  vsKeys: string | Set<string> | undefined;
  requireTls: boolean;
}

/** Records `vsKey` on the domain. @returns false when it was there already. */
function addOnce(vh: DomainRoutes, vsKey: string): boolean {
  const keys = vh.vsKeys;
  if (keys === undefined) vh.vsKeys = vsKey;
  else if (typeof keys === 'string') {
    if (keys === vsKey) return false;
    vh.vsKeys = new Set([keys, vsKey]);
  } else {
    if (keys.has(vsKey)) return false;
    keys.add(vsKey);
  }
  return true;
}

/**
 * The domains `vs` claims on a server of `gateway`: the intersections of the server's hosts
 * (namespace-filtered) with the VirtualService's hosts; none when `vs` is not bound to `gateway`.
 */
function claimDomains(
  vs: Resource<'VirtualService'>,
  gateway: string,
  serverHosts: readonly { namespace: string; host: string }[],
): string[] {
  const vsNs = vs.metadata.namespace;
  const bound = (vs.spec.gateways ?? []).some((ref) => resolveGatewayRef(ref, vsNs) === gateway);
  if (!bound) return [];
  const domains = new Set<string>();
  for (const sh of serverHosts) {
    if (sh.namespace !== '*' && sh.namespace !== vsNs) continue;
    for (const h of vs.spec.hosts ?? []) {
      const d = intersectHosts(sh.host, resolveShortName(h, vsNs));
      if (d) domains.add(d);
    }
  }
  return [...domains];
}
