/**
 * A finished gateway span, independent of the wire format, and the contract of the exporters that
 * send it (`zipkin-exporter.ts`, `otlp-exporter.ts`). The tracer (`tracing.ts`) produces them.
 */

/** The reporting service when none is given: Istio's ingress gateway (`<workload>.<namespace>`). */
export const DEFAULT_TRACING_SERVICE = 'istio-ingressgateway.istio-system';

/**
 * The collector URL of `opts`.
 * @throws TypeError for an endpoint that is not an http(s) URL (the CLI checks it first).
 */
export function collectorUrl(opts: SpanExportOptions): URL {
  const url = new URL(opts.endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`tracing endpoint must be an http(s) URL: ${opts.endpoint}`);
  }
  return url;
}

/** Collector settings shared by the exporters. */
export interface SpanExportOptions {
  /**
   * Collector URL: OTLP/HTTP (`http://127.0.0.1:4318/v1/traces`) or Zipkin v2
   * (`http://127.0.0.1:9411/api/v2/spans`).
   */
  readonly endpoint: string;
  /** The reporting service: Zipkin `localEndpoint.serviceName`, OTLP resource `service.name`; Istio uses `<workload>.<namespace>`. */
  readonly serviceName?: string;
  /** How often queued spans are sent, ms; default 1000. */
  readonly flushIntervalMs?: number;
  /** Spans kept waiting for export at most; more are dropped; default 1000. */
  readonly maxQueuedSpans?: number;
  /** Spans per POST at most; default 100. */
  readonly maxBatch?: number;
}

/** Span kinds meshgate emits (Zipkin and OTLP names agree). */
type GatewaySpanKind = 'SERVER' | 'CLIENT';

/**
 * One finished span, independent of the wire format: what both exporters are given. Ids are
 * lowercase hex (trace id 16 or 32 characters, span ids 16); times in ms.
 */
export interface FinishedSpan {
  readonly traceId: string;
  readonly id: string;
  readonly parentId: string | undefined;
  /** Envoy's operation name (see the module comment). */
  readonly name: string;
  readonly kind: GatewaySpanKind;
  /** Epoch ms. */
  readonly startTimeMs: number;
  readonly durationMs: number;
  /** Envoy's span tags, string-valued as Envoy sets them. */
  readonly tags: Readonly<Record<string, string>>;
  /** The upstream `host:port` that answered, when one did. */
  readonly upstreamHost: string | undefined;
  /** B3 debug (`x-b3-flags: 1`). */
  readonly debug: boolean;
  /** true when the span failed (5xx or no response): OTLP status ERROR, Zipkin tag `error`. */
  readonly error: boolean;
}

/** Where finished spans go: the Zipkin or OTLP exporter. */
export interface SpanExporter {
  /** Queues a span; @returns false when it was dropped (queue full or exporter closed). */
  add(span: FinishedSpan): boolean;
  /** Sends what is queued (bounded wait) and releases the connection. */
  close(): Promise<void>;
}
