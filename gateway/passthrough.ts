/**
 * The TLS side of a TLS listener before any chain runs: Envoy's `tls_inspector` listener filter
 * (read the ClientHello for SNI and ALPN, with a byte cap and a deadline) and the PASSTHROUGH splice
 * (the untouched ClientHello bytes, then everything else, to the upstream chosen by the SNI chain).
 *
 * Outcomes, as Envoy handles them:
 * - ClientHello parsed → `tls_inspector.tls_found`, `sni_found|sni_not_found`, `alpn_found|alpn_not_found`;
 *   the chain is chosen by SNI.
 * - Not TLS (plain HTTP, garbage) → `tls_inspector.tls_not_found`; the chain is chosen as for "no SNI"
 *   (Istio gateway chains do not match on transport protocol), which on most ports means no chain.
 * - ClientHello larger than the cap → `tls_inspector.client_hello_too_large`, connection reset.
 * - Nothing decisive before the deadline (silent client, truncated hello) →
 *   `listener.<l>.downstream_pre_cx_timeout`, connection reset.
 * - Peer gone first → `tls_inspector.connection_closed`.
 * Every rejected connection gets one access-log record and a debug log line; none costs more than
 * the cap in memory or the deadline in time.
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import type { TcpFilterChain } from '../routes/filter-chains.js';
import { selectTcpRoute } from '../routes/filter-chains.js';
import { peekClientHello } from '../tls/peek.js';
import type { ProxyContext } from './http/proxy-context.js';
import { ResponseFlag } from './response-flags.js';
import { listenerStatNames, proxyTcp, rejectConnection, type DownstreamInfo } from './tcp-proxy.js';

/** The ClientHello cap (Envoy's historical `tls_inspector` limit, 16 KiB). */
const MAX_CLIENT_HELLO_BYTES = 16_384;

/** Envoy `tls_inspector` stat names (global `tls_inspector.*` tree, as Envoy roots it). */
const TlsInspectorStats = {
  tlsFound: 'tls_inspector.tls_found',
  tlsNotFound: 'tls_inspector.tls_not_found',
  sniFound: 'tls_inspector.sni_found',
  sniNotFound: 'tls_inspector.sni_not_found',
  alpnFound: 'tls_inspector.alpn_found',
  alpnNotFound: 'tls_inspector.alpn_not_found',
  clientHelloTooLarge: 'tls_inspector.client_hello_too_large',
  connectionClosed: 'tls_inspector.connection_closed',
} as const;

/** What the inspector learnt: the connection goes on to chain selection, or it was already closed. */
type InspectorVerdict =
  | {
      readonly ok: true;
      /** Whether the bytes were a TLS ClientHello. */
      readonly tls: boolean;
      /** SNI, lowercase; undefined without SNI or without TLS. */
      readonly serverName: string | undefined;
      readonly alpn: readonly string[];
      /** Every byte read so far; must reach the next consumer first. */
      readonly buffered: Buffer;
    }
  | { readonly ok: false };

const REJECTED: InspectorVerdict = { ok: false };

/**
 * Runs the TLS inspector on a freshly accepted socket. Rejected connections are counted, logged and
 * closed here. Never rejects.
 * @param timeoutMs ClientHello deadline (the listener's `listenerFilterTimeoutMs`).
 */
export async function inspectClientHello(
  socket: net.Socket,
  ctx: ProxyContext,
  info: DownstreamInfo,
  timeoutMs: number,
  log: Logger,
): Promise<InspectorVerdict> {
  const stats = ctx.stats;
  const outcome = await peekClientHello(socket, { maxBytes: MAX_CLIENT_HELLO_BYTES, timeoutMs });
  switch (outcome.kind) {
    case 'hello': {
      const { serverName, alpn } = outcome.hello;
      stats.inc(TlsInspectorStats.tlsFound);
      stats.inc(serverName ? TlsInspectorStats.sniFound : TlsInspectorStats.sniNotFound);
      stats.inc(alpn.length > 0 ? TlsInspectorStats.alpnFound : TlsInspectorStats.alpnNotFound);
      return { ok: true, tls: true, serverName, alpn, buffered: outcome.buffered };
    }
    case 'not-tls':
      stats.inc(TlsInspectorStats.tlsNotFound);
      log.debug(
        { listener: info.listener.name, remote: socket.remoteAddress, reason: outcome.reason },
        'not a TLS ClientHello',
      );
      return { ok: true, tls: false, serverName: undefined, alpn: [], buffered: outcome.buffered };
    case 'too-large':
      stats.inc(TlsInspectorStats.clientHelloTooLarge);
      log.debug(
        { listener: info.listener.name, remote: socket.remoteAddress },
        'ClientHello too large; connection reset',
      );
      rejectConnection(socket, ctx, info, undefined, 'client_hello_too_large', true);
      return REJECTED;
    case 'timeout':
      stats.inc(`listener.${info.listener.name}.downstream_pre_cx_timeout`);
      log.debug(
        {
          listener: info.listener.name,
          remote: socket.remoteAddress,
          bytes: outcome.buffered.length,
          timeoutMs,
        },
        'no complete ClientHello before the deadline; connection reset',
      );
      rejectConnection(socket, ctx, info, undefined, 'listener_filter_timeout', true);
      return REJECTED;
    case 'closed':
      stats.inc(TlsInspectorStats.connectionClosed);
      rejectConnection(
        socket,
        ctx,
        info,
        ResponseFlag.DownstreamConnectionTermination,
        'downstream_closed_before_client_hello',
        false,
      );
      return REJECTED;
  }
}

/**
 * Splices a PASSTHROUGH connection: the buffered ClientHello first, then both directions forwarded
 * to the chain's (weighted) upstream by {@link proxyTcp} (the same data path as a TCP route, with its
 * reused upstream read buffers). The gateway never decrypts: the client sees the upstream's
 * certificate.
 */
export function passthrough(
  socket: net.Socket,
  chain: TcpFilterChain,
  verdict: Extract<InspectorVerdict, { ok: true }>,
  ctx: ProxyContext,
  info: DownstreamInfo,
): void {
  const route = selectTcpRoute(chain.routes, socket.remoteAddress);
  const withHello: DownstreamInfo = {
    ...info,
    initial: verdict.buffered,
    requestedServerName: verdict.serverName,
  };
  if (!route) {
    ctx.stats.inc(listenerStatNames(info.listener.name).noFilterChainMatch);
    return rejectConnection(
      socket,
      ctx,
      withHello,
      ResponseFlag.NoRouteFound,
      'filter_chain_not_found',
      true,
    );
  }
  proxyTcp(socket, route, ctx, withHello);
}
