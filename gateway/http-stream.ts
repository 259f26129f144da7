/**
 * The HTTP router filter: one `HttpStream` per downstream request. Route lookup against the
 * listener's current route table, then (Envoy filter order) fault → redirect / direct response /
 * forward with rewrite, headers, timeout, retries and mirrors. Upstream failures become Envoy's
 * local replies and response flags; nothing here throws to the client.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Listener } from '../config/snapshot.js';
import type { RouteEntry, WeightedCluster, RequestView, CompiledMatch } from '../routes/route-table.js';
import type { AccessLogger, StreamRecord } from '../telemetry/access-log.js';
import type { StatStore } from '../telemetry/stats.js';
import type { StreamObserver } from '../telemetry/observer.js';
import type { ClusterEndpoint } from '../config/cluster.js';
import type { ClusterManager, ClusterState } from '../upstream/cluster-manager.js';
import type { EndpointState } from '../upstream/endpoint-state.js';
import { classifyUpstreamError, Replies, writeLocalReply, type LocalReply } from './local-reply.js';
import { ResponseFlag } from './response-flags.js';
import {
  HOP_BY_HOP,
  mutateHeaderList,
  mutateHeaderObject,
  setInList,
  type HeaderObject,
} from './header-ops.js';

/** Per bound HTTP listener: the compiled listener of the live snapshot, replaced on every swap. */
export interface ListenerRuntime {
  listener: Listener;
  readonly scheme: 'http' | 'https';
}

/** Shared services of the data path. */
export interface ProxyContext {
  readonly clusters: ClusterManager;
  readonly accessLog: AccessLogger;
  readonly stats: StatStore;
  /** Metrics/tracing hook; `NO_OBSERVER` when off. */
  readonly observer: StreamObserver;
}

class RetryAbort extends Error {}
class TimeoutAbort extends Error {}
class DownstreamAbort extends Error {}

/** One try of the request against one endpoint; isolates late callbacks of abandoned tries. */
class UpstreamAttempt implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | undefined;
  released = false;
  perTryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly stream: HttpStream,
    readonly endpoint: EndpointState,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.endpoint.active--;
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
  }

  abort(err: Error): void {
    const c = this.controller;
    if (c && !c.aborted) c.abort(err);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.stream.attempt !== this) controller.abort(new RetryAbort());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: HeaderObject,
  ): void {
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
    this.release();
    if (this.stream.attempt === this) this.stream.onUpstreamError(this, err);
  }
}

