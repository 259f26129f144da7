/**
 * The listeners of a snapshot: what a compiled Gateway port or the mesh listener looks like to the
 * data path. Model types only; the builders are in `compile/` and `snapshot.ts` assembles them.
 */
import type { BoundServer } from './bound-server.js';
import type { Server } from './resources.js';
import type { MeshOutbound } from './mesh-listener.js';
import { HTTP_PROTOCOLS, TLS_PROTOCOLS } from './protocols.js';
import type { FilterChainTable } from '../routes/filter-chains.js';
import type { RouteConfiguration } from '../routes/route-table.js';

/** How a listener treats its bytes, decided by the first server on the port. */
export type ListenerKind = 'HTTP' | 'TLS' | 'TCP';

/** One listener per (bind address, server port), as Istio merges Gateway servers (`mergeGateways`). */
export interface Listener {
  /** `0.0.0.0_80`, Istio's listener name (address and server port). */
  readonly name: string;
  readonly address: string;
  /** The Gateway server `port.number`. */
  readonly port: number;
  /** The local port actually bound (`--port-map`), same as `port` when unmapped. */
  readonly bindPort: number;
  readonly kind: ListenerKind;
  /** Upper-case protocol of the first server (`HTTP`, `HTTPS`, `TCP`, ...). */
  readonly protocol: string;
  /** Gateways (`ns/name`) whose servers this listener serves. */
  readonly gateways: readonly string[];
  readonly servers: readonly BoundServer[];
  /** Plaintext HTTP route table (`http.<port>`); undefined for TLS/TCP listeners. */
  readonly routeConfig: RouteConfiguration | undefined;
  /**
   * TLS and TCP listeners: the Envoy filter chains (terminating HTTPS, TLS passthrough by SNI, TCP
   * proxy) built by `compile/l4-filter-chains.ts`; undefined for HTTP listeners.
   */
  readonly filterChains?: FilterChainTable;
  /** How long a TLS listener waits for the ClientHello before closing (Envoy `listener_filter_timeout`), ms. */
  readonly listenerFilterTimeoutMs?: number;
  /** The mesh (sidecar outbound) listener only: CONNECT routing and the outbound policy. */
  readonly mesh?: MeshOutbound;
}

/** Classifies a server: HTTP-like plaintext, TLS (terminated or passthrough), or opaque TCP. */
export function listenerKindOf(server: Server): ListenerKind {
  const p = server.port.protocol.toUpperCase();
  if (HTTP_PROTOCOLS.has(p)) return 'HTTP';
  if (TLS_PROTOCOLS.has(p)) return 'TLS';
  return 'TCP';
}
