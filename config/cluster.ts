/**
 * Clusters: a service port (optionally narrowed to a DestinationRule subset) with its endpoints and
 * effective traffic policy, named as Istio names them: `outbound|<port>|<subset>|<fqdn>`.
 */
import type {
  Destination,
  DestinationRuleSpec,
  Resource,
  ServicePort,
  Subset,
  TrafficPolicy,
} from './resources.js';
import { ofKind } from './resources.js';
import { dirname, resolve as resolvePath } from 'node:path';
import { parseDurationMs } from './duration.js';
import { labelsMatch, type Service, type ServiceRegistry } from './registry.js';
import { resolveShortName } from '../routes/host-names.js';
import { HostTable } from '../routes/host-table.js';

/** Istio's mesh default `connectTimeout` (10 s). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** One upstream host of a cluster. */
export interface ClusterEndpoint {
  readonly address: string;
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Relative weight for load balancing (≥ 1). */
  readonly weight: number;
  /** `address:port`, the identity of the endpoint across snapshots (pools and outlier state key on it). */
  readonly key: string;
}

/** The load-balancing algorithm (`DestinationRule.trafficPolicy.loadBalancer`); Istio's default is LEAST_REQUEST. */
export type LbPolicy = 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM' | 'PASSTHROUGH' | 'CONSISTENT_HASH';

/** The traffic policy blocks in force for one cluster after subset and port-level merging. */
type EffectivePolicy = Omit<TrafficPolicy, 'portLevelSettings'>;

/** A compiled cluster. Immutable; runtime state (pools, counters) lives in the cluster manager. */
export interface Cluster {
  /** `outbound|9080|v1|reviews.default.svc.cluster.local` */
  readonly name: string;
  readonly service: Service;
  readonly servicePort: ServicePort;
  readonly subset: string | undefined;
  readonly endpoints: readonly ClusterEndpoint[];
  readonly policy: EffectivePolicy;
  readonly lbPolicy: LbPolicy;
  /** `connectionPool.tcp.connectTimeout`, default 10 s. */
  readonly connectTimeoutMs: number;
  /**
   * Directory of the YAML file of the DestinationRule that supplied `policy` (relative `tls` file
   * paths resolve against it); undefined without a DestinationRule.
   */
  readonly policyBaseDir?: string;
}

/** Why a destination has no cluster: Envoy answers all of them 503 NC (cluster not found). */
type MissingClusterReason = 'unknown-host' | 'unknown-subset' | 'unknown-port';

export interface ResolvedDestination {
  /** Cluster name, also when the cluster does not exist (access logs and metrics show it). */
  readonly name: string;
  readonly cluster: Cluster | undefined;
  readonly missing?: MissingClusterReason;
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Builds Istio's cluster name. */
export function clusterName(port: number, subset: string | undefined, host: string): string {
  return `outbound|${port}|${subset ?? ''}|${host}`;
}

interface MergedRule {
  readonly trafficPolicy: TrafficPolicy | undefined;
  readonly subsets: readonly Subset[];
  /** File of the first DestinationRule for the host. */
  readonly file?: string;
}

/**
 * Resolves destinations to clusters for one snapshot, building each cluster once and sharing it
 * between every route that names it.
 */
export class ClusterResolver {
  private readonly built = new Map<string, ResolvedDestination>();
  /** Merged DestinationRules by host: the exact host, else the most specific wildcard (Istio). */
  private readonly rules: HostTable<MergedRule>;
  /** The DestinationRules the rules were merged from, in order. */
  private readonly destinationRules: readonly Resource<'DestinationRule'>[];
  /** Clusters of the previous resolver, valid here too (same registry, same DestinationRules). */
  private readonly reusable: ReadonlyMap<string, ResolvedDestination> | undefined;

  /**
   * @param previous the resolver of the snapshot being replaced: when `registry` is the same object
   * and the DestinationRules are the same objects in the same order, its merged rules and clusters
   * are reused as they are (same objects: the cluster manager keeps their state without rebuilding).
   */
  constructor(
    private readonly registry: ServiceRegistry,
    resources: readonly Resource[],
    previous?: ClusterResolver,
  ) {
    this.destinationRules = ofKind(resources, 'DestinationRule');
    if (
      previous &&
      previous.registry === registry &&
      sameItems(previous.destinationRules, this.destinationRules)
    ) {
      this.rules = previous.rules;
      this.reusable = previous.built;
      return;
    }
    this.rules = new HostTable<MergedRule>();
    const byHost = new Map<
      string,
      { trafficPolicy: TrafficPolicy | undefined; subsets: Subset[]; file?: string }
    >();
    for (const dr of this.destinationRules) {
      const spec: DestinationRuleSpec = dr.spec;
      const host = resolveShortName(spec.host, dr.metadata.namespace);
      const prev = byHost.get(host);
      if (!prev) {
        byHost.set(host, {
          trafficPolicy: spec.trafficPolicy,
          subsets: [...(spec.subsets ?? [])],
          file: dr.source?.file,
        });
      } else {
        // Several DRs for one host merge (Istio `mergeDestinationRule`): subsets concatenated (first
        // name wins); the first top-level policy wins, or the first one given when earlier DRs had none.
        for (const s of spec.subsets ?? [])
          if (!prev.subsets.some((p) => p.name === s.name)) prev.subsets.push(s);
        if (prev.trafficPolicy === undefined && spec.trafficPolicy !== undefined) {
          prev.trafficPolicy = spec.trafficPolicy;
          prev.file = dr.source?.file;
        }
      }
    }
    for (const [host, rule] of byHost) this.rules.add(host, rule);
  }

