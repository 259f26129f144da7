/**
 * Distributed tracing at the gateway, as Envoy's Zipkin tracer does it in Istio: every HTTP
 * request joins the caller's trace or starts one, the upstream request carries a new span id whose
 * parent is the caller's span, and sampled spans are exported as Zipkin v2 JSON (which Jaeger and
 * Zipkin both accept) to `--tracing-endpoint`.
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

/** What trace propagation reads of a downstream request (HTTP/1.1 or HTTP/2). */
export type TracedRequest = Pick<IncomingMessage, 'headers' | 'socket'>;
import { Pool } from 'undici';
import type { StreamRecord } from './access-log.js';
import type { StatStore } from './stats.js';
import { socketAddresses } from './socket-addresses.js';

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

/** Tracing settings (`--tracing-endpoint`, `--tracing-sampling`). */
export interface TracingOptions {
  /** Zipkin v2 collector URL, e.g. `http://127.0.0.1:9411/api/v2/spans`. */
  readonly endpoint: string;
  /** Percent (0-100) of new traces sampled when the caller sent no decision; default 1 (Istio). */
  readonly samplingPercent?: number;
  /** Zipkin `localEndpoint.serviceName`; Istio uses `<workload>.<namespace>`. */
  readonly serviceName?: string;
  /** `node_id` tag (Envoy node id). */
  readonly nodeId?: string;
  /** How often queued spans are sent, ms; default 1000. */
  readonly flushIntervalMs?: number;
  /** Spans kept waiting for export at most; more are dropped; default 1000. */
  readonly maxQueuedSpans?: number;
  /** Spans per POST at most; default 100. */
  readonly maxBatch?: number;
}

/** A Zipkin v2 span (https://zipkin.io/zipkin-api/#/default/post_spans). Times in µs. */
export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind: 'CLIENT';
  timestamp: number;
  duration: number;
  localEndpoint: { serviceName: string };
  remoteEndpoint?: { ipv4?: string; ipv6?: string; port?: number };
  tags: Record<string, string>;
  debug?: true;
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

const HEX16 = /^[0-9a-f]{16}$/;
const TRACE_ID = /^(?:[0-9a-f]{16}){1,2}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO16 = '0000000000000000';

/** The caller's trace context, as read from the request. */
export interface IncomingContext {
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
  private readonly serviceName: string;
  private readonly nodeId: string;
  readonly exporter: ZipkinExporter;

  constructor(opts: TracingOptions, stats: StatStore) {
    this.samplingPercent = Math.min(100, Math.max(0, opts.samplingPercent ?? 1));
    this.serviceName = opts.serviceName ?? 'istio-ingressgateway.istio-system';
    this.nodeId = opts.nodeId ?? '';
    this.exporter = new ZipkinExporter(opts, stats);
  }

  inject(out: string[], req: TracedRequest, requestId: string, remote?: string): void {
    const ctx = extractContext(req.headers);
    for (let i = out.length - 2; i >= 0; i -= 2) if (OWNED.has(out[i]!)) out.splice(i, 2);
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
    const tags: Record<string, string> = {
      component: 'proxy',
      node_id: this.nodeId,
      'guid:x-request-id': r.requestId,
      'http.method': r.method,
      'http.url': r.path,
      'http.protocol': r.protocol,
      'http.status_code': String(code),
      response_flags: r.responseFlags,
      upstream_cluster: r.upstreamCluster ?? '-',
      'upstream_cluster.name': r.upstreamCluster ?? '-',
      request_size: String(r.bytesReceived),
      response_size: String(r.bytesSent),
    };
    if (r.routeName !== undefined) tags['route_name'] = r.routeName;
    if (r.userAgent !== undefined) tags['user_agent'] = r.userAgent;
    if (code === 0 || code >= 500) tags['error'] = 'true';
    const span: ZipkinSpan = {
      traceId: p.traceId,
      id: p.id,
      name: r.routeName ?? 'unknown',
      kind: 'CLIENT',
      timestamp: Math.round(r.startTime * 1000),
      duration: Math.max(1, Math.round(r.durationMs * 1000)),
      localEndpoint: { serviceName: this.serviceName },
      tags,
    };
    if (p.parentId !== undefined) span.parentId = p.parentId;
    if (p.debug) span.debug = true;
    const remote = r.upstreamHost !== undefined ? endpointOf(r.upstreamHost) : undefined;
    if (remote) span.remoteEndpoint = remote;
    this.exporter.add(span);
  }

