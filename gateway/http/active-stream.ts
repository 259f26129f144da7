/**
 * One downstream request as the connection manager tracks it (Envoy `ActiveStream` plus its
 * `StreamInfo`): the request head and selected route, the position in the filter chain, local
 * replies, the response head passing the encoders, and what the access log and metrics record
 * when the stream closes. Codec-neutral: HTTP/1.1 and HTTP/2 differ only through `codec`.
 */
import type { RouteEntry, CompiledMatch, WeightedCluster, HeaderMutation } from '../../routes/route-table.js';
import type { ClusterEndpoint } from '../../config/cluster.js';
import { mutateHeaderObject, type HeaderObject } from '../header-ops.js';
import type { LocalReply } from '../local-reply.js';
import { ResponseFlag, type ResponseFlagValue } from '../response-flags.js';
import type { DownstreamCodec, DownstreamRequest, DownstreamResponse } from './downstream-codec.js';
import { FilterStatus, type HttpFilter, type StreamTranscoder } from './filter.js';
import { grpcWebRequestMode, grpcWebResponseType } from './grpc-web-codec.js';
import type { ListenerRuntime, ProxyContext } from './proxy-context.js';
import { grpcStatusTrailers, isGrpcContentType } from './grpc-status.js';
import { buildStreamRecord } from './stream-record.js';
import type { UpgradeRequest } from './upgrade.js';

/** A filter of this connection manager's chain. */
export type StreamFilter = HttpFilter<ActiveStream>;

/** A filter's per-stream state that must hear when the downstream goes away (the router's). */
export interface StreamCloseListener {
  /** The downstream stream closed; `reset` when the response did not finish (flag DC). */
  onDownstreamClose(reset: boolean): void;
}

/** State of one downstream request; created by the connection manager per request. */
export class ActiveStream {
  readonly startTime = Date.now();
  readonly startHr = performance.now();
  /** Origin-form target as received (absolute-form reduced to its path). */
  url = '';
  /** `Host` / `:authority` (or the absolute-form URI's authority), port included. */
  authority = '';
  route: RouteEntry | undefined;
  match: CompiledMatch | undefined;
  /** Envoy response flags, in the order they were raised; undefined when none. */
  flags: ResponseFlagValue[] | undefined;
  /** Envoy's `%RESPONSE_CODE_DETAILS%`. */
  details = 'via_upstream';
  requestId: string | undefined;
  /** Response body bytes sent downstream. */
  bytesSent = 0;
  /** The downstream stream closed. */
  finished = false;
  /** CORS filter: the allowed `Origin` whose response gets the CORS headers. */
  corsOrigin: string | undefined;
  /** `grpc-status` a gRPC stream ended with (metrics label `grpc_response_status`). */
  grpcStatus: string | undefined;
  /** The tracer saw this request on its way upstream (it opened the span). */
  traced = false;
  /** Upstream side of the stream info (set by the router). */
  upstreamCluster: string | undefined;
  upstreamHost: string | undefined;
  endpoint: ClusterEndpoint | undefined;
  picked: WeightedCluster | undefined;
  upstreamTimeMs: number | undefined;
  /** Set for an upgrade request (HTTP/1.1 `Upgrade`, HTTP/2 CONNECT): its connection or stream and early bytes. */
  upgrade: UpgradeRequest | undefined;
  /**
   * Status of a tunnel's response head (HTTP/1.1: the raw `101` or refusal; HTTP/2 extended CONNECT:
   * `200` or the refusal); 0 otherwise. A stream with one ends when its tunnel closes, not by a reset.
   */
  rawResponseCode = 0;
  /** Bytes received from downstream when the stream counts them (tunnels); else the codec's body count. */
  bytesReceived: number | undefined;
  /** A filter's body transcoding for this stream (gRPC-Web); undefined for most streams. */
  transcoder: StreamTranscoder | undefined;
  /** The router's per-stream state, told when the downstream closes. */
  closeListener: StreamCloseListener | undefined;
  /** The connection's socket, captured at start: Node detaches it from the request before `close`. */
  readonly socket: DownstreamRequest['socket'];
  /** Index of the filter whose decode step runs next. */
  private next = 0;

  constructor(
    readonly req: DownstreamRequest,
    readonly res: DownstreamResponse,
    readonly codec: DownstreamCodec,
    readonly rt: ListenerRuntime,
    readonly ctx: ProxyContext,
    private readonly filters: readonly StreamFilter[],
  ) {
    this.socket = codec.connectionSocket(req);
    // `on`, not `once`: a response closes once, and `once` wraps and later unwraps the listener per request.
    res.on('close', this.onClose);
  }

  addFlag(flag: ResponseFlagValue): void {
    (this.flags ??= []).push(flag);
  }

  /**
   * Runs the decode steps of the remaining filters until one stops the chain. A filter that
   * stopped calls this again to resume (after a fault delay).
   */
  continueDecoding(): void {
    const filters = this.filters;
    while (this.next < filters.length && !this.finished) {
      if (filters[this.next++]!.decodeHeaders(this) === FilterStatus.StopIteration) return;
    }
  }

  /** Passes an upstream response head through the encoders (reverse chain order) without sending it. */
  runEncoders(status: number, headers: HeaderObject): void {
    const filters = this.filters;
    for (let i = filters.length - 1; i >= 0; i--) filters[i]!.encodeHeaders?.(this, status, headers);
  }

