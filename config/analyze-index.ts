/**
 * Lookup tables for cross-resource analysis, built once per run: services (ServiceEntry hosts plus
 * hosts the caller knows from elsewhere, e.g. Kubernetes Services) and DestinationRules, keyed by
 * visibility scope and host in hash maps. Every lookup costs O(labels of the host), never a scan of
 * all resources, so analysis stays linear in the size of the configuration.
 *
 * Visibility follows `exportTo` (Istio `pkg/config/analysis/analyzers/util`): no `exportTo` or `*`
 * is visible everywhere, `.` in the resource's own namespace, a name in that namespace.
 */
import { resourceKey, type Resource } from './resources.js';
import { isRecord } from './schema.js';
import { resolveShortName } from '../routes/host-names.js';

/** A service known outside the networking resources (a Kubernetes Service): it makes its host known. */
export interface KnownService {
  /** Fully qualified host, e.g. `reviews.default.svc.cluster.local`. */
  readonly host: string;
  /** Namespace the service lives in (the `.` of its `exportTo`). */
  readonly namespace: string;
  /** Service port numbers; empty when unknown (then no port check is made). */
  readonly ports: readonly number[];
  /** Namespaces it is exported to (`networking.istio.io/exportTo`); undefined or empty = all. */
  readonly exportTo?: readonly string[];
  /** Labels of its endpoints (Pods) when the input has any; subsets are checked against them. */
  readonly endpointLabels?: readonly Record<string, unknown>[];
  /** `Service/ns/name` that declared it, for messages. */
  readonly source?: string;
}

/** One service host as analysis sees it. */
interface ServiceInfo {
  readonly host: string;
  readonly ports: readonly number[];
  /** The ServiceEntry that declares it; undefined for a {@link KnownService}. */
  readonly se: Resource<'ServiceEntry'> | undefined;
  /** For a {@link KnownService}: its endpoints' labels and declaring object. */
  readonly endpointLabels?: readonly Record<string, unknown>[];
  readonly source?: string;
}

/** The scope that means "every namespace". */
export const ALL_NAMESPACES = '*';

/**
 * The scopes a resource is visible in: `[*]` for no `exportTo` or one containing `*`, otherwise the
 * listed namespaces with `.` resolved to `namespace` (`~` hides it from everyone: no scope).
 */
export function exportScopes(exportTo: unknown, namespace: string): string[] {
  const list = Array.isArray(exportTo) ? exportTo.filter((e): e is string => typeof e === 'string') : [];
  if (list.length === 0 || list.includes(ALL_NAMESPACES)) return [ALL_NAMESPACES];
  return [...new Set(list.filter((e) => e !== '~').map((e) => (e === '.' ? namespace : e)))];
}

/** `.suffix` keys of a host, longest first: `a.b.c` → `.b.c`, `.c`. A leading `*` is dropped first. */
function* dotSuffixes(host: string): Generator<string> {
  const h = host.startsWith('*') ? host.slice(1) : host;
  for (let i = h.indexOf('.', h.startsWith('.') ? 1 : 0); i >= 0; i = h.indexOf('.', i + 1)) yield h.slice(i);
}

/** A map of lists, for multi-valued keys. */
class MultiMap<V> {
  private readonly m = new Map<string, V[]>();
  add(key: string, v: V): void {
    const l = this.m.get(key);
    if (l) l.push(v);
    else this.m.set(key, [v]);
  }
  get(key: string): readonly V[] {
    return this.m.get(key) ?? [];
  }
}

function numbersOf(ports: unknown): number[] {
  if (!Array.isArray(ports)) return [];
  const out = new Set<number>();
  for (const p of ports) if (isRecord(p) && typeof p.number === 'number') out.add(p.number);
  return [...out];
}

/**
 * Service hosts by scope: exact `scope/host` keys in one map, wildcard hosts by their `.suffix`,
 * and every `.suffix` of every host (to answer "does any service fall under `*.x`?").
 */
export class ServiceIndex {
  private readonly exact = new Map<string, ServiceInfo>();
  private readonly wildcards = new Map<string, { scope: string; info: ServiceInfo }[]>();
  private readonly anyExact = new Set<string>();
  private readonly anySuffix = new Set<string>();

  /**
   * @param serviceEntries ServiceEntries in creation order (the first declaration of a host wins).
   * @param known services from outside the networking resources.
   * @param invalid `Kind/namespace/name` of resources that failed validation: not indexed (not served).
   */
  constructor(
    serviceEntries: readonly Resource<'ServiceEntry'>[],
    known: readonly KnownService[],
    invalid: ReadonlySet<string>,
  ) {
    for (const se of serviceEntries) {
      if (invalid.has(resourceKey(se)) || !isRecord(se.spec)) continue;
      const ns = se.metadata.namespace;
      const ports = numbersOf(se.spec.ports);
      const scopes = exportScopes(se.spec.exportTo, ns);
      for (const h of Array.isArray(se.spec.hosts) ? se.spec.hosts : []) {
        // A `*` host fails Istio's validation: it is never served, so it never covers anything.
        if (typeof h !== 'string' || h === '' || h === '*') continue;
        this.add(resolveShortName(h, ns), scopes, { host: resolveShortName(h, ns), ports, se });
      }
    }
    for (const k of known) {
      const host = k.host.toLowerCase();
      this.add(host, exportScopes(k.exportTo, k.namespace), {
        host,
        ports: k.ports,
        se: undefined,
        endpointLabels: k.endpointLabels,
        source: k.source,
      });
    }
  }

