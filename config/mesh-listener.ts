/**
 * The mesh (sidecar outbound) listener: what an Istio sidecar's `virtualOutbound` listener does for
 * the calls a workload makes, served on one local port (`--mesh-port`) that workloads use as their
 * HTTP proxy (`HTTP_PROXY`, absolute-form targets), by Host header, or with `CONNECT host:port`.
 *
 * Built from the same snapshot inputs as the gateway listeners (pilot `BuildSidecarOutboundVirtualHosts`):
 * 1. Every VirtualService bound to `mesh` (no `spec.gateways`, or a list containing `mesh`) gives, per
 *    VS host and service port, a virtual host `<fqdn>:<port>` answering the names a workload uses:
 *    `reviews`, `reviews.default`, `reviews.default.svc`, `reviews.default.svc.cluster.local`, each
 *    with and without `:<port>`. Rules are compiled for that port (`match.port`, per-match `gateways`).
 *    Two mesh VirtualServices for one host: the first (creation order) wins, as in Istio (IST0109).
 * 2. Every ServiceEntry host and HTTP port without such a VirtualService gets the default route to
 *    `outbound|<port>||<host>` (Istio's default retry policy, no timeout).
 * 3. Anything else follows `outboundTrafficPolicy`: `ALLOW_ANY` forwards to the request's own
 *    `host:port` (route `allow_any`, cluster `PassthroughCluster`); `REGISTRY_ONLY` answers 502 with an
 *    empty body (route `block_all`, Istio's BlackHoleCluster).
 * 4. `tls` rules of mesh VirtualServices (`sniHosts`) route CONNECT tunnels by the SNI they carry.
 */
import { Codes, type Diagnostic } from './diagnostics.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  type Cluster,
  type ClusterResolver,
  type ResolvedDestination,
} from './cluster.js';
import { resourceKey, type Resource, type TLSMatchAttributes } from './resources.js';
import type { Service, ServiceRegistry } from './registry.js';
import type { Listener } from './snapshot.js';
import { compileHttpRoutes, type HttpCompileContext } from '../routes/compile-http.js';
import { RouteConfiguration, type RouteEntry, type VirtualHost } from '../routes/route-table.js';
import {
  CLUSTER_DOMAIN,
  hostCovers,
  isWildcard,
  resolveGatewayRef,
  resolveShortName,
} from '../routes/host-names.js';

/** `meshConfig.outboundTrafficPolicy.mode` (Istio default `ALLOW_ANY`). */
export type OutboundTrafficPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

/** Istio's name of the sidecar listener that receives all outbound traffic (port 15001). */
export const MESH_LISTENER_NAME = 'virtualOutbound';

/**
 * Address the mesh listener binds: loopback only, because with `ALLOW_ANY` it forwards anywhere and
 * would be an open proxy on other interfaces (a sidecar is reached through iptables, never remotely).
 */
export const MESH_LISTENER_ADDRESS = '127.0.0.1';

/** Envoy's cluster for `ALLOW_ANY` traffic to unknown destinations (original destination). */
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
/** Istio's cluster name for `REGISTRY_ONLY` refusals. */
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';

const HTTP_LIKE = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY']);

/** One compiled mesh `tls` match: SNI names (and optional port) → weighted destinations. */
export interface MeshTlsRoute {
  /** `<vs namespace>/<vs name>.tls.<rule index>`. */
  readonly name: string;
  /** Lowercase SNI names; `*.suffix` wildcards allowed, `*` matches any SNI. */
  readonly sniHosts: readonly string[];
  /** `match.port`: only CONNECTs to this port; undefined = any port. */
  readonly port: number | undefined;
  readonly clusters: readonly { readonly destination: ResolvedDestination; readonly weight: number }[];
  readonly totalWeight: number;
}

