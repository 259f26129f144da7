/**
 * The compiled snapshot: everything the data path reads, built once from validated resources and
 * never mutated. A config change builds a new snapshot; the store swaps it in atomically.
 */
import type { Diagnostic } from './diagnostics.js';
import { Codes } from './diagnostics.js';
import { ofKind, resourceKey, type Resource, type Server } from './resources.js';
import { ofKubeKind, type KubeObject } from './kube-resources.js';
import { secretLookup } from '../tls/credentials.js';
import { buildRegistry, labelsMatch, type ServiceRegistry } from './registry.js';
import { ClusterResolver, type Cluster } from './cluster.js';
import { compileHttpRoutes, type HttpCompileContext } from '../routes/compile-http.js';
import { RouteConfiguration, type RouteEntry, type VirtualHost } from '../routes/route-table.js';
import {
  intersectHosts,
  resolveGatewayRef,
  resolveShortName,
  splitServerHost,
} from '../routes/host-names.js';
import { buildL4FilterChains, type FilterChainTable } from '../routes/compile-l4.js';
import {
  buildMeshListener,
  withMeshClusters,
  type MeshOutbound,
  type OutboundTrafficPolicy,
} from './mesh-listener.js';

/** How a listener treats its bytes, decided by the first server on the port. */
export type ListenerKind = 'HTTP' | 'TLS' | 'TCP';

/** A Gateway server, with the Gateway it came from. */
export interface BoundServer {
  /** `namespace/name` of the Gateway. */
  readonly gateway: string;
  readonly server: Server;
}

/** One listener per (bind address, server port), as Istio merges Gateway servers (`mergeGateways`). */
export interface Listener {
  /** `0.0.0.0_80`, Istio's listener name (address and server port). */
  readonly name: string;
  readonly address: string;
  /** The Gateway server `port.number`. */
  readonly port: number;
  /** The local port actually bound (`--port-map`), same as `port` when unmapped. */
  readonly bindPort: number;
  readonly kind: ListenerKind;
  /** Upper-case protocol of the first server (`HTTP`, `HTTPS`, `TCP`, ...). */
  readonly protocol: string;
  /** Gateways (`ns/name`) whose servers this listener serves. */
  readonly gateways: readonly string[];
  readonly servers: readonly BoundServer[];
  /** Plaintext HTTP route table (`http.<port>`); undefined for TLS/TCP listeners. */
  readonly routeConfig: RouteConfiguration | undefined;
  /**
   * TLS and TCP listeners: the Envoy filter chains (terminating HTTPS, TLS passthrough by SNI, TCP
   * proxy) built by `buildL4FilterChains`; undefined for HTTP listeners.
   */
  readonly filterChains?: FilterChainTable;
  /** How long a TLS listener waits for the ClientHello before closing (Envoy `listener_filter_timeout`), ms. */
  readonly listenerFilterTimeoutMs?: number;
  /** The mesh (sidecar outbound) listener only (issue 4): CONNECT routing and the outbound policy. */
  readonly mesh?: MeshOutbound;
}

export interface Snapshot {
  /** Monotonic per process; 0 for a snapshot not yet installed. */
  readonly version: number;
  readonly builtAt: Date;
  readonly listeners: readonly Listener[];
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly registry: ServiceRegistry;
  /** Warnings kept for `/config_dump` and logs (errors never reach a snapshot). */
  readonly diagnostics: readonly Diagnostic[];
  readonly resourceCount: number;
}

export interface SnapshotOptions {
  /** Serve only Gateways whose `selector` matches these labels; undefined serves all (`--gateway-labels`). */
  readonly gatewayLabels?: Readonly<Record<string, string>>;
  /** Server port → local port (`--port-map 80=8080`). */
  readonly portMap?: ReadonlyMap<number, number>;
  /** `--credentials-dir`: folder with one sub-folder per `credentialName` (`<name>/tls.crt`, `tls.key`, `ca.crt`). */
  readonly credentialsDir?: string;
  /** TLS listeners: ClientHello deadline in ms (default 5000); a silent client is closed at it. */
  readonly listenerFilterTimeoutMs?: number;
  /** `--mesh-port`: also serve the mesh (sidecar outbound) listener on this port (0 = ephemeral). */
  readonly meshPort?: number;
  /** `--outbound-traffic-policy` for the mesh listener (Istio's default `ALLOW_ANY`). */
  readonly outboundTrafficPolicy?: OutboundTrafficPolicy;
}

/** Default ClientHello deadline of TLS listeners (shorter than Envoy's 15 s: real clients send it in their first flight). */
export const DEFAULT_LISTENER_FILTER_TIMEOUT_MS = 5_000;

const HTTP_LIKE = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY']);
const TLS_LIKE = new Set(['HTTPS', 'TLS']);

/** Classifies a server: HTTP-like plaintext, TLS (terminated or passthrough), or opaque TCP. */
export function listenerKindOf(server: Server): ListenerKind {
  const p = server.port.protocol.toUpperCase();
  if (HTTP_LIKE.has(p)) return 'HTTP';
  if (TLS_LIKE.has(p)) return 'TLS';
  return 'TCP';
}

/**
 * Compiles resources (already validated; blocked ones removed) into a snapshot.
 * Never throws for configuration problems: conflicts Istio tolerates become warnings and the
 * offending server or route is skipped, as pilot does.
 */
