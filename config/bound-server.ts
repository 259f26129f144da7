/**
 * A Gateway server as the compiled listeners keep it: the server with the Gateway it came from
 * (listeners merge the servers of several Gateways on one port).
 */
import type { Server } from './resources.js';

/** A Gateway server, with the Gateway it came from. */
export interface BoundServer {
  /** `namespace/name` of the Gateway. */
  readonly gateway: string;
  readonly server: Server;
}