/** What the CONNECT tunnel needs besides the HTTP route table. */
export interface MeshOutbound {
  readonly policy: OutboundTrafficPolicy;
  readonly tlsRoutes: readonly MeshTlsRoute[];
  /** The `PassthroughCluster` destination (`ALLOW_ANY`). */
  readonly passthrough: ResolvedDestination;
  /**
   * The default destination of a registered `host:port` (ServiceEntry host, any protocol), used for
   * tunnels whose SNI matches no `tls` rule; undefined for unknown hosts or ports.
   */
  serviceDestination(host: string, port: number): ResolvedDestination | undefined;
}

/**
 * The mesh listener's route table: virtual hosts keyed by `host:port` (a workload's Host may carry a
 * port or not: no port means 80, else the only/first port of a service with that name), wildcard VS
 * hosts per port, then the `allow_any` / `block_all` virtual host.
 */
export class MeshRouteConfiguration extends RouteConfiguration {
  private readonly byKey = new Map<string, VirtualHost>();
  private readonly portless = new Map<string, VirtualHost>();
  private readonly meshSuffixes: {
    readonly suffix: string;
    readonly port: number;
    readonly vhost: VirtualHost;
  }[] = [];
  private readonly anyHost = new Map<number, VirtualHost>();

  /**
   * @param hosts virtual hosts with the `(name, port)` pairs they answer; the first claim of a pair wins.
   * @param outbound the `allow_any` / `block_all` virtual host for everything else.
   */
  constructor(
    name: string,
    hosts: readonly {
      readonly vhost: VirtualHost;
      readonly names: readonly string[];
      readonly port: number;
    }[],
    readonly outbound: VirtualHost,
  ) {
    super(name, [...hosts.map((h) => h.vhost), outbound]);
    for (const { vhost, names, port } of hosts) {
      for (const n of names) {
        if (n === '*') {
          if (!this.anyHost.has(port)) this.anyHost.set(port, vhost);
        } else if (n.startsWith('*.')) {
          this.meshSuffixes.push({ suffix: n.slice(1), port, vhost });
        } else {
          const key = `${n}:${port}`;
          if (!this.byKey.has(key)) this.byKey.set(key, vhost);
          if (!this.portless.has(n)) this.portless.set(n, vhost);
        }
      }
    }
    this.meshSuffixes.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  /** Virtual host for a Host / absolute-URI authority; never undefined (the outbound policy host). */
  override virtualHostFor(authority: string): VirtualHost {
    const { host, port } = splitAuthority(authority);
    const p = port ?? 80;
    const hit = this.byKey.get(`${host}:${p}`) ?? (port === undefined ? this.portless.get(host) : undefined);
    if (hit) return hit;
    for (let i = 0; i < this.meshSuffixes.length; i++) {
      const s = this.meshSuffixes[i]!;
      if (s.port === p && host.length > s.suffix.length && host.endsWith(s.suffix)) return s.vhost;
    }
    return this.anyHost.get(p) ?? this.outbound;
  }
}

/** Splits `host[:port]` (IPv6 in brackets), lowercased, trailing dot removed; port undefined when absent. */
export function splitAuthority(authority: string): { host: string; port: number | undefined } {
  let host = authority;
  let port: number | undefined;
  const colon = host.lastIndexOf(':');
  if (colon > 0 && host.indexOf(']') < colon) {
    const p = Number(host.slice(colon + 1));
    if (Number.isInteger(p) && p > 0 && p < 65536) port = p;
    host = host.slice(0, colon);
  }
  host = host.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  return { host, port };
}

/**
 * The names a workload may use for a service host: the FQDN, and for `<name>.<ns>.svc.cluster.local`
 * also `<name>`, `<name>.<ns>` and `<name>.<ns>.svc` (what Kubernetes search domains resolve).
 */
export function meshHostNames(fqdn: string): string[] {
  const names = [fqdn];
  const suffix = `.${CLUSTER_DOMAIN}`;
  if (!isWildcard(fqdn) && fqdn.endsWith(suffix)) {
    const parts = fqdn.slice(0, -suffix.length).split('.');
    if (parts.length === 2) names.push(parts[0]!, `${parts[0]}.${parts[1]}`, `${parts[0]}.${parts[1]}.svc`);
  }
  return names;
}

/** True when a VirtualService applies to sidecars: no `gateways`, or a list naming `mesh`. */
export function isMeshBound(vs: Resource<'VirtualService'>): boolean {
  const gws = vs.spec.gateways;
  return !gws || gws.length === 0 || gws.includes('mesh');
}

/** Ports of a service that carry HTTP (a port without protocol is sniffed by Istio: taken as HTTP here). */
function httpPorts(svc: Service): number[] {
  return svc.ports.filter((p) => !p.protocol || HTTP_LIKE.has(p.protocol.toUpperCase())).map((p) => p.number);
}

/** Input of {@link buildMeshListener}. */
export interface MeshListenerInput {
  /** `--mesh-port`; 0 binds an ephemeral port. */
  readonly port: number;
  readonly policy: OutboundTrafficPolicy;
  /** All VirtualServices in creation order (the mesh-bound ones are picked here). */
  readonly virtualServices: readonly Resource<'VirtualService'>[];
  readonly registry: ServiceRegistry;
  readonly resolver: ClusterResolver;
}

/** Output of {@link buildMeshListener}. */
export interface MeshListenerResult {
  readonly listener: Listener;
  /** Clusters that do not come from the resolver (`PassthroughCluster`), to add to the snapshot. */
  readonly extraClusters: readonly Cluster[];
  readonly diagnostics: Diagnostic[];
}

/** The `PassthroughCluster`: no endpoints, resolution NONE, so each request binds its own authority. */
function passthroughCluster(): Cluster {
  return Object.freeze({
    name: PASSTHROUGH_CLUSTER,
    service: Object.freeze({
      hostname: PASSTHROUGH_CLUSTER,
      namespace: '',
      ports: [],
      resolution: 'NONE',
      location: 'MESH_EXTERNAL',
      endpoints: [],
      source: 'meshConfig.outboundTrafficPolicy',
    }),
    servicePort: { number: 0, name: 'passthrough', protocol: 'TCP' },
    subset: undefined,
    endpoints: Object.freeze([]),
    policy: Object.freeze({}),
    lbPolicy: 'LEAST_REQUEST',
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  });
}

/** A synthetic VirtualService, compiled like a user's so route entries keep every field the compiler sets. */
function syntheticVs(
  name: string,
  namespace: string,
  spec: Resource<'VirtualService'>['spec'],
): Resource<'VirtualService'> {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace },
    spec,
    source: { file: '<mesh defaults>', docIndex: 0, line: 1 },
  };
}

