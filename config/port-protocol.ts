/**
 * The protocol of a Kubernetes Service port, inferred as Istio does (its "protocol selection"):
 * a UDP port is UDP; else `appProtocol` when Istio knows it; else the port name, whole or up to its
 * first `-` (`http`, `http-web`, `grpc-api`, `tcp-db`, `tls-x`, `https-x`, `mongo-x`, …), with
 * `grpc-web…` meaning gRPC-Web. Anything else is left to protocol sniffing (`undefined` here).
 */

/** Istio protocol names, lower-cased, → the upper-case form used in ServicePort.protocol. */
const KNOWN: ReadonlyMap<string, string> = new Map([
  ['http', 'HTTP'],
  ['http2', 'HTTP2'],
  ['https', 'HTTPS'],
  ['grpc', 'GRPC'],
  ['grpc-web', 'GRPC-WEB'],
  ['tcp', 'TCP'],
  ['tls', 'TLS'],
  ['udp', 'UDP'],
  ['mongo', 'Mongo'],
  ['redis', 'Redis'],
  ['mysql', 'MySQL'],
]);

/** Kubernetes' own `appProtocol` values (KEP-3726) and what Istio makes of them. */
const KUBERNETES_APP_PROTOCOLS: ReadonlyMap<string, string> = new Map([
  ['kubernetes.io/h2c', 'HTTP2'],
  ['kubernetes.io/ws', 'HTTP'],
  ['kubernetes.io/wss', 'HTTPS'],
]);

/**
 * Istio `kube.ConvertProtocol` for one Service port.
 * @param name `ports[].name` (may be empty for a single-port Service)
 * @param l4 `ports[].protocol` (`TCP` default, `UDP`, `SCTP`)
 * @param appProtocol `ports[].appProtocol`
 * @returns `HTTP`, `HTTP2`, `HTTPS`, `GRPC`, `GRPC-WEB`, `TCP`, `TLS`, `UDP`, `Mongo`, `Redis`,
 *   `MySQL`, or undefined when Istio would sniff the protocol.
 */
export function inferPortProtocol(
  name: string | undefined,
  l4: string | undefined,
  appProtocol: string | undefined,
): string | undefined {
  if (l4?.toUpperCase() === 'UDP') return 'UDP';
  if (appProtocol) {
    const app = appProtocol.toLowerCase();
    const p = KUBERNETES_APP_PROTOCOLS.get(app) ?? KNOWN.get(app);
    if (p) return p;
  }
  if (!name) return undefined;
  const n = name.toLowerCase();
  if (n === 'grpc-web' || n.startsWith('grpc-web-')) return 'GRPC-WEB';
  const dash = n.indexOf('-');
  return KNOWN.get(dash < 0 ? n : n.slice(0, dash));
}
