/**
 * TLS listeners (`protocol: HTTPS` or `TLS` servers): one node:net server per port that reads the
 * ClientHello (tls_inspector), picks the filter chain by SNI (exact, then longest wildcard, then the
 * chain without server names; none → reset, `NR filter_chain_not_found`) and hands the connection to
 * the chain:
 *
 * - **HTTPS, SIMPLE / MUTUAL / OPTIONAL_MUTUAL**: an unbound `https.Server` per chain terminates TLS with
 *   the chain's certificate, protocol range and ciphers, offers ALPN `h2,http/1.1` (HTTP/2 sessions
 *   go to the chain's node:http2 server), then runs the same HTTP connection manager as plaintext
 *   listeners on the chain's own route table (`https.<port>.<portName>.<gw>.<ns>`), with
 *   `x-forwarded-proto: https` and Envoy's `x-forwarded-client-cert` (SANITIZE_SET).
 * - **TLS, SIMPLE / MUTUAL**: a `tls.Server` per chain terminates, then the TCP proxy.
 * - **PASSTHROUGH**: the bytes are spliced untouched to the upstream of the SNI chain.
 *
 * The peeked bytes are put back with `socket.unshift()` before the socket is given to the chain's
 * server: Node's TLS layer replays what is buffered on a socket it wraps.
 *
 * Certificates come from the shared {@link CertStore}: when their files change, each chain server
 * gets a new `SecureContext` (`setSecureContext`) that applies to new handshakes only; open
 * connections are not touched. On a config reload, chains whose TLS settings did not change keep
 * their server (and their open connections their route table follows the new snapshot).
 *
 * Stats: `listener.<l>.ssl.handshake|connection_error|fail_verify_no_cert|fail_verify_error|fail_verify_san|no_certificate`,
 * plus the inspector and TCP proxy stats.
 */
import https from 'node:https';
import net from 'node:net';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Listener } from '../config/listener.js';
import type { FilterChain, HttpsFilterChain, TcpFilterChain } from '../routes/filter-chains.js';
import { selectTcpRoute } from '../routes/filter-chains.js';
import { CertLoadError, type CertLease, type CertMaterial, type CertStore } from '../tls/cert-store.js';
import type { ServerTlsContext } from '../tls/server-tls.js';
import { formatXfcc, parseSubjectAltNames } from '../tls/xfcc.js';
import { createClientErrorHandler, HTTP_SERVER_OPTIONS } from './http-listener.js';
import { createStreamHandler } from './http/connection-manager.js';
import { HTTP1_CODEC } from './http/http1-codec.js';
import { DOWNSTREAM_IDLE_TIMEOUT_STAT, watchDownstreamIdle } from './http/downstream-idle.js';
import { createUpgradeHandler } from './http/upgrade.js';
import { HTTP2_CODEC } from './http/http2-codec.js';
import { Http2Downstream } from './http/http2-downstream.js';
import type { ListenerRuntime, ProxyContext } from './http/proxy-context.js';
import type { BoundListener, ListenerFactory } from './listener-manager.js';
import { inspectClientHello, passthrough } from './passthrough.js';
import { ResponseFlag } from './response-flags.js';
import {
  countAccepted,
  drainAndClose,
  listenerStatNames,
  proxyTcp,
  rejectConnection,
  type DownstreamInfo,
} from './tcp-proxy.js';

/** What the TLS listener factory needs from the gateway. */
interface TlsListenerDeps {
  /** The process-wide certificate store (shared by every TLS listener, so each file is watched once). */
  readonly certs: CertStore;
}

/** Builds the Node TLS options of a chain from its compiled context and current key material. */
function secureContextOptions(ctx: ServerTlsContext, m: CertMaterial): tls.SecureContextOptions {
  return {
    cert: m.cert,
    key: m.key,
    ca: ctx.requestCert ? m.ca : undefined,
    minVersion: ctx.minVersion,
    maxVersion: ctx.maxVersion,
    ciphers: ctx.ciphers,
    // Envoy (BoringSSL) servers choose the cipher in their own preference order.
    honorCipherOrder: true,
  };
}