  private add(host: string, scopes: readonly string[], info: ServiceInfo): void {
    this.anyExact.add(host);
    for (const s of dotSuffixes(host)) this.anySuffix.add(s);
    for (const scope of scopes) {
      if (host.startsWith('*')) {
        const suffix = host.slice(1);
        const l = this.wildcards.get(suffix);
        if (l) l.push({ scope, info });
        else this.wildcards.set(suffix, [{ scope, info }]);
      }
      const key = `${scope}/${host}`;
      if (!this.exact.has(key)) this.exact.set(key, info);
    }
  }

  /**
   * The service a VirtualService destination reaches (Istio `GetDestinationHost`): a host exported
   * to all, then one exported to the scopes the VirtualService looks in (its `exportTo`, or its own
   * namespace), then the most specific wildcard host visible to its namespace.
   * @param fqdn destination host after `resolveShortName` (routes/host-names.ts).
   */
  destination(fqdn: string, vsNamespace: string, vsExportTo: unknown): ServiceInfo | undefined {
    const all = this.exact.get(`${ALL_NAMESPACES}/${fqdn}`);
    if (all) return all;
    const exportTo = Array.isArray(vsExportTo) ? vsExportTo.filter((e) => typeof e === 'string') : [];
    const scopes = exportTo.length === 0 ? [vsNamespace] : exportTo.map((e) => (e === '.' ? vsNamespace : e));
    for (const scope of scopes) {
      const hit = this.exact.get(`${scope}/${fqdn}`);
      if (hit) return hit;
    }
    return this.wildcardFor(fqdn, vsNamespace);
  }

  /** The service for a host as seen from `namespace` (exact, else most specific wildcard). */
  visibleFrom(fqdn: string, namespace: string): ServiceInfo | undefined {
    return (
      this.exact.get(`${ALL_NAMESPACES}/${fqdn}`) ??
      this.exact.get(`${namespace}/${fqdn}`) ??
      this.wildcardFor(fqdn, namespace)
    );
  }

  private wildcardFor(fqdn: string, namespace: string): ServiceInfo | undefined {
    // Suffixes start after the first label: `*.a.com` covers `b.a.com`, never `a.com` itself.
    for (const suffix of dotSuffixes(fqdn)) {
      for (const w of this.wildcards.get(suffix) ?? []) {
        if (w.scope === ALL_NAMESPACES || w.scope === namespace) return w.info;
      }
    }
    return undefined;
  }

  /** Whether any service host (any scope) overlaps `fqdn`: equal, covered by it, or covering it. */
  anyOverlapping(fqdn: string): boolean {
    if (this.anyExact.has(fqdn)) return true;
    if (fqdn.startsWith('*') && this.anySuffix.has(fqdn.slice(1))) return true;
    for (const suffix of dotSuffixes(fqdn)) if (this.wildcards.has(suffix)) return true;
    return false;
  }
}

/** One DestinationRule host with its subset names. */
interface RuleInfo {
  readonly host: string;
  readonly dr: Resource<'DestinationRule'>;
  readonly subsets: ReadonlySet<string>;
}

/** DestinationRules by host (exact map, wildcard hosts by suffix), each with its export scopes. */
export class RuleIndex {
  private readonly exact = new MultiMap<{ scopes: readonly string[]; rule: RuleInfo }>();
  private readonly wildcards = new MultiMap<{ scopes: readonly string[]; rule: RuleInfo }>();

  constructor(rules: readonly Resource<'DestinationRule'>[], invalid: ReadonlySet<string>) {
    for (const dr of rules) {
      if (invalid.has(resourceKey(dr)) || !isRecord(dr.spec)) continue;
      const raw = dr.spec.host;
      if (typeof raw !== 'string' || raw === '') continue;
      const host = resolveShortName(raw, dr.metadata.namespace);
      const subsets = new Set<string>();
      for (const s of Array.isArray(dr.spec.subsets) ? dr.spec.subsets : [])
        if (isRecord(s) && typeof s.name === 'string') subsets.add(s.name);
      const entry = {
        scopes: exportScopes(dr.spec.exportTo, dr.metadata.namespace),
        rule: { host, dr, subsets },
      };
      if (host.startsWith('*')) this.wildcards.add(host.slice(1), entry);
      else this.exact.add(host, entry);
    }
  }

  /**
   * DestinationRules visible from `namespace` that apply to `fqdn`: those for the exact host, else
   * those of the most specific covering wildcard (several rules for one host merge, as Istio does).
   */
  rulesFor(fqdn: string, namespace: string): RuleInfo[] {
    const visible = (l: readonly { scopes: readonly string[]; rule: RuleInfo }[]) =>
      l.filter((e) => e.scopes.includes(ALL_NAMESPACES) || e.scopes.includes(namespace)).map((e) => e.rule);
    const exact = visible(this.exact.get(fqdn));
    if (exact.length > 0) return exact;
    for (const suffix of dotSuffixes(fqdn)) {
      const hit = visible(this.wildcards.get(suffix));
      if (hit.length > 0) return hit;
    }
    return [];
  }
}
