/**
 * The router's per-stream state for a forward action (Envoy `Router::Filter`): picks the weighted
 * cluster and endpoint, builds the upstream head, sends tries with the route timeout, per-try
 * timeout and retries (gateway/http/retry-state.ts), copies to mirrors, and streams the response
 * back through the stream's encoders. Upstream failures become Envoy's local replies and flags.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { WeightedCluster } from '../../routes/route-table.js';
import { pickWeighted } from '../../routes/weighted-pick.js';
import { Admission } from '../../upstream/circuit-breaker.js';
import type { ClusterState } from '../../upstream/cluster-manager.js';
import type { EndpointState } from '../../upstream/endpoint-state.js';
import type { CookieSink } from '../../upstream/hash-policy.js';
import { mutateHeaderList, mutateHeaderObject, setInList, type HeaderObject } from '../header-ops.js';
import { classifyUpstreamError, Replies, type LocalReply } from '../local-reply.js';
import { ResponseFlag } from '../response-flags.js';
import type { ActiveStream, StreamCloseListener } from './active-stream.js';
import { MAX_MIRROR_BODY_BYTES, sendMirrors } from './mirror.js';
import { NO_RETRY_POLICY, RetryState } from './retry-state.js';
import { effectiveTimeout, parseGrpcTimeoutMs } from './grpc-timeout.js';
import {
  DownstreamAbort,
  RetryAbort,
  TimeoutAbort,
  UpstreamAttempt,
  type AttemptOwner,
} from './upstream-attempt.js';
import { applyRouteToUpstream, copyRequestHeaders } from './upstream-request-headers.js';
import { copyResponseHeaders, headerObjectOf, type RawHeaderItem } from './upstream-response-headers.js';
import { UpgradeTunnel } from './upgrade-tunnel.js';

/** Largest request body buffered so the request can be retried (Envoy buffers retried bodies up to its limit), bytes. */
const MAX_RETRY_BODY_BYTES = 64 * 1024;

const GRPC_DEADLINE: Readonly<Record<string, string>> = Object.freeze({ 'grpc-status': '4' });

/** Shared by routes without retries: never retries, never mutated. */
const NO_RETRIES = new RetryState(NO_RETRY_POLICY);

/** Router state of one forwarded stream. */
export class Router implements AttemptOwner, StreamCloseListener, CookieSink {
  attempt: UpstreamAttempt | undefined;
  /** `Set-Cookie` for a generated consistent-hash cookie (`httpCookie` with `ttl`). */
  setCookie: string | undefined;
  private readonly upHeaders: string[] = [];
  /** Upstream request target (after rewrite). */
  private path = '';
  private body: Readable | Buffer | null = null;
  private retry: RetryState = NO_RETRIES;
  private backoffTimer: NodeJS.Timeout | undefined;
  private routeTimer: NodeJS.Timeout | undefined;
  private clusterState: ClusterState | undefined;
  /** Consistent-hash key of the request, computed once for every try. */
  private hashKey: number | undefined;
  /** A DR `http.maxRetries` grant not yet carried by a retry attempt. */
  private retryGrant = false;
  private upstreamStartHr = 0;
  /**
   * Retry copy of a body streamed with {@link streamWithCopy}: `undefined` while it is arriving,
   * the complete body once it ended within the limit, `null` when it was too large; a body sent
   * whole (`Buffer`) or streamed without a copy leaves it `false`.
   */
  private replay: Buffer | null | undefined | false = false;
  /** The stream's timeout is the client's `grpc-timeout` (shorter than the route timeout). */
  private grpcDeadline = false;
  /** `grpc-status`/`grpc-message` of a trailers-only upstream response, sent as trailers downstream. */
  private grpcTrailers: HeaderObject | undefined;

  constructor(private readonly s: ActiveStream) {
    s.closeListener = this;
  }

