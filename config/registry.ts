/**
 * The service registry: services and their endpoints from Kubernetes Services (with their
 * EndpointSlices, Endpoints or Pods; see `kube-services.ts`) and from ServiceEntries (and the
 * WorkloadEntries they select), the way Istio aggregates its Kubernetes and ServiceEntry registries.
 */
import { ofKind, type Resource } from './resources.js';
import type { RegistryEndpoint, Service, ServiceRegistry } from './service.js';
import type { KubeObject } from './kube-resources.js';
import { buildKubeServices } from './kube-services.js';
import { isWildcard, resolveShortName } from '../routes/host-names.js';
import { HostTable } from '../routes/host-table.js';

export type { RegistryEndpoint, Service, ServiceRegistry } from './service.js';

/**
 * Builds the registry from Kubernetes Services, then ServiceEntries (document order = creation
 * order). A host is served by the first declaration: a Kubernetes Service before any ServiceEntry
 * (Istio's aggregate registry lists the Kubernetes registry first), then the oldest ServiceEntry.
 * `resolution: DNS` or `NONE` without endpoints gets one endpoint per host whose address is the
 * host itself, resolved when a connection is made.
 *
 * @param objects Kubernetes core objects of the same input (Services, EndpointSlices, Endpoints, Pods).
 */
export function buildRegistry(
  resources: readonly Resource[],
  objects: readonly KubeObject[] = [],
): ServiceRegistry {
  const exact = new Map<string, Service>();
  for (const { service } of buildKubeServices(objects)) {
    if (!exact.has(service.hostname)) exact.set(service.hostname, service);
  }
  const wildcards: Service[] = [];
  const workloads = ofKind(resources, 'WorkloadEntry');
  for (const se of ofKind(resources, 'ServiceEntry')) {
    const spec = se.spec;
    const ns = se.metadata.namespace;
    const resolution = spec.resolution ?? 'NONE';
    let endpoints: RegistryEndpoint[] = (spec.endpoints ?? []).map((e) => ({
      address: e.address ?? '',
      ports: e.ports ?? {},
      labels: e.labels ?? {},
      weight: e.weight && e.weight > 0 ? e.weight : 1,
    }));
    const selector = spec.workloadSelector?.labels;
    if (selector) {
      endpoints = workloads
        .filter((w) => w.metadata.namespace === ns && labelsMatch(selector, w.spec.labels ?? {}))
        .map((w) => ({
          address: w.spec.address ?? '',
          ports: w.spec.ports ?? {},
          labels: w.spec.labels ?? {},
          weight: w.spec.weight && w.spec.weight > 0 ? w.spec.weight : 1,
        }));
    }
    for (const raw of spec.hosts ?? []) {
      const hostname = resolveShortName(raw, ns);
      const eps =
        endpoints.length === 0 &&
        (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') &&
        !isWildcard(hostname)
          ? [{ address: hostname, ports: {}, labels: {}, weight: 1 }]
          : endpoints;
      const svc: Service = {
        hostname,
        namespace: ns,
        ports: spec.ports ?? [],
        resolution,
        location: spec.location ?? 'MESH_EXTERNAL',
        endpoints: resolution === 'DNS_ROUND_ROBIN' ? eps.slice(0, 1) : eps,
        source: `ServiceEntry/${ns}/${se.metadata.name}`,
      };
      if (isWildcard(hostname)) wildcards.push(svc);
      else if (!exact.has(hostname)) exact.set(hostname, svc);
    }
  }
  // Most specific (longest) wildcard first.
  wildcards.sort((a, b) => b.hostname.length - a.hostname.length);
  const services = [...exact.values(), ...wildcards];
  const byHost = new HostTable<Service>();
  for (const svc of services) byHost.add(svc.hostname, svc);
  return {
    services,
    lookup(fqdn: string): Service | undefined {
      return byHost.lookup(fqdn);
    },
  };
}

/** True when every selector label is present with the same value (Kubernetes equality selector). */
export function labelsMatch(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}
