/**
 * The Kubernetes kinds the `kubernetes` source lists and watches, with their API paths and the
 * `@kubernetes/client-node` list call for each: the Istio networking kinds (served as v1 by Istio
 * 1.22+, v1beta1 before) and the core kinds a gateway needs to find endpoints and certificates.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';

/** One kind as the source watches it. */
export interface WatchedKind {
  readonly kind: string;
  /** API group; '' for the core group. */
  readonly group: string;
  /** Resource name in URLs (`virtualservices`). */
  readonly plural: string;
  /**
   * Versions in order of preference; the first the server serves is used (Istio kinds: `v1`,
   * else `v1beta1`, which every Istio since 1.5 serves).
   */
  readonly versions: readonly string[];
}

/** API group of the Istio networking kinds. */
export const ISTIO_GROUP = 'networking.istio.io';

/** The Istio networking kinds a gateway reads (Istio's gateway reads the same five). */
export const ISTIO_KINDS: readonly WatchedKind[] = (
  [
    ['Gateway', 'gateways'],
    ['VirtualService', 'virtualservices'],
    ['DestinationRule', 'destinationrules'],
    ['ServiceEntry', 'serviceentries'],
    ['WorkloadEntry', 'workloadentries'],
  ] as const
).map(([kind, plural]) => ({ kind, plural, group: ISTIO_GROUP, versions: ['v1', 'v1beta1'] }));

/** core/v1 Services: the hosts `name.ns.svc.cluster.local`. */
export const SERVICE: WatchedKind = { kind: 'Service', group: '', plural: 'services', versions: ['v1'] };
/** core/v1 Pods: endpoint labels (what subsets select). */
export const POD: WatchedKind = { kind: 'Pod', group: '', plural: 'pods', versions: ['v1'] };
/** core/v1 Secrets: `credentialName` TLS material (gateway namespace only). */
export const SECRET: WatchedKind = { kind: 'Secret', group: '', plural: 'secrets', versions: ['v1'] };
/** discovery.k8s.io/v1 EndpointSlices: a Service's ready endpoints and target ports. */
export const ENDPOINT_SLICE: WatchedKind = {
  kind: 'EndpointSlice',
  group: 'discovery.k8s.io',
  plural: 'endpointslices',
  versions: ['v1'],
};

/** `v1` or `group/version`. */
export function apiVersionOf(kind: WatchedKind, version: string): string {
  return kind.group ? `${kind.group}/${version}` : version;
}

/** The collection path for list and watch: `/api/v1[/namespaces/ns]/pods`, `/apis/g/v[/namespaces/ns]/x`. */
export function collectionPath(kind: WatchedKind, version: string, namespace: string | undefined): string {
  const base = kind.group ? `/apis/${kind.group}/${version}` : `/api/${version}`;
  return `${base}${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${kind.plural}`;
}

/** Lists one collection; items carry `apiVersion` and `kind` and are plain JSON. */
export type ListFn = () => Promise<KubernetesListObject<KubernetesObject>>;

/**
 * The list call of client-node's typed API for `kind` at `version` in `namespace` (all namespaces
 * when undefined). Typed results (core, discovery) are turned back into plain JSON with
 * `apiVersion`/`kind` set on every item, so list and watch deliver the same shape (the API server
 * omits them on items of typed lists, and the typed models hold `Date`s).
 * @throws Error when the kind has no list call here.
 */
export function listFunction(
  kc: KubeConfig,
  kind: WatchedKind,
  version: string,
  namespace: string | undefined,
): ListFn {
  const apiVersion = apiVersionOf(kind, version);
  const plain = (list: unknown): KubernetesListObject<KubernetesObject> => {
    const l = JSON.parse(JSON.stringify(list)) as KubernetesListObject<KubernetesObject>;
    l.items = (l.items ?? []).map((i) => ({ ...i, apiVersion, kind: kind.kind }));
    return l;
  };
  if (kind.group === ISTIO_GROUP) {
    const api = kc.makeApiClient(CustomObjectsApi);
    const base = { group: kind.group, version, plural: kind.plural };
    return async () =>
      plain(
        namespace
          ? await api.listNamespacedCustomObject({ ...base, namespace })
          : await api.listClusterCustomObject(base),
      );
  }
  if (kind === ENDPOINT_SLICE) {
    const api = kc.makeApiClient(DiscoveryV1Api);
    return async () =>
      plain(
        namespace
          ? await api.listNamespacedEndpointSlice({ namespace })
          : await api.listEndpointSliceForAllNamespaces(),
      );
  }
  const core = kc.makeApiClient(CoreV1Api);
  switch (kind.kind) {
    case 'Service':
      return async () =>
        plain(
          namespace
            ? await core.listNamespacedService({ namespace })
            : await core.listServiceForAllNamespaces(),
        );
    case 'Pod':
      return async () =>
        plain(namespace ? await core.listNamespacedPod({ namespace }) : await core.listPodForAllNamespaces());
    case 'Secret':
      return async () =>
        plain(
          namespace
            ? await core.listNamespacedSecret({ namespace })
            : await core.listSecretForAllNamespaces(),
        );
    default:
      throw new Error(`no list call for ${kind.kind}`);
  }
}
