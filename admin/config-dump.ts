/**
 * Admin `/config_dump` and `/clusters`: the live compiled snapshot rendered for people, in Envoy's
 * vocabulary (listeners → route configurations → virtual hosts → routes; clusters → endpoints).
 *
 * Never dumped: key or certificate material, compiled TLS contexts, credential file contents. TLS
 * settings show only their mode, SNI and `credentialName` (a name, not a secret).
 */
import type { Cluster } from '../config/cluster.js';
import type { HTTPMatchRequest, HTTPRoute, Resource } from '../config/resources.js';
import type { Listener } from '../config/listener.js';
import type { Snapshot } from '../config/snapshot.js';
import type { FilterChain, TcpProxyRoute } from '../routes/filter-chains.js';
import type { RouteConfiguration, RouteEntry, WeightedCluster } from '../routes/route-table.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import { isEjected, type HostStats } from '../telemetry/envoy-stats.js';

/** JSON value types of the dump (kept loose: it is only serialised). */
type Json = string | number | boolean | null | Json[] | { [k: string]: Json | undefined };

/** What the dump needs besides the snapshot. */
interface ConfigDumpInput {
  readonly snapshot: Snapshot;
  /** The resources the snapshot was compiled from (for match summaries); may be absent. */
  readonly resources: readonly Resource[] | undefined;
  /** The local address a listener is bound to, by listener name. */
  readonly boundAddress: (name: string) => { address: string; port: number } | undefined;
}

/** Builds the `/config_dump` document. */
export function buildConfigDump(input: ConfigDumpInput): Record<string, Json> {
  const { snapshot } = input;
  const rules = indexHttpRules(input.resources);
  const routeConfigs: Json[] = [];
  const listeners: Json[] = [];
  for (const l of snapshot.listeners) {
    listeners.push(dumpListener(l, input.boundAddress(l.name)));
    if (l.routeConfig) routeConfigs.push(dumpRouteConfig(l.routeConfig, rules));
    for (const chain of l.filterChains?.chains ?? []) {
      if (chain.kind === 'https') routeConfigs.push(dumpRouteConfig(chain.routeConfig, rules));
    }
  }
  return {
    version_info: String(snapshot.version),
    built_at: snapshot.builtAt.toISOString(),
    resource_count: snapshot.resourceCount,
    listeners,
    route_configs: routeConfigs,
    clusters: [...snapshot.clusters.values()].map(dumpCluster),
    warnings: snapshot.diagnostics.map((d) => ({
      code: d.code,
      severity: d.severity,
      resource: d.resource ?? null,
      message: d.message,
    })),
  };
}

function dumpListener(l: Listener, bound: { address: string; port: number } | undefined): Json {
  return {
    name: l.name,
    address: l.address,
    port: l.port,
    bind_port: l.bindPort,
    bound: bound ? `${bound.address}:${bound.port}` : null,
    kind: l.kind,
    protocol: l.protocol,
    gateways: [...l.gateways],
    route_config_name: l.routeConfig?.name ?? null,
    filter_chains: l.filterChains ? l.filterChains.chains.map(dumpChain) : undefined,
  };
}

function dumpChain(c: FilterChain): Json {
  const base = {
    name: c.name,
    server_names: [...c.serverNames],
    gateway: c.server.gateway,
    tls_mode: c.server.server.tls?.mode ?? null,
    credential_name: c.server.server.tls?.credentialName ?? null,
  };
  if (c.kind === 'https') return { ...base, kind: 'https', route_config_name: c.routeConfig.name };
  return { ...base, kind: 'tcp', terminates_tls: c.tls !== undefined, routes: c.routes.map(dumpTcpRoute) };
}

function dumpTcpRoute(r: TcpProxyRoute): Json {
  return {
    name: r.name,
    virtual_service: r.virtualService,
    stat_prefix: r.statPrefix,
    source_subnets: r.sourceSubnets ? [...r.sourceSubnets.cidrs] : null,
    clusters: r.clusters.map((c) => ({
      name: c.destination.name,
      weight: c.weight,
      exists: c.destination.cluster !== undefined,
      idle_timeout_ms: c.idleTimeoutMs,
    })),
  };
}

type RuleIndex = Map<string, HTTPRoute[]>;

/** VirtualService http rules by `<ns>/<name>`, to describe each compiled route's matches. */
function indexHttpRules(resources: readonly Resource[] | undefined): RuleIndex {
  const out: RuleIndex = new Map();
  for (const r of resources ?? []) {
    if (r.kind !== 'VirtualService') continue;
    const spec = r.spec as { http?: HTTPRoute[] };
    out.set(`${r.metadata.namespace}/${r.metadata.name}`, spec.http ?? []);
  }
  return out;
}