  /** Runs a forward action: weighted pick, cluster and endpoint checks, upstream head, first try. */
  forward(clusters: readonly WeightedCluster[], totalWeight: number): void {
    const s = this.s;
    const ctx = s.ctx;
    const route = s.route!;
    const wc = pickWeighted(clusters, totalWeight);
    if (!wc) return this.reply(Replies.noRoute);
    s.picked = wc;
    const dest = wc.destination;
    s.upstreamCluster = dest.name;
    if (!dest.cluster) return this.reply(Replies.noCluster);
    let state = ctx.clusters.get(dest.cluster, ctx.stats);
    // Original destination: ServiceEntry `resolution: NONE`, PassthroughCluster → the request's host:port.
    if (state !== undefined && state.originalDestination)
      state = ctx.clusters.originalDestination(state, s.authority);
    if (!state || state.endpoints.length === 0) return this.reply(Replies.noHealthyUpstream);
    this.clusterState = state;
    const req = s.req;
    if (state.hashPolicy !== undefined) this.hashKey = state.hashPolicy.hash(req, s.url, this);

    const out = this.upHeaders;
    const announced = copyRequestHeaders(req.rawHeaders, clientAddress(s.socket), s.rt.scheme, out, s);
    const tc = s.transcoder;
    if (tc !== undefined) tc.upstreamHeaders(out);
    const extra = s.rt.extraRequestHeaders;
    if (extra !== undefined) {
      const add = extra(s.socket);
      if (add !== undefined) for (let i = 0; i < add.length; i++) out.push(add[i]!);
    }
    if (s.requestId === undefined) {
      s.requestId = randomUUID();
      out.push('x-request-id', s.requestId);
    }
    if (ctx.tracing !== undefined) {
      ctx.tracing.inject(out, req, s.requestId);
      s.traced = true;
    }
    this.path = applyRouteToUpstream(out, s.url, s.authority, route, wc, s.match);
    if (s.upgrade !== undefined) {
      return new UpgradeTunnel(s, s.upgrade, state, out, this.path).open(this.hashKey);
    }
    if (route.retry.numRetries > 0) this.retry = new RetryState(route.retry);
    let timeoutMs = route.timeoutMs;
    const grpcTimeout = req.headers['grpc-timeout'];
    if (grpcTimeout !== undefined) {
      const t = effectiveTimeout(timeoutMs, parseGrpcTimeoutMs(grpcTimeout));
      timeoutMs = t.ms;
      this.grpcDeadline = t.grpc;
    }
    if (timeoutMs > 0) this.routeTimer = setTimeout(this.onRouteTimeout, timeoutMs);
    if (s.codec.hasBody(req, announced)) {
      // A small body of known length is buffered so a retry can send it again; any other body
      // streams once and the request is not retried. A transcoded body's length is unknown.
      const body = tc === undefined ? req : tc.decodeBody(req);
      const cl = tc === undefined ? req.headers['content-length'] : undefined;
      const chunked = tc === undefined && req.headers['transfer-encoding'] !== undefined;
      const len = cl !== undefined && !chunked ? Number(cl) : NaN;
      if (this.retry.hasTriesLeft && len <= MAX_RETRY_BODY_BYTES) return this.bufferBody(len);
      // An HTTP/2 body without content-length (gRPC): see gatherThisTurn.
      if (cl === undefined && !chunked) return this.gatherThisTurn(body);
      // (An HTTP/1.1 chunked body streams once and is not retried.)
      this.body = body;
      this.retry.disable();
    }
    this.dispatch(undefined);
  }

