/** Builds typed resources in code for pure compile tests (no files, no loader). */
import type { Kind, Resource, SpecByKind } from '../../config/resources.js';

let doc = 0;

export function res<K extends Kind>(
  kind: K,
  name: string,
  spec: SpecByKind[K],
  namespace = 'default',
): Resource<K> {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind,
    metadata: { name, namespace },
    spec,
    source: { file: 'test.yaml', docIndex: doc++, line: 1 },
  };
}

/** A STATIC ServiceEntry with one endpoint per version label. */
export function serviceEntry(
  host: string,
  port: number,
  endpoints: { version?: string; port: number }[],
  namespace = 'default',
) {
  return res(
    'ServiceEntry',
    host,
    {
      hosts: [host],
      ports: [{ number: port, name: 'http', protocol: 'HTTP' }],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      endpoints: endpoints.map((e) => ({
        address: '127.0.0.1',
        ports: { http: e.port },
        labels: e.version ? { app: host, version: e.version } : ({ app: host } as Record<string, string>),
      })),
    },
    namespace,
  );
}

/** Gateway `gw`: one plain HTTP server on port 80 for every host (map it with `--port-map 80=0`). */
export const HTTP_GATEWAY_GW = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]`;

/**
 * Joins YAML documents into one multi-document config text (as `startGateway` takes).
 * @param docs YAML documents, each without a `---` separator, starting unindented.
 * @returns the documents separated by `---` lines, ending with a newline.
 */
export function yamlDocuments(...docs: string[]): string {
  return `${docs.map((d) => d.trim()).join('\n---\n')}\n`;
}

/** A flow-style YAML map, e.g. `{ app: reviews, version: v1 }` (plain scalars only). */
export function flowMap(entries: Readonly<Record<string, string | number>>): string {
  return `{ ${Object.entries(entries)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')} }`;
}

/**
 * One `networking.istio.io/v1` resource document named `name` (in the default namespace).
 * @param specLines the lines under `spec:`, without their two-space indent.
 * @returns the YAML text, ending with a newline.
 */
export function istioResourceYaml(kind: string, name: string, specLines: readonly string[]): string {
  return [
    'apiVersion: networking.istio.io/v1',
    `kind: ${kind}`,
    `metadata: { name: ${name} }`,
    'spec:',
    ...specLines.map((l) => `  ${l}`),
    '',
  ].join('\n');
}

/** The service port of a ServiceEntry. */
export interface ServicePort {
  number: number;
  /** Also the key of each endpoint's `ports` map. */
  name: string;
  protocol: 'HTTP' | 'HTTPS' | 'TLS' | 'TCP' | 'HTTP2' | 'GRPC';
}

/** An endpoint of a STATIC ServiceEntry on 127.0.0.1. */
export interface LocalEndpoint {
  /** The local TCP port the workload listens on. */
  port: number;
  /** Load-balancing weight (Istio `WorkloadEntry.weight`); none when omitted. */
  weight?: number;
  labels?: Readonly<Record<string, string>>;
}

/** Port 9080 `http` (HTTP), as Bookinfo's services use. */
export const HTTP_9080: ServicePort = { number: 9080, name: 'http', protocol: 'HTTP' };

/** A gRPC service port: the gateway speaks HTTP/2 (h2c) to its endpoints. */
export const GRPC_9000: ServicePort = { number: 9000, name: 'grpc', protocol: 'GRPC' };

/** An HTTP/2 service port (h2c upstream). */
export const HTTP2_8080: ServicePort = { number: 8080, name: 'http2', protocol: 'HTTP2' };

/**
 * A MESH_INTERNAL, STATIC ServiceEntry named and addressed as `host`, with one service port whose
 * endpoints are workloads on 127.0.0.1. The one ServiceEntry builder of the YAML-based tests.
 * @param endpoints the workloads' local ports (a bare number for a single unlabelled endpoint).
 * @returns one YAML document.
 */
export function localServiceEntryYaml(
  host: string,
  port: ServicePort,
  endpoints: number | readonly LocalEndpoint[],
): string {
  const list: readonly LocalEndpoint[] = typeof endpoints === 'number' ? [{ port: endpoints }] : endpoints;
  return istioResourceYaml('ServiceEntry', host, [
    `hosts: [${host}]`,
    'location: MESH_INTERNAL',
    'resolution: STATIC',
    `ports: [${flowMap({ number: port.number, name: port.name, protocol: port.protocol })}]`,
    'endpoints:',
    ...list.map(
      (e) =>
        `- { address: 127.0.0.1, ports: ${flowMap({ [port.name]: e.port })}` +
        `${e.weight === undefined ? '' : `, weight: ${e.weight}`}` +
        `${e.labels ? `, labels: ${flowMap(e.labels)}` : ''} }`,
    ),
  ]);
}

/** Destination of the `backend` service of {@link backendGatewayYaml}, for `route:` lines. */
export const BACKEND_DESTINATION = '{ host: backend, port: { number: 8080 } }';

/**
 * A whole config: Gateway `gw` (HTTP on 80, every host), VirtualService `name` bound to it for every
 * host, and a `backend` ServiceEntry (port 8080 `http`) whose one endpoint listens on `upstream`.
 * @param httpLines the VirtualService's `http:` list, one YAML line each, unindented (`- match: ...`).
 */
export function backendGatewayYaml(name: string, httpLines: readonly string[], upstream: number): string {
  return yamlDocuments(
    HTTP_GATEWAY_GW,
    istioResourceYaml('VirtualService', name, ['hosts: ["*"]', 'gateways: [gw]', 'http:', ...httpLines]),
    localServiceEntryYaml('backend', { number: 8080, name: 'http', protocol: 'HTTP' }, upstream),
  );
}
