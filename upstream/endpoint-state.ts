/**
 * Runtime state of one upstream endpoint: its undici connection pool and live counters. Survives
 * snapshot swaps as long as the endpoint (address:port) and its connection settings are unchanged.
 */
import { Pool } from 'undici';
import type { ClusterEndpoint } from '../config/cluster.js';

export interface PoolSettings {
  /** TCP connect timeout in ms (`connectionPool.tcp.connectTimeout`). */
  readonly connectTimeoutMs: number;
  /** Keep-alive idle timeout in ms (`connectionPool.http.idleTimeout`, Envoy default 1 h). */
  readonly idleTimeoutMs: number;
  /** Requests per connection before it is closed; 0 = unlimited (`http.maxRequestsPerConnection`). */
  readonly maxRequestsPerConnection: number;
}

/** Identity of a pool: endpoint plus the settings that shape its connections. */
export function poolKey(ep: ClusterEndpoint, s: PoolSettings): string {
  return `${ep.key}|${s.connectTimeoutMs}|${s.idleTimeoutMs}|${s.maxRequestsPerConnection}`;
}

export class EndpointState {
  readonly pool: Pool;
  /** Requests in flight to this endpoint (LEAST_REQUEST reads it). */
  active = 0;
  /** Clusters currently referencing this state; the pool closes when it drops to 0 after a swap. */
  refs = 0;

  constructor(
    readonly endpoint: ClusterEndpoint,
    readonly settings: PoolSettings,
  ) {
    const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
    this.pool = new Pool(`http://${host}:${endpoint.port}`, {
      connections: null,
      pipelining: 1,
      connect: { timeout: settings.connectTimeoutMs },
      keepAliveTimeout: settings.idleTimeoutMs,
      keepAliveMaxTimeout: settings.idleTimeoutMs,
      // Envoy has no headers or body timeout by default (route timeout 0, stream idle timeout 0).
      headersTimeout: 0,
      bodyTimeout: 0,
      maxRequestsPerClient:
        settings.maxRequestsPerConnection > 0 ? settings.maxRequestsPerConnection : undefined,
    } as Pool.Options);
  }
}
