/**
 * The mesh listener's non-HTTP side: `CONNECT host:port` tunnels (how a workload behind
 * `HTTPS_PROXY` reaches `https://www.google.com`), routed the way a sidecar routes outbound TLS:
 *
 * 1. `CONNECT` target parsed; under `REGISTRY_ONLY` a host that is neither a ServiceEntry host nor
 *    named by a mesh `tls` rule is refused at once: `403 Forbidden` (a sidecar would reset the
 *    connection; a proxy can say why).
 * 2. `200 Connection Established`, then the ClientHello is read (`tls/peek.ts`) for its SNI.
 * 3. The first mesh `tls` rule whose `sniHosts` cover the SNI (and whose `port` matches) picks the
 *    destination; else the ServiceEntry of the CONNECT `host:port`; else `ALLOW_ANY` passes through
 *    to that `host:port` (`PassthroughCluster`) and `REGISTRY_ONLY` closes (BlackHoleCluster; the
 *    client sees a TLS handshake failure).
 * 4. Bytes are spliced untouched (TLS is never terminated here); one access-log record per tunnel.
 *
 * Also guards the listener against requests addressed to itself (a passthrough to its own port
 * would loop).
 */
import type http from 'node:http';
import net from 'node:net';
import type { Logger } from 'pino';
import type { ResolvedDestination } from '../config/cluster.js';
import type { MeshOutbound, MeshTlsRoute } from '../config/mesh-listener.js';
import { BLACKHOLE_CLUSTER } from '../config/mesh-listener.js';
import { peekClientHello } from '../tls/peek.js';
import type { StreamRecord } from '../telemetry/access-log.js';
import { socketAddresses } from '../telemetry/socket-addresses.js';
import type { ListenerRuntime, ProxyContext } from './http/proxy-context.js';
import { Replies, writeLocalReply } from './local-reply.js';
import { ResponseFlag } from './response-flags.js';
import { hostCovers, splitAuthority } from '../routes/host-names.js';
import { pickWeighted } from '../routes/weighted-pick.js';

/** How long a tunnel waits for the client's first bytes (ClientHello) before closing, in ms. */
const CONNECT_PEEK_TIMEOUT_MS = 5_000;

/**
 * Adds CONNECT tunnelling and the self-loop guard to the mesh listener's HTTP server. Reads
 * `rt.listener.mesh` per tunnel, so reloads apply to new tunnels.
 */
export function attachMeshListener(
  server: http.Server,
  rt: ListenerRuntime,
  ctx: ProxyContext,
  log: Logger,
): void {
  // A proxy request without Host reaches the router filter (answered 400 and access-logged) instead
  // of Node's silent 400.
  (server as http.Server & { requireHostHeader: boolean }).requireHostHeader = false;
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    new ConnectTunnel(req, socket, head, rt, ctx, log).run();
  });
  // Requests addressed to the listener itself (`curl http://127.0.0.1:15001/`) would, under
  // ALLOW_ANY, be passed through to this very port again and again: answer them 404 NR instead.
  const handlers = server.listeners('request') as ((
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (isSelf(req, server)) {
      log.warn(
        { listener: rt.listener.name, url: req.url, host: req.headers.host },
        'request addressed to the mesh listener itself refused (would loop)',
      );
      writeLocalReply(res, Replies.noRoute);
      return;
    }
    for (const h of handlers) h(req, res);
  });
}

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|localhost|\[?::1\]?|0\.0\.0\.0|\[?::\]?)$/i;

