/**
 * The router's side of an upgrade stream (Envoy's upgrade path for Istio's websocket
 * `upgrade_configs`), for an HTTP/1.1 `Upgrade: websocket` and for an HTTP/2 extended CONNECT
 * (gateway/http/extended-connect.ts) alike: one new upstream HTTP/1.1 connection per upgrade (TLS
 * when the cluster originates TLS), the rewritten request head as `GET` with `connection: upgrade`
 * and the client's `upgrade` token, then
 * - upstream `101`: the response head goes back through the route's response header operations
 *   and the encoders (raw `101` on HTTP/1.1, `:status 200` on the HTTP/2 stream), and bytes are
 *   spliced both ways with backpressure (`pipe`: a side that cannot take more pauses the other);
 *   the route timeout stops applying and the connection idle timeout (DR `connectionPool` idle
 *   timeout, Envoy's 1 h default) does, watched by a byte-counter sweep (gateway/idle-sweep.ts);
 * - any other status: the refusal is passed through with its status and body, then the stream ends;
 * - no head: connect failure 503 UF, reset 503 UC, route timeout 504 UT, malformed or oversized
 *   head 502 UPE.
 * An upgrade is a request to the cluster like any other: it is admitted by the circuit breaker
 * (`http2MaxRequests`, `tcp.maxConnections`, pending queue; overflow 503 UO) and holds its slot
 * while the tunnel is open, and its outcome (status, connect failure or reset 503, timeout 504) is
 * reported to outlier detection. Upgrades are not retried or mirrored (their bytes cannot be replayed).
 *
 * Bytes in the access log come from the upstream socket's counters at close, so the splice does no
 * per-chunk work: sent = bytes read from the upstream after its response head, received = bytes
 * written to it after the request head (early bytes sent with the request head included).
 */
import net from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { constants as h2constants, type Http2Stream } from 'node:http2';
import { stripPort } from '../../routes/host-names.js';
import { Admission, TicketState, type BreakerTicket } from '../../upstream/circuit-breaker.js';
import type { ClusterState } from '../../upstream/cluster-manager.js';
import type { EndpointState } from '../../upstream/endpoint-state.js';
import { mutateHeaderObject, type HeaderObject } from '../header-ops.js';
import { armIdleTimeout, disarmIdleTimeout, type IdleWatched } from '../idle-sweep.js';
import { classifyUpstreamError, Replies, type LocalReply } from '../local-reply.js';
import { ResponseFlag } from '../response-flags.js';
import type { ActiveStream, StreamCloseListener } from './active-stream.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { completeWebSocketHandshake, toExtendedConnectResponse } from './extended-connect.js';
import {
  parseResponseHead,
  serializeRequestHead,
  serializeResponseHead,
  type ResponseHead,
} from './http1-response-head.js';
import type { UpgradeRequest } from './upgrade.js';

/** Envoy's local reply for an upstream head it cannot parse: 502, flag UPE. */
const BAD_UPSTREAM_HEAD: LocalReply = {
  status: 502,
  flag: ResponseFlag.UpstreamProtocolError,
  body: 'upstream connect error or disconnect/reset before headers. reset reason: protocol error',
  details: 'upstream_reset_before_response_started{protocol_error}',
};

const NO_BYTES = Buffer.alloc(0);

/** One upgraded stream's upstream connection and splice. */
export class UpgradeTunnel implements StreamCloseListener, BreakerTicket, IdleWatched {
  /** Circuit-breaker bookkeeping (upstream/circuit-breaker.ts). */
  cbState: number = TicketState.None;
  /** An upgrade is never a retry. */
  readonly isRetry = false;
  idleTimer: NodeJS.Timeout | undefined;
  idleSeen = -1;
  idleQuiet = 0;
  private ep: EndpointState | undefined;
  private upstream: net.Socket | undefined;
  private pending: Buffer = NO_BYTES;
  private routeTimer: NodeJS.Timeout | undefined;
  private startHr = 0;
  /** Answered locally, or the downstream went away: nothing more goes downstream from here. */
  private done = false;
  /** The endpoint's `active` count and the breaker slot were given back. */
  private released = true;
  /** The outcome went to outlier detection (once per upgrade). */
  private reported = false;
  /** `sec-websocket-key` was made up here (extended CONNECT without one). */
  private generatedKey = false;
  /** Bytes of the request head written upstream, and of the response head read back. */
  private requestHeadBytes = 0;
  private responseHeadBytes = 0;

  constructor(
    private readonly s: ActiveStream,
    private readonly upgrade: UpgradeRequest,
    private readonly state: ClusterState,
    private readonly headers: string[],
    private readonly path: string,
  ) {
    s.closeListener = this;
  }

  /** The endpoint picked for this upgrade (the breaker's ticket field). */
  get endpoint(): EndpointState {
    return this.ep!;
  }

