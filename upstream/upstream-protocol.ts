/**
 * Which HTTP version a cluster speaks to its endpoints, as Istio decides it: HTTP/2 when the
 * service port's protocol is `GRPC`, `GRPC-WEB` or `HTTP2` (or, with no protocol, the port name is
 * `grpc`, `grpc-*`, `http2` or `http2-*`, Istio's protocol selection by port name), or when the
 * DestinationRule asks `connectionPool.http.h2UpgradePolicy: UPGRADE` for an HTTP port; HTTP/1.1
 * otherwise. Pure; decided once per cluster.
 */
import type { Cluster } from '../config/cluster.js';

const H2_PROTOCOLS = new Set(['GRPC', 'GRPC-WEB', 'HTTP2']);

/** The service port's protocol as Istio reads it (explicit, else the port-name prefix), upper case. */
function servicePortProtocol(port: { readonly name?: string; readonly protocol?: string }): string {
  if (port.protocol) return port.protocol.toUpperCase();
  const name = (port.name ?? '').toLowerCase();
  const dash = name.indexOf('-');
  return (dash < 0 ? name : name.slice(0, dash)).toUpperCase();
}

/** Whether requests to this cluster go upstream over HTTP/2. */
export function upstreamSpeaksHttp2(cluster: Cluster): boolean {
  const protocol = servicePortProtocol(cluster.servicePort);
  if (H2_PROTOCOLS.has(protocol)) return true;
  const upgrade = cluster.policy.connectionPool?.http?.h2UpgradePolicy;
  return upgrade === 'UPGRADE' && (protocol === 'HTTP' || protocol === '');
}
