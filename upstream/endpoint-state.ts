/**
 * Runtime state of one upstream endpoint: its undici connection pool and live counters. Survives
 * snapshot swaps as long as the endpoint (address:port) and its connection settings are unchanged.
 */
import type { LookupFunction } from 'node:net';
import { buildConnector, Pool } from 'undici';
import type { ClusterEndpoint } from '../config/cluster.js';
import { H2UpstreamClient } from './h2-upstream-client.js';
import { absorbInterimContinue } from './interim-response-filter.js';
import { FixedSniPool, type OriginationTls } from './tls-origination.js';

export interface PoolSettings {
  /** TCP connect timeout in ms (`connectionPool.tcp.connectTimeout`). */
  readonly connectTimeoutMs: number;
  /** Keep-alive idle timeout in ms (`connectionPool.http.idleTimeout`, Envoy default 1 h). */
  readonly idleTimeoutMs: number;
  /** Requests per connection before it is closed; 0 = unlimited (`http.maxRequestsPerConnection`). */
  readonly maxRequestsPerConnection: number;
  /** Name resolution for DNS-named endpoints (issue 4, `upstream/dns.ts`); undefined = Node's default. */
  readonly lookup?: LookupFunction;
  /** DR `tls` SIMPLE/MUTUAL (issue 4): the pool speaks TLS (`https://` origin). */
  readonly tls?: OriginationTls;
  /** HTTP/2 to the endpoint (upstream/upstream-protocol.ts): h2c in plaintext, ALPN `h2` over TLS. */
  readonly http2?: boolean;
}

/** Identity of a pool: endpoint plus the settings that shape its connections. */
export function poolKey(ep: ClusterEndpoint, s: PoolSettings): string {
  return `${ep.key}|${s.connectTimeoutMs}|${s.idleTimeoutMs}|${s.maxRequestsPerConnection}|${s.tls?.key ?? ''}|${s.http2 ? 'h2' : 'h1'}`;
}

/**
 * One endpoint's runtime state. The undici pool is created on first use: a reload of 10,000 hosts
 * builds 10,000 endpoint states, and an eager pool cost ~19 KB of heap (~22 KB RSS) each whether or
 * not a request ever went there; without it a state is ~300 bytes (bench/micro.ts). Until then the
 * state is the endpoint, its settings and two counters.
 */
export class EndpointState {
  private lazyPool: Pool | undefined;
  /** Requests in flight to this endpoint (LEAST_REQUEST reads it). */
  active = 0;
  /** Clusters currently referencing this state; the pool closes when it drops to 0 after a swap. */
  refs = 0;

  constructor(
    readonly endpoint: ClusterEndpoint,
    readonly settings: PoolSettings,
  ) {}

  /** The endpoint's connection pool (created on first access). */
  get pool(): Pool {
    return (this.lazyPool ??= createPool(this.endpoint, this.settings));
  }

  /** Whether the pool exists (a request or a stat reader touched it). */
  get hasPool(): boolean {
    return this.lazyPool !== undefined;
  }

  /** Closes the pool gracefully (in-flight requests finish); nothing to do when none was created. */
  close(): Promise<void> {
    return this.lazyPool ? this.lazyPool.close() : Promise.resolve();
  }

  /** Destroys the pool at once (shutdown); nothing to do when none was created. */
  destroy(): Promise<void> {
    return this.lazyPool ? this.lazyPool.destroy() : Promise.resolve();
  }
}

/**
 * The pool's connector: undici's own (TCP or TLS, ALPN, h2c) with every HTTP/1.1 socket wrapped so
 * an upstream `100 Continue` is absorbed as Envoy absorbs it (interim-response-filter.ts). HTTP/2
 * sockets (`h2` by ALPN, or h2c) are left alone: undici's HTTP/2 client ignores 1xx heads itself.
 */
function poolConnector(settings: PoolSettings): buildConnector.connector {
  const tls = settings.tls;
  const connect = buildConnector({
    timeout: settings.connectTimeoutMs,
    lookup: settings.lookup,
    ...tls?.connect,
    ...(settings.http2 ? { allowH2: true } : undefined),
    ...(settings.http2 && !tls ? { useH2c: true } : undefined),
  } as buildConnector.BuildOptions);
  return (opts, callback) =>
    connect(opts, (err, socket) => {
      if (socket && (socket as { alpnProtocol?: string | false }).alpnProtocol !== 'h2')
        absorbInterimContinue(socket);
      if (err) callback(err, null);
      else callback(null, socket!);
    });
}

function createPool(endpoint: ClusterEndpoint, settings: PoolSettings): Pool {
  const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
  const tls = settings.tls;
  const options = {
    connections: null,
    // One request per connection at a time, HTTP/2 included: undici 7 would queue a non-idempotent
    // request or a streamed body (all the router sends) behind a stream in flight on the session.
    pipelining: 1,
    connect: poolConnector(settings),
    keepAliveTimeout: settings.idleTimeoutMs,
    keepAliveMaxTimeout: settings.idleTimeoutMs,
    // Envoy has no headers or body timeout by default (route timeout 0, stream idle timeout 0).
    headersTimeout: 0,
    bodyTimeout: 0,
    // Envoy's upstream response header limit (`max_response_headers_kb` default, 60 KiB).
    maxHeaderSize: 60 * 1024,
    ...(settings.http2 ? { allowH2: true } : undefined),
    // HTTP/1: undici closes the connection after this many requests; HTTP/2: h2-upstream-client.ts.
    maxRequestsPerClient:
      settings.maxRequestsPerConnection > 0 ? settings.maxRequestsPerConnection : undefined,
    ...(settings.http2
      ? {
          factory: (origin: URL, opts: object) =>
            new H2UpstreamClient(origin, opts, {
              maxRequestsPerConnection: settings.maxRequestsPerConnection,
            }),
        }
      : undefined),
  } as Pool.Options;
  const origin = `${tls ? 'https' : 'http'}://${host}:${endpoint.port}`;
  return tls?.sni ? new FixedSniPool(origin, options, tls.sni) : new Pool(origin, options);
}