  /**
   * Picks the endpoint, asks the circuit breaker, starts the route timeout and connects (now, or
   * when the breaker dequeues the upgrade).
   */
  open(hashKey: number | undefined): void {
    const s = this.s;
    const ep = this.state.pick(undefined, hashKey);
    if (!ep) return this.fail(Replies.noHealthyUpstream);
    this.ep = ep;
    const breaker = this.state.breaker;
    const admission = breaker === undefined ? Admission.Go : breaker.admit(this);
    if (admission === Admission.Overflow) return this.fail(Replies.overflow);
    this.released = false;
    ep.active++;
    s.upstreamHost = ep.endpoint.key;
    s.endpoint = ep.endpoint;
    const timeoutMs = s.route!.timeoutMs;
    if (timeoutMs > 0) this.routeTimer = setTimeout(() => this.fail(Replies.timeout, 504), timeoutMs);
    const token = s.req.headers.upgrade ?? 'websocket';
    this.headers.push('connection', 'upgrade', 'upgrade', token);
    if (this.upgrade.extendedConnect) this.generatedKey = completeWebSocketHandshake(this.headers);
    this.startHr = performance.now();
    if (admission === Admission.Go) this.start();
  }

  /** Connects to the endpoint (the breaker calls this for a queued upgrade once it has a slot). */
  start(): void {
    if (this.done) return;
    const s = this.s;
    const ep = this.ep!;
    const settings = ep.settings;
    const host = ep.endpoint.address;
    const port = ep.endpoint.port;
    const onConnect = () => {
      this.state.breaker?.started(this);
      const head = serializeRequestHead(s.req.method ?? 'GET', this.path, this.headers);
      this.requestHeadBytes = Buffer.byteLength(head, 'latin1');
      up.write(head, 'latin1');
      if (this.upgrade.head.length > 0) up.write(this.upgrade.head);
    };
    const up: net.Socket = settings.tls
      ? tls.connect(
          {
            ...settings.tls.connect,
            host,
            port,
            servername: settings.tls.sni ?? stripPort(s.authority),
            ALPNProtocols: ['http/1.1'],
            lookup: settings.lookup,
          },
          onConnect,
        )
      : net.connect({ host, port, lookup: settings.lookup }, onConnect);
    this.upstream = up;
    up.setTimeout(settings.connectTimeoutMs, () => {
      if (!up.connecting) return;
      const err = Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
      up.destroy(err);
    });
    up.on('data', this.onHeadData);
    up.once('error', (err) => this.onUpstreamGone(err));
    up.once('close', () => this.onUpstreamGone(undefined));
  }

  private readonly onHeadData = (chunk: Buffer): void => {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const head = parseResponseHead(this.pending);
    if (head === undefined) return;
    const up = this.upstream!;
    up.removeListener('data', this.onHeadData);
    if (head === null) return this.fail(BAD_UPSTREAM_HEAD, 502);
    this.responseHeadBytes = head.length;
    const rest = this.pending.subarray(head.length);
    this.pending = NO_BYTES;
    this.onHead(head, rest);
  };

  private onHead(head: ResponseHead, rest: Buffer): void {
    const s = this.s;
    const up = this.upstream!;
    if (this.routeTimer) clearTimeout(this.routeTimer);
    this.routeTimer = undefined;
    up.setTimeout(0);
    this.report(head.status);
    s.upstreamTimeMs = performance.now() - this.startHr;
    const switched = head.status === 101;
    const h = head.headers;
    delete h['keep-alive'];
    delete h['proxy-connection'];
    h['server'] = 'istio-envoy';
    h['x-envoy-upstream-service-time'] = String(Math.round(s.upstreamTimeMs));
    const route = s.route!;
    if (route.responseHeaders) mutateHeaderObject(h, route.responseHeaders);
    if (s.picked?.responseHeaders) mutateHeaderObject(h, s.picked.responseHeaders);
    if (this.upgrade.extendedConnect) return this.onHeadHttp2(head.status, h, rest, switched);
    const down = this.upgrade.socket;
    if (!switched) {
      // The refusal is passed through; this connection carries nothing after it.
      delete h['upgrade'];
      h['connection'] = 'close';
    }
    s.runEncoders(head.status, h);
    if (down.destroyed) return void up.destroy();
    s.rawResponseCode = head.status;
    down.write(serializeResponseHead(head.status, head.reason, h));
    if (rest.length > 0) down.write(rest);
    up.pipe(down);
    if (switched) this.switched(down);
  }

