/**
 * Typed shapes of the Kubernetes core objects meshgate reads next to Istio's: Services and what
 * backs them (EndpointSlices, Endpoints, Pods), Secrets (TLS credentials) and Namespaces. They come
 * from `-f` files (`kubectl apply -f bookinfo.yaml`) or from the API server, with the same shape.
 *
 * Only the fields meshgate uses are typed, all optional: these objects are not schema-validated
 * (the API server already did, or `kubectl apply` would), so every reader treats them defensively.
 */
import type { ObjectMeta, Provenance } from './resources.js';

/** `Service.spec.ports[]` (core/v1 ServicePort). */
interface KubeServicePort {
  name?: string;
  /** `TCP` (default), `UDP`, `SCTP`. */
  protocol?: string;
  /** Kubernetes' hint for the application protocol (`http`, `kubernetes.io/h2c`, …); wins over the port name. */
  appProtocol?: string;
  port?: number;
  /** Container port number or name; default: `port`. */
  targetPort?: number | string;
}

interface KubeServiceSpec {
  selector?: Record<string, string>;
  ports?: KubeServicePort[];
  /** `ClusterIP` (default), `NodePort`, `LoadBalancer`, `ExternalName`. */
  type?: string;
  clusterIP?: string;
  externalName?: string;
}

/** discovery.k8s.io/v1 `EndpointSlice.endpoints[]`. */
interface KubeSliceEndpoint {
  addresses?: string[];
  /** `ready` unset means ready (Kubernetes: "consumers should interpret this as ready"). */
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
  targetRef?: KubeObjectReference;
}

export interface KubeObjectReference {
  kind?: string;
  name?: string;
  namespace?: string;
}

/** `EndpointSlice.ports[]` / `Endpoints.subsets[].ports[]`: the target port per Service port name. */
export interface KubeEndpointPort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

/** core/v1 `Endpoints.subsets[]`. */
interface KubeEndpointSubset {
  addresses?: { ip?: string; targetRef?: KubeObjectReference }[];
  notReadyAddresses?: { ip?: string; targetRef?: KubeObjectReference }[];
  ports?: KubeEndpointPort[];
}

interface KubeContainer {
  name?: string;
  ports?: { name?: string; containerPort?: number; protocol?: string }[];
}

interface KubePodSpec {
  containers?: KubeContainer[];
}

interface KubePodStatus {
  /** `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`. */
  phase?: string;
  podIP?: string;
  podIPs?: { ip?: string }[];
  conditions?: { type?: string; status?: string }[];
}

interface KubeBase<K extends string> {
  readonly apiVersion: string;
  readonly kind: K;
  /** `namespace` always filled in (`''` for the cluster-scoped Namespace). */
  readonly metadata: ObjectMeta & { namespace: string; resourceVersion?: string; deletionTimestamp?: string };
  readonly source: Provenance;
}

export interface KubeService extends KubeBase<'Service'> {
  readonly spec: KubeServiceSpec;
}
interface KubeEndpointSlice extends KubeBase<'EndpointSlice'> {
  /** `IPv4`, `IPv6` or `FQDN`. */
  readonly addressType?: string;
  readonly endpoints?: KubeSliceEndpoint[];
  readonly ports?: KubeEndpointPort[];
}
interface KubeEndpoints extends KubeBase<'Endpoints'> {
  readonly subsets?: KubeEndpointSubset[];
}
export interface KubePod extends KubeBase<'Pod'> {
  readonly spec?: KubePodSpec;
  readonly status?: KubePodStatus;
}
export interface KubeSecret extends KubeBase<'Secret'> {
  /** `kubernetes.io/tls`, `Opaque`, … */
  readonly type?: string;
  /** Base64 values. */
  readonly data?: Record<string, string>;
  /** Plain-text values (write-only in the API; `kubectl apply` merges them into `data`). */
  readonly stringData?: Record<string, string>;
}
type KubeNamespace = KubeBase<'Namespace'>;

/** A Kubernetes core object meshgate reads. */
export type KubeObject =
  KubeService | KubeEndpointSlice | KubeEndpoints | KubePod | KubeSecret | KubeNamespace;

export type KubeKind = KubeObject['kind'];

/** The one apiVersion served per core kind (what `kubectl` and the API server use today). */
export const KUBE_API_VERSIONS: Readonly<Record<KubeKind, string>> = {
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Endpoints: 'v1',
  Pod: 'v1',
  Secret: 'v1',
  Namespace: 'v1',
};

/** Whether `kind` is one of the core kinds of {@link KUBE_API_VERSIONS}. */
export function isKubeKind(kind: string): kind is KubeKind {
  return Object.hasOwn(KUBE_API_VERSIONS, kind);
}

/** `Kind/namespace/name` (`Namespace/name` for namespaces), as in diagnostics. */
export function kubeKey(o: Pick<KubeObject, 'kind' | 'metadata'>): string {
  return o.metadata.namespace === ''
    ? `${o.kind}/${o.metadata.name}`
    : `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
}

/** Narrows to one kind, keeping input order. */
export function ofKubeKind<K extends KubeKind>(
  objects: readonly KubeObject[],
  kind: K,
): Extract<KubeObject, { kind: K }>[] {
  return objects.filter((o): o is Extract<KubeObject, { kind: K }> => o.kind === kind);
}

/** `<name>.<namespace>.svc.cluster.local`: the host a Service is known by. */
export function serviceHostname(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.cluster.local`;
}

/** The label an EndpointSlice names its Service with (`kubernetes.io/service-name`). */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
