/**
 * Istio port protocols (`Server.port.protocol`, `ServicePort.protocol`, upper-cased) grouped by how
 * a listener treats their bytes. One list, shared by the gateway listeners and the mesh listener.
 */

/** Protocols served by the HTTP connection manager (Istio `Protocol.IsHTTP`, plus `HTTP_PROXY`). */
export const HTTP_PROTOCOLS: ReadonlySet<string> = new Set([
  'HTTP',
  'HTTP2',
  'GRPC',
  'GRPC-WEB',
  'HTTP_PROXY',
]);

/** Protocols whose listener reads a ClientHello first (terminated or passed through by SNI). */
export const TLS_PROTOCOLS: ReadonlySet<string> = new Set(['HTTPS', 'TLS']);
