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
import { gatewayListenerSteps } from '../compile/gateway-listeners.js';
import { ITEMS_PER_STEP, runSliced, runSteps, type Steps } from '../compile/steps.js';
import { buildMeshListener, withMeshClusters } from '../compile/mesh-listener.js';
import { RouteMemo, sameItems } from '../compile/route-memo.js';

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
  return new SnapshotBuilder().build(resources, opts, objects);
}

/** Work between two turns of the event loop in {@link SnapshotBuilder.buildSliced}, ms. */
export const DEFAULT_SLICE_MS = 4;

/** What {@link SnapshotBuilder} keeps of its last build. */
interface BuildMemo {
  readonly order: CreationOrder;
  readonly serviceInputs: readonly object[];
  readonly registry: ServiceRegistry;
  readonly resolver: ClusterResolver;
}

/**
 * Builds snapshots one after another, reusing what the previous build compiled from the same
 * objects: the creation order of resources already seen, the service registry when no
 * ServiceEntry, WorkloadEntry or Kubernetes object changed, clusters when neither the registry nor
 * a DestinationRule changed, and each unchanged VirtualService's routes and virtual hosts
 * (`compile/route-memo.ts`). Unchanged resources must be the same objects as before (the validate
 * worker's deltas keep them so); a reuse yields what a fresh build would, so results never depend
 * on what came before, only the work does.
 *
 * {@link buildSliced} does the same work in steps separated by turns of the event loop, so a
 * serving thread answers requests between them.
 */
export class SnapshotBuilder {
  private memo: BuildMemo | undefined;
  private readonly routes = new RouteMemo();

  /** Builds a snapshot at once (see {@link buildSnapshot}). */
  build(
    resources: readonly Resource[],
    opts: SnapshotOptions = {},
    objects: readonly KubeObject[] = [],
  ): { snapshot: Snapshot; diagnostics: Diagnostic[] } {
    return runSteps(this.steps(resources, opts, objects));
  }

  /**
   * Builds a snapshot in slices of about `sliceMs` of work, each followed by a turn of the event
   * loop (`setImmediate`), so requests waiting on this thread are served between them. Same result
   * as {@link build}; the snapshot only exists, whole, when the promise resolves.
   * @param sliceMs work between two turns, ms (default 4; a slice ends at the first pause point
   * past it, a millisecond or so later).
   */
  async buildSliced(
    resources: readonly Resource[],
    opts: SnapshotOptions = {},
    objects: readonly KubeObject[] = [],
    sliceMs = DEFAULT_SLICE_MS,
  ): Promise<{ snapshot: Snapshot; diagnostics: Diagnostic[] }> {
    return runSliced(this.steps(resources, opts, objects), sliceMs);
  }

  private *steps(
    input: readonly Resource[],
    opts: SnapshotOptions,
    objects: readonly KubeObject[],
  ): Generator<void, { snapshot: Snapshot; diagnostics: Diagnostic[] }> {
    const diagnostics: Diagnostic[] = [];
    const previous = this.memo;
    // A build that throws must not leave half of its memo behind.
    this.memo = undefined;
    const order = yield* orderIncrementally(input, previous?.order);
    const resources = order.ordered;
    yield;
    // The registry depends on ServiceEntries, WorkloadEntries and the Kubernetes objects only.
    const serviceInputs = [
      ...resources.filter((r) => r.kind === 'ServiceEntry' || r.kind === 'WorkloadEntry'),
      ...objects,
    ];
    const registry =
      previous && sameItems(previous.serviceInputs, serviceInputs)
        ? previous.registry
        : buildRegistry(resources, objects);
    yield;
    const secrets = secretLookup(ofKubeKind(objects, 'Secret'), opts.proxyNamespace ?? 'default');
    const resolver = new ClusterResolver(registry, resources, previous?.resolver);
    const gateways = ofKind(resources, 'Gateway').filter(
      (g) => !opts.gatewayLabels || labelsMatch(g.spec.selector ?? {}, opts.gatewayLabels),
    );
    const virtualServices = ofKind(resources, 'VirtualService');
    yield;

    // 1. Gateway listeners (compile/gateway-listeners.ts).
    this.routes.begin();
    const gatewayListeners = yield* gatewayListenerSteps({
      gateways,
      virtualServices,
      resolver,
      secrets,
      credentialsDir: opts.credentialsDir,
      portMap: opts.portMap,
      listenerFilterTimeoutMs: opts.listenerFilterTimeoutMs,
      memo: this.routes,
    });
    this.routes.commit();
    const listeners: Listener[] = gatewayListeners.listeners;
    diagnostics.push(...gatewayListeners.diagnostics);
    yield;

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
    this.memo = { order, serviceInputs, registry, resolver };
    return { snapshot, diagnostics };
  }
}

/** Resources in creation order, with the input they came from (for the next incremental order). */
interface CreationOrder {
  readonly input: ReadonlySet<Resource>;
  readonly ordered: readonly Resource[];
}

/**
 * {@link orderByCreation}, reusing `previous`: resources it already ordered keep their relative
 * order (their sort keys are immutable), only the new ones are sorted and merged in. Falls back to a
 * full sort when the kept ones are no longer in order (documents swapped places in a file: the
 * tiebreak of equal keys is the input position).
 */
function* orderIncrementally(
  input: readonly Resource[],
  previous: CreationOrder | undefined,
): Steps<CreationOrder> {
  const inputSet = new Set(input);
  // The same object twice (never from the loaders): no positions to break ties with.
  if (!previous || inputSet.size !== input.length)
    return { input: inputSet, ordered: orderByCreation(input) };
  yield;
  const position = new Map<Resource, number>();
  for (let i = 0; i < input.length; i++) position.set(input[i]!, i);
  const cmp = (a: Resource, b: Resource): number =>
    compareCreation(a, b) || position.get(a)! - position.get(b)!;
  yield;
  const kept = previous.ordered.filter((r) => inputSet.has(r));
  yield;
  for (let i = 1; i < kept.length; i++) {
    if (cmp(kept[i - 1]!, kept[i]!) > 0) return { input: inputSet, ordered: orderByCreation(input) };
    if (i % (ITEMS_PER_STEP * 8) === 0) yield;
  }
  const fresh = input.filter((r) => !previous.input.has(r)).sort(cmp);
  if (fresh.length === 0) return { input: inputSet, ordered: kept };
  yield;
  const ordered: Resource[] = [];
  let i = 0;
  let j = 0;
  while (i < kept.length && j < fresh.length) {
    ordered.push(cmp(kept[i]!, fresh[j]!) <= 0 ? kept[i++]! : fresh[j++]!);
  }
  while (i < kept.length) ordered.push(kept[i++]!);
  while (j < fresh.length) ordered.push(fresh[j++]!);
  return { input: inputSet, ordered };
}

/** Creation time of a resource, ms (absent or unparseable: 0), computed once per resource object. */
const creationTimes = new WeakMap<Resource, number>();

function creationTime(r: Resource): number {
  let t = creationTimes.get(r);
  if (t === undefined) {
    t = Date.parse(r.metadata.creationTimestamp ?? '');
    if (Number.isNaN(t)) t = 0;
    creationTimes.set(r, t);
  }
  return t;
}

/** Istio's order of conflicting configuration, without the input-position tiebreak. */
function compareCreation(a: Resource, b: Resource): number {
  return (
    creationTime(a) - creationTime(b) ||
    compareStrings(a.metadata.name, b.metadata.name) ||
    compareStrings(a.metadata.namespace, b.metadata.namespace)
  );
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
