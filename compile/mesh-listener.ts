/**
 * Builds the mesh (sidecar outbound) listener: what an Istio sidecar's `virtualOutbound` listener does for
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
import { Codes, type Diagnostic } from '../config/diagnostics.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  type Cluster,
  type ClusterResolver,
  type ResolvedDestination,
} from '../config/cluster.js';
import type { Listener } from '../config/listener.js';
import {
  MESH_LISTENER_ADDRESS,
  MESH_LISTENER_NAME,
  MeshRouteConfiguration,
  PASSTHROUGH_CLUSTER,
  isMeshBound,
  type MeshOutbound,
  type MeshTlsRoute,
  type OutboundTrafficPolicy,
} from '../config/mesh-listener.js';
import { HTTP_PROTOCOLS } from '../config/protocols.js';
import { resourceKey, type Resource, type TLSMatchAttributes } from '../config/resources.js';
import type { Service, ServiceRegistry } from '../config/registry.js';
import {
  CLUSTER_DOMAIN,
  hostCovers,
  isWildcard,
  resolveGatewayRef,
  resolveShortName,
} from '../routes/host-names.js';
import type { RouteEntry, VirtualHost } from '../routes/route-table.js';
import { compileHttpRoutes, type HttpCompileContext } from './http-routes.js';

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

/** Ports of a service that carry HTTP (a port without protocol is sniffed by Istio: taken as HTTP here). */
function httpPorts(svc: Service): number[] {
  return svc.ports
    .filter((p) => !p.protocol || HTTP_PROTOCOLS.has(p.protocol.toUpperCase()))
    .map((p) => p.number);
}

/** Input of {@link buildMeshListener}. */
interface MeshListenerInput {
  /** `--mesh-port`; 0 binds an ephemeral port. */
  readonly port: number;
  readonly policy: OutboundTrafficPolicy;
  /** All VirtualServices in creation order (the mesh-bound ones are picked here). */
  readonly virtualServices: readonly Resource<'VirtualService'>[];
  readonly registry: ServiceRegistry;
  readonly resolver: ClusterResolver;
}

/** Output of {@link buildMeshListener}. */
interface MeshListenerResult {
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