/** The source rule of a compiled route: its name is `<vs>.<rule name or index>`. */
function ruleOf(route: RouteEntry, rules: RuleIndex): HTTPRoute | undefined {
  const list = rules.get(route.virtualService);
  if (!list) return undefined;
  const suffix = route.name.slice(route.virtualService.length + 1);
  const named = list.find((r) => r.name === suffix);
  if (named) return named;
  const i = /^\d+$/.test(suffix) ? Number(suffix) : -1;
  return i >= 0 && i < list.length && list[i]!.name === undefined ? list[i] : undefined;
}

function dumpRouteConfig(rc: RouteConfiguration, rules: RuleIndex): Json {
  return {
    name: rc.name,
    virtual_hosts: rc.virtualHosts.map((vh) => ({
      name: vh.name,
      domains: [...vh.domains],
      require_tls: vh.requireTls,
      routes: vh.routes.map((r) => dumpRoute(r, ruleOf(r, rules))),
    })),
  };
}

/** One match condition set in Envoy-like words: `{ path: { exact: "/login" }, headers: {...} }`. */
function summarizeMatch(m: HTTPMatchRequest): Json {
  const out: Record<string, Json> = {};
  if (m.uri) out['path'] = { ...m.uri };
  if (m.ignoreUriCase) out['case_sensitive'] = false;
  if (m.method) out['method'] = { ...m.method };
  if (m.scheme) out['scheme'] = { ...m.scheme };
  if (m.authority) out['authority'] = { ...m.authority };
  if (m.headers) out['headers'] = JSON.parse(JSON.stringify(m.headers)) as Json;
  if (m.withoutHeaders) out['without_headers'] = JSON.parse(JSON.stringify(m.withoutHeaders)) as Json;
  if (m.queryParams) out['query_params'] = JSON.parse(JSON.stringify(m.queryParams)) as Json;
  if (m.port !== undefined) out['port'] = m.port;
  if (m.gateways) out['gateways'] = [...m.gateways];
  if (m.sourceLabels) out['source_labels'] = { ...m.sourceLabels };
  if (m.sourceNamespace) out['source_namespace'] = m.sourceNamespace;
  return out;
}

function dumpRoute(r: RouteEntry, rule: HTTPRoute | undefined): Json {
  const a = r.action;
  let action: Json;
  if (a.kind === 'forward') {
    action = { kind: 'route', clusters: a.clusters.map(dumpWeighted), total_weight: a.totalWeight };
  } else if (a.kind === 'redirect') {
    action = {
      kind: 'redirect',
      uri: a.uri ?? null,
      authority: a.authority ?? null,
      scheme: a.scheme ?? null,
      port: a.port ?? (a.deriveFromRequestPort ? 'FROM_REQUEST_PORT' : null),
      status: a.status,
    };
  } else {
    action = { kind: 'direct_response', status: a.status, body_bytes: a.body?.length ?? 0 };
  }
  const retry = r.retry;
  const retryOn = (
    [
      ['5xx', retry.on5xx],
      ['gateway-error', retry.onGatewayError],
      ['reset', retry.onReset],
      ['connect-failure', retry.onConnectFailure],
      ['retriable-4xx', retry.onRetriable4xx],
      ['refused-stream', retry.onRefusedStream],
    ] as const
  )
    .filter(([, on]) => on)
    .map(([n]) => n);
  return {
    name: r.name,
    virtual_service: r.virtualService,
    match: r.catchAll
      ? { catch_all: true }
      : rule?.match
        ? rule.match.map(summarizeMatch)
        : { uri_prefixes: r.matches.map((m) => m.uriPrefix ?? null) },
    action,
    timeout_ms: r.timeoutMs,
    retries: {
      attempts: retry.numRetries,
      per_try_timeout_ms: retry.perTryTimeoutMs,
      retry_on: [...retryOn, ...[...retry.retriableStatusCodes].map(String)],
    },
    fault: r.fault
      ? {
          delay: r.fault.delay ? { ms: r.fault.delay.ms, fraction: r.fault.delay.fraction } : null,
          abort: r.fault.abort ? { status: r.fault.abort.status, fraction: r.fault.abort.fraction } : null,
        }
      : null,
    mirrors: r.mirrors.map((m) => ({ cluster: m.destination.name, fraction: m.fraction })),
    rewrite: r.rewrite
      ? {
          uri: r.rewrite.uri ?? null,
          authority: r.rewrite.authority ?? null,
          regex: r.rewrite.regex ? String(r.rewrite.regex.pattern) : null,
        }
      : null,
  };
}

