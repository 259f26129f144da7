/**
 * The HTTP router filter: one `HttpStream` per downstream request. Route lookup against the
 * listener's current route table, then (Envoy filter order) fault → redirect / direct response /
 * forward with rewrite, headers, timeout, retries and mirrors. Upstream failures become Envoy's
 * local replies and response flags; nothing here throws to the client.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Listener } from '../config/listener.js';
import type {
  RouteEntry,
  WeightedCluster,
  RequestView,
  CompiledMatch,
  HeaderMutation,
} from '../routes/route-table.js';
import type { AccessLogger, StreamRecord } from '../telemetry/access-log.js';
import type { StatStore } from '../telemetry/stats.js';
import type { StreamObserver } from '../telemetry/observer.js';
import type { TraceInjector } from '../telemetry/tracing.js';
import type { ConnectionDrain } from './connection-drain.js';
import type { ClusterEndpoint } from '../config/cluster.js';
import type { ClusterManager, ClusterState } from '../upstream/cluster-manager.js';
import type { EndpointState } from '../upstream/endpoint-state.js';
import { PassThrough, type Readable } from 'node:stream';
import { Admission, TicketState, type BreakerTicket } from '../upstream/circuit-breaker.js';
import { applyEdgeRequestPolicy } from './http/edge-request.js';
import { allowedOrigin, answerPreflight, applyCorsHeaders } from './cors.js';
import { classifyUpstreamError, Replies, writeLocalReply, type LocalReply } from './local-reply.js';
import { ResponseFlag } from './response-flags.js';
import { pickWeighted } from '../routes/weighted-pick.js';
import { socketAddresses } from '../telemetry/socket-addresses.js';
import {
  HOP_BY_HOP,
  getFromList,
  mutateHeaderList,
  mutateHeaderObject,
  setInList,
  type HeaderObject,
} from './header-ops.js';

/** Per bound HTTP listener: the compiled listener of the live snapshot, replaced on every swap. */
export interface ListenerRuntime {
  listener: Listener;
  readonly scheme: 'http' | 'https';
  /**
   * TLS-terminating chains only (issue 3): connection-level upstream request headers, i.e. Envoy's
   * `x-forwarded-client-cert` under Istio's SANITIZE_SET. Incoming XFCC is always removed; when this
   * is present the returned `[name, value, ...]` pairs (lowercase names) are appended; plaintext
   * listeners leave it unset.
   */
  readonly extraRequestHeaders?: (req: IncomingMessage) => readonly string[] | undefined;
}

/** Shared services of the data path. */
export interface ProxyContext {
  readonly clusters: ClusterManager;
  readonly accessLog: AccessLogger;
  readonly stats: StatStore;
  /** Metrics/tracing hook; `NO_OBSERVER` when off. */
  readonly observer: StreamObserver;
  /** Trace propagation (issue 6); undefined when tracing is off, so the data path does no trace work. */
  readonly tracing?: TraceInjector;
  /** Shutdown draining: told where each response starts (gateway/connection-drain.ts). */
  readonly drain?: ConnectionDrain;
}

/** Largest request body buffered so the request can be retried (Envoy buffers retried bodies up to its limit), bytes. */
export const MAX_RETRY_BODY_BYTES = 64 * 1024;
/** Largest streamed request body copied to mirrors (issue 5), bytes; it is held in memory until complete. */
export const MAX_MIRROR_BODY_BYTES = 64 * 1024;
/** Envoy's retry back-off base interval, ms (fully jittered, exponential). */
export const RETRY_BACKOFF_BASE_MS = 25;
/** Envoy's retry back-off ceiling: 10 × the base interval, ms. */
export const RETRY_BACKOFF_MAX_MS = 250;

class RetryAbort extends Error {}
class TimeoutAbort extends Error {}
class DownstreamAbort extends Error {}

/** One try of the request against one endpoint; isolates late callbacks of abandoned tries. */
class UpstreamAttempt implements Dispatcher.DispatchHandler, BreakerTicket {
  controller: Dispatcher.DispatchController | undefined;
  released = false;
  perTryTimer: NodeJS.Timeout | undefined;
  /** Circuit-breaker bookkeeping (issue 5, upstream/circuit-breaker.ts). */
  cbState: number = TicketState.None;
  /** Upstream status once headers arrived; 0 before (outlier detection input). */
  status = 0;

