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
