/**
 * Distributed tracing at the gateway, as Envoy's tracers do it in Istio: every HTTP request joins
 * the caller's trace or starts one, the upstream request carries a new span id whose parent is the
 * caller's span, and sampled spans are exported to `--tracing-endpoint`, either as OTLP/HTTP
 * protobuf (`/v1/traces`, Envoy's OpenTelemetry tracer; `otlp-exporter.ts`) or as Zipkin v2 JSON
 * (`/api/v2/spans`; `zipkin-exporter.ts`). Jaeger takes both.
 *
 * Propagation (read in this order; the first valid context wins):
 * - B3 multi-header: `x-b3-traceid` (16 or 32 hex), `x-b3-spanid`, `x-b3-sampled` (`1`/`0`,
 *   `true`/`false`), `x-b3-flags: 1` (debug: always sampled);
 * - B3 single header `b3: {traceid}-{spanid}[-{1|0|d}[-{parent}]]` (or just `1`/`0`/`d`);
 * - W3C `traceparent: 00-{traceid}-{parentid}-{flags}` (`tracestate` is passed through untouched).
 * Upstream, meshgate sends B3 multi-headers (the trace id keeps its incoming width) and a
 * `traceparent` (64-bit ids left-padded to 128), plus `b3` when the caller used it. Without an
 * incoming decision, `--tracing-sampling` percent of new traces are sampled (Istio's default 1%).
 *
 * Span name and tags follow Envoy's downstream span in Istio: the name is the route's decorator
 * operation (pilot `GetRouteOperation`: `<service host>:<port>/*` for a single-cluster route (here: the cluster that served the request),
 * `<virtual service>:<listener port>/*` otherwise; without a route, Envoy's default `egress <host>`,
 * gateway listeners being OUTBOUND), the tags are Envoy's (`http.method`, `http.url`,
 * `http.status_code`, `upstream_cluster`, `response_flags`, `node_id`, `component: proxy`, ...).
 * The path part of the operation is always `/*`: the matched `uri` is not known here.
 *
 * Cost: nothing when tracing is off (the data path's hook is an `undefined` check). When on, only
 * sampled requests allocate span state; export is batched on a timer, bounded (spans beyond the
 * queue are dropped and counted) and never awaited by a request.
 *
 * Scope: every HTTP request on a gateway listener, forwarded or answered locally (404 NR, fault
 * abort, redirect, direct response: the span then has no upstream cluster). CONNECT tunnels and
 * TCP connections are not traced.
 */
import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { StreamRecord } from './access-log.js';
import { DEFAULT_TRACING_SERVICE, type SpanExporter, type SpanExportOptions } from './finished-span.js';
import { OtlpExporter } from './otlp-exporter.js';
import type { StatStore } from './stats.js';
import { socketAddresses } from './socket-addresses.js';

/** What trace propagation reads of a downstream request (HTTP/1.1 or HTTP/2). */
type TracedRequest = Pick<IncomingMessage, 'headers' | 'socket'>;
import { ZipkinExporter } from './zipkin-exporter.js';

/** What the data path calls on the upstream request headers (`ProxyContext.tracing`). */
export interface TraceInjector {
  /**
   * Replaces the trace headers in `out` (flat `[name, value, ...]`, lowercase names) with the
   * gateway span's context, starting or continuing the trace read from `req`'s headers.
   * @param requestId the stream's `x-request-id`; ties the span to its access-log record.
   * @param remote the downstream `ip:port` as the access-log record carries it; read from
   *   `req.socket` when omitted (Node detaches the socket from a finished request).
   */
  inject(out: string[], req: TracedRequest, requestId: string, remote?: string): void;
}

/** Wire format of the span export (`--tracing-format`). */
type TracingFormat = 'otlp' | 'zipkin';

/** Tracing settings (`--tracing-endpoint`, `--tracing-format`, `--tracing-sampling`). */
export interface TracingOptions extends SpanExportOptions {
  /** Export format; default: chosen from the endpoint's path ({@link tracingFormatOf}). */
  readonly format?: TracingFormat;
  /** Percent (0-100) of new traces sampled when the caller sent no decision; default 1 (Istio). */
  readonly samplingPercent?: number;
  /** `node_id` tag (Envoy node id). */
  readonly nodeId?: string;
  /**
   * Tells whether a downstream local address (`ip:port`) belongs to the mesh (sidecar outbound)
   * listener: its spans are CLIENT spans, as a sidecar's outbound spans are (Envoy: egress, no
   * upstream span spawned); gateway spans are SERVER spans (Istio sets `spawn_upstream_span` for
   * routers). Default: no mesh listener.
   */
  readonly isMeshListener?: (localAddress: string) => boolean;
}

