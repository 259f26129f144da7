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
import { parseDurationMs } from './duration.js';
import { labelsMatch, type Service, type ServiceRegistry } from './registry.js';
import { hostCovers, isWildcard, resolveShortName } from '../routes/host-names.js';

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
export type EffectivePolicy = Omit<TrafficPolicy, 'portLevelSettings'>;

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
}

/** Why a destination has no cluster: Envoy answers all of them 503 NC (cluster not found). */
export type MissingClusterReason = 'unknown-host' | 'unknown-subset' | 'unknown-port';

export interface ResolvedDestination {
  /** Cluster name, also when the cluster does not exist (access logs and metrics show it). */
  readonly name: string;
  readonly cluster: Cluster | undefined;
  readonly missing?: MissingClusterReason;
}

/** Builds Istio's cluster name. */
export function clusterName(port: number, subset: string | undefined, host: string): string {
  return `outbound|${port}|${subset ?? ''}|${host}`;
}

interface MergedRule {
  readonly trafficPolicy: TrafficPolicy | undefined;
  readonly subsets: readonly Subset[];
}

/**
 * Resolves destinations to clusters for one snapshot, building each cluster once and sharing it
 * between every route that names it.
 */
export class ClusterResolver {
  private readonly built = new Map<string, ResolvedDestination>();
  private readonly exactRules = new Map<string, MergedRule>();
  private readonly wildcardRules: { host: string; rule: MergedRule }[] = [];

  constructor(
    private readonly registry: ServiceRegistry,
    resources: readonly Resource[],
  ) {
    const byHost = new Map<string, { trafficPolicy: TrafficPolicy | undefined; subsets: Subset[] }>();
    for (const dr of ofKind(resources, 'DestinationRule')) {
      const spec: DestinationRuleSpec = dr.spec;
      const host = resolveShortName(spec.host, dr.metadata.namespace);
      const prev = byHost.get(host);
      if (!prev) {
        byHost.set(host, { trafficPolicy: spec.trafficPolicy, subsets: [...(spec.subsets ?? [])] });
      } else {
        // Several DRs for one host merge: subsets concatenated (first name wins), first top-level policy wins.
        for (const s of spec.subsets ?? [])
          if (!prev.subsets.some((p) => p.name === s.name)) prev.subsets.push(s);
      }
    }
    for (const [host, rule] of byHost) {
      if (isWildcard(host)) this.wildcardRules.push({ host, rule });
      else this.exactRules.set(host, rule);
    }
    this.wildcardRules.sort((a, b) => b.host.length - a.host.length);
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
    const resolved = this.build(name, host, service, port, dest.subset);
    this.built.set(name, resolved);
    return resolved;
  }

  private ruleFor(host: string): MergedRule | undefined {
    return this.exactRules.get(host) ?? this.wildcardRules.find((w) => hostCovers(w.host, host))?.rule;
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
      }),
    };
  }
}

/**
 * Merges policies as Istio's `MergeTrafficPolicy` does: each block (loadBalancer, connectionPool,
 * outlierDetection, tls) of the subset replaces the top-level block whole; then port-level settings
 * for the destination port replace blocks whole.
 */
export function effectivePolicy(
  top: TrafficPolicy | undefined,
  subset: TrafficPolicy | undefined,
  port: number,
): EffectivePolicy {
  const merged: EffectivePolicy = {};
  for (const layer of [top, subset]) {
    if (!layer) continue;
    const portLevel = layer.portLevelSettings?.find((p) => p.port?.number === port);
    for (const src of [layer, portLevel]) {
      if (!src) continue;
      if (src.loadBalancer) merged.loadBalancer = src.loadBalancer;
      if (src.connectionPool) merged.connectionPool = src.connectionPool;
      if (src.outlierDetection) merged.outlierDetection = src.outlierDetection;
      if (src.tls) merged.tls = src.tls;
    }
  }
  return Object.freeze(merged);
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
