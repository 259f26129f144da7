/**
 * Request mirroring (Istio `HTTPRoute.mirrors` / `mirror` + `mirrorPercentage`, Envoy
 * `request_mirror_policies`): fire-and-forget copies to the mirror clusters with the authority
 * suffixed `-shadow`. A copy never affects the primary request: failures are swallowed, and copies
 * in flight per mirror cluster are bounded (overflow counted as `upstream_rq_pending_overflow`).
 */
import type { Dispatcher } from 'undici';
import type { MirrorPolicy } from '../../routes/route-table.js';
import { getFromList, setInList } from '../header-ops.js';
import type { ProxyContext } from './proxy-context.js';
import { shadowAuthority } from './upstream-request-headers.js';

/** Largest streamed request body copied to mirrors, bytes; it is held in memory until complete. */
export const MAX_MIRROR_BODY_BYTES = 64 * 1024;

/**
 * Sends one copy per mirror whose fraction is drawn.
 * @param headers the primary's upstream request head (copied, never changed).
 * @param authority fallback authority when the head has no `host`.
 */
export function sendMirrors(
  ctx: ProxyContext,
  mirrors: readonly MirrorPolicy[],
  method: string,
  path: string,
  headers: readonly string[],
  authority: string,
  body: Buffer | null,
): void {
  const host = getFromList(headers, 'host') ?? authority;
  for (const m of mirrors) {
    if (m.fraction < 1 && Math.random() >= m.fraction) continue;
    const c = m.destination.cluster;
    if (!c) continue;
    const state = ctx.clusters.get(c);
    const ep = state?.pick();
    if (!ep) continue;
    // Bounded copies in flight per mirror cluster: a slow shadow must not cost the primary.
    const copy = state!.mirrorBudget.take();
    if (copy === undefined) {
      ctx.stats.inc(`cluster.${c.name}.upstream_rq_pending_overflow`);
      continue;
    }
    const copyHeaders = headers.slice();
    setInList(copyHeaders, 'host', shadowAuthority(host));
    try {
      ep.pool.dispatch({ path, method: method as Dispatcher.HttpMethod, headers: copyHeaders, body }, copy);
    } catch {
      // A mirror never affects the primary request.
      copy.finish();
    }
  }
}
