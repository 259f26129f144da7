/**
 * The mesh (sidecar outbound) listener as the data path reads it: its names, its route table keyed by
 * `host:port` and what CONNECT tunnels need. It serves on one local port (`--mesh-port`) the calls a
 * workload makes, as an Istio sidecar's `virtualOutbound` listener does: as their HTTP proxy
 * (`HTTP_PROXY`, absolute-form targets), by Host header, or with `CONNECT host:port`. Built by
 * `compile/mesh-listener.ts`.
 */
import type { ResolvedDestination } from './cluster.js';
import type { Resource } from './resources.js';
import { splitAuthority } from '../routes/host-names.js';
import { HostTable } from '../routes/host-table.js';
import { RouteConfiguration, type VirtualHost } from '../routes/route-table.js';

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
  /** Per service port: exact names, `*.suffix` wildcards and `*` VirtualService hosts. */
  private readonly byPort = new Map<number, HostTable<VirtualHost>>();
  /** Exact names on any port, for a Host sent without a port. */
  private readonly portless = new HostTable<VirtualHost>();

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
      let table = this.byPort.get(port);
      if (!table) this.byPort.set(port, (table = new HostTable()));
      for (const n of names) {
        table.add(n, vhost);
        if (!n.startsWith('*')) this.portless.add(n, vhost);
      }
    }
  }

  /** Virtual host for a Host / absolute-URI authority; never undefined (the outbound policy host). */
  override virtualHostFor(authority: string): VirtualHost {
    const { host, port } = splitAuthority(authority);
    const table = this.byPort.get(port ?? 80);
    return (
      table?.exact(host) ??
      (port === undefined ? this.portless.exact(host) : undefined) ??
      table?.wildcard(host) ??
      table?.fallback ??
      this.outbound
    );
  }
}

/** True when a VirtualService applies to sidecars: no `gateways`, or a list naming `mesh`. */
export function isMeshBound(vs: Resource<'VirtualService'>): boolean {
  const gws = vs.spec.gateways;
  return !gws || gws.length === 0 || gws.includes('mesh');
}
