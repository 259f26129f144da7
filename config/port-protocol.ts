/**
 * The protocol of a Kubernetes Service port, inferred as Istio does (its "protocol selection",
 * `kube.ConvertProtocol`):
 *
 * 1. a `UDP` port is UDP;
 * 2. the name looked at is `appProtocol` when set (then the port name is not consulted), with
 *    Kubernetes' own values `kubernetes.io/h2c` → HTTP2, `kubernetes.io/ws` → HTTP,
 *    `kubernetes.io/wss` → HTTPS; else the port name;
 * 3. a name starting with `grpc-web` is gRPC-Web; otherwise the part before the first `-`
 *    (`http-web` → http) is matched against Istio's protocol names, ignoring case;
 * 4. an unknown name on a well-known port (25 SMTP, 53 DNS, 3306 MySQL, 27017 MongoDB) is TCP;
 *    anything else is left to protocol sniffing (`undefined` here).
 */

/** Istio protocol names (`protocol.Parse`), lower-cased → the form Istio prints. */
const PROTOCOLS: ReadonlyMap<string, string> = new Map([
  ['tcp', 'TCP'],
  ['udp', 'UDP'],
  ['grpc', 'GRPC'],
  ['grpc-web', 'GRPC-Web'],
  ['http', 'HTTP'],
  ['http_proxy', 'HTTP_PROXY'],
  ['http2', 'HTTP2'],
  ['https', 'HTTPS'],
  ['tls', 'TLS'],
  ['mongo', 'Mongo'],
  ['redis', 'Redis'],
  ['mysql', 'MySQL'],
]);

/** `appProtocol` values defined by Kubernetes itself. */
const KUBERNETES_APP_PROTOCOLS: ReadonlyMap<string, string> = new Map([
  ['kubernetes.io/h2c', 'HTTP2'],
  ['kubernetes.io/ws', 'HTTP'],
  ['kubernetes.io/wss', 'HTTPS'],
]);

/** Ports never sniffed: a server-first protocol would break (SMTP, DNS, MySQL, MongoDB). */
const WELL_KNOWN_TCP_PORTS: ReadonlySet<number> = new Set([25, 53, 3306, 27017]);

/**
 * Istio's protocol for one Service port.
 * @param port `ports[].port`
 * @param name `ports[].name` (may be empty for a single-port Service)
 * @param l4 `ports[].protocol` (`TCP` default, `UDP`, `SCTP`)
 * @param appProtocol `ports[].appProtocol`
 * @returns `HTTP`, `HTTP2`, `HTTPS`, `GRPC`, `GRPC-Web`, `HTTP_PROXY`, `TCP`, `TLS`, `UDP`, `Mongo`,
 *   `Redis`, `MySQL`; undefined when Istio would sniff the protocol.
 */
export function inferPortProtocol(
  port: number | undefined,
  name: string | undefined,
  l4: string | undefined,
  appProtocol: string | undefined,
): string | undefined {
  if (l4 === 'UDP') return 'UDP';
  let label = name ?? '';
  if (appProtocol !== undefined && appProtocol !== null) {
    label = appProtocol;
    const standard = KUBERNETES_APP_PROTOCOLS.get(label);
    if (standard) return standard;
  }
  const lower = label.toLowerCase();
  if (lower.startsWith('grpc-web')) return 'GRPC-Web';
  const dash = lower.indexOf('-');
  const known = PROTOCOLS.get(dash < 0 ? lower : lower.slice(0, dash));
  if (known) return known;
  return port !== undefined && WELL_KNOWN_TCP_PORTS.has(port) ? 'TCP' : undefined;
}
