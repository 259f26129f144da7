/**
 * The one record of a finished stream that the access log and the metrics/tracing observer read
 * (Envoy's `StreamInfo` as `%…%` operators see it). Built once per stream, only when a consumer is on.
 */
import { randomUUID } from 'node:crypto';
import type { StreamRecord } from '../../telemetry/access-log.js';
import { socketAddresses } from '../../telemetry/socket-addresses.js';
import type { RouteEntry } from '../../routes/route-table.js';
import type { ResponseFlagValue } from '../response-flags.js';
import type { DownstreamCodec, DownstreamRequest, DownstreamResponse } from './downstream-codec.js';
import type { ListenerRuntime, ProxyContext } from './proxy-context.js';

/**
 * What a record reads of a closed stream: the stream info part of the connection manager's
 * `ActiveStream` (declared here so the record builder does not import the stream it describes).
 */
interface RecordedStream {
  readonly req: DownstreamRequest;
  readonly res: DownstreamResponse;
  readonly codec: DownstreamCodec;
  readonly ctx: ProxyContext;
  readonly rt: ListenerRuntime;
  readonly socket: DownstreamRequest['socket'];
  readonly startTime: number;
  /** `performance.now()` at stream start, ms. */
  readonly startHr: number;
  readonly authority: string;
  readonly route: RouteEntry | undefined;
  readonly flags: ResponseFlagValue[] | undefined;
  readonly details: string;
  /** Assigned here when the request carried none. */
  requestId: string | undefined;
  readonly traced: boolean;
  readonly rawResponseCode: number;
  readonly bytesReceived: number | undefined;
  readonly bytesSent: number;
  readonly upstreamTimeMs: number | undefined;
  readonly upstreamHost: string | undefined;
  readonly upstreamCluster: string | undefined;
  readonly grpcStatus: string | undefined;
}

/**
 * Builds the record of a closed stream. Gives the stream an `x-request-id` when it has none (Envoy's
 * connection manager ids every request, local replies included) and lets the tracer see requests
 * answered before the router (404 NR, fault abort, redirect…), as Envoy traces those too.
 * @returns a fresh object the logger may keep.
 */
export function buildStreamRecord(s: RecordedStream): StreamRecord {
  const req = s.req;
  const h = req.headers;
  s.requestId ??= (h['x-request-id'] as string | undefined) ?? randomUUID();
  const sock = s.socket;
  const addresses = socketAddresses(sock);
  const tracing = s.ctx.tracing;
  if (tracing !== undefined && !s.traced) tracing.inject([], req, s.requestId, addresses.remote);
  const res = s.res;
  return {
    startTime: s.startTime,
    method: req.method ?? '-',
    path: req.url ?? '-',
    protocol: s.codec.protocol(req),
    responseCode: s.rawResponseCode || (res.headersSent ? res.statusCode : 0),
    responseFlags: s.flags ? s.flags.join(',') : '-',
    responseCodeDetails: s.details,
    bytesReceived: s.bytesReceived ?? s.codec.bodyBytesReceived(req),
    bytesSent: s.bytesSent,
    durationMs: performance.now() - s.startHr,
    upstreamServiceTimeMs: s.upstreamTimeMs,
    xForwardedFor: h['x-forwarded-for'] as string | undefined,
    userAgent: h['user-agent'],
    requestId: s.requestId,
    authority: s.authority || h.host,
    upstreamHost: s.upstreamHost,
    upstreamCluster: s.upstreamCluster,
    routeName: s.route?.name,
    downstreamRemoteAddress: addresses.remote,
    downstreamLocalAddress: addresses.local,
    requestedServerName: (sock as { servername?: string }).servername || undefined,
    grpcStatus: s.grpcStatus,
    meshListener: s.rt.listener.mesh !== undefined,
  };
}