/**
 * Builds the mesh listener (see the module comment for the steps). Pure; never throws for
 * configuration problems (they become warnings and the later claim is skipped).
 */
export function buildMeshListener(input: MeshListenerInput): MeshListenerResult {
  const diagnostics: Diagnostic[] = [];
  const { registry, resolver } = input;
  const resolve: HttpCompileContext['resolve'] = (dest, ns, defaultPort) =>
    resolver.resolve(dest, ns, defaultPort);
  const hosts: { vhost: VirtualHost; names: string[]; port: number }[] = [];
  /** `fqdn:port` pairs already served, by the VS that claimed them. */
  const claimed = new Map<string, string>();
  const meshVss = input.virtualServices.filter(isMeshBound);

  // 1. Mesh-bound VirtualServices: exact hosts first, then wildcards most specific first, so a
  // service takes the VirtualService whose host names it most closely (Istio's sidecar vhosts).
  const compiledByVs = new Map<Resource<'VirtualService'>, Map<number, RouteEntry[]>>();
  const routesFor = (vs: Resource<'VirtualService'>, port: number): RouteEntry[] => {
    let byPort = compiledByVs.get(vs);
    if (!byPort) compiledByVs.set(vs, (byPort = new Map()));
    let routes = byPort.get(port);
    if (!routes) {
      routes = compileHttpRoutes(vs, { gateway: 'mesh', serverPort: port, resolve });
      byPort.set(port, routes);
    }
    return routes;
  };
  const vsHosts = meshVss
    .filter((vs) => vs.spec.http !== undefined && vs.spec.http.length > 0)
    .flatMap((vs) =>
      (vs.spec.hosts ?? []).map((h, hi) => ({ vs, hi, fqdn: resolveShortName(h, vs.metadata.namespace) })),
    );
  const specificity = (fqdn: string): number => (isWildcard(fqdn) ? -1 / (fqdn.length + 1) : 0);
  vsHosts.sort((a, b) => specificity(b.fqdn) - specificity(a.fqdn)); // stable: creation order kept
  const addHost = (vs: Resource<'VirtualService'>, fqdn: string, port: number): boolean => {
    const routes = routesFor(vs, port);
    if (routes.length === 0) return false;
    const key = `${fqdn}:${port}`;
    claimed.set(key, `${vs.metadata.namespace}/${vs.metadata.name}`);
    const vhost: VirtualHost = Object.freeze({
      name: key,
      domains: [key],
      routes: Object.freeze([...routes.filter((r) => !r.catchAll), ...routes.filter((r) => r.catchAll)]),
      requireTls: false,
    });
    hosts.push({ vhost, names: meshHostNames(fqdn), port });
    return true;
  };
  for (const { vs, hi, fqdn } of vsHosts) {
    const vsKey = `${vs.metadata.namespace}/${vs.metadata.name}`;
    let ports: number[];
    if (isWildcard(fqdn)) {
      ports = [80];
      for (const svc of registry.services) {
        if (isWildcard(svc.hostname) || !hostCovers(fqdn, svc.hostname)) continue;
        // A covered service answers with this VirtualService unless a more specific one claimed it.
        for (const port of httpPorts(svc)) {
          ports.push(port);
          if (!claimed.has(`${svc.hostname}:${port}`)) addHost(vs, svc.hostname, port);
        }
      }
    } else {
      const svc = registry.lookup(fqdn);
      ports = svc ? httpPorts(svc) : [80];
    }
    for (const port of new Set(ports)) {
      const owner = claimed.get(`${fqdn}:${port}`);
      if (owner !== undefined) {
        if (owner !== vsKey) {
          diagnostics.push({
            severity: 'warning',
            code: Codes.ConflictingMeshGatewayVirtualServiceHosts,
            layer: 'reference',
            resource: resourceKey(vs),
            source: vs.source,
            path: `spec.hosts[${hi}]`,
            message: `host ${fqdn} port ${port} is already routed for the mesh by VirtualService ${owner}; this VirtualService is ignored for it (first wins)`,
          });
        }
        continue;
      }
      addHost(vs, fqdn, port);
    }
  }

  // 2. Default routes for registered services without a mesh VirtualService.
  for (const svc of registry.services) {
    if (isWildcard(svc.hostname)) continue;
    for (const port of httpPorts(svc)) {
      const key = `${svc.hostname}:${port}`;
      if (claimed.has(key)) continue;
      claimed.set(key, `ServiceEntry ${svc.source}`);
      const vs = syntheticVs(key, svc.namespace, {
        hosts: [svc.hostname],
        http: [{ name: 'default', route: [{ destination: { host: svc.hostname, port: { number: port } } }] }],
      });
      const routes = compileHttpRoutes(vs, { gateway: 'mesh', serverPort: port, resolve }).map((r) =>
        Object.freeze({ ...r, name: 'default' }),
      );
      const vhost: VirtualHost = Object.freeze({
        name: key,
        domains: [`${svc.hostname}:${port}`],
        routes: Object.freeze(routes),
        requireTls: false,
      });
      hosts.push({ vhost, names: meshHostNames(svc.hostname), port });
    }
  }

  // 3. The outbound traffic policy for everything else.
  const passCluster = passthroughCluster();
  const passthrough: ResolvedDestination = Object.freeze({ name: PASSTHROUGH_CLUSTER, cluster: passCluster });
  const policyVs =
    input.policy === 'ALLOW_ANY'
      ? syntheticVs('allow_any', '', {
          http: [
            {
              name: 'allow_any',
              route: [{ destination: { host: PASSTHROUGH_CLUSTER } }],
              retries: { attempts: 0 },
            },
          ],
        })
      : syntheticVs('block_all', '', { http: [{ name: 'block_all', directResponse: { status: 502 } }] });
  const policyRoutes = compileHttpRoutes(policyVs, {
    gateway: 'mesh',
    serverPort: 80,
    resolve: () => passthrough,
  }).map((r) => Object.freeze({ ...r, name: input.policy === 'ALLOW_ANY' ? 'allow_any' : 'block_all' }));
  const outbound: VirtualHost = Object.freeze({
    name: input.policy === 'ALLOW_ANY' ? 'allow_any' : 'block_all',
    domains: ['*'],
    routes: Object.freeze(policyRoutes),
    requireTls: false,
  });

  // 4. Mesh `tls` rules for CONNECT tunnels.
  const tlsRoutes: MeshTlsRoute[] = [];
  for (const vs of meshVss) {
    const ns = vs.metadata.namespace;
    (vs.spec.tls ?? []).forEach((rule, i) => {
      const dests = rule.route ?? [];
      for (const m of rule.match ?? []) {
        if (
          m.gateways &&
          m.gateways.length > 0 &&
          !m.gateways.some((g) => resolveGatewayRef(g, ns) === 'mesh')
        )
          continue;
        // `sni_hosts` is how pre-1.0 Istio YAML (and the user's notes) spell `sniHosts`.
        const legacy = (m as TLSMatchAttributes & { sni_hosts?: string[] }).sni_hosts;
        const sniHosts = (m.sniHosts ?? legacy ?? []).map((h) => h.toLowerCase());
        const clusters = dests
          .map((d) => ({
            destination: resolver.resolve(d.destination, ns, d.destination.port?.number ?? m.port ?? 443),
            weight: dests.length === 1 ? 1 : (d.weight ?? 0),
          }))
          .filter((c) => c.weight > 0);
        if (sniHosts.length === 0 || clusters.length === 0) continue;
        tlsRoutes.push(
          Object.freeze({
            name: `${ns}/${vs.metadata.name}.tls.${i}`,
            sniHosts,
            port: m.port,
            clusters,
            totalWeight: clusters.reduce((s, c) => s + c.weight, 0),
          }),
        );
      }
    });
  }

  // Every registered host:port, for tunnels (resolved now: the resolver is compile-time only).
  const serviceDestinations = new Map<string, ResolvedDestination>();
  for (const svc of registry.services) {
    for (const p of svc.ports) {
      serviceDestinations.set(
        `${svc.hostname}:${p.number}`,
        resolver.resolve({ host: svc.hostname, port: { number: p.number } }, svc.namespace, p.number),
      );
    }
  }

  const mesh: MeshOutbound = Object.freeze({
    policy: input.policy,
    tlsRoutes: Object.freeze(tlsRoutes),
    passthrough,
    serviceDestination(host: string, port: number): ResolvedDestination | undefined {
      const svc = registry.lookup(host);
      return svc ? serviceDestinations.get(`${svc.hostname}:${port}`) : undefined;
    },
  });

  const routeConfig = new MeshRouteConfiguration(MESH_LISTENER_NAME, hosts, outbound);
  const listener: Listener = Object.freeze({
    name: MESH_LISTENER_NAME,
    address: MESH_LISTENER_ADDRESS,
    port: input.port,
    bindPort: input.port,
    kind: 'HTTP',
    protocol: 'HTTP',
    gateways: ['mesh'],
    servers: [],
    routeConfig,
    mesh,
  });
  return { listener, extraClusters: [passCluster], diagnostics };
}

/** The snapshot's cluster map plus the mesh listener's own clusters. */
export function withMeshClusters(
  clusters: Map<string, Cluster>,
  mesh: MeshListenerResult | undefined,
): Map<string, Cluster> {
  if (mesh) for (const c of mesh.extraClusters) clusters.set(c.name, c);
  return clusters;
}