function dumpWeighted(w: WeightedCluster): Json {
  return {
    name: w.destination.name,
    weight: w.weight,
    exists: w.destination.cluster !== undefined,
    missing: w.destination.missing ?? null,
  };
}

function dumpCluster(c: Cluster): Json {
  const tls = c.policy.tls;
  return {
    name: c.name,
    service: c.service.hostname,
    namespace: c.service.namespace,
    port: c.servicePort.number,
    subset: c.subset ?? null,
    lb_policy: c.lbPolicy,
    connect_timeout_ms: c.connectTimeoutMs,
    resolution: c.service.resolution,
    connection_pool: c.policy.connectionPool
      ? (JSON.parse(JSON.stringify(c.policy.connectionPool)) as Json)
      : null,
    outlier_detection: c.policy.outlierDetection
      ? (JSON.parse(JSON.stringify(c.policy.outlierDetection)) as Json)
      : null,
    // Only what identifies the TLS setup; certificate and key paths/material are left out.
    tls: tls
      ? { mode: tls.mode ?? null, sni: tls.sni ?? null, credential_name: tls.credentialName ?? null }
      : null,
    endpoints: c.endpoints.map((e) => ({
      address: e.address,
      port: e.port,
      weight: e.weight,
      labels: { ...e.labels },
    })),
  };
}

/**
 * Admin `/clusters` in Envoy's text form: per cluster a few `<cluster>::<key>::<value>` lines, then
 * per host `<cluster>::<host>::<stat>::<value>` with `cx_active`, `rq_active`, `rq_total`,
 * `rq_success`, `rq_error`, `rq_timeout`, `health_flags` (`healthy` or `/failed_outlier_check`),
 * `weight` and the locality fields Envoy prints (empty here).
 */
export function clustersText(
  snapshot: Snapshot,
  clusters: ClusterManager,
  hostStats: (cluster: string, endpointKey: string) => HostStats,
): string {
  const lines: string[] = [];
  const now = Date.now();
  for (const c of snapshot.clusters.values()) {
    const n = c.name;
    const tcp = c.policy.connectionPool?.tcp;
    const http = c.policy.connectionPool?.http;
    lines.push(`${n}::observability_name::${n}`);
    lines.push(`${n}::default_priority::max_connections::${tcp?.maxConnections ?? 4294967295}`);
    lines.push(
      `${n}::default_priority::max_pending_requests::${http?.http1MaxPendingRequests ?? 4294967295}`,
    );
    lines.push(`${n}::default_priority::max_requests::${http?.http2MaxRequests ?? 4294967295}`);
    lines.push(`${n}::default_priority::max_retries::${http?.maxRetries ?? 4294967295}`);
    lines.push(`${n}::added_via_api::true`);
    const state = clusters.get(c);
    for (const ep of state?.endpoints ?? []) {
      const h = `${n}::${ep.endpoint.key}`;
      const s = hostStats(n, ep.endpoint.key);
      const stats = ep.hasPool ? (ep.pool as { stats?: { connected?: number } }).stats : undefined;
      lines.push(`${h}::cx_active::${typeof stats?.connected === 'number' ? stats.connected : 0}`);
      lines.push(`${h}::rq_active::${ep.active}`);
      lines.push(`${h}::rq_error::${s.rqError}`);
      lines.push(`${h}::rq_success::${s.rqSuccess}`);
      lines.push(`${h}::rq_timeout::${s.rqTimeout}`);
      lines.push(`${h}::rq_total::${s.rqTotal}`);
      lines.push(`${h}::hostname::${/^[\d.]+$|:/.test(ep.endpoint.address) ? '' : ep.endpoint.address}`);
      lines.push(`${h}::health_flags::${isEjected(ep, now) ? '/failed_outlier_check' : 'healthy'}`);
      lines.push(`${h}::weight::${ep.endpoint.weight}`);
      lines.push(`${h}::region::`);
      lines.push(`${h}::zone::`);
      lines.push(`${h}::sub_zone::`);
      lines.push(`${h}::canary::false`);
      lines.push(`${h}::priority::0`);
      lines.push(`${h}::success_rate::-1`);
      lines.push(`${h}::local_origin_success_rate::-1`);
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
