/**
 * HTTP/2 extended CONNECT (RFC 8441) at the downstream codec, as Envoy's HTTP/2 codec treats it when
 * it advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL`:
 * - `:method CONNECT` + `:protocol <p>` is rewritten into its HTTP/1.1 form before the connection
 *   manager sees it: `GET`, `upgrade: <p>`, `connection: upgrade`, no `:protocol`. From there it is
 *   an upgrade like an HTTP/1.1 one: `websocket` is routed (match on `:authority` and `:path`,
 *   rewrite, header operations, weights, fault) and tunnelled (gateway/http/upgrade-tunnel.ts);
 *   any other protocol is refused `403 upgrade_failed`, Istio's HCM having only `websocket` in its
 *   `upgrade_configs`;
 * - a plain CONNECT (no `:protocol`) is Envoy's `CONNECT` upgrade type, which Istio does not
 *   configure on gateways (no `connect_config` on routes): `403 upgrade_failed`.
 * Only the stream is answered; the session goes on.
 *
 * Upstream the request is an HTTP/1.1 `Upgrade: websocket` (Envoy's behaviour for HTTP/1.1
 * upstreams). RFC 8441 drops `Sec-WebSocket-Key`/`Sec-WebSocket-Accept` from the HTTP/2 side, but an
 * RFC 6455 server insists on the key, so one is generated when the client sent none (with
 * `Sec-WebSocket-Version: 13`) and the `Sec-WebSocket-Accept` answering it is not passed down. The
 * upstream's `101` becomes `:status 200`; `upgrade`, `connection` and a zero `content-length` are
 * removed, as Envoy's response transformation does.
 */
import { randomBytes } from 'node:crypto';
import type { Http2ServerRequest } from 'node:http2';
import type { HeaderObject } from '../header-ops.js';
import { upgradeKind, type UpgradeRequest } from './upgrade.js';

const NO_BYTES = Buffer.alloc(0);

/**
 * Rewrites an HTTP/2 CONNECT request in place into the HTTP/1.1 upgrade form Envoy's codec gives the
 * connection manager, and returns its upgrade details (`unsupported` for a plain CONNECT or a
 * `:protocol` other than `websocket`, which the connection manager refuses 403).
 */
export function extendedConnectUpgrade(req: Http2ServerRequest): UpgradeRequest {
  const h = req.headers;
  const protocol = h[':protocol'];
  if (typeof protocol !== 'string') {
    return { kind: 'unsupported', head: NO_BYTES, socket: req.stream, extendedConnect: true };
  }
  // node's request has a `method` setter (it writes `:method`) that its types do not declare.
  (req as { method: string }).method = 'GET';
  delete h[':protocol'];
  h.upgrade = protocol;
  h.connection = 'upgrade';
  const kind = upgradeKind(h) === 'websocket' ? 'websocket' : 'unsupported';
  return { kind, head: NO_BYTES, socket: req.stream, extendedConnect: true };
}

/**
 * Completes the RFC 6455 handshake headers of an upstream request converted from extended CONNECT:
 * appends a random `sec-websocket-key` (16 bytes, base64) and `sec-websocket-version: 13` when the
 * client sent none.
 * @param out the upstream head as a flat `[name, value, …]` list (names lowercase).
 * @returns true when the key was generated here (its `Sec-WebSocket-Accept` is then not passed down).
 */
export function completeWebSocketHandshake(out: string[]): boolean {
  let key = false;
  let version = false;
  for (let i = 0; i < out.length; i += 2) {
    if (out[i] === 'sec-websocket-key') key = true;
    else if (out[i] === 'sec-websocket-version') version = true;
  }
  if (!version) out.push('sec-websocket-version', '13');
  if (key) return false;
  out.push('sec-websocket-key', randomBytes(16).toString('base64'));
  return true;
}

/**
 * Turns an HTTP/1.1 upgrade response head into the HTTP/2 one for an extended CONNECT stream (in
 * place): connection-specific headers removed (HTTP/2 forbids them), a zero `content-length`
 * dropped, `sec-websocket-accept` dropped when the gateway made up the key.
 * @returns the `:status` to send: 200 for `101`, else the upstream's status.
 */
export function toExtendedConnectResponse(status: number, h: HeaderObject, generatedKey: boolean): number {
  delete h['upgrade'];
  delete h['connection'];
  delete h['keep-alive'];
  delete h['proxy-connection'];
  delete h['transfer-encoding'];
  if (h['content-length'] === '0') delete h['content-length'];
  if (generatedKey) delete h['sec-websocket-accept'];
  return status === 101 ? 200 : status;
}
