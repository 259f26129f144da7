/**
 * Cross-resource checks in the style of `istioctl analyze`: references between resources that
 * Istio accepts one by one but that cannot work together (a missing Gateway serves nothing, a
 * missing host or subset is answered 503 NC, ...). Codes, levels, messages and the resources a
 * message is reported on are Istio's (`pkg/config/analysis/analyzers`); the layer is `reference`
 * (served anyway, unless `--strict`).
 *
 * Lookups go through hash maps built once (config/analyze-index.ts): analysis is linear in the size
 * of the configuration.
 */
import { Codes, type Diagnostic } from './diagnostics.js';
import { ofKind, resourceKey, type Kind, type Resource, type SpecByKind } from './resources.js';
import { isRecord } from './schema.js';
import { ALL_NAMESPACES, exportScopes, RuleIndex, ServiceIndex, type KnownService } from './analyze-index.js';
import { unreachableMatches } from './analyze-matches.js';
import {
  intersectHosts,
  isWildcard,
  resolveGatewayRef,
  resolveShortName,
  splitServerHost,
} from '../routes/host-names.js';

export type { KnownService } from './analyze-index.js';

/** Inputs of analysis besides the networking resources. */
interface AnalyzeOptions {
  /** Services known from elsewhere (Kubernetes Services): destinations to them are not dangling. */
  readonly knownServices?: readonly KnownService[];
  /**
   * `Kind/namespace/name` of resources that failed validation. Their ServiceEntries and
   * DestinationRules are not served, so they declare no host or subset (a `*` ServiceEntry that
   * fails validation hides no missing host).
   */
  readonly invalid?: ReadonlySet<string>;
}

/**
 * Runs the cross-resource analyzers over one configuration:
 *
 * | Code | Level | Finding (reported on) |
 * |---|---|---|
 * | IST0101 | error | missing Gateway, destination host, `host:port`, `host+subset` (the VirtualService) |
 * | IST0112 | error | destination without port to a service with several ports (the VirtualService) |
 * | IST0132 | warning | no VS host is a host of a referenced (or missing) Gateway, per Gateway |
 * | IST0165 | warning | VS references a Gateway generated for a Kubernetes Gateway |
 * | IST0130 / IST0131 | warning / info | unreachable rule / duplicate or covered match |
 * | IST0109 | error | mesh VirtualServices visible in one namespace define the same host (each VS once) |
 * | IST0145 | error | Gateways with the same selector, port, bind and host (every Gateway of the set) |
 * | IST0138 | warning | Gateways selecting the same workloads share a certificate |
 * | IST0174 | warning | DestinationRule host matches no service |
 * | IST0173 | error | subset selects no endpoint of its STATIC ServiceEntry |
 * | IST0128 / IST0129 | warning | DestinationRule TLS SIMPLE/MUTUAL without `caCertificates` (rule / port level) |
 * | IST0134 | warning | ServiceEntry without `addresses` has a TCP (or unset) protocol port |
 * | IST0177 | warning | ServiceEntries visible together give one host:port different protocols |
 *
 * Resources may be schema-invalid: every field is read defensively. Never throws.
 */
