/**
 * HTTP/1.1 upgrades at the connection manager, as Istio configures Envoy: the HCM's
 * `upgrade_configs` hold `websocket` only, so
 * - `Upgrade: websocket` is routed like any request (match, rewrite, headers, weights, fault) and,
 *   once the upstream answers `101`, becomes a byte tunnel (gateway/http/upgrade-tunnel.ts);
 * - `Upgrade: h2c` is not an upgrade to Envoy: its HTTP/1 codec strips `Upgrade`/`HTTP2-Settings`
 *   and serves the request as plain HTTP/1.1;
 * - any other `Upgrade` value is refused by the HCM before routing: `403`, no body, details
 *   `upgrade_failed`, and the connection closed.
 * node:http hands every upgrade request to the server's `upgrade` event with the raw socket; the
 * handler here puts a `ServerResponse` on that socket so local replies and passed-through refusals
 * use the same code as every other request, then closes the connection after the response.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { DownstreamRequest, DownstreamResponse } from './downstream-codec.js';

/** How the connection manager treats a request's `Upgrade` header. */
type UpgradeKind = 'websocket' | 'h2c' | 'unsupported';

/** The kind of upgrade a request with an `Upgrade` header asks for (token compared case-insensitively). */
function upgradeKind(h: IncomingHttpHeaders): UpgradeKind {
  const v = h.upgrade;
  if (v === undefined) return 'unsupported';
  const token = v.trim().toLowerCase();
  if (token === 'websocket') return 'websocket';
  if (token === 'h2c') return 'h2c';
  return 'unsupported';
}

/** What the upgrade handler gives the connection manager for one upgrade request. */
export interface UpgradeRequest {
  readonly kind: UpgradeKind;
  /** Bytes the client sent after the request head (the start of the upgraded stream). */
  readonly head: Buffer;
  /** The raw downstream connection. */
  readonly socket: Socket;
}

/**
 * Adapts node:http's `upgrade` event to a stream handler: a `ServerResponse` bound to the raw
 * socket (`connection: close` once answered), and the upgrade details for the router.
 */
export function createUpgradeHandler(
  handle: (req: DownstreamRequest, res: DownstreamResponse, upgrade: UpgradeRequest) => void,
): (req: http.IncomingMessage, socket: Socket, head: Buffer) => void {
  return (req, socket, head) => {
    const res = new http.ServerResponse(req);
    // The parser is gone: this connection carries this one exchange (or the tunnel) and then closes.
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => socket.end());
    socket.once('error', () => socket.destroy());
    handle(req, res, { kind: upgradeKind(req.headers), head, socket });
  };
}
