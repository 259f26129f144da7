/**
 * Kubernetes objects for the Bookinfo tests, written for meshgate (not Istio's files) but carrying
 * the facts of Istio's `samples/bookinfo/platform/kube/bookinfo.yaml`: Services details, ratings,
 * reviews and productpage on port 9080 named `http` selecting `app: <service>`; a ServiceAccount
 * `bookinfo-<service>` and a Deployment `<service>-<version>` (labels `app`, `version`) per workload.
 * To these the tests add what the cluster would create: Pods (kubelet) and EndpointSlices (the
 * endpoint controller), pointing at 127.0.0.1 upstreams on ephemeral ports.
 */
import { bookinfoGateway, httpVirtualService } from './bookinfo-config.js';
import { flowMap, yamlDocuments } from './resources.js';

/** One Bookinfo workload: a Deployment `<service>-<version>`, and when `port` is given a running Pod on 127.0.0.1:port. */
export interface KubeWorkload {
  readonly service: string;
  readonly version: string;
  /** The loopback port its upstream listens on; no Pod when absent (a Deployment not yet scheduled). */
  readonly port?: number;
  /** The Pod's `Ready` condition (default true). */
  readonly ready?: boolean;
}

/** The services and versions of Istio's bookinfo.yaml. */
export const BOOKINFO_WORKLOADS: readonly { service: string; version: string }[] = [
  { service: 'details', version: 'v1' },
  { service: 'ratings', version: 'v1' },
  { service: 'reviews', version: 'v1' },
  { service: 'reviews', version: 'v2' },
  { service: 'reviews', version: 'v3' },
  { service: 'productpage', version: 'v1' },
];

/** A Service on port 9080 named `http`; `targetPort` 9080, or a container port name. */
export function kubeService(name: string, targetPort: number | string = 9080): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  labels: { app: ${name}, service: ${name} }
spec:
  ports:
  - { port: 9080, name: http, targetPort: ${targetPort} }
  selector: { app: ${name} }`;
}

/** ServiceAccount `bookinfo-<service>`. */
export function serviceAccount(service: string): string {
  return `apiVersion: v1
kind: ServiceAccount
metadata:
  name: bookinfo-${service}
  labels: { account: ${service} }`;
}

/** Deployment `<service>-<version>`: a template, not a Pod (meshgate reads no endpoints from it). */
export function deployment(w: KubeWorkload): string {
  const labels = flowMap({ app: w.service, version: w.version });
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${w.service}-${w.version}
  labels: ${labels}
spec:
  replicas: 1
  selector: { matchLabels: ${labels} }
  template:
    metadata: { labels: ${labels} }
    spec:
      serviceAccountName: bookinfo-${w.service}
      containers:
      - name: ${w.service}
        image: docker.io/istio/examples-bookinfo-${w.service}-${w.version}:1.20.3
        ports: [{ containerPort: 9080 }]`;
}

/** The Pod name kubelet would report for a workload (Deployment name, ReplicaSet hash, suffix). */
export function podName(w: KubeWorkload): string {
  return `${w.service}-${w.version}-5d8c7b9f4-x${w.version}`;
}

/** A scheduled Pod of the workload with IP 127.0.0.1; its container port `http` is the upstream's port. */
export function pod(w: KubeWorkload & { port: number }): string {
  const ready = w.ready === false ? 'False' : 'True';
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${podName(w)}
  labels: ${flowMap({ app: w.service, version: w.version, 'pod-template-hash': '5d8c7b9f4' })}
spec:
  containers:
  - name: ${w.service}
    ports: [{ name: http, containerPort: ${w.port} }]
status:
  phase: Running
  podIP: 127.0.0.1
  podIPs: [{ ip: 127.0.0.1 }]
  conditions:
  - { type: Ready, status: "${ready}" }
  - { type: ContainersReady, status: "${ready}" }`;
}

/** The EndpointSlice the endpoint controller would publish for one Pod of `w` (its own port, so its own slice). */
export function endpointSlice(w: KubeWorkload & { port: number }): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${w.service}-${w.version}-slice
  labels: { kubernetes.io/service-name: ${w.service}, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io }
addressType: IPv4
ports:
- { name: http, port: ${w.port}, protocol: TCP }
endpoints:
- addresses: [127.0.0.1]
  conditions: { ready: ${w.ready !== false}, serving: ${w.ready !== false}, terminating: false }
  targetRef: { kind: Pod, namespace: default, name: ${podName(w)} }`;
}

/**
 * bookinfo.yaml's objects (Services, ServiceAccounts, Deployments) plus, for every workload with a
 * port, its Pod and (unless `slices: false`) its EndpointSlice.
 * @returns YAML documents without separators (join with `yamlDocuments`).
 */
export function bookinfoKubeObjects(
  workloads: readonly KubeWorkload[],
  opts: { slices?: boolean; targetPort?: number | string } = {},
): string[] {
  const services = [...new Set(workloads.map((w) => w.service))];
  const docs: string[] = [];
  for (const service of services) {
    docs.push(kubeService(service, opts.targetPort), serviceAccount(service));
    for (const w of workloads.filter((x) => x.service === service)) docs.push(deployment(w));
  }
  for (const w of workloads) {
    if (w.port === undefined) continue;
    const running = { ...w, port: w.port };
    docs.push(pod(running));
    if (opts.slices !== false) docs.push(endpointSlice(running));
  }
  return docs;
}

/**
 * Istio's bookinfo-gateway.yaml facts: Gateway `bookinfo-gateway` (HTTP, any host, here on port
 * 8080) and VirtualService `bookinfo` sending /productpage and /static… to productpage:9080.
 */
export const BOOKINFO_GATEWAY = yamlDocuments(
  bookinfoGateway(8080),
  httpVirtualService({
    name: 'bookinfo',
    hosts: ['*'],
    gateways: ['bookinfo-gateway'],
    http: `  - match: [{ uri: { exact: /productpage } }, { uri: { prefix: /static } }]
    route: [{ destination: { host: productpage, port: { number: 9080 } } }]`,
  }),
);

/** destination-rule-all.yaml's facts: a subset per `version` label for every Bookinfo service. */
export const DESTINATION_RULE_ALL = [
  ['productpage', ['v1']],
  ['reviews', ['v1', 'v2', 'v3']],
  ['ratings', ['v1', 'v2', 'v2-mysql', 'v2-mysql-vm']],
  ['details', ['v1', 'v2']],
]
  .map(
    ([host, versions]) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${host as string} }
spec:
  host: ${host as string}
  subsets:
${(versions as string[]).map((v) => `  - { name: ${v}, labels: { version: ${v} } }`).join('\n')}`,
  )
  .join('\n---\n');
