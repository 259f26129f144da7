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

/**
 * Builds `http.<port>`: for every server on the port and every VirtualService bound to its Gateway
 * (document order), the intersection of server hosts (namespace-filtered) with VS hosts gives the
 * virtual host domains; routes of several VSs on one domain are concatenated and catch-all routes
 * moved last (Istio `SortVHostRoutes`). `tls`: the server terminates TLS (the scheme redirects keep).
 * `name`: the route configuration's name (`http.<port>`; a terminating HTTPS server's filter chain
 * passes `https.<port>.<portName>.<gateway>.<ns>`).
 */
export function buildHttpRouteConfiguration(
  port: number,
  servers: readonly BoundServer[],
  virtualServices: readonly Resource<'VirtualService'>[],
  resolver: ClusterResolver,
  tls = false,
  name = `http.${port}`,
): RouteConfiguration {
  const byDomain = new Map<string, { routes: RouteEntry[]; requireTls: boolean; seen: Set<string> }>();
  const compiled = new Map<string, RouteEntry[]>();
  for (const { gateway, server } of servers) {
    const gwNamespace = gateway.slice(0, gateway.indexOf('/'));
    const serverHosts = server.hosts.map((h) => splitServerHost(h, gwNamespace));
    for (const vs of virtualServices) {
      const vsNs = vs.metadata.namespace;
      const bound = (vs.spec.gateways ?? []).some((ref) => resolveGatewayRef(ref, vsNs) === gateway);
      if (!bound) continue;
      const vsKey = `${vsNs}/${vs.metadata.name}`;
      const domains = new Set<string>();
      for (const sh of serverHosts) {
        if (sh.namespace !== '*' && sh.namespace !== vsNs) continue;
        for (const h of vs.spec.hosts ?? []) {
          const d = intersectHosts(sh.host, resolveShortName(h, vsNs));
          if (d) domains.add(d);
        }
      }
      if (domains.size === 0) continue;
      const cacheKey = `${vsKey}|${gateway}`;
      let routes = compiled.get(cacheKey);
      if (!routes) {
        const ctx: HttpCompileContext = {
          gateway,
          serverPort: port,
          tls,
          resolve: (dest, ns, defaultPort) => resolver.resolve(dest, ns, defaultPort),
        };
        routes = compileHttpRoutes(vs, ctx);
        compiled.set(cacheKey, routes);
      }
      for (const d of domains) {
        let vh = byDomain.get(d);
        if (!vh) {
          vh = { routes: [], requireTls: server.tls?.httpsRedirect === true, seen: new Set() };
          byDomain.set(d, vh);
        }
        if (server.tls?.httpsRedirect === true) vh.requireTls = true;
        if (vh.seen.has(vsKey)) continue;
        vh.seen.add(vsKey);
        vh.routes.push(...routes);
      }
    }
    if (server.tls?.httpsRedirect === true) {
      // Every host of an httpsRedirect server redirects, routed by a VirtualService or not (Istio
      // adds a route-less `require_tls` virtual host for the others).
      for (const { host } of serverHosts) {
        const vh = byDomain.get(host);
        if (vh) vh.requireTls = true;
        else byDomain.set(host, { routes: [], requireTls: true, seen: new Set() });
      }
    }
  }
  const virtualHosts: VirtualHost[] = [];
  for (const [domain, vh] of byDomain) {
    const ordered = [...vh.routes.filter((r) => !r.catchAll), ...vh.routes.filter((r) => r.catchAll)];
    virtualHosts.push(
      Object.freeze({
        name: `${domain}:${port}`,
        domains: [domain],
        routes: Object.freeze(ordered),
        requireTls: vh.requireTls,
      }),
    );
  }
  return new RouteConfiguration(name, virtualHosts);
}