function isSelf(req: http.IncomingMessage, server: http.Server): boolean {
  const url = req.url ?? '/';
  let authority = req.headers.host ?? '';
  if (url.charCodeAt(0) !== 47 /* '/' */) {
    const m = /^https?:\/\/([^/?#]*)/i.exec(url);
    if (m) authority = m[1]!;
  }
  const addr = server.address();
  if (!addr || typeof addr !== 'object') return false;
  const { host, port } = splitAuthority(authority);
  return port === addr.port && LOOPBACK.test(host);
}

/** The first mesh `tls` rule for an SNI name on a port. */
function selectTlsRoute(
  routes: readonly MeshTlsRoute[],
  sni: string,
  port: number,
): MeshTlsRoute | undefined {
  for (const r of routes) {
    if (r.port !== undefined && r.port !== port) continue;
    if (r.sniHosts.some((p) => hostCovers(p, sni))) return r;
  }
  return undefined;
}

/** One CONNECT tunnel. */
class ConnectTunnel {
  private readonly startTime = Date.now();
  private readonly startHr = performance.now();
  private status = 0;
  private flags: string[] = [];
  private details = 'via_upstream';
  private routeName: string | undefined;
  private cluster: string | undefined;
  private upstreamHost: string | undefined;
  private sni: string | undefined;
  private bytesReceived = 0;
  private bytesSent = 0;
  private upstream: net.Socket | undefined;
  private logged = false;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly socket: net.Socket,
    private readonly head: Buffer,
    private readonly rt: ListenerRuntime,
    private readonly ctx: ProxyContext,
    private readonly log: Logger,
  ) {}

  run(): void {
    const socket = this.socket;
    // Read the addresses while the socket is open: the access log line is written after close.
    if (this.ctx.accessLog.enabled) socketAddresses(socket);
    socket.on('error', () => this.close());
    socket.once('close', () => this.close());
    const mesh = this.rt.listener.mesh;
    const target = parseConnectTarget(this.req.url ?? '');
    if (!mesh || !target) {
      this.log.warn({ listener: this.rt.listener.name, target: this.req.url }, 'CONNECT refused: bad target');
      return this.refuse(400, 'Bad Request', 'CONNECT needs a host:port target');
    }
    const { host, port } = target;
    const known =
      mesh.serviceDestination(host, port) !== undefined ||
      selectTlsRoute(mesh.tlsRoutes, host, port) !== undefined;
    if (!known && mesh.policy === 'REGISTRY_ONLY') {
      this.routeName = 'block_all';
      this.cluster = BLACKHOLE_CLUSTER;
      this.log.warn(
        { listener: this.rt.listener.name, target: `${host}:${port}` },
        'CONNECT refused: host not in the registry (outboundTrafficPolicy REGISTRY_ONLY)',
      );
      return this.refuse(
        403,
        'Forbidden',
        `${host}:${port} is not a registered service (outboundTrafficPolicy REGISTRY_ONLY)`,
      );
    }
    this.status = 200;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (this.head.length > 0) socket.unshift(this.head);
    void peekClientHello(socket, { timeoutMs: CONNECT_PEEK_TIMEOUT_MS }).then((peek) => {
      if (peek.kind === 'hello') this.sni = peek.hello.serverName;
      else if (peek.kind !== 'not-tls') return this.close();
      this.route(mesh, host, port, peek.buffered);
    });
  }

  private route(mesh: MeshOutbound, host: string, port: number, buffered: Buffer): void {
    let dest: ResolvedDestination | undefined;
    const rule = this.sni !== undefined ? selectTlsRoute(mesh.tlsRoutes, this.sni, port) : undefined;
    if (rule) {
      this.routeName = rule.name;
      dest = pickWeighted(rule.clusters, rule.totalWeight)!.destination;
    } else {
      dest = mesh.serviceDestination(host, port);
      if (dest) this.routeName = 'default';
      else if (mesh.policy === 'ALLOW_ANY') {
        this.routeName = 'allow_any';
        dest = mesh.passthrough;
      }
    }
    if (!dest) {
      // REGISTRY_ONLY and the SNI names an unregistered host: BlackHoleCluster.
      this.routeName = 'block_all';
      this.cluster = BLACKHOLE_CLUSTER;
      this.flags.push(ResponseFlag.NoRouteFound);
      return this.close();
    }
    this.cluster = dest.name;
    if (!dest.cluster) {
      this.flags.push(ResponseFlag.NoClusterFound);
      return this.close();
    }
    let state = this.ctx.clusters.get(dest.cluster);
    if (state?.originalDestination)
      state = this.ctx.clusters.originalDestination(state, `${host}:${port}`, port);
    const ep = state?.pick();
    if (!ep) {
      this.flags.push(ResponseFlag.NoHealthyUpstream);
      return this.close();
    }
    const { address, port: epPort } = ep.endpoint;
    this.upstreamHost = ep.endpoint.key;
    const upstream = net.connect({ host: address, port: epPort, lookup: this.ctx.clusters.dns.lookup });
    this.upstream = upstream;
    let connected = false;
    const timer = setTimeout(
      () => upstream.destroy(new Error('connect timeout')),
      dest.cluster.connectTimeoutMs,
    );
    upstream.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      if (buffered.length > 0) upstream.write(buffered);
      this.bytesReceived += buffered.length;
      this.socket.on('data', (c: Buffer) => (this.bytesReceived += c.length));
      upstream.on('data', (c: Buffer) => (this.bytesSent += c.length));
      this.socket.pipe(upstream);
      upstream.pipe(this.socket);
      this.socket.resume();
    });
    upstream.on('error', () => {
      clearTimeout(timer);
      if (!connected) this.flags.push(ResponseFlag.UpstreamConnectionFailure);
      this.close();
    });
    upstream.once('close', () => this.close());
  }

  private refuse(status: number, reason: string, body: string): void {
    this.status = status;
    this.details = 'connect_refused';
    const text = `${body}\n`;
    this.bytesSent = Buffer.byteLength(text);
    this.socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nserver: istio-envoy\r\ncontent-type: text/plain\r\n` +
        `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
    );
    this.writeLog();
  }

  private close(): void {
    if (!this.socket.destroyed) this.socket.destroy();
    if (this.upstream && !this.upstream.destroyed) this.upstream.destroy();
    this.writeLog();
  }

  private writeLog(): void {
    if (this.logged) return;
    this.logged = true;
    const al = this.ctx.accessLog;
    if (!al.enabled) return;
    const addresses = socketAddresses(this.socket);
    const record: StreamRecord = {
      startTime: this.startTime,
      method: 'CONNECT',
      path: this.req.url ?? '-',
      protocol: `HTTP/${this.req.httpVersion}`,
      responseCode: this.status,
      responseFlags: this.flags.length > 0 ? this.flags.join(',') : '-',
      responseCodeDetails: this.details,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      durationMs: performance.now() - this.startHr,
      upstreamServiceTimeMs: undefined,
      xForwardedFor: undefined,
      userAgent: this.req.headers['user-agent'],
      requestId: undefined,
      authority: this.req.url,
      upstreamHost: this.upstreamHost,
      upstreamCluster: this.cluster,
      routeName: this.routeName,
      downstreamRemoteAddress: addresses.remote,
      downstreamLocalAddress: addresses.local,
      requestedServerName: this.sni,
    };
    al.log(record);
  }
}

/** Parses a CONNECT request target `host:port` (`[v6]:port`); undefined when malformed. */
function parseConnectTarget(target: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(target);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  let host = (m[1] ?? m[2]!).toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host === '' ? undefined : { host, port };
}