  constructor(
    readonly stream: HttpStream,
    readonly endpoint: EndpointState,
    readonly cluster: ClusterState,
    readonly isRetry: boolean,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.endpoint.active--;
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    if (this.cbState !== TicketState.None) this.cluster.breaker!.release(this);
  }

  /** The circuit breaker hands a queued attempt its connection slot. */
  start(): void {
    this.stream.send(this);
  }

  /**
   * Outlier detection input (issue 5): the status of this try, else a local-origin failure as
   * Envoy counts it without split local-origin errors (timeout 504; connect failure or reset 503).
   * A try abandoned because the client left reports nothing.
   */
  private outcome(err: Error | undefined): void {
    const od = this.cluster.outlier;
    if (od === undefined || err instanceof DownstreamAbort) return;
    if (err === undefined) od.report(this.endpoint.endpoint.key, this.status);
    else if (this.status === 0)
      od.report(
        this.endpoint.endpoint.key,
        err instanceof RetryAbort || err instanceof TimeoutAbort ? 504 : 503,
      );
  }

  abort(err: Error): void {
    const c = this.controller;
    if (c && !c.aborted) c.abort(err);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cbState === TicketState.Connecting) this.cluster.breaker!.started(this);
    if (this.stream.attempt !== this) controller.abort(new RetryAbort());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: HeaderObject,
  ): void {
    this.status = statusCode;
    this.outcome(undefined);
    if (this.stream.attempt !== this) return controller.abort(new RetryAbort());
    this.stream.onUpstreamHeaders(this, statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.stream.attempt !== this) return;
    this.stream.onUpstreamData(controller, chunk);
  }

  onResponseEnd(): void {
    this.release();
    if (this.stream.attempt === this) this.stream.onUpstreamEnd();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.outcome(err);
    this.release();
    if (this.stream.attempt === this) this.stream.onUpstreamError(this, err);
  }
}

