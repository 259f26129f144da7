/**
 * Zipkin v2 span export (`--tracing-format zipkin`, or an endpoint ending in `/api/v2/spans`): spans
 * batched and POSTed as a JSON array, which Zipkin and Jaeger's Zipkin endpoint accept. Stats are
 * Envoy's `tracing.zipkin.*`.
 */
import { Pool } from 'undici';
import {
  collectorUrl,
  DEFAULT_TRACING_SERVICE,
  type FinishedSpan,
  type SpanExporter,
  type SpanExportOptions,
} from './finished-span.js';
import type { StatStore } from './stats.js';

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

/**
 * A finished span as Zipkin v2 JSON. Envoy's Zipkin tracer reports a gateway's downstream span as
 * the client side of the hop (kind CLIENT, an egress listener), so that kind is kept here.
 */
function toZipkinSpan(s: FinishedSpan, serviceName: string): ZipkinSpan {
  const span: ZipkinSpan = {
    traceId: s.traceId,
    id: s.id,
    name: s.name,
    kind: 'CLIENT',
    timestamp: Math.round(s.startTimeMs * 1000),
    duration: Math.max(1, Math.round(s.durationMs * 1000)),
    localEndpoint: { serviceName },
    tags: s.tags as Record<string, string>,
  };
  if (s.parentId !== undefined) span.parentId = s.parentId;
  if (s.debug) span.debug = true;
  const remote = s.upstreamHost !== undefined ? endpointOf(s.upstreamHost) : undefined;
  if (remote) span.remoteEndpoint = remote;
  return span;
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
export class ZipkinExporter implements SpanExporter {
  private queue: ZipkinSpan[] = [];
  private inFlight: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly maxQueued: number;
  private readonly maxBatch: number;
  private readonly serviceName: string;
  private closed = false;

  /** @throws TypeError for an endpoint that is not an http(s) URL (the CLI checks it first). */
  constructor(
    opts: SpanExportOptions,
    private readonly stats: StatStore,
  ) {
    const url = collectorUrl(opts);
    this.path = `${url.pathname}${url.search}`;
    this.pool = new Pool(url.origin, { connections: 2, headersTimeout: 10_000, bodyTimeout: 10_000 });
    this.serviceName = opts.serviceName ?? DEFAULT_TRACING_SERVICE;
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
  add(span: FinishedSpan): boolean {
    if (this.closed || this.queue.length >= this.maxQueued) {
      this.stats.inc(ZipkinStats.spansDropped);
      return false;
    }
    this.queue.push(toZipkinSpan(span, this.serviceName));
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
