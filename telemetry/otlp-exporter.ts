/**
 * OTLP/HTTP span export (`--tracing-format otlp`, or an endpoint ending in `/v1/traces`), through
 * the OpenTelemetry SDK: the SDK's `BatchSpanProcessor` queues and batches, its OTLP exporter
 * encodes protobuf (`application/x-protobuf`, the OTLP/HTTP default that Jaeger, Tempo and the
 * Collector take on port 4318) and POSTs. What is ours is the span: the gateway decides ids,
 * parent and sampling itself (B3/W3C propagation in `tracing.ts`), so each finished stream is
 * handed to the processor as a ready `ReadableSpan` rather than recorded through the SDK's tracer.
 *
 * As Envoy's OpenTelemetry tracer reports it: resource `service.name` = the proxy's service
 * cluster (`<workload>.<namespace>`), kind SERVER for a gateway request (CLIENT on the mesh
 * listener), status ERROR for 5xx or no response, Envoy's tags as string attributes. 64-bit B3
 * trace ids are left-padded to the 128 bits OTLP requires (as `traceparent` carries them).
 * Stats: `tracing.opentelemetry.spans_sent`, `.http_reports_success`, `.http_reports_failed`,
 * `.spans_dropped` (exporter closed).
 */
import { SpanKind, SpanStatusCode, TraceFlags, type HrTime } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter as OtelSpanExporter,
} from '@opentelemetry/sdk-trace';
import {
  collectorUrl,
  DEFAULT_TRACING_SERVICE,
  type FinishedSpan,
  type SpanExporter,
  type SpanExportOptions,
} from './finished-span.js';
import type { StatStore } from './stats.js';

/** Stat names (Envoy's `tracing.opentelemetry.*` where Envoy has one). */
const OtlpStats = {
  spansSent: 'tracing.opentelemetry.spans_sent',
  spansDropped: 'tracing.opentelemetry.spans_dropped',
  reportsSuccess: 'tracing.opentelemetry.http_reports_success',
  reportsFailed: 'tracing.opentelemetry.http_reports_failed',
} as const;

const ZERO16 = '0000000000000000';
const SCOPE = { name: 'meshgate' } as const;

/** Epoch ms (fractional) → OpenTelemetry `[seconds, nanoseconds]`. */
function hrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/** A finished span as the SDK's `ReadableSpan` (ids as given; times from the stream record). */
function toReadableSpan(s: FinishedSpan, resource: Resource): ReadableSpan {
  const traceId = s.traceId.length === 16 ? ZERO16 + s.traceId : s.traceId;
  const ctx = { traceId, spanId: s.id, traceFlags: TraceFlags.SAMPLED };
  const durationMs = Math.max(0, s.durationMs);
  const span: ReadableSpan = {
    name: s.name,
    kind: s.kind === 'SERVER' ? SpanKind.SERVER : SpanKind.CLIENT,
    spanContext: () => ctx,
    parentSpanContext:
      s.parentId !== undefined
        ? { traceId, spanId: s.parentId, traceFlags: TraceFlags.SAMPLED, isRemote: true }
        : undefined,
    startTime: hrTime(s.startTimeMs),
    endTime: hrTime(s.startTimeMs + durationMs),
    duration: hrTime(durationMs),
    status: s.error ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.UNSET },
    attributes: s.tags,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
  return span;
}

/** Counts what the SDK's exporter reports per batch, then passes the result on. */
class CountingExporter implements OtelSpanExporter {
  constructor(
    private readonly inner: OtelSpanExporter,
    private readonly stats: StatStore,
  ) {}

  export(spans: ReadableSpan[], done: Parameters<OtelSpanExporter['export']>[1]): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        this.stats.inc(OtlpStats.reportsSuccess);
        this.stats.inc(OtlpStats.spansSent, spans.length);
      } else {
        this.stats.inc(OtlpStats.reportsFailed);
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * Sends finished spans to an OTLP/HTTP collector. Never throws to the caller: a collector that is
 * down or answers an error costs a counted failed report, never a request.
 */
export class OtlpExporter implements SpanExporter {
  private readonly processor: BatchSpanProcessor;
  private readonly resource: Resource;
  private closed = false;

  /** @throws TypeError for an endpoint that is not an http(s) URL (the CLI checks it first). */
  constructor(
    opts: SpanExportOptions,
    private readonly stats: StatStore,
  ) {
    collectorUrl(opts);
    this.resource = resourceFromAttributes({
      'service.name': opts.serviceName ?? DEFAULT_TRACING_SERVICE,
    });
    const exporter = new OTLPTraceExporter({ url: opts.endpoint, timeoutMillis: 10_000 });
    const maxQueueSize = opts.maxQueuedSpans ?? 1000;
    this.processor = new BatchSpanProcessor({
      exporter: new CountingExporter(exporter, stats),
      maxQueueSize,
      maxExportBatchSize: Math.min(opts.maxBatch ?? 100, maxQueueSize),
      scheduledDelayMillis: opts.flushIntervalMs ?? 1000,
      exportTimeoutMillis: 10_000,
    });
  }

  add(span: FinishedSpan): boolean {
    if (this.closed) {
      this.stats.inc(OtlpStats.spansDropped);
      return false;
    }
    this.processor.onEnd(toReadableSpan(span, this.resource));
    return true;
  }

  /** Sends what is queued (at most 2 s), then shuts the SDK's processor and exporter down. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((r) => (timer = setTimeout(r, 2000)));
    await Promise.race([this.processor.shutdown().catch(() => undefined), limit]);
    clearTimeout(timer);
  }
}
