/**
 * Building blocks for the Bookinfo YAML the integration tests load: the ingress Gateway, STATIC
 * ServiceEntries on loopback upstreams and subset DestinationRules. Each function returns one YAML
 * document (no `---` separator); join them with {@link yamlDocuments}.
 */

/** One endpoint of a STATIC ServiceEntry on 127.0.0.1 (the shared builder's endpoint). */
export type StaticEndpoint = LocalEndpoint;

/** Subsets `v1` and `v2` selecting `version: v1` / `version: v2`, as in the Bookinfo sample. */
export const VERSION_SUBSETS: Readonly<Record<string, string>> = { v1: 'v1', v2: 'v2' };

/** Joins YAML documents (one implementation for every test helper). */
export { yamlDocuments } from './resources.js';
import { HTTP_9080, localServiceEntryYaml, type LocalEndpoint } from './resources.js';

/**
 * The Bookinfo ingress Gateway `bookinfo-gateway` (selector `istio: ingressgateway`): one plain HTTP
 * server for every host.
 *
 * @param port - The server port number (map it to an ephemeral port in tests).
 * @param apiVersion - The resource's apiVersion; `networking.istio.io/v1` unless given.
 * @returns The Gateway YAML document.
 */
export function bookinfoGateway(port: number, apiVersion = 'networking.istio.io/v1'): string {
  return `apiVersion: ${apiVersion}
kind: Gateway
metadata: { name: bookinfo-gateway }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${port}, name: http, protocol: HTTP }
    hosts: ["*"]`;
}

/** `{ k1: v1, k2: v2 }` as a YAML flow mapping, in insertion order. */

/**
 * A MESH_INTERNAL, STATIC ServiceEntry named after its host, with port 9080 (`http`, HTTP) and
 * endpoints on 127.0.0.1.
 *
 * @param host - The service host, also the resource name (e.g. `reviews`).
 * @param endpoints - One entry per workload: its loopback port and optional labels.
 * @returns The ServiceEntry YAML document.
 */
export function staticServiceEntry(host: string, endpoints: readonly StaticEndpoint[]): string {
  return localServiceEntryYaml(host, HTTP_9080, endpoints);
}

/**
 * Endpoints labelled by version, e.g. `{ v1: 8001, v2: 8002 }` → `version: v1` on 8001 and
 * `version: v2` on 8002.
 *
 * @param ports - Loopback port by version label value, in endpoint order.
 * @param app - When given, an `app` label (before `version`) on every endpoint.
 * @returns The endpoints, for {@link staticServiceEntry}.
 */
export function versionedEndpoints(ports: Readonly<Record<string, number>>, app?: string): StaticEndpoint[] {
  return Object.entries(ports).map(([version, port]): StaticEndpoint => {
    const labels: Record<string, string> = app ? { app, version } : { version };
    return { port, labels };
  });
}

/**
 * A DestinationRule named after its host whose subsets select workloads by `version` label.
 *
 * @param host - The destination host, also the resource name (e.g. `reviews`).
 * @param subsets - The `version` label value by subset name, in order; {@link VERSION_SUBSETS}
 *   unless given.
 * @returns The DestinationRule YAML document.
 */
export function subsetDestinationRule(
  host: string,
  subsets: Readonly<Record<string, string>> = VERSION_SUBSETS,
): string {
  const lines = Object.entries(subsets).map(
    ([name, version]) => `  - { name: ${name}, labels: { version: ${version} } }`,
  );
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${host} }
spec:
  host: ${host}
  subsets:
${lines.join('\n')}`;
}

/**
 * The `http` route rule sending requests with header `end-user: jason` to subset v2 of `reviews`
 * (Bookinfo's request-routing task), indented as an entry of a VirtualService's `http` list.
 */
export const JASON_TO_REVIEWS_V2 = `  - match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: reviews, subset: v2 } }]`;

/**
 * A VirtualService with HTTP route rules.
 *
 * @param vs - `name`; `hosts` it applies to; `gateways` it is bound to (none: the mesh); `http`, the
 *   rules as YAML list entries indented by two spaces (e.g. {@link JASON_TO_REVIEWS_V2}); and
 *   `apiVersion`, `networking.istio.io/v1` unless given.
 * @returns The VirtualService YAML document.
 */
export function httpVirtualService(vs: {
  name: string;
  hosts: readonly string[];
  gateways?: readonly string[];
  http: string;
  apiVersion?: string;
}): string {
  const gateways = vs.gateways ? `\n  gateways: [${vs.gateways.join(', ')}]` : '';
  return `apiVersion: ${vs.apiVersion ?? 'networking.istio.io/v1'}
kind: VirtualService
metadata: { name: ${vs.name} }
spec:
  hosts: ${JSON.stringify(vs.hosts)}${gateways}
  http:
${vs.http.replace(/^\n+|\s+$/g, '')}`;
}
