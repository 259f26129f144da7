/**
 * A stand-in for a Jaeger/OpenTelemetry Collector OTLP/HTTP receiver: a real HTTP server on
 * 127.0.0.1:0 that takes `POST /v1/traces` with `content-type: application/x-protobuf`, decodes the
 * `ExportTraceServiceRequest` with protobufjs and answers 200 with an empty
 * `ExportTraceServiceResponse`, as the OTLP/HTTP specification describes.
 *
 * The schema below is the subset of opentelemetry-proto's `trace/v1/trace.proto`,
 * `common/v1/common.proto` and `resource/v1/resource.proto` that a span needs (field numbers and
 * types are the protocol's; unknown fields are skipped by the decoder).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { Scope scope = 1; repeated Span spans = 2; }
message Scope { string name = 1; string version = 2; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  Status status = 15;
}
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
  }
}
`;

const REQUEST = protobuf.parse(SCHEMA).root.lookupType('otlp.ExportTraceServiceRequest');

/** OTLP `Span.SpanKind` numbers. */
export const OTLP_KIND = { SERVER: 2, CLIENT: 3 } as const;

/** One received span, ids as lowercase hex, attributes flattened to strings. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty string for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: Readonly<Record<string, string>>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  /** The resource's `service.name`. */
  readonly serviceName: string | undefined;
}

/** The running receiver. */
export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>/v1/traces`. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Requests refused (wrong path, method or content type, or undecodable body). */
  readonly rejected: number;
  /** Resolves once a span satisfying `pred` has arrived. */
  waitForSpan(pred: (s: ReceivedSpan) => boolean): Promise<ReceivedSpan>;
  close(): Promise<void>;
}

interface DecodedKeyValue {
  key: string;
  value?: { stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number };
}

function flatten(kvs: DecodedKeyValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of kvs ?? []) {
    const v = kv.value ?? {};
    out[kv.key] = String(v.stringValue ?? v.boolValue ?? v.intValue ?? v.doubleValue ?? '');
  }
  return out;
}

function hex(b: Uint8Array | undefined): string {
  return b === undefined ? '' : Buffer.from(b).toString('hex');
}

/** Starts the receiver on an ephemeral loopback port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  let rejected = 0;
  const waiters: { pred: (s: ReceivedSpan) => boolean; resolve: (s: ReceivedSpan) => void }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (
        req.method !== 'POST' ||
        req.url !== '/v1/traces' ||
        req.headers['content-type'] !== 'application/x-protobuf'
      ) {
        rejected++;
        res.writeHead(415).end();
        return;
      }
      let decoded: Record<string, unknown>;
      try {
        decoded = REQUEST.toObject(REQUEST.decode(Buffer.concat(chunks)), { longs: String, bytes: Array });
      } catch {
        rejected++;
        res.writeHead(400).end();
        return;
      }
      const added: ReceivedSpan[] = [];
      type Rs = {
        resource?: { attributes?: DecodedKeyValue[] };
        scopeSpans?: {
          spans?: {
            traceId?: number[];
            spanId?: number[];
            parentSpanId?: number[];
            name?: string;
            kind?: number;
            startTimeUnixNano?: string;
            endTimeUnixNano?: string;
            attributes?: DecodedKeyValue[];
            status?: { code?: number };
          }[];
        }[];
      };
      for (const rs of (decoded['resourceSpans'] ?? []) as Rs[]) {
        const serviceName = flatten(rs.resource?.attributes)['service.name'];
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            added.push({
              traceId: hex(s.traceId && Uint8Array.from(s.traceId)),
              spanId: hex(s.spanId && Uint8Array.from(s.spanId)),
              parentSpanId: hex(s.parentSpanId && Uint8Array.from(s.parentSpanId)),
              name: s.name ?? '',
              kind: s.kind ?? 0,
              startTimeUnixNano: BigInt(s.startTimeUnixNano ?? '0'),
              endTimeUnixNano: BigInt(s.endTimeUnixNano ?? '0'),
              attributes: flatten(s.attributes),
              statusCode: s.status?.code ?? 0,
              serviceName,
            });
          }
        }
      }
      spans.push(...added);
      // An empty ExportTraceServiceResponse: full success.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      for (const w of waiters.splice(0)) {
        const hit = spans.find(w.pred);
        if (hit) w.resolve(hit);
        else waiters.push(w);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    spans,
    get rejected() {
      return rejected;
    },
    waitForSpan: (pred) => {
      const hit = spans.find(pred);
      return hit ? Promise.resolve(hit) : new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