interface SslStatNames {
  readonly handshake: string;
  readonly connectionError: string;
  readonly noCert: string;
  readonly verifyError: string;
  readonly verifySan: string;
  readonly noCertificate: string;
}

function sslStatNames(listenerName: string): SslStatNames {
  const p = `listener.${listenerName}.ssl.`;
  return {
    handshake: `${p}handshake`,
    connectionError: `${p}connection_error`,
    noCert: `${p}fail_verify_no_cert`,
    verifyError: `${p}fail_verify_error`,
    verifySan: `${p}fail_verify_san`,
    noCertificate: `${p}no_certificate`,
  };
}

const NO_HEADERS = (): undefined => undefined;

/** A terminating chain's live server: built once per (chain name, TLS settings), kept across reloads. */
class TerminatingChain {
  readonly server: tls.Server;
  /** HTTPS chains: the HTTP/2 sessions negotiated with ALPN `h2`. */
  private readonly http2: Http2Downstream | undefined;
  /** HTTPS chains: the runtime the HTTP router reads (route table follows reloads). */
  readonly rt: (ListenerRuntime & { listener: Listener }) | undefined;
  chain: FilterChain;
  private readonly lease: CertLease;
  private localUris: readonly string[] = [];
  private readonly xfccCache = new WeakMap<tls.TLSSocket, readonly string[]>();
  private readonly tlsFailed = new WeakSet<net.Socket>();

