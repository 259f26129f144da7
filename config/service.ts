/**
 * The registry's model types: a service (one Kubernetes Service or one ServiceEntry host) and its
 * endpoints. Kept apart from `registry.ts` so the builders of each kind of service can share them
 * without importing the registry.
 */
import type { ServicePort } from './resources.js';

/** One workload instance behind a service. */
export interface RegistryEndpoint {
  /** IP or DNS name (DNS names are resolved at connect time). */
  readonly address: string;
  /** Port number per ServiceEntry port name (`endpoints[].ports`); missing names use the port's targetPort/number. */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  /** Relative load-balancing weight (`endpoints[].weight`), default 1. */
  readonly weight: number;
}

/** A service: one Kubernetes Service, or one ServiceEntry host. */
export interface Service {
  /** Fully qualified host, e.g. `reviews.default.svc.cluster.local` or `httpbin.org`. */
  readonly hostname: string;
  /** Namespace of the Service or ServiceEntry that declared it. */
  readonly namespace: string;
  readonly ports: readonly ServicePort[];
  readonly resolution: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'DYNAMIC_DNS';
  readonly location: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  readonly endpoints: readonly RegistryEndpoint[];
  /** `Service/ns/name` or `ServiceEntry/ns/name` that declared it. */
  readonly source: string;
}

/** Read-only lookups over the services of one snapshot. */
export interface ServiceRegistry {
  /** Exact host first, then the most specific wildcard ServiceEntry host covering it. */
  lookup(fqdn: string): Service | undefined;
  readonly services: readonly Service[];
}
