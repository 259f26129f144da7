/**
 * Runtime state of one upstream endpoint: its connection pool (an {@link H1Pool} for HTTP/1.1, an
 * {@link H2Pool} for HTTP/2) and live counters. Survives snapshot swaps as long as the endpoint
 * (address:port) and its connection settings are unchanged.
 */
import type { LookupFunction } from 'node:net';
import type { Dispatcher } from 'undici';
import type { ClusterEndpoint } from '../config/cluster.js';
import { H1Pool } from './h1-pool.js';
import { H2Pool } from './h2-pool.js';
import type { OriginationTls } from './tls-origination.js';
import type { UpstreamHandler } from './upstream-handler.js';

export interface PoolSettings {
  /** TCP connect timeout in ms (`connectionPool.tcp.connectTimeout`). */
  readonly connectTimeoutMs: number;
  /** Keep-alive idle timeout in ms (`connectionPool.http.idleTimeout`, Envoy default 1 h). */
  readonly idleTimeoutMs: number;
  /** Requests per connection before it is closed; 0 = unlimited (`http.maxRequestsPerConnection`). */
  readonly maxRequestsPerConnection: number;
  /** HTTP/2 streams open at once per connection; 0 or unset = the peer's limit (`http.maxConcurrentStreams`). */
  readonly maxConcurrentStreams?: number;
  /** HTTP/2 sessions open at once per endpoint; 0 or unset = unlimited (`tcp.maxConnections`). */
  readonly maxConnections?: number;
  /** Name resolution for DNS-named endpoints (issue 4, `upstream/dns.ts`); undefined = Node's default. */
  readonly lookup?: LookupFunction;
  /** DR `tls` SIMPLE/MUTUAL (issue 4): the pool speaks TLS (`https://` origin). */
  readonly tls?: OriginationTls;
  /** HTTP/2 to the endpoint (upstream/upstream-protocol.ts): h2c in plaintext, ALPN `h2` over TLS. */
  readonly http2?: boolean;
}

/** Identity of a pool: endpoint plus the settings that shape its connections. */
export function poolKey(ep: ClusterEndpoint, s: PoolSettings): string {
  return `${ep.key}|${s.connectTimeoutMs}|${s.idleTimeoutMs}|${s.maxRequestsPerConnection}|${s.tls?.key ?? ''}|${s.http2 ? `h2|${s.maxConcurrentStreams ?? 0}|${s.maxConnections ?? 0}` : 'h1'}`;
}

/**
 * What the gateway needs of an endpoint's pool: undici's dispatch, the counters it reads
 * (`free`: connections with room for a request, the circuit breaker's "must connect" test;
 * `connected`: open connections, stats and config dump), and closing.
 */
export interface UpstreamPool {
  dispatch(opts: Dispatcher.DispatchOptions, handler: UpstreamHandler): boolean;
  readonly stats: { readonly free: number; readonly connected: number };
  /** Graceful: requests in flight finish. */
  close(): Promise<void>;
  /** At once: requests in flight fail. */
  destroy(): Promise<void>;
}

/**
 * One endpoint's runtime state. The pool is created on first use: a reload of 10,000 hosts
 * builds 10,000 endpoint states, and an eager pool cost ~19 KB of heap (~22 KB RSS) each whether or
 * not a request ever went there; without it a state is ~300 bytes (bench/micro.ts). Until then the
 * state is the endpoint, its settings and two counters.
 */
export class EndpointState {
  private lazyPool: UpstreamPool | undefined;
  /** Requests in flight to this endpoint (LEAST_REQUEST reads it). */
  active = 0;
  /** Clusters currently referencing this state; the pool closes when it drops to 0 after a swap. */
  refs = 0;

  constructor(
    readonly endpoint: ClusterEndpoint,
    readonly settings: PoolSettings,
  ) {}

  /** The endpoint's connection pool (created on first access). */
  get pool(): UpstreamPool {
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

function createPool(endpoint: ClusterEndpoint, settings: PoolSettings): UpstreamPool {
  if (settings.http2) {
    return new H2Pool({
      host: endpoint.address,
      port: endpoint.port,
      connectTimeoutMs: settings.connectTimeoutMs,
      idleTimeoutMs: settings.idleTimeoutMs,
      maxRequestsPerConnection: settings.maxRequestsPerConnection,
      maxConcurrentStreams: settings.maxConcurrentStreams ?? 0,
      maxConnections: settings.maxConnections ?? 0,
      lookup: settings.lookup,
      tls: settings.tls,
    });
  }
  return new H1Pool({
    host: endpoint.address,
    port: endpoint.port,
    connectTimeoutMs: settings.connectTimeoutMs,
    idleTimeoutMs: settings.idleTimeoutMs,
    maxRequestsPerConnection: settings.maxRequestsPerConnection,
    lookup: settings.lookup,
    tls: settings.tls,
  });
}