  /**
   * Whether every destination resolves here exactly as in `previous` (same registry, same
   * DestinationRules): what it compiled against `previous` is valid against this resolver.
   */
  resolvesAs(previous: ClusterResolver | undefined): boolean {
    return previous !== undefined && this.reusable === previous.built;
  }

  /** Records a destination resolved by a {@link resolvesAs} predecessor, so {@link clusters} lists it. */
  adopt(resolved: ResolvedDestination): void {
    this.built.set(resolved.name, resolved);
  }

  /** All clusters built so far, by name. */
  clusters(): Map<string, Cluster> {
    const out = new Map<string, Cluster>();
    for (const r of this.built.values()) if (r.cluster) out.set(r.name, r.cluster);
    return out;
  }

  /**
   * Resolves a route destination (Istio `Destination`) seen from a resource in `namespace`.
   * Port: explicit `port.number`; else the service's only port; else `defaultPort` (the gateway server port).
   */
  resolve(dest: Destination, namespace: string, defaultPort: number): ResolvedDestination {
    const host = resolveShortName(dest.host, namespace);
    const service = this.registry.lookup(host);
    let port = dest.port?.number;
    if (port === undefined)
      port = service && service.ports.length === 1 ? service.ports[0]!.number : defaultPort;
    const name = clusterName(port, dest.subset, host);
    const cached = this.built.get(name);
    if (cached) return cached;
    const resolved = this.reusable?.get(name) ?? this.build(name, host, service, port, dest.subset);
    this.built.set(name, resolved);
    return resolved;
  }

  private ruleFor(host: string): MergedRule | undefined {
    return this.rules.lookup(host);
  }

  private build(
    name: string,
    host: string,
    service: Service | undefined,
    port: number,
    subsetName: string | undefined,
  ): ResolvedDestination {
    if (!service) return { name, cluster: undefined, missing: 'unknown-host' };
    const servicePort = service.ports.find((p) => p.number === port);
    if (!servicePort) return { name, cluster: undefined, missing: 'unknown-port' };
    const rule = this.ruleFor(host);
    let subset: Subset | undefined;
    if (subsetName !== undefined) {
      subset = rule?.subsets.find((s) => s.name === subsetName);
      if (!subset) return { name, cluster: undefined, missing: 'unknown-subset' };
    }
    const policy = effectivePolicy(rule?.trafficPolicy, subset?.trafficPolicy, port);
    const endpoints: ClusterEndpoint[] = [];
    for (const e of service.endpoints) {
      if (subset?.labels && !labelsMatch(subset.labels, e.labels)) continue;
      const epPort = e.ports[servicePort.name] ?? servicePort.targetPort ?? servicePort.number;
      endpoints.push({
        address: e.address,
        port: epPort,
        labels: e.labels,
        weight: e.weight,
        key: `${e.address}:${epPort}`,
      });
    }
    return {
      name,
      cluster: Object.freeze({
        name,
        service,
        servicePort,
        subset: subsetName,
        endpoints: Object.freeze(endpoints),
        policy,
        lbPolicy: lbPolicyOf(policy),
        connectTimeoutMs:
          parseDurationMs(policy.connectionPool?.tcp?.connectTimeout) ?? DEFAULT_CONNECT_TIMEOUT_MS,
        policyBaseDir: rule?.file !== undefined ? dirname(resolvePath(rule.file)) : undefined,
      }),
    };
  }
}

/**
 * Merges policies as Istio's `MergeSubsetTrafficPolicy` does (pilot/pkg/networking/util):
 * 1. each level (top, subset) is first narrowed to its `portLevelSettings` entry for `port` when one
 *    exists; that entry replaces the level's blocks wholesale (a block it leaves unset falls back to
 *    the default, it is not inherited from the level's own blocks);
 * 2. the subset level then overrides the top level per block (loadBalancer, connectionPool,
 *    outlierDetection, tls each replaced whole if set); when the subset level came from port-level
 *    settings, all four blocks come from it, set or not.
 */
export function effectivePolicy(
  top: TrafficPolicy | undefined,
  subset: TrafficPolicy | undefined,
  port: number,
): EffectivePolicy {
  const merged: Record<string, unknown> = {};
  const t = atPort(top, port);
  const s = atPort(subset, port);
  for (const b of POLICY_BLOCKS) {
    if (t?.policy[b] !== undefined) merged[b] = t.policy[b];
    if (s && (s.policy[b] !== undefined || s.portLevel)) {
      if (s.policy[b] !== undefined) merged[b] = s.policy[b];
      else delete merged[b];
    }
  }
  return Object.freeze(merged as EffectivePolicy);
}

const POLICY_BLOCKS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const;

/** Istio `GetPortLevelTrafficPolicy`: the level's port-level entry for `port` if any, else the level. */
function atPort(
  policy: TrafficPolicy | undefined,
  port: number,
): { readonly policy: EffectivePolicy; readonly portLevel: boolean } | undefined {
  if (!policy) return undefined;
  const p = policy.portLevelSettings?.find((x) => x.port?.number === port);
  return p ? { policy: p, portLevel: true } : { policy, portLevel: false };
}

function lbPolicyOf(policy: EffectivePolicy): LbPolicy {
  const lb = policy.loadBalancer;
  if (lb?.consistentHash) return 'CONSISTENT_HASH';
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      return 'ROUND_ROBIN';
    case 'RANDOM':
      return 'RANDOM';
    case 'PASSTHROUGH':
      return 'PASSTHROUGH';
    default:
      // Unset, LEAST_REQUEST and its deprecated alias LEAST_CONN.
      return 'LEAST_REQUEST';
  }
}