  /**
   * Sends an HTTP/2 request body of unknown length (gRPC) at the end of this event-loop turn: a body
   * complete by then (a unary call: HEADERS and DATA in one read; at most the stream's flow-control
   * window) goes upstream as one Buffer, which can be retried and mirrored; undici's HTTP/2 client
   * spends about twice the CPU on a streamed body (bench/h2-upstream-clients.ts: 731 vs 310
   * cpu-µs/call, interleaved). A body still arriving streams on from there (a streaming call must
   * never wait for its end), with a copy kept for retries.
   */
  private gatherThisTurn(body: Readable): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let ended = false;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
    };
    const onEnd = (): void => {
      ended = true;
    };
    body.on('data', onData);
    body.once('end', onEnd);
    setImmediate(() => {
      body.pause();
      body.off('data', onData);
      body.off('end', onEnd);
      if (this.s.finished || this.s.res.headersSent) return;
      if (ended) this.body = Buffer.concat(chunks, size);
      else {
        for (let i = chunks.length - 1; i >= 0; i--) body.unshift(chunks[i]);
        if (this.retry.hasTriesLeft) {
          this.body = this.streamWithCopy(body);
          body.resume();
        } else this.body = body;
      }
      this.dispatch(undefined);
    });
  }

  /** Reads a small request body into memory, then sends the first try. */
  private bufferBody(length: number): void {
    const chunks: Buffer[] = [];
    const req = this.s.req;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      if (this.s.finished || this.s.res.headersSent) return;
      this.body = Buffer.concat(chunks, length);
      this.dispatch(undefined);
    });
  }

  /**
   * Streams a request body of unknown length as it arrives (a gRPC stream may wait for answers
   * before it ends) and keeps a copy for retries while it stays within {@link MAX_RETRY_BODY_BYTES},
   * as Envoy's router does; past that the request is no longer retried.
   */
  private streamWithCopy(req: Readable): Readable {
    const out = new PassThrough();
    const copy: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (this.replay !== null) {
        size += c.length;
        if (size > MAX_RETRY_BODY_BYTES) {
          this.replay = null;
          this.retry.disable();
        } else copy.push(c);
      }
      if (!out.write(c)) {
        req.pause();
        out.once('drain', () => req.resume());
      }
    });
    req.once('end', () => {
      if (this.replay !== null) this.replay = Buffer.concat(copy, size);
      out.end();
    });
    req.once('error', (err) => out.destroy(err));
    this.replay = undefined;
    return out;
  }

  /**
   * Whether another try can be sent: tries left, and a streamed body complete in the retry copy
   * (which then becomes the body of the next try).
   */
  private canRetry(): boolean {
    if (!this.retry.hasTriesLeft) return false;
    if (this.replay === undefined) return false;
    if (this.replay !== null && Buffer.isBuffer(this.replay)) this.body = this.replay;
    return true;
  }

  private dispatch(previous: EndpointState | undefined): void {
    const s = this.s;
    const state = this.clusterState!;
    if (previous === undefined && s.route!.mirrors.length > 0) this.startMirrors();
    const ep = state.pick(previous, this.hashKey);
    if (!ep) return this.reply(Replies.noHealthyUpstream);
    const attempt = new UpstreamAttempt(this, ep, state, this.retryGrant);
    this.retryGrant = false;
    // Circuit breaking (DR connectionPool): overflow is an immediate 503 UO, never retried.
    const admission = state.breaker === undefined ? Admission.Go : state.breaker.admit(attempt);
    if (admission === Admission.Overflow) return this.reply(Replies.overflow);
    this.attempt = attempt;
    ep.active++;
    s.upstreamHost = ep.endpoint.key;
    s.endpoint = ep.endpoint;
    this.upstreamStartHr = performance.now();
    const perTry = s.route!.retry.perTryTimeoutMs;
    if (perTry > 0) attempt.perTryTimer = setTimeout(() => this.onPerTryTimeout(attempt), perTry);
    if (admission === Admission.Go) this.send(attempt);
  }

  /** Puts an attempt's request on the wire (at once, or when the circuit breaker dequeues it). */
  send(attempt: UpstreamAttempt): void {
    attempt.endpoint.pool.dispatch(
      {
        path: this.path,
        method: (this.s.req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: this.upHeaders,
        body: this.body,
        idempotent: false,
        blocking: false,
        reset: false,
      },
      attempt,
    );
  }

  /**
   * DR `http.maxRetries`: false when the cluster has too many retries in flight; a grant is carried
   * by the retry attempt, or given back when the stream closes if none is made.
   */
  private retryBudget(): boolean {
    const cb = this.clusterState!.breaker;
    if (cb === undefined) return true;
    if (!cb.canRetry()) return false;
    this.retryGrant = true;
    return true;
  }

  private retryAfterBackoff(attempt: UpstreamAttempt): void {
    const delay = this.retry.next();
    setInList(this.upHeaders, 'x-envoy-attempt-count', String(this.retry.tries));
    this.s.ctx.stats.inc(`cluster.${this.s.upstreamCluster}.upstream_rq_retry`);
    const previous = attempt.endpoint;
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (!this.s.finished && !this.s.res.headersSent) this.dispatch(previous);
    }, delay);
  }

  /**
   * Sends the route's mirror copies with the first try. Bodiless requests and buffered bodies go
   * right after it; a streamed body of known length up to {@link MAX_MIRROR_BODY_BYTES} is teed
   * (the primary streams it as it arrives, the copies leave when it is complete); larger or chunked
   * bodies are not mirrored.
   */
  private startMirrors(): void {
    const s = this.s;
    const mirrors = s.route!.mirrors;
    const body = this.body;
    const method = s.req.method ?? 'GET';
    const send = (b: Buffer | null) =>
      sendMirrors(s.ctx, mirrors, method, this.path, this.upHeaders, s.authority, b);
    // Copies leave after the primary's first try is written (setImmediate runs after this tick).
    if (body === null || Buffer.isBuffer(body)) return void setImmediate(() => send(body));
    const h = s.req.headers;
    const len =
      h['content-length'] !== undefined && h['transfer-encoding'] === undefined
        ? Number(h['content-length'])
        : NaN;
    if (!(len <= MAX_MIRROR_BODY_BYTES)) return;
    const tee = new PassThrough();
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.once('end', () => send(Buffer.concat(chunks)));
    body.once('error', (err) => tee.destroy(err));
    body.pipe(tee);
    this.body = tee;
  }

  /**
   * An interim (1xx) upstream response: `103 Early Hints` goes on to the client (HTTP/1.1 and
   * HTTP/2 alike), other 1xx are dropped; the final response follows on the same try.
   */
  onUpstreamInformational(status: number, raw: readonly RawHeaderItem[]): void {
    const s = this.s;
    if (status !== 103 || s.res.headersSent || s.codec.isDestroyed(s.res)) return;
    const flat: string[] = [];
    copyResponseHeaders(raw, flat);
    const headers = headerObjectOf(flat);
    if (headers['link'] === undefined) return;
    s.res.writeEarlyHints(headers as Record<string, string | string[]>);
  }

  /** Upstream response headers arrived for the current attempt (`raw` as undici delivers them). */
  onUpstreamHeaders(attempt: UpstreamAttempt, status: number, raw: readonly RawHeaderItem[]): void {
    const s = this.s;
    const flat: string[] = [];
    const grpcAt = copyResponseHeaders(raw, flat);
    const retriable =
      this.retry.retriableStatus(status) || (grpcAt >= 0 && this.retry.retriableGrpcStatus(flat[grpcAt]!));
    if (retriable && this.canRetry() && this.retryBudget()) {
      attempt.release();
      attempt.abort(new RetryAbort());
      return this.retryAfterBackoff(attempt);
    }
    if (this.retry.limitExceeded(retriable)) s.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
    if (attempt.perTryTimer) clearTimeout(attempt.perTryTimer);
    if (this.routeTimer) {
      clearTimeout(this.routeTimer);
      this.routeTimer = undefined;
    }
    s.upstreamTimeMs = performance.now() - this.upstreamStartHr;
    flat.push('server', 'istio-envoy', 'x-envoy-upstream-service-time', String(Math.round(s.upstreamTimeMs)));
    const route = s.route!;
    const bodiless = status === 204 || status === 304 || s.req.method === 'HEAD';
    if (grpcAt < 0 && !bodiless && s.encodersIdle()) {
      // The common response: the route's and destination's header operations apply to the flat list,
      // which node serialises as is.
      if (route.responseHeaders) mutateHeaderList(flat, route.responseHeaders);
      if (s.picked?.responseHeaders) mutateHeaderList(flat, s.picked.responseHeaders);
      if (this.setCookie !== undefined) flat.push('set-cookie', this.setCookie);
      if (!s.codec.isDestroyed(s.res)) s.res.writeHead(status, flat);
      return;
    }
    const headers = headerObjectOf(flat);
    if (route.responseHeaders) mutateHeaderObject(headers, route.responseHeaders);
    if (s.picked?.responseHeaders) mutateHeaderObject(headers, s.picked.responseHeaders);
    if (this.setCookie !== undefined) appendHeader(headers, 'set-cookie', this.setCookie);
    // (A gRPC-Web stream's transcoder keeps a trailers-only head as it is, as Envoy's filter does.)
    if (headers['grpc-status'] !== undefined && s.transcoder === undefined) {
      this.grpcTrailers = takeGrpcStatus(headers);
    }
    if (bodiless) {
      // No body follows (RFC 9110 §6.4.1): the response is complete with its head. Bytes an upstream
      // sends anyway are not the client's, and its connection is not reused.
      if (status === 204) delete headers['content-length'];
      s.encodeHeaders(status, headers);
      this.attempt = undefined;
      attempt.abort(new RetryAbort());
      s.encodeTrailers(undefined);
      return;
    }
    s.encodeHeaders(status, headers);
  }

  onUpstreamData(attempt: UpstreamAttempt, chunk: Buffer): boolean {
    const s = this.s;
    if (s.encodeData(chunk) || s.codec.isDestroyed(s.res)) return true;
    s.res.once('drain', () => attempt.resume());
    return false;
  }

  /** The response ended; gRPC's `grpc-status` / `grpc-message` trailers (any trailers) go on. */
  onUpstreamEnd(trailers: HeaderObject | undefined): void {
    const all = this.grpcTrailers === undefined ? trailers : { ...this.grpcTrailers, ...trailers };
    const grpc = all?.['grpc-status'];
    if (grpc !== undefined) this.s.grpcStatus = Array.isArray(grpc) ? grpc[0] : grpc;
    this.s.encodeTrailers(all);
  }

  onUpstreamError(attempt: UpstreamAttempt, err: Error): void {
    if (err instanceof RetryAbort || err instanceof DownstreamAbort) return;
    if (err instanceof TimeoutAbort) return; // the timeout handler already answered
    const s = this.s;
    if (s.res.headersSent) {
      // Reset after the response started: nothing to send but a broken stream.
      s.addFlag(ResponseFlag.UpstreamRemoteReset);
      s.res.destroy();
      return;
    }
    const kind = classifyUpstreamError(err);
    const retriable = this.retry.retriableFailure(kind);
    if (retriable && this.canRetry() && this.retryBudget()) return this.retryAfterBackoff(attempt);
    const r =
      kind === 'connect-failure'
        ? Replies.connectFailure
        : kind === 'protocol-error'
          ? Replies.protocolError
          : Replies.connectionTermination;
    s.addFlag(r.flag);
    if (this.retry.limitExceeded(retriable)) s.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
    this.reply(r, undefined, false);
  }

  private onPerTryTimeout(attempt: UpstreamAttempt): void {
    if (this.attempt !== attempt || this.s.res.headersSent) return;
    attempt.release();
    attempt.abort(new RetryAbort());
    const retriable = this.retry.retriablePerTryTimeout();
    if (retriable && this.canRetry() && this.retryBudget()) return this.retryAfterBackoff(attempt);
    this.reply(Replies.timeout);
    if (this.retry.limitExceeded(retriable)) this.s.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
  }

  private readonly onRouteTimeout = (): void => {
    this.routeTimer = undefined;
    const a = this.attempt;
    if (a) {
      a.release();
      a.abort(new TimeoutAbort());
    }
    this.attempt = undefined;
    // A `grpc-timeout` deadline ends as DEADLINE_EXCEEDED; the route timeout as Envoy's 504.
    if (!this.s.res.headersSent) this.reply(Replies.timeout, this.grpcDeadline ? GRPC_DEADLINE : undefined);
    else this.s.res.destroy();
  };

  /** Sends a local reply (unless the response already started) and stops the timers. */
  private reply(r: LocalReply, extra?: Record<string, string>, addFlag = true): void {
    this.clearTimers();
    this.s.sendLocalReply(r, extra, addFlag);
  }

  private clearTimers(): void {
    if (this.routeTimer) {
      clearTimeout(this.routeTimer);
      this.routeTimer = undefined;
    }
    if (this.backoffTimer) {
      clearTimeout(this.backoffTimer);
      this.backoffTimer = undefined;
    }
  }

  onDownstreamClose(reset: boolean): void {
    if (this.retryGrant) this.clusterState!.breaker!.returnRetry();
    this.clearTimers();
    const a = this.attempt;
    if (reset && a && !a.released) {
      a.release();
      a.abort(new DownstreamAbort());
    }
  }
}

/** The client IP as Envoy appends it to x-forwarded-for (IPv4-mapped IPv6 unwrapped). */
function clientAddress(socket: Socket): string {
  const a = socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/**
 * Moves the gRPC status of a trailers-only response (status in the response head) out of the head:
 * it is sent downstream as trailers, which every gRPC client reads whatever frames carry them.
 */
function takeGrpcStatus(headers: HeaderObject): HeaderObject {
  const t: HeaderObject = { 'grpc-status': headers['grpc-status'] };
  delete headers['grpc-status'];
  for (const name of ['grpc-message', 'grpc-status-details-bin']) {
    if (headers[name] === undefined) continue;
    t[name] = headers[name];
    delete headers[name];
  }
  return t;
}

function appendHeader(h: HeaderObject, name: string, value: string): void {
  const prev = h[name];
  h[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
}