/** Handles one downstream request. */
export class HttpStream {
  attempt: UpstreamAttempt | undefined;
  private readonly startTime = Date.now();
  private readonly startHr = performance.now();
  private flags: string[] | undefined;
  private details = 'via_upstream';
  private route: RouteEntry | undefined;
  private authority = '';
  private url = '';
  private requestId: string | undefined;
  private upstreamCluster: string | undefined;
  private upstreamHost: string | undefined;
  private endpoint: ClusterEndpoint | undefined;
  private upstreamStartHr = 0;
  private upstreamTimeMs: number | undefined;
  private bytesSent = 0;
  private upHeaders: string[] = [];
  private body: Readable | Buffer | null = null;
  /** False once a streamed body was sent: the request cannot be sent again (no retry, no URX). */
  private replayable = true;
  private backoffTimer: NodeJS.Timeout | undefined;
  private clusterState: ClusterState | undefined;
  private picked: WeightedCluster | undefined;
  private triesLeft = 0;
  /** Tries made so far (`x-envoy-attempt-count`). */
  private tries = 1;
  private routeTimer: NodeJS.Timeout | undefined;
  private finished = false;
  /** Consistent-hash key of the request (issue 5), computed once for every try. */
  private hashKey: number | undefined;
  /** `Set-Cookie` for a generated consistent-hash cookie (`httpCookie` with `ttl`). */
  setCookie: string | undefined;
  /** Allowed `Origin` of a CORS request: its response gets the CORS headers. */
  private corsOrigin: string | undefined;
  /** A `maxRetries` grant not yet carried by a retry attempt. */
  private retryGrant = false;
  /** The tracer opened this request's span (it reached the router's forward step). */
  private traced = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly rt: ListenerRuntime,
    private readonly ctx: ProxyContext,
  ) {
    this.socket = req.socket;
    res.once('close', this.onClose);
  }

  /** Captured at start: Node detaches the socket from the request before `close`. */
  private readonly socket: IncomingMessage['socket'];

  private addFlag(flag: string): void {
    (this.flags ??= []).push(flag);
  }

  /** Entry point: route and act. */
  run(): void {
    const req = this.req;
    if (req.httpVersionMinor === 0 && req.httpVersionMajor === 1) return this.reply(Replies.http10);
    // ---- edge hook: header limits, fragment / duplicate Host / %00 → 4xx, BASE path normalization and
    // internal x-envoy-* headers stripped, before anything reads the path (gateway/http/edge-request.ts).
    const edgeReply = applyEdgeRequestPolicy(req, this.rt.listener.mesh === undefined);
    if (edgeReply !== undefined) return this.reply(edgeReply);
    // ---- end edge hook
    // HTTP/1.1 requires Host (RFC 9112 §3.2). Node rejects it before this point unless the server
    // opts out, as the mesh listener does so the refusal is access-logged.
    if (req.headers.host === undefined) return this.reply(Replies.badRequest);
    let url = req.url ?? '/';
    let authority = req.headers.host ?? '';
    if (url.charCodeAt(0) !== 47 /* '/' */ && url !== '*') {
      // Absolute-form target: the authority in the URI wins over Host (RFC 9112 §3.2.2).
      const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(url);
      if (!m || m[1] === '') return this.reply(Replies.badRequest);
      authority = m[1]!;
      url = m[2] || '/';
    }
    this.url = url;
    this.authority = authority;
    const q = url.indexOf('?');
    const view: RequestView = {
      method: req.method ?? 'GET',
      url,
      pathEnd: q < 0 ? url.length : q,
      authority,
      scheme: this.rt.scheme,
      headers: req.headers,
    };
    const rc = this.rt.listener.routeConfig;
    const m = rc?.route(view);
    // Envoy `require_tls` is a virtual-host property: it redirects before (and without) a route.
    if (m?.virtualHost?.requireTls && this.rt.scheme === 'http') {
      return this.redirectTo(301, `https://${stripDefaultPort(authority)}${url}`);
    }
    if (!m || !m.route) return this.reply(Replies.noRoute);
    const route = m.route;
    this.route = route;
    const cors = route.cors;
    if (cors !== undefined) {
      // Envoy's CORS filter runs before fault injection and the router (issue 5, gateway/cors.ts).
      if (answerPreflight(cors, req, this.res)) return void (this.details = 'cors_response');
      this.corsOrigin = allowedOrigin(cors, req);
    }
    const fault = route.fault;
    if (fault) {
      if (fault.delay && fault.delay.fraction > 0 && Math.random() < fault.delay.fraction) {
        this.addFlag(ResponseFlag.DelayInjected);
        setTimeout(() => {
          if (!this.finished) this.afterDelay(route, m.match);
        }, fault.delay.ms);
        return;
      }
    }
    this.afterDelay(route, m.match);
  }

  private afterDelay(route: RouteEntry, match: CompiledMatch | undefined): void {
    const abort = route.fault?.abort;
    if (abort && abort.fraction > 0 && Math.random() < abort.fraction) {
      this.addFlag(ResponseFlag.FaultInjected);
      const extra = abort.grpcStatus ? { 'grpc-status': grpcCode(abort.grpcStatus) } : undefined;
      return this.reply(
        {
          status: abort.grpcStatus ? 200 : abort.status,
          flag: undefined,
          body: 'fault filter abort',
          details: 'fault_filter_abort',
        },
        extra,
      );
    }
    const action = route.action;
    switch (action.kind) {
      case 'redirect':
        return this.redirect(action, match);
      case 'direct': {
        this.details = 'direct_response';
        const body = action.body;
        const headers: HeaderObject = { server: 'istio-envoy', 'content-length': String(body?.length ?? 0) };
        if (body && body.length > 0) headers['content-type'] = 'text/plain';
        if (route.responseHeaders) mutateHeaderObject(headers, route.responseHeaders);
        this.res.writeHead(action.status, headers);
        this.bytesSent = body?.length ?? 0;
        this.res.end(body);
        return;
      }
      case 'forward':
        return this.forward(route, action.clusters, action.totalWeight, match);
    }
  }

  private forward(
    route: RouteEntry,
    clusters: readonly WeightedCluster[],
    totalWeight: number,
    match: CompiledMatch | undefined,
  ): void {
    const wc = pickWeighted(clusters, totalWeight);
    if (!wc) return this.reply(Replies.noRoute);
    this.picked = wc;
    const dest = wc.destination;
    this.upstreamCluster = dest.name;
    if (!dest.cluster) return this.reply(Replies.noCluster);
    let state = this.ctx.clusters.get(dest.cluster, this.ctx.stats);
    // Original destination (issue 4): ServiceEntry `resolution: NONE`, PassthroughCluster → the request's host:port.
    if (state !== undefined && state.originalDestination)
      state = this.ctx.clusters.originalDestination(state, this.authority);
    if (!state || state.endpoints.length === 0) return this.reply(Replies.noHealthyUpstream);
    this.clusterState = state;
    if (state.hashPolicy !== undefined) this.hashKey = state.hashPolicy.hash(this.req, this.url, this);

    // Upstream request headers: hop-by-hop removed, forwarding headers set (edge proxy semantics).
    const req = this.req;
    const raw = req.rawHeaders;
    const out = this.upHeaders;
    let connectionTokens: string | undefined;
    let xff: string | undefined;
    let hasBody = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (HOP_BY_HOP.has(name)) {
        if (name === 'connection') connectionTokens = value.toLowerCase();
        else if (name === 'transfer-encoding') hasBody = true;
        continue;
      }
      switch (name) {
        case 'host':
        case 'x-forwarded-proto':
        case 'x-envoy-attempt-count':
        case 'expect':
        case 'x-forwarded-client-cert': // SANITIZE_SET: only the TLS hook below sets it, from a verified certificate.
          continue;
        case 'x-forwarded-for':
          xff = xff === undefined ? value : `${xff},${value}`;
          continue;
        case 'x-request-id':
          this.requestId = value;
          break;
        case 'content-length':
          if (value !== '0') hasBody = true;
          break;
      }
      out.push(name, value);
    }
    if (connectionTokens) {
      // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
      const named = new Set(connectionTokens.split(',').map((t) => t.trim()));
      for (let i = out.length - 2; i >= 0; i -= 2) if (named.has(out[i]!)) out.splice(i, 2);
    }
    const client = clientAddress(req);
    out.push('x-forwarded-for', xff === undefined ? client : `${xff}, ${client}`);
    out.push('x-forwarded-proto', this.rt.scheme);
    // ---- TLS hook (issue 3): XFCC sanitize-and-set; see ListenerRuntime.extraRequestHeaders.
    const extra = this.rt.extraRequestHeaders;
    if (extra !== undefined) {
      const add = extra(req);
      if (add !== undefined) for (let i = 0; i < add.length; i++) out.push(add[i]!);
    }
    // ---- end TLS hook
    if (this.requestId === undefined) {
      this.requestId = randomUUID();
      out.push('x-request-id', this.requestId);
    }
    // ---- tracing hook (issue 6): B3/W3C context for the upstream request; see ProxyContext.tracing.
    if (this.ctx.tracing !== undefined) {
      this.ctx.tracing.inject(out, req, this.requestId);
      this.traced = true;
    }
    // ---- end tracing hook
    let path = this.url;
    const rw = route.rewrite;
    let host = this.authority;
    if (rw) {
      const q = path.indexOf('?');
      const p = q < 0 ? path : path.slice(0, q);
      const query = q < 0 ? '' : path.slice(q);
      let np = p;
      if (rw.uri !== undefined) {
        np = match?.uriPrefix !== undefined ? rw.uri + p.slice(match.uriPrefix.length) : rw.uri;
        if (np === '') np = '/';
      } else if (rw.regex) {
        rw.regex.pattern.lastIndex = 0;
        np = p.replace(rw.regex.pattern, rw.regex.substitution);
      }
      if (np !== p) {
        out.push('x-envoy-original-path', this.url);
        path = np + query;
      }
    }
    const hostRewrite = route.hostRewrite ?? wc.hostRewrite;
    if (hostRewrite !== undefined) host = hostRewrite;
    if (route.requestHeaders) mutateHeaderList(out, route.requestHeaders);
    if (wc.requestHeaders) mutateHeaderList(out, wc.requestHeaders);
    out.push('host', host);
    if (route.timeoutMs > 0) out.push('x-envoy-expected-rq-timeout-ms', String(route.timeoutMs));
    out.push('x-envoy-attempt-count', '1');
    this.url = path;
    this.triesLeft = route.retry.numRetries;
    if (route.timeoutMs > 0) this.routeTimer = setTimeout(this.onRouteTimeout, route.timeoutMs);
    if (hasBody) {
      // A small body of known length is buffered so a retry can send it again; any other body
      // streams once and the request is not retried.
      const cl = req.headers['content-length'];
      const len = cl !== undefined && req.headers['transfer-encoding'] === undefined ? Number(cl) : NaN;
      if (this.triesLeft > 0 && len <= MAX_RETRY_BODY_BYTES) return this.bufferBody(len);
      this.body = req;
      this.triesLeft = 0;
      this.replayable = false;
    }
    this.dispatch(undefined);
  }

  /** Reads a small request body into memory, then sends the first try. */
  private bufferBody(length: number): void {
    const chunks: Buffer[] = [];
    const req = this.req;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      if (this.finished || this.res.headersSent) return;
      this.body = Buffer.concat(chunks, length);
      this.dispatch(undefined);
    });
  }

  private dispatch(previous: EndpointState | undefined): void {
    const state = this.clusterState!;
    if (previous === undefined && this.route!.mirrors.length > 0) this.startMirrors(this.route!);
    const ep = state.pick(previous, this.hashKey);
    if (!ep) return this.reply(Replies.noHealthyUpstream);
    const attempt = new UpstreamAttempt(this, ep, state, this.retryGrant);
    this.retryGrant = false;
    // Circuit breaking (DR connectionPool): overflow is an immediate 503 UO, never retried.
    const admission = state.breaker === undefined ? Admission.Go : state.breaker.admit(attempt);
    if (admission === Admission.Overflow) return this.reply(Replies.overflow);
    this.attempt = attempt;
    ep.active++;
    this.upstreamHost = ep.endpoint.key;
    this.endpoint = ep.endpoint;
    this.upstreamStartHr = performance.now();
    const perTry = this.route!.retry.perTryTimeoutMs;
    if (perTry > 0) attempt.perTryTimer = setTimeout(() => this.onPerTryTimeout(attempt), perTry);
    if (admission === Admission.Go) this.send(attempt);
  }

  /** Puts an attempt's request on the wire (at once, or when the circuit breaker dequeues it). */
  send(attempt: UpstreamAttempt): void {
    attempt.endpoint.pool.dispatch(
      {
        path: this.url,
        method: (this.req.method ?? 'GET') as Dispatcher.HttpMethod,
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
   * DR `http.maxRetries` (issue 5): false when the cluster has too many retries in flight; a grant
   * is carried by the retry attempt, or given back in `onClose` if none is made.
   */
  private retryBudget(): boolean {
    const cb = this.clusterState!.breaker;
    if (cb === undefined) return true;
    if (!cb.canRetry()) return false;
    this.retryGrant = true;
    return true;
  }

  private retry(attempt: UpstreamAttempt): void {
    this.triesLeft--;
    setInList(this.upHeaders, 'x-envoy-attempt-count', String(++this.tries));
    this.ctx.stats.inc(`cluster.${this.upstreamCluster}.upstream_rq_retry`);
    // Envoy's jittered exponential back-off: uniform in [0, (2^n - 1) × 25 ms) for retry n, capped at 250 ms.
    const ceiling = Math.min(RETRY_BACKOFF_MAX_MS, (2 ** (this.tries - 1) - 1) * RETRY_BACKOFF_BASE_MS);
    const previous = attempt.endpoint;
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (!this.finished && !this.res.headersSent) this.dispatch(previous);
    }, Math.random() * ceiling);
  }

  /**
   * Sends the route's mirror copies with the first try (issue 5). Bodiless requests and buffered
   * bodies go right after it; a streamed body of known length up to {@link MAX_MIRROR_BODY_BYTES} is teed
   * (the primary streams it as it arrives, the copies leave when it is complete); larger or chunked
   * bodies are not mirrored.
   */
  private startMirrors(route: RouteEntry): void {
    const body = this.body;
    // Copies leave after the primary's first try is written (setImmediate runs after this tick).
    if (body === null || Buffer.isBuffer(body)) return void setImmediate(() => this.mirror(route, body));
    const h = this.req.headers;
    const len =
      h['content-length'] !== undefined && h['transfer-encoding'] === undefined
        ? Number(h['content-length'])
        : NaN;
    if (!(len <= MAX_MIRROR_BODY_BYTES)) return;
    const tee = new PassThrough();
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.once('end', () => this.mirror(route, Buffer.concat(chunks)));
    body.once('error', (err) => tee.destroy(err));
    body.pipe(tee);
    this.body = tee;
  }

  private mirror(route: RouteEntry, body: Buffer | null): void {
    const host = getFromList(this.upHeaders, 'host') ?? this.authority;
    for (const m of route.mirrors) {
      if (m.fraction < 1 && Math.random() >= m.fraction) continue;
      const c = m.destination.cluster;
      if (!c) continue;
      const state = this.ctx.clusters.get(c);
      const ep = state?.pick();
      if (!ep) continue;
      // Bounded copies in flight per mirror cluster: a slow shadow must not cost the primary.
      const copy = state!.mirrorBudget.take();
      if (copy === undefined) {
        this.ctx.stats.inc(`cluster.${c.name}.upstream_rq_pending_overflow`);
        continue;
      }
      const colon = host.lastIndexOf(':');
      const shadow =
        colon > 0 && host.indexOf(']') < colon
          ? `${host.slice(0, colon)}-shadow${host.slice(colon)}`
          : `${host}-shadow`;
      const headers = this.upHeaders.slice();
      setInList(headers, 'host', shadow);
      try {
        ep.pool.dispatch(
          { path: this.url, method: (this.req.method ?? 'GET') as Dispatcher.HttpMethod, headers, body },
          copy,
        );
      } catch {
        // A mirror never affects the primary request.
        copy.finish();
      }
    }
  }

  /** Upstream response headers arrived for the current attempt. */
  onUpstreamHeaders(attempt: UpstreamAttempt, status: number, headers: HeaderObject): void {
    const retry = this.route!.retry;
    const retriable =
      (retry.on5xx && status >= 500) ||
      (retry.onGatewayError && status >= 502 && status <= 504) ||
      (retry.onRetriable4xx && status === 409) ||
      retry.retriableStatusCodes.has(status);
    if (retriable && this.triesLeft > 0 && this.retryBudget()) {
      attempt.release();
      attempt.abort(new RetryAbort());
      return this.retry(attempt);
    }
    if (retriable && retry.numRetries > 0 && this.replayable)
      this.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
    if (attempt.perTryTimer) clearTimeout(attempt.perTryTimer);
    if (this.routeTimer) {
      clearTimeout(this.routeTimer);
      this.routeTimer = undefined;
    }
    const now = performance.now();
    this.upstreamTimeMs = now - this.upstreamStartHr;
    delete headers['connection'];
    delete headers['keep-alive'];
    delete headers['transfer-encoding'];
    delete headers['proxy-connection'];
    delete headers['upgrade'];
    headers['server'] = 'istio-envoy';
    headers['x-envoy-upstream-service-time'] = String(Math.round(this.upstreamTimeMs));
    if (this.route!.responseHeaders) mutateHeaderObject(headers, this.route!.responseHeaders);
    if (this.picked?.responseHeaders) mutateHeaderObject(headers, this.picked.responseHeaders);
    if (this.setCookie !== undefined) appendHeader(headers, 'set-cookie', this.setCookie);
    if (this.corsOrigin !== undefined) applyCorsHeaders(headers, this.route!.cors!, this.corsOrigin);
    const res = this.res;
    if (res.destroyed) return;
    res.writeHead(status, headers as Record<string, string | string[]>);
  }

  onUpstreamData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytesSent += chunk.length;
    const res = this.res;
    if (!res.write(chunk) && !res.destroyed) {
      controller.pause();
      res.once('drain', () => controller.resume());
    }
  }

  onUpstreamEnd(): void {
    this.res.end();
  }

  onUpstreamError(attempt: UpstreamAttempt, err: Error): void {
    if (err instanceof RetryAbort || err instanceof DownstreamAbort) return;
    if (err instanceof TimeoutAbort) return; // the timeout handler already answered
    const kind = classifyUpstreamError(err);
    const retry = this.route!.retry;
    if (this.res.headersSent) {
      // Reset after the response started: nothing to send but a broken stream.
      this.addFlag(ResponseFlag.UpstreamRemoteReset);
      this.res.destroy();
      return;
    }
    const retriable =
      kind === 'connect-failure'
        ? retry.onConnectFailure
        : retry.onReset || retry.on5xx || retry.onGatewayError;
    if (retriable && this.triesLeft > 0 && this.retryBudget()) return this.retry(attempt);
    const r = kind === 'connect-failure' ? Replies.connectFailure : Replies.connectionTermination;
    this.addFlag(r.flag);
    if (retriable && retry.numRetries > 0 && this.replayable)
      this.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
    this.reply(r, undefined, false);
  }

  private onPerTryTimeout(attempt: UpstreamAttempt): void {
    if (this.attempt !== attempt || this.res.headersSent) return;
    const retry = this.route!.retry;
    attempt.release();
    attempt.abort(new RetryAbort());
    const retriable = retry.on5xx || retry.onGatewayError || retry.onReset;
    if (this.triesLeft > 0 && retriable && this.retryBudget()) return this.retry(attempt);
    this.reply(Replies.timeout);
    if (retriable && retry.numRetries > 0 && this.replayable)
      this.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
  }

  private readonly onRouteTimeout = (): void => {
    this.routeTimer = undefined;
    const a = this.attempt;
    if (a) {
      a.release();
      a.abort(new TimeoutAbort());
    }
    this.attempt = undefined;
    if (!this.res.headersSent) this.reply(Replies.timeout);
    else this.res.destroy();
  };

  private redirect(
    action: Extract<RouteEntry['action'], { kind: 'redirect' }>,
    match: CompiledMatch | undefined,
  ): void {
    const scheme = action.scheme ?? this.rt.scheme;
    let hostPort = action.authority ?? this.authority;
    // The port was decided at compile time (derivePort, scheme defaults); none keeps the Host's own
    // port, except that a switch of scheme drops the other scheme's default port.
    if (action.port !== undefined) hostPort = `${stripPort(hostPort)}:${action.port}`;
    else if (scheme !== this.rt.scheme) hostPort = stripDefaultPort(hostPort);
    let path = this.url;
    const q = path.indexOf('?');
    if (action.prefixRewrite !== undefined) {
      const p = q < 0 ? path : path.slice(0, q);
      const rest = match?.uriPrefix !== undefined ? p.slice(match.uriPrefix.length) : '';
      path = action.prefixRewrite + rest + (q < 0 ? '' : path.slice(q));
    } else if (action.uri !== undefined) {
      path = action.uri.includes('?') || q < 0 ? action.uri : action.uri + path.slice(q);
    }
    this.redirectTo(action.status, `${scheme}://${hostPort}${path}`, this.route?.responseHeaders);
  }

  private redirectTo(status: number, location: string, extra?: HeaderMutation): void {
    this.details = 'direct_response';
    const headers: HeaderObject = { server: 'istio-envoy', location, 'content-length': '0' };
    if (extra) mutateHeaderObject(headers, extra);
    this.res.writeHead(status, headers);
    this.res.end();
  }

  /** Sends a local reply unless the response already started. */
  private reply(r: LocalReply, extra?: Record<string, string>, addFlag = true): void {
    this.clearTimers();
    if (addFlag && r.flag) this.addFlag(r.flag);
    this.details = r.details;
    if (this.res.headersSent || this.res.destroyed) return;
    this.bytesSent = writeLocalReply(this.res, r, extra);
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

  private readonly onClose = (): void => {
    this.finished = true;
    if (this.retryGrant) this.clusterState!.breaker!.returnRetry();
    this.clearTimers();
    const res = this.res;
    const a = this.attempt;
    if (!res.writableFinished) {
      this.addFlag(ResponseFlag.DownstreamConnectionTermination);
      if (a && !a.released) {
        a.release();
        a.abort(new DownstreamAbort());
      }
    }
    this.log();
  };

  private log(): void {
    const al = this.ctx.accessLog;
    const obs = this.ctx.observer;
    if (!al.enabled && !obs.enabled) return;
    const req = this.req;
    const h = req.headers;
    // Envoy's connection manager gives every request an x-request-id, local replies included.
    this.requestId ??= (h['x-request-id'] as string | undefined) ?? randomUUID();
    const sock = this.socket;
    const addresses = socketAddresses(sock);
    const tracing = this.ctx.tracing;
    if (tracing !== undefined && !this.traced) {
      // A local reply before forwarding (404 NR, fault abort, redirect, direct response, ...):
      // Envoy traces it too, with the caller's context.
      tracing.inject([], req, this.requestId, addresses.remote);
    }
    const record: StreamRecord = {
      startTime: this.startTime,
      method: req.method ?? '-',
      path: req.url ?? '-',
      protocol:
        req.httpVersionMinor === 1 && req.httpVersionMajor === 1 ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`,
      responseCode: this.res.headersSent ? this.res.statusCode : 0,
      responseFlags: this.flags ? this.flags.join(',') : '-',
      responseCodeDetails: this.details,
      bytesReceived: Number(h['content-length'] ?? 0) || 0,
      bytesSent: this.bytesSent,
      durationMs: performance.now() - this.startHr,
      upstreamServiceTimeMs: this.upstreamTimeMs,
      xForwardedFor: h['x-forwarded-for'] as string | undefined,
      userAgent: h['user-agent'],
      requestId: this.requestId,
      authority: this.authority || h.host,
      upstreamHost: this.upstreamHost,
      upstreamCluster: this.upstreamCluster,
      routeName: this.route?.name,
      downstreamRemoteAddress: addresses.remote,
      downstreamLocalAddress: addresses.local,
      requestedServerName: (sock as { servername?: string }).servername || undefined,
    };
    if (al.enabled) al.log(record);
    if (obs.enabled) obs.onHttp(record, this.picked?.destination.cluster, this.endpoint);
  }
}

/** The client IP as Envoy appends it to x-forwarded-for (IPv4-mapped IPv6 unwrapped). */
function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

function appendHeader(h: HeaderObject, name: string, value: string): void {
  const prev = h[name];
  h[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
}

function stripPort(hostPort: string): string {
  const colon = hostPort.lastIndexOf(':');
  return colon > 0 && hostPort.indexOf(']') < colon ? hostPort.slice(0, colon) : hostPort;
}

function stripDefaultPort(hostPort: string): string {
  return hostPort.endsWith(':80') || hostPort.endsWith(':443') ? stripPort(hostPort) : hostPort;
}

const GRPC_CODES: Record<string, string> = {
  OK: '0',
  CANCELLED: '1',
  UNKNOWN: '2',
  INVALID_ARGUMENT: '3',
  DEADLINE_EXCEEDED: '4',
  NOT_FOUND: '5',
  ALREADY_EXISTS: '6',
  PERMISSION_DENIED: '7',
  RESOURCE_EXHAUSTED: '8',
  FAILED_PRECONDITION: '9',
  ABORTED: '10',
  OUT_OF_RANGE: '11',
  UNIMPLEMENTED: '12',
  INTERNAL: '13',
  UNAVAILABLE: '14',
  DATA_LOSS: '15',
  UNAUTHENTICATED: '16',
};

function grpcCode(name: string): string {
  return GRPC_CODES[name.toUpperCase()] ?? (/^\d+$/.test(name) ? name : '2');
}
