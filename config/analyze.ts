/**
 * Cross-resource checks in the style of `istioctl analyze`: references between resources that
 * Istio accepts one by one but that cannot work together (a missing Gateway serves nothing, a
 * missing host or subset is answered 503 NC, ...). Codes and levels are Istio's; the layer is
 * `reference` (served anyway, unless `--strict`).
 */
import { Codes, type Diagnostic } from './diagnostics.js';
import {
  ofKind,
  resourceKey,
  type Destination,
  type Resource,
  type Kind,
  type Server,
  type SpecByKind,
} from './resources.js';
import { isRecord } from './schema.js';
import type { Service } from './registry.js';
import {
  hostCovers,
  intersectHosts,
  isWildcard,
  resolveGatewayRef,
  resolveShortName,
  splitServerHost,
} from '../routes/host-names.js';

/**
 * Runs the cross-resource analyzers over one configuration:
 *
 * | Code | Level | Finding |
 * |---|---|---|
 * | IST0101 | error | VS `gateways` (or match `gateways`) names a Gateway that does not exist |
 * | IST0101 | error | route/mirror destination host is no ServiceEntry host; `host:port` not declared; `host+subset` in no DestinationRule |
 * | IST0112 | error | destination without `port` to a service with several ports |
 * | IST0132 | warning | none of the VS hosts is exposed by a referenced Gateway |
 * | IST0109 | error | two mesh-bound VirtualServices define the same host |
 * | IST0145 | error | two Gateways with the same selector, port and bind share a host |
 * | IST0174 | warning | a DestinationRule host matches no ServiceEntry |
 * | IST0173 | error | a subset selects no endpoint of its (STATIC) ServiceEntry |
 *
 * Resources may be schema-invalid: every field is read defensively. Never throws.
 */
export function analyzeResources(
  resources: readonly Resource[],
  kubeServices: readonly Service[] = [],
): Diagnostic[] {
  const out: Diagnostic[] = [];
  let index: Index;
  try {
    index = new Index(resources, kubeServices);
  } catch {
    return out; // only with resources no loader produces (e.g. metadata that is not an object)
  }
  const guarded = (check: () => void): void => {
    try {
      check();
    } catch {
      // A malformed resource is already reported by validation; analysis just skips it.
    }
  };
  for (const vs of ofKind(resources, 'VirtualService')) guarded(() => analyzeVirtualService(vs, index, out));
  guarded(() => conflictingMeshHosts(ofKind(resources, 'VirtualService'), out));
  guarded(() => conflictingGateways(ofKind(resources, 'Gateway'), out));
  for (const dr of ofKind(resources, 'DestinationRule'))
    guarded(() => analyzeDestinationRule(dr, index, out));
  return out;
}

function report(
  out: Diagnostic[],
  r: Resource,
  severity: Diagnostic['severity'],
  code: string,
  path: string,
  message: string,
): void {
  out.push({ severity, code, layer: 'reference', resource: resourceKey(r), source: r.source, path, message });
}

// ---------------------------------------------------------------------------------------------------
// Index

function list<T>(x: readonly T[] | null | undefined): readonly T[];
function list(x: unknown): readonly unknown[];
function list(x: unknown): readonly unknown[] {
  return Array.isArray(x) ? x : [];
}

/** The spec as an object: analysis also runs on resources whose spec failed validation. */
function specOf<K extends Kind>(r: Resource<K>): Partial<SpecByKind[K]> {
  return isRecord(r.spec) ? r.spec : {};
}

function str(x: unknown): string | undefined {
  return typeof x === 'string' && x !== '' ? x : undefined;
}

function labelsOf(x: unknown): Record<string, unknown> {
  return isRecord(x) ? x : {};
}