  /** Sends what is queued and stops the exporter. */
  close(): Promise<void> {
    return this.exporter.close();
  }
}

/** `1.2.3.4:80` / `[::1]:80` → a Zipkin endpoint; undefined for DNS names. */
function endpointOf(hostPort: string): ZipkinSpan['remoteEndpoint'] | undefined {
  const colon = hostPort.lastIndexOf(':');
  if (colon < 0) return undefined;
  const host = hostPort.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(colon + 1));
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return { ipv4: host, port };
  if (host.includes(':')) return { ipv6: host, port };
  return undefined;
}

/** Stat names (Envoy's `tracing.zipkin.*`). */
const ZipkinStats = {
  spansSent: 'tracing.zipkin.spans_sent',
  spansDropped: 'tracing.zipkin.spans_dropped',
  timerFlushed: 'tracing.zipkin.timer_flushed',
  reportsSent: 'tracing.zipkin.reports_sent',
  reportsDropped: 'tracing.zipkin.reports_dropped',
  reportsFailed: 'tracing.zipkin.reports_failed',
} as const;

/**
 * Batches spans and POSTs them as a Zipkin v2 JSON array. One request in flight at a time; a full
 * queue drops new spans (`tracing.zipkin.spans_dropped`); a non-2xx answer drops the batch
 * (`reports_dropped`), a network error too (`reports_failed`). Never throws to the caller.
 */
export class ZipkinExporter {
  private queue: ZipkinSpan[] = [];
  private inFlight: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly maxQueued: number;
  private readonly maxBatch: number;
  private closed = false;

  /** @throws TypeError for an endpoint that is not an http(s) URL (the CLI checks it first). */
  constructor(
    opts: TracingOptions,
    private readonly stats: StatStore,
  ) {
    const url = new URL(opts.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`tracing endpoint must be an http(s) URL: ${opts.endpoint}`);
    }
    this.path = `${url.pathname}${url.search}`;
    this.pool = new Pool(url.origin, { connections: 2, headersTimeout: 10_000, bodyTimeout: 10_000 });
    this.maxQueued = opts.maxQueuedSpans ?? 1000;
    this.maxBatch = opts.maxBatch ?? 100;
    this.timer = setInterval(() => {
      if (this.queue.length === 0) return;
      this.stats.inc(ZipkinStats.timerFlushed);
      this.flush();
    }, opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Queues a span; @returns false when it was dropped (queue full or exporter closed). */
  add(span: ZipkinSpan): boolean {
    if (this.closed || this.queue.length >= this.maxQueued) {
      this.stats.inc(ZipkinStats.spansDropped);
      return false;
    }
    this.queue.push(span);
    if (this.queue.length >= this.maxBatch) this.flush();
    return true;
  }

  /** Starts sending one batch unless one is already on its way. */
  flush(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.inFlight = this.send(batch).finally(() => {
      this.inFlight = undefined;
      if (this.queue.length >= this.maxBatch) this.flush();
    });
  }

  private async send(batch: ZipkinSpan[]): Promise<void> {
    try {
      const res = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch),
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.stats.inc(ZipkinStats.reportsSent);
        this.stats.inc(ZipkinStats.spansSent, batch.length);
      } else {
        this.stats.inc(ZipkinStats.reportsDropped);
      }
    } catch {
      this.stats.inc(ZipkinStats.reportsFailed);
    }
  }

  /** Sends the remaining spans (bounded: at most 2 s), then closes the connection pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && (this.inFlight || this.queue.length > 0)) {
      if (!this.inFlight) this.flush();
      await Promise.race([this.inFlight, new Promise((r) => setTimeout(r, 100))]);
    }
    await this.pool.destroy().catch(() => undefined);
  }
}