/**
 * The export format for an endpoint: `format` when given, else by path: `.../v1/traces` → OTLP,
 * `.../spans` (Zipkin's `/api/v2/spans`) → Zipkin.
 * @throws Error naming `--tracing-format` when the path says neither.
 */
export function tracingFormatOf(endpoint: string, format?: TracingFormat): TracingFormat {
  if (format !== undefined) return format;
  const path = new URL(endpoint).pathname.replace(/\/+$/, '');
  if (path.endsWith('/v1/traces')) return 'otlp';
  if (path.endsWith('/spans')) return 'zipkin';
  throw new Error(
    `--tracing-endpoint: cannot tell the format from the path "${path || '/'}" (OTLP ends in /v1/traces, ` +
      'Zipkin in /api/v2/spans); add --tracing-format otlp|zipkin',
  );
}

/** Header names the tracer owns on the upstream request (removed, then written fresh). */
const OWNED = new Set([
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'b3',
  'traceparent',
]);

/**
 * Removes the {@link OWNED} headers from a flat `[name, value, …]` list in one pass (a traced client
 * sends several; splicing each out shifted the list once per header).
 */
function dropOwned(out: string[]): void {
  let w = 0;
  for (let r = 0; r < out.length; r += 2) {
    if (OWNED.has(out[r]!)) continue;
    if (w !== r) {
      out[w] = out[r]!;
      out[w + 1] = out[r + 1]!;
    }
    w += 2;
  }
  out.length = w;
}

const HEX16 = /^[0-9a-f]{16}$/;
const TRACE_ID = /^(?:[0-9a-f]{16}){1,2}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO16 = '0000000000000000';

/** The caller's trace context, as read from the request. */
interface IncomingContext {
  /** 16 or 32 lowercase hex; undefined when only a sampling decision came in. */
  readonly traceId: string | undefined;
  /** The caller's span: the parent of the gateway span. */
  readonly spanId: string | undefined;
  /** The caller's decision; undefined = the gateway decides. */
  readonly sampled: boolean | undefined;
  readonly debug: boolean;
  /** The caller used the single `b3` header. */
  readonly single: boolean;
}

function str(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v.trim().toLowerCase() : undefined;
}

function decision(v: string | undefined): boolean | undefined {
  if (v === '1' || v === 'true' || v === 'd') return true;
  if (v === '0' || v === 'false') return false;
  return undefined;
}

/** Reads the caller's context (B3 multi, then B3 single, then W3C); undefined when none is usable. */
export function extractContext(h: IncomingHttpHeaders): IncomingContext | undefined {
  const traceId = str(h['x-b3-traceid']);
  const spanId = str(h['x-b3-spanid']);
  const debug = str(h['x-b3-flags']) === '1';
  const sampledHeader = decision(str(h['x-b3-sampled']));
  if (traceId !== undefined && spanId !== undefined && TRACE_ID.test(traceId) && HEX16.test(spanId)) {
    return { traceId, spanId, sampled: debug ? true : sampledHeader, debug, single: false };
  }
  const b3 = str(h['b3']);
  if (b3 !== undefined) {
    const parts = b3.split('-');
    if (parts.length === 1) {
      const d = decision(parts[0]);
      if (d !== undefined)
        return { traceId: undefined, spanId: undefined, sampled: d, debug: parts[0] === 'd', single: true };
    } else if (TRACE_ID.test(parts[0]!) && HEX16.test(parts[1]!)) {
      const s = parts[2];
      return { traceId: parts[0], spanId: parts[1], sampled: decision(s), debug: s === 'd', single: true };
    }
  }
  const tp = str(h['traceparent']);
  if (tp !== undefined) {
    const m = TRACEPARENT.exec(tp);
    if (m && m[1] !== 'ff' && !/^0+$/.test(m[2]!) && m[3] !== ZERO16) {
      return {
        traceId: m[2],
        spanId: m[3],
        sampled: (parseInt(m[4]!, 16) & 1) === 1,
        debug: false,
        single: false,
      };
    }
  }
  if (debug || sampledHeader !== undefined) {
    return { traceId: undefined, spanId: undefined, sampled: debug || sampledHeader, debug, single: false };
  }
  return undefined;
}