/** Mirror copies: response bodies are read and dropped; errors ignored (fire-and-forget). */
const DISCARD: Dispatcher.DispatchHandler = {
  onRequestStart() {},
  onResponseStart() {},
  onResponseData() {},
  onResponseEnd() {},
  onResponseError() {},
};

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
  private body: IncomingMessage | null = null;
  private clusterState: ClusterState | undefined;
  private picked: WeightedCluster | undefined;
  private triesLeft = 0;
  /** Tries made so far (`x-envoy-attempt-count`). */
  private tries = 1;
  private routeTimer: NodeJS.Timeout | undefined;
  private finished = false;

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
    if (!m || !m.route) return this.reply(Replies.noRoute);
    const route = m.route;
    this.route = route;
    if (m.virtualHost.requireTls && this.rt.scheme === 'http') {
      return this.redirectTo(301, `https://${stripDefaultPort(authority)}${url}`);
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
        return this.redirect(action);
      case 'direct': {
        this.details = 'direct_response';
        const body = action.body;
        const headers: Record<string, string | number> = {
          server: 'istio-envoy',
          'content-length': body?.length ?? 0,
        };
        if (body && body.length > 0) headers['content-type'] = 'text/plain';
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
    let wc = clusters[0];
    if (clusters.length > 1) {
      let r = Math.random() * totalWeight;
      for (let i = 0; i < clusters.length; i++) {
        r -= clusters[i]!.weight;
        if (r < 0) {
          wc = clusters[i];
          break;
        }
      }
    }
    if (!wc) return this.reply(Replies.noRoute);
    this.picked = wc;
    const dest = wc.destination;
    this.upstreamCluster = dest.name;
    if (!dest.cluster) return this.reply(Replies.noCluster);
    const state = this.ctx.clusters.get(dest.cluster);
    if (!state || state.endpoints.length === 0) return this.reply(Replies.noHealthyUpstream);
    this.clusterState = state;

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
    if (this.requestId === undefined) {
      this.requestId = randomUUID();
      out.push('x-request-id', this.requestId);
    }
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
      if (rw.authority !== undefined) host = rw.authority;
    }
    if (route.requestHeaders) mutateHeaderList(out, route.requestHeaders);
    if (wc.requestHeaders) mutateHeaderList(out, wc.requestHeaders);
    out.push('host', host);
    if (route.timeoutMs > 0) out.push('x-envoy-expected-rq-timeout-ms', String(route.timeoutMs));
    out.push('x-envoy-attempt-count', '1');
    this.url = path;
    this.body = hasBody ? req : null;
    // A streamed body can be sent once; only bodiless requests are retried.
    this.triesLeft = hasBody ? 0 : route.retry.numRetries;
    if (route.timeoutMs > 0) this.routeTimer = setTimeout(this.onRouteTimeout, route.timeoutMs);
    if (route.mirrors.length > 0 && !hasBody) this.mirror(route, host);
    this.dispatch(undefined);
  }

  private dispatch(previous: EndpointState | undefined): void {
    const ep = this.clusterState!.pick(previous);
    if (!ep) return this.reply(Replies.noHealthyUpstream);
    const attempt = new UpstreamAttempt(this, ep);
    this.attempt = attempt;
    ep.active++;
    this.upstreamHost = ep.endpoint.key;
    this.endpoint = ep.endpoint;
    this.upstreamStartHr = performance.now();
    const perTry = this.route!.retry.perTryTimeoutMs;
    if (perTry > 0) attempt.perTryTimer = setTimeout(() => this.onPerTryTimeout(attempt), perTry);
    ep.pool.dispatch(
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

  private retry(attempt: UpstreamAttempt): void {
    this.triesLeft--;
    setInList(this.upHeaders, 'x-envoy-attempt-count', String(++this.tries));
    this.ctx.stats.inc(`cluster.${this.upstreamCluster}.upstream_rq_retry`);
    this.dispatch(attempt.endpoint);
  }

  private mirror(route: RouteEntry, host: string): void {
    for (const m of route.mirrors) {
      if (m.fraction < 1 && Math.random() >= m.fraction) continue;
      const c = m.destination.cluster;
      if (!c) continue;
      const ep = this.ctx.clusters.get(c)?.pick();
      if (!ep) continue;
      const colon = host.lastIndexOf(':');
      const shadow =
        colon > 0 && host.indexOf(']') < colon
          ? `${host.slice(0, colon)}-shadow${host.slice(colon)}`
          : `${host}-shadow`;
      const headers = this.upHeaders.slice();
      setInList(headers, 'host', shadow);
      try {
        ep.pool.dispatch(
          { path: this.url, method: (this.req.method ?? 'GET') as Dispatcher.HttpMethod, headers },
          DISCARD,
        );
      } catch {
        // A mirror never affects the primary request.
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
    if (retriable && this.triesLeft > 0) {
      attempt.release();
      attempt.abort(new RetryAbort());
      return this.retry(attempt);
    }
    if (retriable && retry.numRetries > 0 && this.body === null)
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
    if (retriable && this.triesLeft > 0) return this.retry(attempt);
    const r = kind === 'connect-failure' ? Replies.connectFailure : Replies.connectionTermination;
    this.addFlag(r.flag);
    if (retriable && retry.numRetries > 0 && this.body === null)
      this.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
    this.reply(r, undefined, false);
  }

  private onPerTryTimeout(attempt: UpstreamAttempt): void {
    if (this.attempt !== attempt || this.res.headersSent) return;
    const retry = this.route!.retry;
    attempt.release();
    attempt.abort(new RetryAbort());
    if (this.triesLeft > 0 && (retry.on5xx || retry.onGatewayError || retry.onReset))
      return this.retry(attempt);
    this.reply(Replies.timeout);
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

  private redirect(action: Extract<RouteEntry['action'], { kind: 'redirect' }>): void {
    const scheme = action.scheme ?? this.rt.scheme;
    let hostPort = action.authority ?? this.authority;
    if (action.port !== undefined || action.deriveFromRequestPort) {
      const port = action.port ?? this.rt.listener.port;
      hostPort = `${stripPort(hostPort)}:${port}`;
    } else if (action.scheme !== undefined && action.scheme !== this.rt.scheme) {
      hostPort = stripDefaultPort(hostPort);
    }
    hostPort = stripDefaultPortFor(hostPort, scheme);
    let path = this.url;
    if (action.uri !== undefined) {
      const q = path.indexOf('?');
      path = action.uri.includes('?') || q < 0 ? action.uri : action.uri + path.slice(q);
    }
    this.redirectTo(action.status, `${scheme}://${hostPort}${path}`);
  }

  private redirectTo(status: number, location: string): void {
    this.details = 'direct_response';
    this.res.writeHead(status, { server: 'istio-envoy', location, 'content-length': 0 });
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
  }

  private readonly onClose = (): void => {
    this.finished = true;
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
    const sock = this.socket;
    const record: StreamRecord = {
      startTime: this.startTime,
      method: req.method ?? '-',
      path: req.url ?? '-',
      protocol: `HTTP/${req.httpVersion}`,
      responseCode: this.res.headersSent ? this.res.statusCode : 0,
      responseFlags: this.flags ? this.flags.join(',') : '-',
      responseCodeDetails: this.details,
      bytesReceived: Number(h['content-length'] ?? 0) || 0,
      bytesSent: this.bytesSent,
      durationMs: performance.now() - this.startHr,
      upstreamServiceTimeMs: this.upstreamTimeMs,
      xForwardedFor: h['x-forwarded-for'] as string | undefined,
      userAgent: h['user-agent'],
      requestId: this.requestId ?? (h['x-request-id'] as string | undefined),
      authority: this.authority || h.host,
      upstreamHost: this.upstreamHost,
      upstreamCluster: this.upstreamCluster,
      routeName: this.route?.name,
      downstreamRemoteAddress: `${sock.remoteAddress}:${sock.remotePort}`,
      downstreamLocalAddress: `${sock.localAddress}:${sock.localPort}`,
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

function stripPort(hostPort: string): string {
  const colon = hostPort.lastIndexOf(':');
  return colon > 0 && hostPort.indexOf(']') < colon ? hostPort.slice(0, colon) : hostPort;
}

function stripDefaultPort(hostPort: string): string {
  return hostPort.endsWith(':80') || hostPort.endsWith(':443') ? stripPort(hostPort) : hostPort;
}

function stripDefaultPortFor(hostPort: string, scheme: string): string {
  if ((scheme === 'http' && hostPort.endsWith(':80')) || (scheme === 'https' && hostPort.endsWith(':443'))) {
    return stripPort(hostPort);
  }
  return hostPort;
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