function selects(selector: Record<string, unknown>, labels: Record<string, unknown>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** One ServiceEntry host, or one Kubernetes Service (no `se`), as the registry sees it. */
interface ServiceInfo {
  readonly host: string;
  readonly se?: Resource<'ServiceEntry'>;
  readonly ports: readonly number[];
  /** The Kubernetes Service (with its endpoints) when the host is one. */
  readonly kube?: Service;
}

interface RuleInfo {
  readonly host: string;
  readonly dr: Resource<'DestinationRule'>;
  readonly subsets: ReadonlySet<string>;
}

/** Lookups over the resources, built once. */
class Index {
  readonly gateways = new Map<string, Resource<'Gateway'>>();
  private readonly services: ServiceInfo[] = [];
  private readonly rules: RuleInfo[] = [];

  constructor(
    private readonly resources: readonly Resource[],
    kubeServices: readonly Service[],
  ) {
    // Kubernetes Services first: the registry serves a host from them before any ServiceEntry.
    for (const kube of kubeServices)
      this.services.push({ host: kube.hostname, ports: kube.ports.map((p) => p.number), kube });
    for (const gw of ofKind(resources, 'Gateway'))
      this.gateways.set(`${gw.metadata.namespace}/${gw.metadata.name}`, gw);
    for (const se of ofKind(resources, 'ServiceEntry')) {
      const ports = [
        ...new Set(
          list(specOf(se).ports).flatMap((p) =>
            isRecord(p) && typeof p.number === 'number' ? [p.number] : [],
          ),
        ),
      ];
      for (const h of list(specOf(se).hosts)) {
        const host = str(h);
        if (host) this.services.push({ host: resolveShortName(host, se.metadata.namespace), se, ports });
      }
    }
    for (const dr of ofKind(resources, 'DestinationRule')) {
      const host = str(specOf(dr).host);
      if (!host) continue;
      const subsets = new Set(
        list(specOf(dr).subsets).flatMap((s) => (isRecord(s) && str(s.name) ? [s.name] : [])),
      );
      this.rules.push({ host: resolveShortName(host, dr.metadata.namespace), dr, subsets });
    }
  }

  /** The service for a host: an exact ServiceEntry host first (oldest wins), else the most specific wildcard. */
  service(fqdn: string): ServiceInfo | undefined {
    return mostSpecific(
      this.services.filter((s) => hostCovers(s.host, fqdn)),
      fqdn,
    );
  }

  /** Whether a ServiceEntry host overlaps `host` (either covers the other). */
  anyServiceOverlapping(host: string): boolean {
    return this.services.some((s) => intersectHosts(s.host, host) !== undefined);
  }

  /** DestinationRules that apply to a host: exact host first, else the most specific wildcard (merged). */
  rulesFor(fqdn: string): RuleInfo[] {
    const covering = this.rules.filter((r) => hostCovers(r.host, fqdn));
    const best = mostSpecific(covering, fqdn);
    return best ? covering.filter((r) => r.host === best.host) : [];
  }

  /** Endpoint labels of a STATIC ServiceEntry (its endpoints, or the WorkloadEntries it selects). */
  endpointLabels(se: Resource<'ServiceEntry'>): Record<string, unknown>[] {
    const selector = specOf(se).workloadSelector;
    if (isRecord(selector) && isRecord(selector.labels)) {
      const sel = selector.labels;
      return ofKind(this.resources, 'WorkloadEntry')
        .filter(
          (w) => w.metadata.namespace === se.metadata.namespace && selects(sel, labelsOf(specOf(w).labels)),
        )
        .map((w) => labelsOf(specOf(w).labels));
    }
    return list(specOf(se).endpoints).map((e) => labelsOf(isRecord(e) ? e.labels : undefined));
  }
}

function mostSpecific<T extends { host: string }>(candidates: T[], fqdn: string): T | undefined {
  const exact = candidates.find((c) => c.host === fqdn);
  if (exact) return exact;
  // Longer wildcard suffix = more specific; ties keep document order.
  return candidates.reduce<T | undefined>(
    (best, c) => (!best || c.host.length > best.host.length ? c : best),
    undefined,
  );
}

// ---------------------------------------------------------------------------------------------------
// VirtualService

function analyzeVirtualService(vs: Resource<'VirtualService'>, index: Index, out: Diagnostic[]): void {
  const spec = specOf(vs);
  const ns = vs.metadata.namespace;

  // 1. Gateway references (IST0101) and hosts exposed by them (IST0132).
  const gatewayNotFound = (path: string, key: string): void =>
    report(
      out,
      vs,
      'error',
      Codes.ReferencedResourceNotFound,
      path,
      `Referenced gateway not found: ${JSON.stringify(key)}`,
    );
  const hosts = list(spec.hosts).flatMap((h) => (str(h) ? [resolveShortName(h, ns)] : []));
  list(spec.gateways).forEach((ref, i) => {
    if (!str(ref)) return;
    const path = `spec.gateways[${i}]`;
    const key = resolveGatewayRef(ref, ns);
    if (key === 'mesh') return;
    const gw = index.gateways.get(key);
    if (!gw) return gatewayNotFound(path, key);
    if (hosts.length > 0 && !gatewayExposesAny(gw, hosts, ns)) {
      const serverHosts = list(specOf(gw).servers).flatMap((s) => (isRecord(s) ? list(s.hosts) : []));
      report(
        out,
        vs,
        'warning',
        Codes.VirtualServiceHostNotFoundInGateway,
        path,
        `none of the hosts [${hosts.join(', ')}] is exposed by Gateway ${JSON.stringify(key)} (server hosts: [${serverHosts.join(', ')}])`,
      );
    }
  });
  const checkMatchGateways = (matches: unknown, base: string): void =>
    list(matches as unknown[]).forEach((m, k) =>
      list(isRecord(m) ? (m.gateways as unknown[]) : undefined).forEach((ref, n) => {
        if (!str(ref)) return;
        const key = resolveGatewayRef(ref as string, ns);
        if (key !== 'mesh' && !index.gateways.has(key))
          gatewayNotFound(`${base}.match[${k}].gateways[${n}]`, key);
      }),
    );

  // 2. Destinations (route and mirror) of every rule.
  list(spec.http).forEach((rule, i) => {
    if (!isRecord(rule)) return;
    const p = `spec.http[${i}]`;
    checkMatchGateways(rule.match, p);
    list(rule.route).forEach((d, k) =>
      checkDestination(
        vs,
        isRecord(d) ? d.destination : undefined,
        `${p}.route[${k}].destination`,
        index,
        out,
      ),
    );
    if (isRecord(rule.mirror)) checkDestination(vs, rule.mirror, `${p}.mirror`, index, out);
    list(rule.mirrors).forEach((m, k) =>
      checkDestination(
        vs,
        isRecord(m) ? m.destination : undefined,
        `${p}.mirrors[${k}].destination`,
        index,
        out,
      ),
    );
  });
  for (const section of ['tcp', 'tls'] as const) {
    list(spec[section] as unknown[]).forEach((rule, i) => {
      if (!isRecord(rule)) return;
      const p = `spec.${section}[${i}]`;
      checkMatchGateways(rule.match, p);
      list(rule.route as unknown[]).forEach((d, k) =>
        checkDestination(
          vs,
          isRecord(d) ? d.destination : undefined,
          `${p}.route[${k}].destination`,
          index,
          out,
        ),
      );
    });
  }
}

/** Whether any server host of the Gateway, visible to the VS namespace, intersects a VS host. */
function gatewayExposesAny(
  gw: Resource<'Gateway'>,
  vsHosts: readonly string[],
  vsNamespace: string,
): boolean {
  return list(specOf(gw).servers).some(
    (s: Server) =>
      isRecord(s) &&
      list(s.hosts).some((entry) => {
        if (!str(entry)) return false;
        const { namespace, host } = splitServerHost(entry, gw.metadata.namespace);
        if (namespace !== '*' && namespace !== vsNamespace) return false;
        return vsHosts.some((h) => intersectHosts(host, h) !== undefined);
      }),
  );
}

function checkDestination(vs: Resource, dest: unknown, p: string, index: Index, out: Diagnostic[]): void {
  if (!isRecord(dest)) return;
  const d = dest as Partial<Destination>;
  const raw = str(d.host);
  if (!raw || raw === '*') return; // reported by validation
  const host = resolveShortName(raw, vs.metadata.namespace);
  const svc = index.service(host);
  if (!svc) {
    report(
      out,
      vs,
      'error',
      Codes.ReferencedResourceNotFound,
      `${p}.host`,
      `Referenced host not found: ${JSON.stringify(host)}`,
    );
  } else {
    const port = isRecord(d.port) ? d.port.number : undefined;
    if (typeof port === 'number') {
      if (svc.ports.length > 0 && !svc.ports.includes(port)) {
        report(
          out,
          vs,
          'error',
          Codes.ReferencedResourceNotFound,
          `${p}.port.number`,
          `Referenced host:port not found: "${host}:${port}"`,
        );
      }
    } else if (svc.ports.length > 1) {
      report(
        out,
        vs,
        'error',
        Codes.VirtualServiceDestinationPortSelectorRequired,
        `${p}.port`,
        `${JSON.stringify(host)} exposes several ports (${svc.ports.join(', ')}); the destination must set port.number`,
      );
    }
  }
  const subset = str(d.subset);
  if (subset && !index.rulesFor(host).some((r) => r.subsets.has(subset))) {
    report(
      out,
      vs,
      'error',
      Codes.ReferencedResourceNotFound,
      `${p}.subset`,
      `Referenced host+subset in destinationrule not found: "${host}+${subset}"`,
    );
  }
}

/** IST0109: a host may be defined by only one mesh-bound VirtualService. */
function conflictingMeshHosts(services: readonly Resource<'VirtualService'>[], out: Diagnostic[]): void {
  const byHost = new Map<string, { vs: Resource<'VirtualService'>; index: number }[]>();
  for (const vs of services) {
    const gws = list(specOf(vs).gateways);
    if (gws.length > 0 && !gws.includes('mesh')) continue;
    list(specOf(vs).hosts).forEach((h, i) => {
      if (!str(h)) return;
      const host = resolveShortName(h, vs.metadata.namespace);
      const seen = byHost.get(host) ?? [];
      if (!seen.some((s) => s.vs === vs)) seen.push({ vs, index: i });
      byHost.set(host, seen);
    });
  }
  for (const [host, defs] of byHost) {
    if (defs.length < 2) continue;
    const names = defs.map((d) => resourceKey(d.vs)).join(', ');
    for (const { vs, index } of defs) {
      report(
        out,
        vs,
        'error',
        Codes.ConflictingMeshGatewayVirtualServiceHosts,
        `spec.hosts[${index}]`,
        `the mesh-bound VirtualServices ${names} all define host ${JSON.stringify(host)}; merge them into one`,
      );
    }
  }
}

/** IST0145: Gateways with the same selector on the same port (and bind) must not share a host. */
function conflictingGateways(gws: readonly Resource<'Gateway'>[], out: Diagnostic[]): void {
  interface Seen {
    gw: Resource<'Gateway'>;
    selector: string;
    port: number;
    bind: string;
    host: string;
  }
  const seen: Seen[] = [];
  for (const gw of gws) {
    const selector = selectorKey(specOf(gw).selector);
    const mine: Seen[] = [];
    list(specOf(gw).servers).forEach((s, j) => {
      if (!isRecord(s) || !isRecord(s.port) || typeof s.port.number !== 'number') return;
      const port = s.port.number;
      const bind = str(s.bind) ?? '';
      list(s.hosts).forEach((entry, k) => {
        if (!str(entry)) return;
        const { host } = splitServerHost(entry, gw.metadata.namespace);
        const other = seen.find(
          (o) =>
            o.selector === selector &&
            o.port === port &&
            o.bind === bind &&
            intersectHosts(o.host, host) !== undefined,
        );
        if (other) {
          report(
            out,
            gw,
            'error',
            Codes.ConflictingGateways,
            `spec.servers[${j}].hosts[${k}]`,
            `conflicts with Gateway ${JSON.stringify(`${other.gw.metadata.namespace}/${other.gw.metadata.name}`)}: same selector (${selector || 'none'}), port ${port}${bind ? `, bind ${bind}` : ''}, and hosts ${JSON.stringify(other.host)} / ${JSON.stringify(host)} overlap`,
          );
        }
        mine.push({ gw, selector, port, bind, host });
      });
    });
    seen.push(...mine);
  }
}

function selectorKey(selector: unknown): string {
  return Object.entries(labelsOf(selector))
    .map(([k, v]) => `${k}=${String(v)}`)
    .sort()
    .join(',');
}

// ---------------------------------------------------------------------------------------------------
// DestinationRule

function analyzeDestinationRule(dr: Resource<'DestinationRule'>, index: Index, out: Diagnostic[]): void {
  const raw = str(specOf(dr).host);
  if (!raw) return;
  const host = resolveShortName(raw, dr.metadata.namespace);
  if (!index.anyServiceOverlapping(host)) {
    report(
      out,
      dr,
      'warning',
      Codes.UnknownDestinationRuleHost,
      'spec.host',
      `DestinationRule for host ${JSON.stringify(host)} does not match any ServiceEntry host`,
    );
    return;
  }
  // Subset coverage is only knowable for a concrete host with a fixed endpoint list.
  if (isWildcard(host)) return;
  const svc = index.service(host);
  // A Kubernetes Service is checked against the Pods behind it when the input has any.
  const endpoints = svc?.se
    ? specOf(svc.se).resolution === 'STATIC'
      ? index.endpointLabels(svc.se)
      : undefined
    : svc?.kube?.endpoints.length
      ? svc.kube.endpoints.map((e) => e.labels as Record<string, unknown>)
      : undefined;
  if (!svc || !endpoints) return;
  list(specOf(dr).subsets).forEach((s, i) => {
    if (!isRecord(s)) return;
    const selector = labelsOf(s.labels);
    if (endpoints.some((labels) => selects(selector, labels))) return;
    report(
      out,
      dr,
      'error',
      Codes.DestinationRuleSubsetNotSelectPods,
      `spec.subsets[${i}]`,
      `subset ${JSON.stringify(s.name)} (labels ${selectorKey(selector) || 'none'}) selects no endpoint of ${svc.se ? resourceKey(svc.se) : svc.kube!.source}: requests to it fail with 503 UH`,
    );
  });
}