export function buildSnapshot(
  resources: readonly Resource[],
  opts: SnapshotOptions = {},
  objects: readonly KubeObject[] = [],
): { snapshot: Snapshot; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  resources = orderByCreation(resources);
  const registry = buildRegistry(resources, objects);
  const secrets = secretLookup(ofKubeKind(objects, 'Secret'));
  const resolver = new ClusterResolver(registry, resources);
  const gateways = ofKind(resources, 'Gateway').filter(
    (g) => !opts.gatewayLabels || labelsMatch(g.spec.selector ?? {}, opts.gatewayLabels),
  );
  const virtualServices = ofKind(resources, 'VirtualService');

  // 1. Group servers per (bind, port); the first server decides the listener kind.
  const groups = new Map<
    string,
    { address: string; port: number; kind: ListenerKind; protocol: string; servers: BoundServer[] }
  >();
  for (const gw of gateways) {
    const gwKey = `${gw.metadata.namespace}/${gw.metadata.name}`;
    (gw.spec.servers ?? []).forEach((server, i) => {
      const address = server.bind ?? '0.0.0.0';
      const key = `${address}_${server.port.number}`;
      const kind = listenerKindOf(server);
      const group = groups.get(key);
      if (!group) {
        groups.set(key, {
          address,
          port: server.port.number,
          kind,
          protocol: server.port.protocol.toUpperCase(),
          servers: [{ gateway: gwKey, server }],
        });
      } else if (group.kind !== kind) {
        diagnostics.push({
          severity: 'warning',
          code: Codes.PortProtocolConflict,
          layer: 'reference',
          resource: resourceKey(gw),
          source: gw.source,
          path: `spec.servers[${i}].port`,
          message: `port ${server.port.number} is already served as ${group.protocol} by ${group.servers[0]!.gateway}; this ${server.port.protocol} server is skipped`,
        });
      } else {
        group.servers.push({ gateway: gwKey, server });
      }
    });
  }

  // 2. Build each listener.
  const listeners: Listener[] = [];
  for (const g of groups.values()) {
    const gatewaysServed = [...new Set(g.servers.map((s) => s.gateway))];
    const routeConfig =
      g.kind === 'HTTP'
        ? buildHttpRouteConfiguration(g.port, g.servers, virtualServices, resolver)
        : undefined;
    let filterChains: FilterChainTable | undefined;
    if (g.kind !== 'HTTP') {
      // TLS/TCP (issue 3): filter chains; a port without any is omitted, as Istio omits the listener.
      const l4 = buildL4FilterChains({
        kind: g.kind,
        port: g.port,
        servers: g.servers,
        gateways,
        virtualServices,
        resolver,
        credentialsDir: opts.credentialsDir,
        secrets,
        buildHttpRoutes: (server, name) =>
          new RouteConfiguration(
            name,
            buildHttpRouteConfiguration(g.port, [server], virtualServices, resolver, true).virtualHosts,
          ),
      });
      diagnostics.push(...l4.diagnostics);
      if (!l4.table) continue;
      filterChains = l4.table;
    }
    listeners.push(
      Object.freeze({
        name: `${g.address}_${g.port}`,
        address: g.address,
        port: g.port,
        bindPort: opts.portMap?.get(g.port) ?? g.port,
        kind: g.kind,
        protocol: g.protocol,
        gateways: gatewaysServed,
        servers: g.servers,
        routeConfig,
        filterChains,
        listenerFilterTimeoutMs: opts.listenerFilterTimeoutMs ?? DEFAULT_LISTENER_FILTER_TIMEOUT_MS,
      }),
    );
  }

  // 3. The mesh listener (issue 4; config/mesh-listener.ts).
  const mesh =
    opts.meshPort === undefined
      ? undefined
      : buildMeshListener({
          port: opts.meshPort,
          policy: opts.outboundTrafficPolicy ?? 'ALLOW_ANY',
          virtualServices,
          registry,
          resolver,
        });
  if (mesh) {
    listeners.push(mesh.listener);
    diagnostics.push(...mesh.diagnostics);
  }

  const snapshot: Snapshot = Object.freeze({
    version: 0,
    builtAt: new Date(),
    listeners: Object.freeze(listeners),
    clusters: withMeshClusters(resolver.clusters(), mesh),
    registry,
    diagnostics: Object.freeze(diagnostics.slice()),
    resourceCount: resources.length,
  });
  return { snapshot, diagnostics };
}

/**
 * Orders resources as Istio orders conflicting configuration (pilot `sortConfigByCreationTime`):
 * by `metadata.creationTimestamp` (absent = the zero time, first), then name, then namespace. So
 * which of two conflicting resources wins does not depend on file order. Returns a new array.
 */
export function orderByCreation<R extends Resource>(resources: readonly R[]): R[] {
  const keyed = resources.map((r) => {
    const t = Date.parse(r.metadata.creationTimestamp ?? '');
    return { r, t: Number.isNaN(t) ? 0 : t };
  });
  keyed.sort(
    (a, b) =>
      a.t - b.t ||
      compareStrings(a.r.metadata.name, b.r.metadata.name) ||
      compareStrings(a.r.metadata.namespace, b.r.metadata.namespace),
  );
  return keyed.map((k) => k.r);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Builds `http.<port>`: for every server on the port and every VirtualService bound to its Gateway
 * (document order), the intersection of server hosts (namespace-filtered) with VS hosts gives the
 * virtual host domains; routes of several VSs on one domain are concatenated and catch-all routes
 * moved last (Istio `SortVHostRoutes`). `tls`: the server terminates TLS (the scheme redirects keep).
 */
export function buildHttpRouteConfiguration(
  port: number,
  servers: readonly BoundServer[],
  virtualServices: readonly Resource<'VirtualService'>[],
  resolver: ClusterResolver,
  tls = false,
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
  return new RouteConfiguration(`http.${port}`, virtualHosts);
}