  /** @throws CertLoadError when the credential cannot be loaded. */
  constructor(
    chain: HttpsFilterChain | TcpFilterChain,
    listener: Listener,
    private readonly ctx: ProxyContext,
    private readonly log: Logger,
    certs: CertStore,
    private readonly owner: TlsListener,
  ) {
    this.chain = chain;
    const tlsCtx = chain.tls!;
    // The lease is taken before the server exists; reloads are applied once it does.
    let server: tls.Server | undefined;
    this.lease = certs.acquire(tlsCtx.files, (m) => {
      this.localUris = localUrisOf(m);
      server?.setSecureContext(secureContextOptions(tlsCtx, m));
    });
    this.localUris = localUrisOf(this.lease.material);
    const options: tls.TlsOptions = {
      ...secureContextOptions(tlsCtx, this.lease.material),
      requestCert: tlsCtx.requestCert,
      // MUTUAL: OpenSSL refuses a handshake without a client certificate; a certificate that does not
      // verify is refused by Node right after the handshake (before any byte is read).
      rejectUnauthorized: tlsCtx.requireClientCert,
    };
    if (chain.kind === 'https') {
      const rt = {
        listener: chainListener(listener, chain),
        scheme: 'https' as const,
        extraRequestHeaders: tlsCtx.requestCert
          ? (connection: net.Socket) => this.xfcc(connection)
          : NO_HEADERS,
      };
      this.rt = rt;
      const handler = createStreamHandler(HTTP1_CODEC, rt, ctx, log);
      // ALPN `h2,http/1.1` as Istio's gateway offers on HTTPS servers: `h2` sessions go to the HTTP/2
      // codec, anything else to node's HTTPS handling (its own 'secureConnection' listener).
      const hs = https.createServer(
        { ...HTTP_SERVER_OPTIONS, ...options, ALPNProtocols: ['h2', 'http/1.1'] },
        handler,
      );
      hs.on('upgrade', createUpgradeHandler(handler));
      const h2 = new Http2Downstream(
        createStreamHandler(HTTP2_CODEC, rt, ctx, log),
        ctx.stats,
        () => `listener.${rt.listener.name}`,
        log,
      );
      this.http2 = h2;
      const http1Secure = hs.listeners('secureConnection') as ((s: tls.TLSSocket) => void)[];
      hs.removeAllListeners('secureConnection');
      const countIdleTimeout = (): void =>
        ctx.stats.inc(`listener.${rt.listener.name}.${DOWNSTREAM_IDLE_TIMEOUT_STAT}`);
      hs.on('secureConnection', (socket: tls.TLSSocket) => {
        if (socket.destroyed) return;
        if (socket.alpnProtocol === 'h2') return h2.accept(socket);
        watchDownstreamIdle(socket, ctx.downstreamIdleTimeoutMs, countIdleTimeout);
        for (const l of http1Secure) l.call(hs, socket);
      });
      const httpErrors = createClientErrorHandler(rt, ctx, log);
      // https.Server re-emits TLS handshake errors as 'clientError': those must not get an HTTP 400.
      hs.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
        if (this.tlsFailed.has(socket)) return void socket.destroy();
        httpErrors(err, socket);
      });
      // Node's HTTP server only tracks connections (idle close, headers timeout) once it has been
      // 'listening'; this one never binds (connections are handed over), so start the tracking here.
      hs.emit('listening');
      server = hs;
    } else {
      this.rt = undefined;
      this.http2 = undefined;
      server = tls.createServer(options, (socket) => this.onTcpSecure(socket));
    }
    this.server = server;
    server.prependListener('secureConnection', (socket: tls.TLSSocket) => this.onSecure(socket));
    server.prependListener('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) =>
      this.onTlsError(err, socket),
    );
  }

  /** Adopts the same chain from a newer snapshot (route table, listener). */
  update(chain: HttpsFilterChain | TcpFilterChain, listener: Listener): void {
    this.chain = chain;
    if (this.rt && chain.kind === 'https') this.rt.listener = chainListener(listener, chain);
  }

  /** Hands over a raw connection whose ClientHello bytes were read: they are put back first. */
  accept(socket: net.Socket, buffered: Buffer): void {
    if (buffered.length > 0) socket.unshift(buffered);
    this.server.emit('connection', socket);
  }

  /** Sends GOAWAY to the chain's HTTP/2 sessions; returns how many were told. */
  goAway(): number {
    return this.http2?.goAway() ?? 0;
  }

  /** Drops the credential lease and closes idle HTTP connections; open ones finish. */
  close(): void {
    this.lease.release();
    this.http2?.goAway();
    // A never-bound server's close() reports ERR_SERVER_NOT_RUNNING to its callback; it still stops the
    // connection tracking and closes idle keep-alive connections, which is what is wanted here.
    this.server.close(() => undefined);
  }

  private stats(): SslStatNames {
    return this.owner.sslNames;
  }

  private onSecure(socket: tls.TLSSocket): void {
    const names = this.stats();
    const tlsCtx = this.chain.tls!;
    if (tlsCtx.requestCert) {
      const peer = socket.getPeerCertificate();
      const presented = peer !== undefined && peer.raw !== undefined;
      if (!presented) {
        this.ctx.stats.inc(names.noCertificate);
      } else {
        // OPTIONAL_MUTUAL: verified only when presented (MUTUAL was checked by Node already).
        if (!socket.authorized) {
          this.ctx.stats.inc(names.verifyError);
          this.log.debug(
            { listener: this.owner.name, error: socket.authorizationError },
            'client certificate refused',
          );
          return void socket.destroy();
        }
        if (tlsCtx.subjectAltNames.length > 0) {
          const sans = parseSubjectAltNames(peer.subjectaltname).all;
          if (!tlsCtx.subjectAltNames.some((n) => sans.includes(n))) {
            this.ctx.stats.inc(names.verifySan);
            this.log.debug({ listener: this.owner.name }, 'client certificate SAN not allowed');
            return void socket.destroy();
          }
        }
      }
    }
    this.ctx.stats.inc(names.handshake);
  }

  private onTlsError(err: NodeJS.ErrnoException, socket: tls.TLSSocket): void {
    this.tlsFailed.add(socket);
    const names = this.stats();
    const stats = this.ctx.stats;
    stats.inc(names.connectionError);
    if (socket.authorizationError) stats.inc(names.verifyError);
    else if (err.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') stats.inc(names.noCert);
    this.log.debug(
      {
        listener: this.owner.name,
        chain: this.chain.name,
        code: err.code,
        authorizationError: socket.authorizationError,
      },
      'TLS handshake failed',
    );
  }

  private onTcpSecure(socket: tls.TLSSocket): void {
    if (socket.destroyed) return;
    const chain = this.chain as TcpFilterChain;
    const listener = this.owner.current;
    const info: DownstreamInfo = {
      listener,
      requestedServerName: socket.servername || undefined,
      initial: undefined,
      startTime: Date.now(),
      startHr: performance.now(),
      // The raw socket is tracked by the listener; this TLS socket is not.
      tracker: undefined,
    };
    const route = selectTcpRoute(chain.routes, socket.remoteAddress);
    if (!route) {
      this.ctx.stats.inc(listenerStatNames(listener.name).noFilterChainMatch);
      return rejectConnection(
        socket,
        this.ctx,
        info,
        ResponseFlag.NoRouteFound,
        'filter_chain_not_found',
        true,
      );
    }
    proxyTcp(socket, route, this.ctx, info);
  }

  /** `x-forwarded-client-cert` for the request's connection, computed once per connection. */
  private xfcc(connection: net.Socket): readonly string[] | undefined {
    const socket = connection as tls.TLSSocket;
    let h = this.xfccCache.get(socket);
    if (!h) {
      const peer = socket.getPeerCertificate();
      h = peer && peer.raw ? ['x-forwarded-client-cert', formatXfcc(peer, this.localUris)] : [];
      this.xfccCache.set(socket, h);
    }
    return h;
  }
}

