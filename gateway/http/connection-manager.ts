/**
 * Envoy's HTTP connection manager: turns each downstream request (from any codec) into an
 * {@link ActiveStream}, applies the codec's checks, reads the request target and authority,
 * selects the route on the listener's current route table, then runs the HTTP filter chain. A bug
 * costs its request a 500 (or a reset once the response started), never the process.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { RequestView } from '../../routes/route-table.js';
import { Replies } from '../local-reply.js';
import { ActiveStream } from './active-stream.js';
import type { DownstreamCodec, DownstreamRequest, DownstreamResponse } from './downstream-codec.js';
import { HTTP_FILTERS } from './filter-registry.js';
import type { ListenerRuntime, ProxyContext } from './proxy-context.js';
import { applyEdgeRequestPolicy } from './edge-request.js';
import { httpsRedirectLocation } from './redirect.js';
import type { UpgradeRequest } from './upgrade.js';

/** Absolute-form request target (`http://host:port/path?q`): authority and origin-form target. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)/i;

/**
 * Decodes the request head of a new stream up to the filter chain.
 * 1. the codec's own refusals (HTTP/1.0 426, no authority 400), then upgrades Istio does not
 *    configure (403 `upgrade_failed`, gateway/http/upgrade.ts);
 * 2. the request target and authority (absolute-form wins over `Host`, RFC 9112 §3.2.2);
 * 3. Envoy's edge checks and path normalization, before anything reads path or headers (the one place);
 * 4. `tls.httpsRedirect` (301, virtual-host level), route selection (404 NR), then the filters.
 */
function decodeRequestHead(s: ActiveStream): void {
  const req = s.req;
  const refused = s.codec.refuse(req);
  if (refused !== undefined) return s.sendLocalReply(refused);
  // (3) Envoy's connection-manager checks and Istio's BASE path normalization, before anything reads
  // the path or headers: header count, fragment, duplicate Host, %00 → 4xx; internal x-envoy-* stripped
  // (gateway/http/edge-request.ts). It reads `rawHeaders`, `headers` and `url`, which both codecs' requests have.
  const edgeReply = applyEdgeRequestPolicy(
    req as unknown as IncomingMessage,
    s.rt.listener.mesh === undefined,
  );
  if (edgeReply !== undefined) return s.sendLocalReply(edgeReply);
  // Envoy's HCM refuses upgrades it has no `upgrade_configs` entry for before routing.
  if (s.upgrade !== undefined && s.upgrade.kind === 'unsupported') {
    return s.sendLocalReply(Replies.upgradeFailed);
  }
  let url = req.url ?? '/';
  let authority = s.codec.authority(req);
  if (url.charCodeAt(0) !== 47 /* '/' */ && url !== '*') {
    const m = ABSOLUTE_FORM.exec(url);
    if (!m || m[1] === '') return s.sendLocalReply(Replies.badRequest);
    authority = m[1]!;
    url = m[2] || '/';
  }
  s.url = url;
  s.authority = authority;
  const q = url.indexOf('?');
  const view: RequestView = {
    method: req.method ?? 'GET',
    url,
    pathEnd: q < 0 ? url.length : q,
    authority,
    scheme: s.rt.scheme,
    headers: req.headers,
  };
  const m = s.rt.listener.routeConfig?.route(view);
  // Envoy `require_tls` is a virtual-host property: it redirects before (and without) a route.
  if (m?.virtualHost?.requireTls && s.rt.scheme === 'http') {
    return s.sendRedirect(301, httpsRedirectLocation(authority, url));
  }
  if (!m || !m.route) return s.sendLocalReply(Replies.noRoute);
  s.route = m.route;
  s.match = m.match;
  s.continueDecoding();
}

/**
 * The request handler of one listener (or HTTPS chain) for one codec: one stream per request.
 * @returns a `(req, res)` handler for node:http's or node:http2's `request` event; the upgrade
 *   handler (gateway/http/upgrade.ts) passes the upgrade details as a third argument.
 */
export function createStreamHandler(
  codec: DownstreamCodec,
  rt: ListenerRuntime,
  ctx: ProxyContext,
  log: Logger,
): (req: DownstreamRequest, res: DownstreamResponse, upgrade?: UpgradeRequest) => void {
  const drain = ctx.drain;
  return (req, res, upgrade) => {
    // Drain hook: during shutdown every HTTP/1.1 response closes its connection (HTTP/2 sessions get
    // GOAWAY instead, gateway/http/http2-downstream.ts).
    if (drain !== undefined && res instanceof ServerResponse) drain.onResponse(res);
    try {
      const s = new ActiveStream(req, res, codec, rt, ctx, HTTP_FILTERS);
      // `Upgrade: h2c` is served as plain HTTP/1.1 (Envoy's codec strips it).
      if (upgrade !== undefined && upgrade.kind !== 'h2c') s.upgrade = upgrade;
      decodeRequestHead(s);
    } catch (err) {
      // A bug must cost one request, never the process.
      ctx.stats.inc(`listener.${rt.listener.name}.downstream_rq_internal_error`);
      log.error({ err, url: req.url }, 'request handler failed');
      if (!res.headersSent) {
        res.writeHead(500, { server: 'istio-envoy', 'content-length': 0 });
        res.end();
      } else {
        res.destroy();
      }
    }
  };
}