  /** The upstream head of an extended CONNECT stream: `:status 200` and the splice, or the refusal as a response. */
  private onHeadHttp2(status: number, h: HeaderObject, rest: Buffer, switched: boolean): void {
    const s = this.s;
    const up = this.upstream!;
    const stream = this.upgrade.socket as Http2Stream;
    const chunked = /chunked/i.test(String(h['transfer-encoding'] ?? ''));
    const h2Status = toExtendedConnectResponse(status, h, this.generatedKey);
    if (s.codec.isDestroyed(s.res)) return void up.destroy();
    s.encodeHeaders(h2Status, h);
    s.rawResponseCode = h2Status;
    stream.on('error', () => up.destroy());
    if (switched) {
      if (rest.length > 0) stream.write(rest);
      up.pipe(stream);
      // The request side is read through node's request object, which consumes the stream's DATA.
      this.switched(s.req);
      return;
    }
    this.passRefusalBody(h, rest, chunked);
  }

  /** After the upgrade: client bytes flow upstream and only the idle timeout applies. */
  private switched(from: Readable): void {
    from.pipe(this.upstream!);
    const idleMs = this.ep!.settings.idleTimeoutMs;
    if (idleMs > 0) armIdleTimeout(this, idleMs);
  }

  /**
   * Sends a refusal's body on the HTTP/2 stream: `content-length` bytes when announced, the decoded
   * chunks of a chunked body (HTTP/2 has no chunk framing), else everything until the upstream
   * closes; the upstream connection is closed after the body.
   */
  private passRefusalBody(h: HeaderObject, rest: Buffer, chunked: boolean): void {
    const res = this.s.res;
    const up = this.upstream!;
    const cl = Number(h['content-length']);
    const decoder = chunked ? new ChunkedDecoder() : undefined;
    let left = !chunked && Number.isFinite(cl) && cl >= 0 ? cl : Infinity;
    const finish = (): void => {
      up.removeListener('data', forward);
      res.end();
      up.destroy();
    };
    const send = (part: Buffer): void => {
      if (part.length > 0 && !res.write(part)) {
        up.pause();
        res.once('drain', () => up.resume());
      }
    };
    const forward = (c: Buffer): void => {
      if (decoder !== undefined) {
        let parts: Buffer[];
        try {
          parts = decoder.feed(c);
        } catch {
          return void res.destroy();
        }
        for (const p of parts) send(p);
        if (decoder.done) finish();
        return;
      }
      const part = c.length > left ? c.subarray(0, left) : c;
      left -= part.length;
      send(part);
      if (left === 0) finish();
    };
    forward(rest);
    if (left > 0 && !(decoder?.done ?? false)) up.on('data', forward);
  }

  /** Bytes moved through the upstream socket: the idle sweep's activity counter. */
  idleActivity(): number {
    const up = this.upstream!;
    return up.bytesRead + up.bytesWritten;
  }

  /** The connection idle timeout expired: both sides are closed. */
  onIdle(): void {
    this.upstream?.destroy();
    this.upgrade.socket.destroy();
  }

  private onUpstreamGone(err: Error | undefined): void {
    if (this.s.rawResponseCode !== 0) {
      // After the head: the upstream ended the tunnel; end the downstream side too (an abnormal end
      // resets an HTTP/2 stream with CONNECT_ERROR, RFC 9113 §8.5).
      const down = this.upgrade.socket;
      if (err === undefined) down.end();
      else if (this.upgrade.extendedConnect) (down as Http2Stream).close(h2constants.NGHTTP2_CONNECT_ERROR);
      else down.destroy();
      return;
    }
    if (this.done) return;
    if (err === undefined) return this.fail(Replies.connectionTermination, 503);
    return this.fail(
      classifyUpstreamError(err) === 'connect-failure'
        ? Replies.connectFailure
        : Replies.connectionTermination,
      503,
    );
  }

  /**
   * Answers locally before any response head went downstream.
   * @param outlierStatus what outlier detection is told (connect failure and reset 503, timeout 504); none when omitted.
   */
  private fail(r: LocalReply, outlierStatus?: number): void {
    if (this.done || this.s.rawResponseCode !== 0) return;
    this.done = true;
    if (this.routeTimer) clearTimeout(this.routeTimer);
    if (outlierStatus !== undefined) this.report(outlierStatus);
    this.upstream?.destroy();
    this.release();
    this.s.sendLocalReply(r);
  }

  /** Outlier detection input, once per upgrade. */
  private report(status: number): void {
    if (this.reported) return;
    this.reported = true;
    this.state.outlier?.report(this.ep!.endpoint.key, status);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.ep!.active--;
    if (this.cbState !== TicketState.None) this.state.breaker!.release(this);
  }

  onDownstreamClose(): void {
    if (this.routeTimer) clearTimeout(this.routeTimer);
    disarmIdleTimeout(this);
    this.done = true;
    const up = this.upstream;
    up?.destroy();
    this.release();
    if (up !== undefined && this.s.rawResponseCode !== 0) {
      this.s.bytesSent = Math.max(0, up.bytesRead - this.responseHeadBytes);
      this.s.bytesReceived = Math.max(0, up.bytesWritten - this.requestHeadBytes);
    }
  }
}
