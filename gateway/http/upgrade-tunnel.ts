/**
 * The router's side of an `Upgrade: websocket` stream (Envoy's upgrade path for Istio's websocket
 * `upgrade_configs`): one new upstream connection per upgrade (TLS when the cluster originates
 * TLS), the rewritten request head with `connection: upgrade` and the client's `upgrade` token,
 * then
 * - upstream `101`: the response head goes back through the route's response header operations
 *   and the encoders, and bytes are spliced both ways with backpressure (`pipe`); the route timeout
 *   stops applying and the connection idle timeout (DR `connectionPool` idle timeout, Envoy's 1 h
 *   default) does;
 * - any other status: the refusal is passed through as the upstream sent it and the connection closes;
 * - no head: connect failure 503 UF, reset 503 UC, route timeout 504 UT, malformed or oversized
 *   head 502 UPE.
 * Upgrades are not retried or mirrored (their bytes cannot be replayed).
 */
import net from 'node:net';
import tls from 'node:tls';
import { stripPort } from '../../routes/host-names.js';
import type { ClusterState } from '../../upstream/cluster-manager.js';
import type { EndpointState } from '../../upstream/endpoint-state.js';
import { mutateHeaderObject } from '../header-ops.js';
import { classifyUpstreamError, Replies, type LocalReply } from '../local-reply.js';
import { ResponseFlag } from '../response-flags.js';
import type { ActiveStream, StreamCloseListener } from './active-stream.js';
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

/** One upgraded stream's upstream connection and splice. */
export class UpgradeTunnel implements StreamCloseListener {
  private upstream: net.Socket | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private routeTimer: NodeJS.Timeout | undefined;
  private startHr = 0;
  private done = false;
  private endpoint: EndpointState | undefined;

  constructor(
    private readonly s: ActiveStream,
    private readonly upgrade: UpgradeRequest,
    private readonly state: ClusterState,
    private readonly headers: string[],
    private readonly path: string,
  ) {
    s.closeListener = this;
  }

  /** Picks the endpoint and connects; the head is written once connected. */
  start(hashKey: number | undefined): void {
    const s = this.s;
    const ep = this.state.pick(undefined, hashKey);
    if (!ep) return this.fail(Replies.noHealthyUpstream);
    this.endpoint = ep;
    ep.active++;
    s.upstreamHost = ep.endpoint.key;
    s.endpoint = ep.endpoint;
    const timeoutMs = s.route!.timeoutMs;
    if (timeoutMs > 0) this.routeTimer = setTimeout(() => this.fail(Replies.timeout), timeoutMs);
    const token = s.req.headers.upgrade ?? 'websocket';
    this.headers.push('connection', 'upgrade', 'upgrade', token);
    const settings = ep.settings;
    const host = ep.endpoint.address;
    const port = ep.endpoint.port;
    this.startHr = performance.now();
    const onConnect = () => {
      up.write(serializeRequestHead(s.req.method ?? 'GET', this.path, this.headers));
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
    if (head === null) return this.fail(BAD_UPSTREAM_HEAD);
    this.onHead(head, this.pending.subarray(head.length));
    this.pending = Buffer.alloc(0);
  };

  private onHead(head: ResponseHead, rest: Buffer): void {
    const s = this.s;
    const up = this.upstream!;
    const down = this.upgrade.socket;
    if (this.routeTimer) clearTimeout(this.routeTimer);
    this.routeTimer = undefined;
    s.upstreamTimeMs = performance.now() - this.startHr;
    const switched = head.status === 101;
    const h = head.headers;
    delete h['keep-alive'];
    delete h['proxy-connection'];
    if (!switched) {
      // The refusal is passed through; this connection carries nothing after it.
      delete h['upgrade'];
      h['connection'] = 'close';
    }
    h['server'] = 'istio-envoy';
    h['x-envoy-upstream-service-time'] = String(Math.round(s.upstreamTimeMs));
    const route = s.route!;
    if (route.responseHeaders) mutateHeaderObject(h, route.responseHeaders);
    if (s.picked?.responseHeaders) mutateHeaderObject(h, s.picked.responseHeaders);
    s.runEncoders(head.status, h);
    if (down.destroyed) return void up.destroy();
    s.rawResponseCode = head.status;
    down.write(serializeResponseHead(head.status, head.reason, h));
    s.bytesSent = rest.length;
    s.bytesReceived = 0;
    if (rest.length > 0) down.write(rest);
    up.on('data', (c: Buffer) => (s.bytesSent += c.length));
    up.pipe(down);
    if (switched) {
      down.on('data', (c: Buffer) => (s.bytesReceived! += c.length));
      down.pipe(up);
      // After the upgrade only the idle timeout applies, on either side.
      const idleMs = this.endpoint!.settings.idleTimeoutMs;
      if (idleMs > 0) {
        const idle = () => {
          down.destroy();
          up.destroy();
        };
        up.setTimeout(idleMs, idle);
        down.setTimeout(idleMs, idle);
      }
    } else {
      up.setTimeout(0);
    }
  }

  private onUpstreamGone(err: Error | undefined): void {
    if (this.s.rawResponseCode !== 0) {
      // After the head: the upstream ended the tunnel; end the downstream side too.
      if (err !== undefined) this.upgrade.socket.destroy();
      else this.upgrade.socket.end();
      return;
    }
    if (this.done) return;
    if (err === undefined) return this.fail(Replies.connectionTermination);
    return this.fail(
      classifyUpstreamError(err) === 'connect-failure'
        ? Replies.connectFailure
        : Replies.connectionTermination,
    );
  }

  /** Answers locally before any response head went downstream. */
  private fail(r: LocalReply): void {
    if (this.done || this.s.rawResponseCode !== 0) return;
    this.done = true;
    if (this.routeTimer) clearTimeout(this.routeTimer);
    this.upstream?.destroy();
    this.s.sendLocalReply(r);
  }

  onDownstreamClose(): void {
    if (this.routeTimer) clearTimeout(this.routeTimer);
    this.done = true;
    this.upstream?.destroy();
    if (this.endpoint) {
      this.endpoint.active--;
      this.endpoint = undefined;
    }
  }
}
