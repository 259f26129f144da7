/**
 * Kubernetes Services as registry services (Istio's Kubernetes service registry): a Service
 * `name` in `ns` is the host `name.ns.svc.cluster.local`; its endpoints come from, in order of
 * preference:
 *
 * 1. its EndpointSlices (`kubernetes.io/service-name` label; ready endpoints only), as Istio reads them;
 * 2. else its Endpoints object (same name; `addresses`, not `notReadyAddresses`);
 * 3. else the Pods in the input its selector matches (Running and Ready, with a pod IP): what the
 *    endpoint controller would publish for them, so a file with Services and Pods needs no slices.
 *
 * Endpoint labels are those of the Pod an address points to (`targetRef`), which is what subsets
 * select on. A Service with none of these has no endpoints: requests get 503 UH, as Envoy answers
 * with no healthy upstream.
 */
import {
  ofKubeKind,
  serviceHostname,
  SERVICE_NAME_LABEL,
  type KubeEndpointPort,
  type KubeObject,
  type KubeObjectReference,
  type KubePod,
  type KubeService,
} from './kube-resources.js';
import { inferPortProtocol } from './port-protocol.js';
import type { ServicePort } from './resources.js';
import type { RegistryEndpoint, Service } from './service.js';

/** Where a Kubernetes service's endpoints came from (see the module comment). */
type EndpointOrigin = 'EndpointSlice' | 'Endpoints' | 'Pod' | 'none';

/** One Service converted, with the Kubernetes facts analysis needs. */
export interface KubeRegistryService {
  readonly service: Service;
  readonly object: KubeService;
  readonly endpointOrigin: EndpointOrigin;
}

/** Pods by `namespace/name`, for `targetRef` lookups. */
type PodIndex = ReadonlyMap<string, KubePod>;

/**
 * Converts every Service in `objects` (input order). Pure; never throws (every field is read
 * defensively).
 */
export function buildKubeServices(objects: readonly KubeObject[]): KubeRegistryService[] {
  const pods: PodIndex = new Map(
    ofKubeKind(objects, 'Pod').map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]),
  );
  const slicesByService = new Map<string, ReturnType<typeof ofKubeKind<'EndpointSlice'>>>();
  for (const slice of ofKubeKind(objects, 'EndpointSlice')) {
    const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (typeof svc !== 'string') continue;
    const key = `${slice.metadata.namespace}/${svc}`;
    const list = slicesByService.get(key) ?? [];
    list.push(slice);
    slicesByService.set(key, list);
  }
  const endpointsByService = new Map(
    ofKubeKind(objects, 'Endpoints').map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]),
  );

  const out: KubeRegistryService[] = [];
  for (const object of ofKubeKind(objects, 'Service')) {
    const ns = object.metadata.namespace;
    const key = `${ns}/${object.metadata.name}`;
    const spec = isObject(object.spec) ? object.spec : {};
    const kubePorts = array(spec.ports).filter(isObject);
    const ports: ServicePort[] = kubePorts
      .filter((p) => typeof p.port === 'number')
      .map((p) => ({
        number: p.port!,
        name: portName(p.name),
        protocol: inferPortProtocol(p.port, str(p.name), str(p.protocol), str(p.appProtocol)),
        ...(typeof p.targetPort === 'number' ? { targetPort: p.targetPort } : {}),
      }));
    let endpointOrigin: EndpointOrigin = 'none';
    let endpoints: RegistryEndpoint[] = [];
    const slices = slicesByService.get(key);
    const legacy = endpointsByService.get(key);
    if (spec.type === 'ExternalName' && typeof spec.externalName === 'string') {
      // Istio serves an ExternalName Service as a DNS service whose one endpoint is the external name.
      endpoints = [{ address: spec.externalName, ports: {}, labels: {}, weight: 1 }];
    } else if (slices) {
      endpointOrigin = 'EndpointSlice';
      endpoints = slices.flatMap((s) =>
        s.addressType === 'FQDN'
          ? []
          : array(s.endpoints)
              .filter(isObject)
              .filter((e) => !isObject(e.conditions) || e.conditions.ready !== false)
              .flatMap((e) => addressEndpoints(e.addresses, e.targetRef, s.ports, ns, pods)),
      );
    } else if (legacy) {
      endpointOrigin = 'Endpoints';
      endpoints = array(legacy.subsets)
        .filter(isObject)
        .flatMap((sub) =>
          array(sub.addresses)
            .filter(isObject)
            .flatMap((a) => addressEndpoints([a.ip], a.targetRef, sub.ports, ns, pods)),
        );
    } else if (isObject(spec.selector) && Object.keys(spec.selector).length > 0) {
      const selector = spec.selector;
      const selected = [...pods.values()].filter(
        (p) => p.metadata.namespace === ns && selects(selector, p.metadata.labels) && podReady(p),
      );
      if (selected.length > 0) endpointOrigin = 'Pod';
      endpoints = selected.flatMap((p) => {
        const targets = kubePorts.map(
          (sp) => [portName(sp.name), containerPort(p, sp.targetPort ?? sp.port)] as const,
        );
        // A named targetPort the Pod does not declare: the endpoint controller leaves the Pod out.
        if (targets.some(([, port]) => port === undefined)) return [];
        return [
          {
            address: podIp(p)!,
            ports: Object.fromEntries(targets) as Record<string, number>,
            labels: { ...(p.metadata.labels ?? {}) },
            weight: 1,
          },
        ];
      });
    }
    out.push({
      object,
      endpointOrigin,
      service: {
        hostname: serviceHostname(object.metadata.name, ns),
        namespace: ns,
        ports,
        resolution: spec.type === 'ExternalName' ? 'DNS' : 'STATIC',
        location: 'MESH_INTERNAL',
        endpoints,
        source: `Service/${ns}/${object.metadata.name}`,
      },
    });
  }
  return out;
}