/** Random hex ids from a pooled buffer (one `randomFillSync` per 512 ids instead of one per id). */
class IdSource {
  private readonly buf = Buffer.allocUnsafe(4096);
  private off = this.buf.length;

  /** `bytes` random bytes as lowercase hex. */
  next(bytes: number): string {
    if (this.off + bytes > this.buf.length) {
      randomFillSync(this.buf);
      this.off = 0;
    }
    const s = this.buf.toString('hex', this.off, this.off + bytes);
    this.off += bytes;
    return s;
  }
}

interface PendingSpan {
  readonly traceId: string;
  readonly id: string;
  readonly parentId: string | undefined;
  readonly debug: boolean;
  /** `address:port` of the downstream connection, to match the access-log record. */
  readonly remote: string | undefined;
}

/** Sampled spans waiting for their stream's end, at most this many (oldest dropped beyond). */
const MAX_OPEN_SPANS = 10_000;

/**
 * Starts/continues traces on every HTTP request and finishes their spans from the stream's
 * access-log record ({@link Tracer.finish}, called by the gateway's observer).
 */
export class Tracer implements TraceInjector {
  private readonly ids = new IdSource();
  private readonly open = new Map<string, PendingSpan>();
  private readonly samplingPercent: number;
  private readonly nodeId: string;
  private readonly isMesh: (localAddress: string) => boolean;
  readonly format: TracingFormat;
  readonly exporter: SpanExporter;

  /** @throws Error when the endpoint's format cannot be told ({@link tracingFormatOf}). */
  constructor(opts: TracingOptions, stats: StatStore) {
    this.samplingPercent = Math.min(100, Math.max(0, opts.samplingPercent ?? 1));
    const serviceName = opts.serviceName ?? DEFAULT_TRACING_SERVICE;
    this.nodeId = opts.nodeId ?? '';
    this.isMesh = opts.isMeshListener ?? (() => false);
    this.format = tracingFormatOf(opts.endpoint, opts.format);
    const full = { ...opts, serviceName };
    this.exporter = this.format === 'otlp' ? new OtlpExporter(full, stats) : new ZipkinExporter(full, stats);
  }

  inject(out: string[], req: TracedRequest, requestId: string, remote?: string): void {
    const ctx = extractContext(req.headers);
    dropOwned(out);
    const traceId = ctx?.traceId ?? this.ids.next(16);
    const parentId = ctx?.spanId;
    const id = this.ids.next(8);
    const debug = ctx?.debug === true;
    const sampled = ctx?.sampled ?? Math.random() * 100 < this.samplingPercent;
    out.push('x-b3-traceid', traceId, 'x-b3-spanid', id);
    if (parentId !== undefined) out.push('x-b3-parentspanid', parentId);
    // B3: debug implies an accept decision, so it is sent instead of x-b3-sampled.
    if (debug) out.push('x-b3-flags', '1');
    else out.push('x-b3-sampled', sampled ? '1' : '0');
    if (ctx?.single) {
      const s = debug ? 'd' : sampled ? '1' : '0';
      out.push('b3', parentId !== undefined ? `${traceId}-${id}-${s}-${parentId}` : `${traceId}-${id}-${s}`);
    }
    out.push(
      'traceparent',
      `00-${traceId.length === 16 ? ZERO16 + traceId : traceId}-${id}-${sampled ? '01' : '00'}`,
    );
    if (!sampled) return;
    if (this.open.has(requestId)) return; // a duplicate x-request-id in flight: trace the first only
    if (this.open.size >= MAX_OPEN_SPANS) {
      const oldest = this.open.keys().next().value;
      if (oldest !== undefined) this.open.delete(oldest);
    }
    this.open.set(requestId, {
      traceId,
      id,
      parentId,
      debug,
      // The same text the access-log record carries, so finish() can match it.
      remote: remote ?? (req.socket ? socketAddresses(req.socket).remote : undefined),
    });
  }