/** The listener as the HTTP router of one HTTPS chain sees it: same name and port, the chain's route table. */
function chainListener(listener: Listener, chain: HttpsFilterChain): Listener {
  return { ...listener, routeConfig: chain.routeConfig };
}

function localUrisOf(m: CertMaterial): readonly string[] {
  try {
    return parseSubjectAltNames(new X509Certificate(m.cert).subjectAltName).uri;
  } catch {
    return [];
  }
}

function chainKey(chain: FilterChain): string | undefined {
  return chain.tls ? `${chain.kind}|${chain.name}|${chain.tls.key}` : undefined;
}

const kListener = Symbol('meshgate.tlsListener');
type TrackedSocket = net.Socket & { [kListener]?: TlsListener };

/** A terminated connection's raw socket closed: listener bookkeeping (passthrough sessions do their own). */
function onRawClose(this: TrackedSocket): void {
  const l = this[kListener];
  if (!l) return;
  l.open.delete(this);
  l.ctx.stats.inc(listenerStatNames(l.name).cxActive, -1);
}

/** Errors on an accepted socket before a consumer took it are only a reason to close it. */
function destroyOnError(this: net.Socket): void {
  this.destroy();
}

class TlsListener implements BoundListener {
  readonly server: net.Server;
  readonly open = new Set<net.Socket>();
  readonly name: string;
  readonly sslNames: SslStatNames;
  current: Listener;
  /** Terminating chains by key (chain name + TLS settings). */
  private byKey = new Map<string, TerminatingChain>();
  /** The terminating chain objects of the current snapshot → their servers. */
  private byChain = new Map<FilterChain, TerminatingChain>();

  constructor(
    listener: Listener,
    readonly ctx: ProxyContext,
    private readonly log: Logger,
    private readonly certs: CertStore,
  ) {
    this.current = listener;
    this.name = listener.name;
    this.sslNames = sslStatNames(listener.name);
    this.adopt(listener);
    // allowHalfOpen: passthrough forwards each FIN separately, as the TCP proxy does.
    this.server = net.createServer(
      { allowHalfOpen: true, noDelay: true },
      (socket) =>
        void this.onConnection(socket).catch((err: unknown) => {
          // A bug must cost one connection, never the process.
          log.error({ err, listener: this.name }, 'tls connection handling failed');
          socket.destroy();
        }),
    );
    this.server.on('error', (err) => log.error({ err, listener: this.name }, 'tls listener error'));
  }

