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
import type { Duplex } from 'node:stream';
import { stopDownstreamIdle } from './downstream-idle.js';
import type { DownstreamRequest, DownstreamResponse } from './downstream-codec.js';

/** How the connection manager treats a request's `Upgrade` header. */
type UpgradeKind = 'websocket' | 'h2c' | 'unsupported';

/** The kind of upgrade a request with an `Upgrade` header asks for (token compared case-insensitively). */
export function upgradeKind(h: IncomingHttpHeaders): UpgradeKind {
  const v = h.upgrade;
  if (v === undefined) return 'unsupported';
  const token = v.trim().toLowerCase();
  if (token === 'websocket') return 'websocket';
  if (token === 'h2c') return 'h2c';
  return 'unsupported';
}

/**
 * What the upgrade handler (HTTP/1.1) or the extended CONNECT handler (HTTP/2,
 * gateway/http/extended-connect.ts) gives the connection manager for one upgrade request.
 */
export interface UpgradeRequest {
  readonly kind: UpgradeKind;
  /** Bytes the client sent after the request head (the start of the upgraded stream); empty on HTTP/2. */
  readonly head: Buffer;
  /** HTTP/1.1: the raw downstream connection. HTTP/2: the CONNECT stream (written to; read through the request). */
  readonly socket: Duplex;
  /**
   * The request arrived as an HTTP/2 extended CONNECT (RFC 8441): the upstream's `101` is answered
   * `:status 200` on the stream and a refusal is sent as an ordinary response on it.
   */
  readonly extendedConnect: boolean;
}

/**
 * Adapts node:http's `upgrade` event to a stream handler: a `ServerResponse` bound to the raw
 * socket (`connection: close` once answered), and the upgrade details for the router.
 */
export function createUpgradeHandler(
  handle: (req: DownstreamRequest, res: DownstreamResponse, upgrade: UpgradeRequest) => void,
): (req: http.IncomingMessage, socket: Socket, head: Buffer) => void {
  return (req, socket, head) => {
    // The tunnel (or the refusal) keeps its own timeouts from here on.
    stopDownstreamIdle(socket);
    const res = new http.ServerResponse(req);
    // The parser is gone: this connection carries this one exchange (or the tunnel) and then closes.
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => socket.end());
    socket.once('error', () => socket.destroy());
    // Envoy's HTTP connections do not half-close: a client's FIN ends the connection and with it the
    // tunnel (node:http's server would keep our side open, and an upstream that ignores the FIN
    // would hold the tunnel forever).
    socket.allowHalfOpen = false;
    handle(req, res, { kind: upgradeKind(req.headers), head, socket, extendedConnect: false });
  };
}