export function analyzeResources(resources: readonly Resource[], opts: AnalyzeOptions = {}): Diagnostic[] {
  const out: Diagnostic[] = [];
  let ctx: Context;
  try {
    ctx = new Context(resources, opts);
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
  const virtualServices = ofKind(resources, 'VirtualService');
  for (const vs of virtualServices) guarded(() => analyzeVirtualService(vs, ctx, out));
  guarded(() => conflictingMeshHosts(virtualServices, out));
  guarded(() => conflictingGateways(ctx.gatewayList, out));
  guarded(() => duplicateCertificates(ctx.gatewayList, out));
  for (const dr of ofKind(resources, 'DestinationRule')) guarded(() => analyzeDestinationRule(dr, ctx, out));
  const serviceEntries = ofKind(resources, 'ServiceEntry');
  for (const se of serviceEntries) guarded(() => addressesRequired(se, out));
  guarded(() => conflictingProtocols(serviceEntries, out));
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
// Reading resources defensively

function list(x: unknown): readonly unknown[] {
  return Array.isArray(x) ? x : [];
}

/** The spec as an object: analysis also runs on resources whose spec failed validation. */
function specOf<K extends Kind>(r: Resource<K>): Partial<SpecByKind[K]> & Record<string, unknown> {
  return (isRecord(r.spec) ? r.spec : {}) as Partial<SpecByKind[K]> & Record<string, unknown>;
}

function str(x: unknown): string | undefined {
  return typeof x === 'string' && x !== '' ? x : undefined;
}

function nonEmpty(x: unknown): x is string {
  return typeof x === 'string' && x !== '';
}

function labelsOf(x: unknown): Record<string, unknown> {
  return isRecord(x) ? x : {};
}

function selects(selector: Record<string, unknown>, labels: Record<string, unknown>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function fullName(r: Resource): string {
  return `${r.metadata.namespace}/${r.metadata.name}`;
}

/** Kubernetes' `SelectorFromSet(...).String()`: `k=v` pairs sorted, comma-joined. */
function selectorString(selector: unknown): string {
  return Object.entries(labelsOf(selector))
    .map(([k, v]) => `${k}=${String(v)}`)
    .sort()
    .join(',');
}

/** Lookups over the resources, built once. */
class Context {
  readonly gateways = new Map<string, Resource<'Gateway'>>();
  readonly gatewayList: Resource<'Gateway'>[];
  readonly services: ServiceIndex;
  readonly rules: RuleIndex;
  private readonly workloadEntries = new Map<string, Resource<'WorkloadEntry'>[]>();

  constructor(resources: readonly Resource[], opts: AnalyzeOptions) {
    const invalid = opts.invalid ?? new Set<string>();
    this.gatewayList = ofKind(resources, 'Gateway');
    // An invalid Gateway still exists (its own IST0106 says what is wrong): it is not "not found".
    for (const gw of this.gatewayList) this.gateways.set(fullName(gw), gw);
    this.services = new ServiceIndex(ofKind(resources, 'ServiceEntry'), opts.knownServices ?? [], invalid);
    this.rules = new RuleIndex(ofKind(resources, 'DestinationRule'), invalid);
    for (const we of ofKind(resources, 'WorkloadEntry')) {
      const l = this.workloadEntries.get(we.metadata.namespace);
      if (l) l.push(we);
      else this.workloadEntries.set(we.metadata.namespace, [we]);
    }
  }

  /** Endpoint labels of a STATIC ServiceEntry (its endpoints, or the WorkloadEntries it selects). */
  endpointLabels(se: Resource<'ServiceEntry'>): Record<string, unknown>[] {
    const selector = specOf(se).workloadSelector;
    if (isRecord(selector) && isRecord(selector.labels)) {
      const sel = selector.labels;
      return (this.workloadEntries.get(se.metadata.namespace) ?? [])
        .map((w) => labelsOf(specOf(w).labels))
        .filter((labels) => selects(sel, labels));
    }
    return list(specOf(se).endpoints).map((e) => labelsOf(isRecord(e) ? e.labels : undefined));
  }
}

// ---------------------------------------------------------------------------------------------------
// VirtualService

/** Gateway names Istio generates for Kubernetes Gateways contain this marker. */
const INTERNAL_GATEWAY_MARKER = '~istio-autogenerated-k8s-gateway~';

function analyzeVirtualService(vs: Resource<'VirtualService'>, ctx: Context, out: Diagnostic[]): void {
  const spec = specOf(vs);
  const ns = vs.metadata.namespace;
  const hosts = list(spec.hosts).flatMap((h) => (nonEmpty(h) ? [h.toLowerCase()] : []));

  // 1. Gateways (Istio GatewayAnalyzer): missing (IST0101), internal (IST0165), hosts (IST0132).
  const named = new Set<string>();
  list(spec.gateways).forEach((ref, i) => {
    if (!nonEmpty(ref) || ref === 'mesh') return;
    const path = `spec.gateways[${i}]`;
    const name = ref.slice(ref.indexOf('/') + 1);
    if (name.includes(INTERNAL_GATEWAY_MARKER)) {
      report(
        out,
        vs,
        'warning',
        Codes.ReferencedInternalGateway,
        path,
        `Gateway reference in VirtualService ${fullName(vs)} is to an implementation-generated internal Gateway: ${ref}.`,
      );
      return;
    }
    const key = resolveGatewayRef(ref, ns);
    named.add(key);
    const gw = ctx.gateways.get(key);
    if (!gw) gatewayNotFound(vs, path, key, out);
    // A missing Gateway exposes no host either, so Istio reports both.
    if (!gw || !gatewayExposesAny(gw, hosts, ns)) {
      report(
        out,
        vs,
        'warning',
        Codes.VirtualServiceHostNotFoundInGateway,
        path,
        `one or more host [${hosts.join(' ')}] defined in VirtualService ${fullName(vs)} not found in Gateway ${key}.`,
      );
    }
  });
  const checkMatchGateways = (matches: unknown, base: string): void =>
    list(matches).forEach((m, k) =>
      list(isRecord(m) ? m.gateways : undefined).forEach((ref, n) => {
        if (!nonEmpty(ref)) return;
        const key = resolveGatewayRef(ref, ns);
        if (key !== 'mesh' && !named.has(key) && !ctx.gateways.has(key))
          gatewayNotFound(vs, `${base}.match[${k}].gateways[${n}]`, key, out);
      }),
    );

  // 2. Destinations (Istio DestinationHostAnalyzer, DestinationRuleAnalyzer) and rule reachability.
  list(spec.http).forEach((rule, i) => {
    if (!isRecord(rule)) return;
    const p = `spec.http[${i}]`;
    checkMatchGateways(rule.match, p);
    list(rule.route).forEach((d, k) =>
      checkDestination(
        vs,
        isRecord(d) ? d.destination : undefined,
        `${p}.route[${k}].destination`,
        false,
        ctx,
        out,
      ),
    );
    if (isRecord(rule.mirror)) checkDestination(vs, rule.mirror, `${p}.mirror`, true, ctx, out);
    list(rule.mirrors).forEach((m, k) =>
      checkDestination(
        vs,
        isRecord(m) ? m.destination : undefined,
        `${p}.mirrors[${k}].destination`,
        true,
        ctx,
        out,
      ),
    );
  });
  for (const section of ['tcp', 'tls'] as const) {
    list(spec[section]).forEach((rule, i) => {
      if (!isRecord(rule)) return;
      const p = `spec.${section}[${i}]`;
      checkMatchGateways(rule.match, p);
      list(rule.route).forEach((d, k) =>
        checkDestination(
          vs,
          isRecord(d) ? d.destination : undefined,
          `${p}.route[${k}].destination`,
          false,
          ctx,
          out,
        ),
      );
    });
  }
  for (const section of ['http', 'tcp', 'tls'] as const) {
    for (const f of unreachableMatches(section, spec[section])) {
      if (f.code === 'unreachable')
        report(out, vs, 'warning', Codes.VirtualServiceUnreachableRule, f.path, f.message);
      else report(out, vs, 'info', Codes.VirtualServiceIneffectiveMatch, f.path, f.message);
    }
  }
}

function gatewayNotFound(vs: Resource, path: string, key: string, out: Diagnostic[]): void {
  report(
    out,
    vs,
    'error',
    Codes.ReferencedResourceNotFound,
    path,
    `Referenced gateway not found: ${JSON.stringify(key)}`,
  );
}

/** Whether a server host of the Gateway, visible to the VS namespace, overlaps a VS host (as written). */
function gatewayExposesAny(
  gw: Resource<'Gateway'>,
  vsHosts: readonly string[],
  vsNamespace: string,
): boolean {
  return list(specOf(gw).servers).some(
    (s) =>
      isRecord(s) &&
      list(s.hosts).some((entry) => {
        if (!nonEmpty(entry)) return false;
        const { namespace, host } = splitServerHost(entry, gw.metadata.namespace);
        if (namespace !== '*' && namespace !== vsNamespace) return false;
        return vsHosts.some((h) => intersectHosts(host, h) !== undefined);
      }),
  );
}

function checkDestination(
  vs: Resource<'VirtualService'>,
  dest: unknown,
  p: string,
  mirror: boolean,
  ctx: Context,
  out: Diagnostic[],
): void {
  const d = isRecord(dest) ? dest : {};
  const raw = typeof d.host === 'string' ? d.host : '';
  const ns = vs.metadata.namespace;
  const fqdn = resolveShortName(raw, ns);
  const svc = ctx.services.destination(fqdn, ns, specOf(vs).exportTo);
  if (!svc) {
    report(
      out,
      vs,
      'error',
      Codes.ReferencedResourceNotFound,
      `${p}.host`,
      `Referenced ${mirror ? 'mirror host' : 'host'} not found: ${JSON.stringify(raw)}`,
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
          `Referenced host:port not found: ${JSON.stringify(`${raw}:${port}`)}`,
        );
      }
    } else if (svc.ports.length > 1) {
      report(
        out,
        vs,
        'error',
        Codes.VirtualServiceDestinationPortSelectorRequired,
        `${p}.port`,
        `This VirtualService routes to a service ${JSON.stringify(raw)} that exposes multiple ports [${svc.ports.join(' ')}]. Specifying a port in the destination is required to disambiguate.`,
      );
    }
  }
  const subset = str(d.subset);
  if (subset && !ctx.rules.rulesFor(fqdn, ns).some((r) => r.subsets.has(subset))) {
    report(
      out,
      vs,
      'error',
      Codes.ReferencedResourceNotFound,
      `${p}.subset`,
      `Referenced ${mirror ? 'mirror' : 'host'}+subset in destinationrule not found: ${JSON.stringify(`${raw}+${subset}`)}`,
    );
  }
}

/** Whether a VirtualService applies to sidecars: no `gateways`, or a list naming `mesh`. */
function isMeshBound(vs: Resource<'VirtualService'>): boolean {
  const gws = list(specOf(vs).gateways);
  return gws.length === 0 || gws.includes('mesh');
}

/**
 * IST0109 (Istio ConflictingMeshGatewayHostsAnalyzer): mesh VirtualServices are grouped by
 * `scope/host` (scope: `*`, or each namespace of their `exportTo`); a group visible in one namespace
 * also takes the all-namespace VirtualServices whose host overlaps its own (wildcards included).
 * Every VirtualService of a group of two or more is reported, once.
 */
function conflictingMeshHosts(services: readonly Resource<'VirtualService'>[], out: Diagnostic[]): void {
  const groups = new Map<string, { scope: string; host: string; vss: Resource<'VirtualService'>[] }>();
  const publicExact = new Map<string, Resource<'VirtualService'>[]>();
  const publicWildcards = new Map<string, Resource<'VirtualService'>[]>(); // by `.suffix`
  const publicBySuffix = new Map<string, Set<string>>(); // `.suffix` → public hosts under it
  const push = <V>(m: Map<string, V[]>, k: string, v: V) => {
    const l = m.get(k);
    if (l) l.push(v);
    else m.set(k, [v]);
  };
  for (const vs of services) {
    if (!isMeshBound(vs)) continue;
    const ns = vs.metadata.namespace;
    for (const scope of exportScopes(specOf(vs).exportTo, ns)) {
      for (const h of list(specOf(vs).hosts)) {
        if (!nonEmpty(h)) continue;
        const host = resolveShortName(h, ns);
        const key = `${scope}/${host}`;
        const g = groups.get(key);
        if (g) g.vss.push(vs);
        else groups.set(key, { scope, host, vss: [vs] });
        if (scope !== ALL_NAMESPACES) continue;
        push(publicExact, host, vs);
        if (host.startsWith('*')) push(publicWildcards, host.slice(1), vs);
        const bare = host.startsWith('*') ? host.slice(1) : host;
        for (let i = bare.indexOf('.', bare.startsWith('.') ? 1 : 0); i >= 0; i = bare.indexOf('.', i + 1)) {
          const s = publicBySuffix.get(bare.slice(i));
          if (s) s.add(host);
          else publicBySuffix.set(bare.slice(i), new Set([host]));
        }
      }
    }
  }
  /** All-namespace VirtualServices whose host overlaps `host`. */
  const overlappingPublic = (host: string): Resource<'VirtualService'>[] => {
    const found = new Set<Resource<'VirtualService'>>(publicExact.get(host) ?? []);
    const bare = host.startsWith('*') ? host.slice(1) : host;
    for (let i = bare.indexOf('.', bare.startsWith('.') ? 1 : 0); i >= 0; i = bare.indexOf('.', i + 1))
      for (const vs of publicWildcards.get(bare.slice(i)) ?? []) found.add(vs);
    if (host.startsWith('*'))
      for (const h of publicBySuffix.get(bare) ?? [])
        for (const vs of publicExact.get(h) ?? []) found.add(vs);
    return [...found];
  };
  const reported = new Set<Resource<'VirtualService'>>();
  for (const [key, g] of groups) {
    const vss = g.scope === ALL_NAMESPACES ? g.vss : [...g.vss, ...overlappingPublic(g.host)];
    if (vss.length < 2) continue;
    const names = [...new Set(vss.map(fullName))].sort().join(',');
    for (const vs of vss) {
      if (reported.has(vs)) continue;
      reported.add(vs);
      report(
        out,
        vs,
        'error',
        Codes.ConflictingMeshGatewayVirtualServiceHosts,
        'metadata.name',
        `The VirtualServices ${names} associated with mesh gateway define the same host ${key} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Gateway

/** Whether every label of `a` is in `b` with the same value. */
function labelSubset(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return Object.entries(a).every(([k, v]) => b[k] === v);
}

/**
 * IST0145 (Istio ConflictingGatewayAnalyzer): a server of a Gateway whose host (as written) and bind
 * another Gateway also serves on the same port, for the same workloads (equal selectors, or one
 * selector contained in the other). Reported on each Gateway, once per conflicting server.
 */
function conflictingGateways(gws: readonly Resource<'Gateway'>[], out: Diagnostic[]): void {
  interface Group {
    readonly selector: Record<string, unknown>;
    /** `host\0bind` → Gateways (`ns/name`) serving it. */
    readonly hosts: Map<string, Set<string>>;
  }
  const byPort = new Map<string, Map<string, Group>>(); // port → selector string → group
  const portOf = (s: Record<string, unknown>) =>
    String(isRecord(s.port) && typeof s.port.number === 'number' ? s.port.number : 0);
  for (const gw of gws) {
    const sel = selectorString(specOf(gw).selector);
    for (const s of list(specOf(gw).servers)) {
      if (!isRecord(s)) continue;
      const port = portOf(s);
      let groups = byPort.get(port);
      if (!groups) byPort.set(port, (groups = new Map()));
      let g = groups.get(sel);
      if (!g) groups.set(sel, (g = { selector: labelsOf(specOf(gw).selector), hosts: new Map() }));
      for (const h of list(s.hosts)) {
        if (!nonEmpty(h)) continue;
        const k = `${h}\0${str(s.bind) ?? ''}`;
        const set = g.hosts.get(k);
        if (set) set.add(fullName(gw));
        else g.hosts.set(k, new Set([fullName(gw)]));
      }
    }
  }
  for (const gw of gws) {
    const me = fullName(gw);
    const sel = selectorString(specOf(gw).selector);
    const mine = labelsOf(specOf(gw).selector);
    list(specOf(gw).servers).forEach((s, j) => {
      if (!isRecord(s)) return;
      const port = portOf(s);
      const others = new Set<string>();
      for (const [otherSel, g] of byPort.get(port) ?? []) {
        if (otherSel !== sel && !labelSubset(mine, g.selector) && !labelSubset(g.selector, mine)) continue;
        for (const h of list(s.hosts)) {
          if (!nonEmpty(h)) continue;
          for (const name of g.hosts.get(`${h}\0${str(s.bind) ?? ''}`) ?? [])
            if (name !== me) others.add(name);
        }
      }
      if (others.size === 0) return;
      report(
        out,
        gw,
        'error',
        Codes.ConflictingGateways,
        `spec.servers[${j}]`,
        `Conflict with gateways ${[...others].sort().join(',')} (workload selector ${sel}, port ${port}, hosts ${list(s.hosts).join(',')}).`,
      );
    });
  }
}

/**
 * IST0138 (Istio CertificateAnalyzer): two TLS servers of different Gateways with the same
 * certificate (same `credentialName`, or same `serverCertificate` and `privateKey` files), where the
 * other Gateway selects at least the workloads of this one. Reported on this one, per server pair.
 */
function duplicateCertificates(gws: readonly Resource<'Gateway'>[], out: Diagnostic[]): void {
  const certKey = (tls: unknown): string | undefined => {
    if (!isRecord(tls)) return undefined;
    const cred = str(tls.credentialName);
    if (cred) return `credential:${cred}`;
    const cert = str(tls.serverCertificate);
    const key = str(tls.privateKey);
    return cert && key ? `files:${cert}\0${key}` : undefined;
  };
  const byCert = new Map<string, Resource<'Gateway'>[]>();
  for (const gw of gws)
    for (const s of list(specOf(gw).servers)) {
      const k = certKey(isRecord(s) ? s.tls : undefined);
      if (!k) continue;
      const l = byCert.get(k);
      if (l) l.push(gw);
      else byCert.set(k, [gw]);
    }
  for (const gw of gws) {
    const mine = labelsOf(specOf(gw).selector);
    for (const s of list(specOf(gw).servers)) {
      const k = certKey(isRecord(s) ? s.tls : undefined);
      if (!k) continue;
      for (const other of byCert.get(k) ?? []) {
        if (fullName(other) === fullName(gw) || !labelSubset(mine, labelsOf(specOf(other).selector)))
          continue;
        report(
          out,
          gw,
          'warning',
          Codes.GatewayDuplicateCertificate,
          'metadata.name',
          `Duplicate certificate in multiple gateways [${fullName(gw)} ${fullName(other)}] may cause 404s if clients re-use HTTP2 connections.`,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// DestinationRule

const VERIFYING_MODES = new Set(['SIMPLE', 'MUTUAL']);

function analyzeDestinationRule(dr: Resource<'DestinationRule'>, ctx: Context, out: Diagnostic[]): void {
  const spec = specOf(dr);
  const raw = str(spec.host);
  if (raw) hostChecks(dr, raw, ctx, out);

  // IST0128 / IST0129 (Istio CaCertificateAnalyzer): TLS origination that verifies no server.
  const unverified = (tls: unknown): string | undefined => {
    if (!isRecord(tls) || typeof tls.mode !== 'string' || !VERIFYING_MODES.has(tls.mode)) return undefined;
    if (str(tls.caCertificates)) return undefined;
    if (str(tls.credentialName) && spec.workloadSelector !== undefined) return undefined;
    return tls.mode;
  };
  const policy = isRecord(spec.trafficPolicy) ? spec.trafficPolicy : {};
  const where = `DestinationRule ${fullName(dr)} in namespace ${dr.metadata.namespace}`;
  const mode = unverified(policy.tls);
  if (mode)
    report(
      out,
      dr,
      'warning',
      Codes.NoServerCertificateVerificationDestinationLevel,
      'spec.trafficPolicy.tls',
      `${where} has TLS mode set to ${mode} but no caCertificates are set to validate server identity for host: ${raw ?? ''}`,
    );
  list(policy.portLevelSettings).forEach((p, i) => {
    const m = unverified(isRecord(p) ? p.tls : undefined);
    if (!m || !isRecord(p)) return;
    const port = isRecord(p.port) && typeof p.port.number === 'number' ? `number:${p.port.number}` : '';
    report(
      out,
      dr,
      'warning',
      Codes.NoServerCertificateVerificationPortLevel,
      `spec.trafficPolicy.portLevelSettings[${i}].tls`,
      `${where} has TLS mode set to ${m} but no caCertificates are set to validate server identity for host: ${raw ?? ''} at port ${port}`,
    );
  });
}

/** IST0174 (host matches no service) and IST0173 (a subset selects no endpoint). */
function hostChecks(dr: Resource<'DestinationRule'>, raw: string, ctx: Context, out: Diagnostic[]): void {
  const host = resolveShortName(raw, dr.metadata.namespace);
  if (!ctx.services.anyOverlapping(host)) {
    report(
      out,
      dr,
      'warning',
      Codes.UnknownDestinationRuleHost,
      'spec.host',
      `The host ${host} defined in the DestinationRule does not match any services in the mesh.`,
    );
    return;
  }
  // Subset coverage is only knowable for a concrete host with a fixed endpoint list.
  if (isWildcard(host)) return;
  const svc = ctx.services.visibleFrom(host, dr.metadata.namespace);
  const se = svc?.se;
  // A Kubernetes Service is checked against the Pods behind it when the input has any.
  const endpoints = se
    ? specOf(se).resolution === 'STATIC'
      ? ctx.endpointLabels(se)
      : undefined
    : svc?.endpointLabels?.length
      ? svc.endpointLabels
      : undefined;
  if (!svc || !endpoints) return;
  const owner = se ? resourceKey(se) : (svc.source ?? svc.host);
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
      `The Subset ${String(s.name)} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream). (labels ${selectorString(selector) || 'none'}, endpoints of ${owner})`,
    );
  });
}

// ---------------------------------------------------------------------------------------------------
// ServiceEntry

/** IST0134 (Istio ProtocolAddressesAnalyzer): a TCP (or unset protocol) port without `addresses`. */
function addressesRequired(se: Resource<'ServiceEntry'>, out: Diagnostic[]): void {
  if (list(specOf(se).addresses).length > 0) return;
  list(specOf(se).ports).forEach((p, i) => {
    if (!isRecord(p)) return;
    const protocol = typeof p.protocol === 'string' ? p.protocol.toUpperCase() : '';
    if (protocol !== '' && protocol !== 'TCP') return;
    report(
      out,
      se,
      'warning',
      Codes.ServiceEntryAddressesRequired,
      `spec.ports[${i}]`,
      'ServiceEntry addresses are required for this protocol.',
    );
  });
}

/**
 * IST0177 (Istio ConflictingServiceEntryProtocolAnalyzer): ServiceEntries visible in one scope give
 * the same host and port different protocols. Each ServiceEntry is reported once.
 */
function conflictingProtocols(ses: readonly Resource<'ServiceEntry'>[], out: Diagnostic[]): void {
  interface Entry {
    readonly protocol: string;
    readonly se: Resource<'ServiceEntry'>;
  }
  const index = new Map<string, { scope: string; host: string; port: number; entries: Entry[] }>();
  for (const se of ses) {
    const spec = specOf(se);
    for (const scope of exportScopes(spec.exportTo, se.metadata.namespace))
      for (const h of list(spec.hosts)) {
        if (!nonEmpty(h)) continue;
        for (const p of list(spec.ports)) {
          if (!isRecord(p) || typeof p.number !== 'number') continue;
          const key = `${scope}\0${h}\0${p.number}`;
          const e = { protocol: typeof p.protocol === 'string' ? p.protocol.toUpperCase() : '', se };
          const g = index.get(key);
          if (g) g.entries.push(e);
          else index.set(key, { scope, host: h, port: p.number, entries: [e] });
        }
      }
  }
  const reported = new Set<Resource<'ServiceEntry'>>();
  for (const g of index.values()) {
    const entries =
      g.scope === ALL_NAMESPACES
        ? g.entries
        : [...g.entries, ...(index.get(`${ALL_NAMESPACES}\0${g.host}\0${g.port}`)?.entries ?? [])];
    const protocols = [...new Set(entries.map((e) => e.protocol))].sort();
    if (protocols.length < 2) continue;
    const names = [...new Set(entries.map((e) => fullName(e.se)))].sort().join(', ');
    for (const { se } of entries) {
      if (reported.has(se)) continue;
      reported.add(se);
      report(
        out,
        se,
        'warning',
        Codes.ConflictingServiceEntryProtocol,
        'metadata.name',
        `Multiple ServiceEntries (${names}) define the same host ${JSON.stringify(g.host)} and port ${g.port} with conflicting protocols (${protocols.join(', ')}).`,
      );
    }
  }
}