  update(next: Listener): void {
    this.current = next;
    this.adopt(next);
  }

  /** Sends GOAWAY to every HTTP/2 session of every HTTPS chain; returns how many were told. */
  goAway(): number {
    let n = 0;
    for (const t of this.byKey.values()) n += t.goAway();
    return n;
  }

  close(): Promise<void> {
    for (const t of this.byKey.values()) t.close();
    this.byKey.clear();
    this.byChain.clear();
    return drainAndClose(this.server, this.open);
  }

  /** Builds (or keeps) the terminating chain servers of a snapshot's listener. */
  private adopt(listener: Listener): void {
    const nextByKey = new Map<string, TerminatingChain>();
    const nextByChain = new Map<FilterChain, TerminatingChain>();
    for (const chain of listener.filterChains?.chains ?? []) {
      const key = chainKey(chain);
      if (key === undefined) continue;
      let t = nextByKey.get(key) ?? this.byKey.get(key);
      if (t) {
        t.update(chain, listener);
      } else {
        try {
          t = new TerminatingChain(chain, listener, this.ctx, this.log, this.certs, this);
        } catch (err) {
          if (!(err instanceof CertLoadError)) throw err;
          // Envoy keeps such a chain warming and fails its handshakes; here its SNI gets no chain.
          this.log.error(
            { listener: listener.name, chain: chain.name, err: err.message },
            'TLS chain disabled: credential not loadable',
          );
          continue;
        }
      }
      nextByKey.set(key, t);
      nextByChain.set(chain, t);
    }
    for (const [key, t] of this.byKey) if (!nextByKey.has(key)) t.close();
    this.byKey = nextByKey;
    this.byChain = nextByChain;
  }

  private async onConnection(raw: net.Socket): Promise<void> {
    // One snapshot per connection: the listener and chains read now serve it to the end.
    const listener = this.current;
    const byChain = this.byChain;
    const ctx = this.ctx;
    countAccepted(ctx.stats, listener.name);
    this.open.add(raw);
    raw.on('error', destroyOnError);
    const info: DownstreamInfo = {
      listener,
      requestedServerName: undefined,
      initial: undefined,
      startTime: Date.now(),
      startHr: performance.now(),
      tracker: this.open,
    };
    const verdict = await inspectClientHello(
      raw,
      ctx,
      info,
      listener.listenerFilterTimeoutMs ?? 5_000,
      this.log,
    );
    if (!verdict.ok) return;
    const chain = listener.filterChains?.select(verdict.serverName);
    if (!chain) {
      ctx.stats.inc(listenerStatNames(listener.name).noFilterChainMatch);
      this.log.debug(
        { listener: listener.name, sni: verdict.serverName, tls: verdict.tls },
        'no filter chain; connection reset (NR)',
      );
      return rejectConnection(
        raw,
        ctx,
        { ...info, requestedServerName: verdict.serverName },
        ResponseFlag.NoRouteFound,
        'filter_chain_not_found',
        true,
      );
    }
    if (chain.kind === 'tcp' && chain.tls === undefined) return passthrough(raw, chain, verdict, ctx, info);
    const t = byChain.get(chain);
    if (!t) {
      return rejectConnection(
        raw,
        ctx,
        { ...info, requestedServerName: verdict.serverName },
        undefined,
        'tls_credential_unavailable',
        true,
      );
    }
    // From here the chain's TLS server owns the socket; the listener only keeps its bookkeeping.
    const tracked = raw as TrackedSocket;
    tracked[kListener] = this;
    raw.on('close', onRawClose);
    if (raw.closed) return void onRawClose.call(tracked);
    t.accept(raw, verdict.buffered);
  }
}

/** The factory for `TLS` listeners (HTTPS/TLS servers): registered by the gateway for kind `TLS`. */
export function createTlsListenerFactory(deps: TlsListenerDeps): ListenerFactory {
  return (listener, ctx, log) => {
    if (!listener.filterChains) return undefined;
    return new TlsListener(listener, ctx, log, deps.certs);
  };
}