/** One registry endpoint per address, with the Pod's labels and the target port per Service port name. */
function addressEndpoints(
  addresses: unknown,
  targetRef: KubeObjectReference | undefined,
  ports: unknown,
  namespace: string,
  pods: PodIndex,
): RegistryEndpoint[] {
  const pod =
    isObject(targetRef) && targetRef.kind === 'Pod' && typeof targetRef.name === 'string'
      ? pods.get(`${targetRef.namespace ?? namespace}/${targetRef.name}`)
      : undefined;
  const byName: Record<string, number> = {};
  for (const p of array(ports as KubeEndpointPort[] | undefined)) {
    if (isObject(p) && typeof p.port === 'number') byName[portName(p.name)] = p.port;
  }
  return array(addresses as unknown[] | undefined)
    .filter((a): a is string => typeof a === 'string' && a !== '')
    .map((address) => ({ address, ports: byName, labels: { ...(pod?.metadata.labels ?? {}) }, weight: 1 }));
}

/**
 * Whether the endpoint controller would publish this Pod as ready: not being deleted, has an IP, and
 * its `Ready` condition is `True` (a Pod written without conditions counts as ready when `Running`).
 */
function podReady(p: KubePod): boolean {
  if (p.metadata.deletionTimestamp || !podIp(p)) return false;
  const status = isObject(p.status) ? p.status : {};
  const ready = array(status.conditions).find((c) => isObject(c) && c.type === 'Ready');
  if (isObject(ready)) return ready.status === 'True';
  return status.phase === 'Running';
}

function podIp(p: KubePod): string | undefined {
  const status = isObject(p.status) ? p.status : {};
  if (typeof status.podIP === 'string' && status.podIP !== '') return status.podIP;
  const first = array(status.podIPs).find((x) => isObject(x) && typeof x.ip === 'string');
  return isObject(first) ? first.ip : undefined;
}

/**
 * A Service `targetPort` resolved against the Pod: a number as is, a name via the containers'
 * ports; undefined when the Pod has no such port.
 */
function containerPort(p: KubePod, target: number | string | undefined): number | undefined {
  if (typeof target === 'number') return target;
  for (const c of array(isObject(p.spec) ? p.spec.containers : undefined)) {
    if (!isObject(c)) continue;
    for (const port of array(c.ports)) {
      if (isObject(port) && port.name === target && typeof port.containerPort === 'number') {
        return port.containerPort;
      }
    }
  }
  return undefined;
}

function selects(selector: Record<string, unknown>, labels: Record<string, unknown> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** A port's name as the key endpoints use for it (`''` for an unnamed single port). */
function portName(name: unknown): string {
  return typeof name === 'string' ? name : '';
}

function str(x: unknown): string | undefined {
  return typeof x === 'string' ? x : undefined;
}

/** The array, or none when absent or not an array (these objects are not schema-checked). */
function array<T>(x: readonly T[] | undefined): T[] {
  return Array.isArray(x) ? (x as T[]) : [];
}

function isObject<T>(x: T): x is NonNullable<T> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