  /** Ends the span of a finished stream, if it was sampled, and queues it for export. */
  finish(r: StreamRecord): void {
    if (this.open.size === 0 || r.requestId === undefined) return;
    const p = this.open.get(r.requestId);
    if (p === undefined || p.remote !== r.downstreamRemoteAddress) return;
    this.open.delete(r.requestId);
    const code = r.responseCode;
    const cluster = r.upstreamCluster ?? '-';
    const tags: Record<string, string> = {
      component: 'proxy',
      node_id: this.nodeId,
      'guid:x-request-id': r.requestId,
      'http.method': r.method,
      'http.url': requestUrl(r),
      'http.protocol': r.protocol,
      'http.status_code': String(code),
      downstream_cluster: '-',
      response_flags: r.responseFlags,
      upstream_cluster: cluster,
      'upstream_cluster.name': cluster,
      request_size: String(r.bytesReceived),
      response_size: String(r.bytesSent),
    };
    if (r.downstreamRemoteAddress !== undefined) tags['peer.address'] = hostOf(r.downstreamRemoteAddress);
    if (r.upstreamHost !== undefined) tags['upstream_address'] = r.upstreamHost;
    if (r.routeName !== undefined) tags['route_name'] = r.routeName;
    if (r.userAgent !== undefined) tags['user_agent'] = r.userAgent;
    const error = code === 0 || code >= 500;
    if (error) tags['error'] = 'true';
    const mesh =
      r.meshListener ?? (r.downstreamLocalAddress !== undefined && this.isMesh(r.downstreamLocalAddress));
    this.exporter.add({
      traceId: p.traceId,
      id: p.id,
      parentId: p.parentId,
      name: operationName(r),
      kind: mesh ? 'CLIENT' : 'SERVER',
      startTimeMs: r.startTime,
      durationMs: r.durationMs,
      tags,
      upstreamHost: r.upstreamHost,
      debug: p.debug,
      error,
    });
  }

  /** Sends what is queued and stops the exporter. */
  close(): Promise<void> {
    return this.exporter.close();
  }
}

/** `1.2.3.4:80` → `1.2.3.4`, `[::1]:80` → `::1`. */
function hostOf(hostPort: string): string {
  const colon = hostPort.lastIndexOf(':');
  return (colon < 0 ? hostPort : hostPort.slice(0, colon)).replace(/^\[|\]$/g, '');
}

/** Envoy's `http.url` tag: `<scheme>://<authority><path>`. */
function requestUrl(r: StreamRecord): string {
  const scheme = r.requestedServerName !== undefined ? 'https' : 'http';
  return `${scheme}://${r.authority ?? '-'}${r.path}`;
}

/** `outbound|<port>|<subset>|<host>` → `<host>:<port>`; undefined for other cluster names. */
function serviceOfCluster(cluster: string | undefined): string | undefined {
  if (cluster === undefined || !cluster.startsWith('outbound|')) return undefined;
  const parts = cluster.split('|');
  return parts.length === 4 && parts[3] !== '' ? `${parts[3]}:${parts[1]}` : undefined;
}

/**
 * Envoy's span name for a finished stream: the route decorator Istio sets (pilot
 * `GetRouteOperation`): `<host>:<port>/*` when one `outbound|...` cluster served the route,
 * `<virtual service name>:<listener port>/*` for other routes (redirects, direct responses, local
 * replies); with no route, no decorator applies and Envoy's default for an egress listener stays:
 * `egress <authority>`.
 */
export function operationName(r: StreamRecord): string {
  const service = serviceOfCluster(r.upstreamCluster);
  if (service !== undefined) return `${service}/*`;
  if (r.routeName !== undefined) {
    // Route names are `<namespace>/<virtual service>.<rule>`.
    const slash = r.routeName.indexOf('/');
    const dot = r.routeName.lastIndexOf('.');
    const vs = r.routeName.slice(slash + 1, dot > slash ? dot : undefined);
    const local = r.downstreamLocalAddress;
    const port = local !== undefined ? local.slice(local.lastIndexOf(':') + 1) : '0';
    return `${vs}:${port}/*`;
  }
  return `egress ${r.authority ?? '-'}`;
}