  /** Whether no filter of the chain changes this stream's response head (it may pass as received). */
  encodersIdle(): boolean {
    const filters = this.filters;
    for (let i = 0; i < filters.length; i++) {
      const f = filters[i]!;
      if (f.encodeHeaders !== undefined && f.encodesHeaders?.(this) !== false) return false;
    }
    return true;
  }

  /** Passes an upstream response head through the encoders (reverse chain order) and sends it. */
  encodeHeaders(status: number, headers: HeaderObject): void {
    this.runEncoders(status, headers);
    if (this.codec.isDestroyed(this.res) || this.transcoder?.holdsHead === true) return;
    this.res.writeHead(status, headers as Record<string, string | string[]>);
  }

  /** Response body bytes from upstream; false when the downstream buffer is full (wait for drain). */
  encodeData(chunk: Buffer): boolean {
    const tc = this.transcoder;
    if (tc !== undefined) {
      chunk = tc.encodeData(chunk);
      if (chunk.length === 0) return true;
    }
    this.bytesSent += chunk.length;
    return this.res.write(chunk);
  }

  /** Ends the response with the upstream's trailers (gRPC's `grpc-status`…; any trailers). */
  encodeTrailers(trailers: HeaderObject | undefined): void {
    if (this.transcoder !== undefined) return this.transcoder.encodeTrailers(trailers);
    if (trailers !== undefined && hasKeys(trailers)) {
      this.res.addTrailers(trailers as Record<string, string | string[]>);
    }
    this.res.end();
  }

  /** Sends a local reply unless the response already started. */
  sendLocalReply(r: LocalReply, extra?: Record<string, string>, addFlag = true): void {
    if (addFlag && r.flag) this.addFlag(r.flag as ResponseFlagValue);
    this.details = r.details;
    if (this.res.headersSent || this.codec.isDestroyed(this.res)) return;
    const web = grpcWebRequestMode(this.rt.listener.protocol, this.req.headers);
    if (web !== undefined) {
      // Envoy answers a gRPC-Web request (a gRPC request once its filter ran) trailers-only: HTTP
      // 200 with the status in the head, no body. The encoders run: a browser needs the CORS headers.
      const headers: Record<string, string> = {
        server: 'istio-envoy',
        'content-type': grpcWebResponseType(web),
      };
      if (r.headers) Object.assign(headers, r.headers);
      Object.assign(headers, grpcStatusTrailers(r.status, r.body, extra?.['grpc-status']));
      // Envoy's HTTP/1 codec gives a head that ends the stream `content-length: 0`; HTTP/2 needs none.
      if (this.req.httpVersion !== '2.0') headers['content-length'] = '0';
      this.grpcStatus = headers['grpc-status'];
      this.runEncoders(200, headers);
      this.res.writeHead(200, headers);
      this.res.end();
      return;
    }
    if (isGrpcContentType(this.req.headers['content-type'])) {
      // gRPC clients read the status from grpc-status: Envoy answers HTTP 200 with the status
      // mapped from the HTTP one; it is sent as trailers, which every gRPC client reads.
      const headers: Record<string, string> = { server: 'istio-envoy', 'content-type': 'application/grpc' };
      if (r.headers) Object.assign(headers, r.headers);
      this.res.writeHead(200, headers);
      const trailers = grpcStatusTrailers(r.status, r.body, extra?.['grpc-status']);
      this.grpcStatus = trailers['grpc-status'];
      this.res.addTrailers(trailers);
      this.res.end();
      return;
    }
    this.bytesSent = this.codec.writeLocalReply(this.res, r, extra);
  }

  /** Answers with a redirect (Envoy's redirect action / `require_tls`), with the route's response headers. */
  sendRedirect(status: number, location: string, responseHeaders?: HeaderMutation): void {
    this.details = 'direct_response';
    const headers: HeaderObject = { server: 'istio-envoy', location, 'content-length': '0' };
    if (responseHeaders) mutateHeaderObject(headers, responseHeaders);
    this.res.writeHead(status, headers as Record<string, string | string[]>);
    this.res.end();
  }

  /** Answers with a route's `directResponse`, with the route's response headers. */
  sendDirectResponse(status: number, body: Buffer | undefined, responseHeaders?: HeaderMutation): void {
    this.details = 'direct_response';
    const headers: HeaderObject = { server: 'istio-envoy', 'content-length': String(body?.length ?? 0) };
    if (body && body.length > 0) headers['content-type'] = 'text/plain';
    if (responseHeaders) mutateHeaderObject(headers, responseHeaders);
    this.res.writeHead(status, headers as Record<string, string | string[]>);
    this.bytesSent = body?.length ?? 0;
    this.res.end(body);
  }

  private readonly onClose = (): void => {
    this.finished = true;
    for (let i = 0; i < this.next; i++) this.filters[i]!.onDestroy?.(this);
    // A tunnel (or a refusal passed through raw) ends when its connection closes: not a reset.
    const reset = this.rawResponseCode === 0 && this.codec.closedEarly(this.res);
    if (reset) this.addFlag(ResponseFlag.DownstreamConnectionTermination);
    this.closeListener?.onDownstreamClose(reset);
    const ctx = this.ctx;
    if (!ctx.accessLog.enabled && !ctx.observer.enabled) return;
    const record = buildStreamRecord(this);
    if (ctx.accessLog.enabled) ctx.accessLog.log(record);
    if (ctx.observer.enabled) ctx.observer.onHttp(record, this.picked?.destination.cluster, this.endpoint);
  };
}

function hasKeys(o: object): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}
