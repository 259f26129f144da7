/**
 * The compiled snapshot: everything the data path reads, built once from validated resources and
 * never mutated. A config change builds a new snapshot; the store swaps it in atomically.
 *
 * This module only assembles: the model (registry, clusters) comes from `config/`, the listeners
 * from the builders in `compile/`.
 */
import type { Diagnostic } from './diagnostics.js';
import { ofKind, type Resource } from './resources.js';
import { ofKubeKind, type KubeObject } from './kube-resources.js';
import { secretLookup } from '../tls/credentials.js';
import { buildRegistry, labelsMatch, type ServiceRegistry } from './registry.js';
import { ClusterResolver, type Cluster } from './cluster.js';
import type { Listener } from './listener.js';
import type { OutboundTrafficPolicy } from './mesh-listener.js';
import { buildGatewayListeners } from '../compile/gateway-listeners.js';
import { buildMeshListener, withMeshClusters } from '../compile/mesh-listener.js';

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
  /**
   * Namespace of the gateway workload (Istio's proxy namespace): `credentialName` Secrets resolve
   * there, not in the Gateway resource's namespace (default `default`).
   */
  readonly proxyNamespace?: string;
  /** TLS listeners: ClientHello deadline in ms (default 5000); a silent client is closed at it. */
  readonly listenerFilterTimeoutMs?: number;
  /** `--mesh-port`: also serve the mesh (sidecar outbound) listener on this port (0 = ephemeral). */
  readonly meshPort?: number;
  /** `--outbound-traffic-policy` for the mesh listener (Istio's default `ALLOW_ANY`). */
  readonly outboundTrafficPolicy?: OutboundTrafficPolicy;
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
  const secrets = secretLookup(ofKubeKind(objects, 'Secret'), opts.proxyNamespace ?? 'default');
  const resolver = new ClusterResolver(registry, resources);
  const gateways = ofKind(resources, 'Gateway').filter(
    (g) => !opts.gatewayLabels || labelsMatch(g.spec.selector ?? {}, opts.gatewayLabels),
  );
  const virtualServices = ofKind(resources, 'VirtualService');

  // 1. Gateway listeners (compile/gateway-listeners.ts).
  const gatewayListeners = buildGatewayListeners({
    gateways,
    virtualServices,
    resolver,
    secrets,
    credentialsDir: opts.credentialsDir,
    portMap: opts.portMap,
    listenerFilterTimeoutMs: opts.listenerFilterTimeoutMs,
  });
  const listeners: Listener[] = gatewayListeners.listeners;
  diagnostics.push(...gatewayListeners.diagnostics);

  // 2. The mesh listener (compile/mesh-listener.ts).
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
function orderByCreation<R extends Resource>(resources: readonly R[]): R[] {
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
