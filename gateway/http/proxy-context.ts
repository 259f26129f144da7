/** The shared services of the HTTP data path and the per-listener runtime the connection manager reads. */
import type { Listener } from '../../config/listener.js';
import type { AccessLogger } from '../../telemetry/access-log.js';
import type { StatStore } from '../../telemetry/stats.js';
import type { StreamObserver } from '../../telemetry/observer.js';
import type { TraceInjector } from '../../telemetry/tracing.js';
import type { ClusterManager } from '../../upstream/cluster-manager.js';
import type { Socket } from 'node:net';
import type { ConnectionDrain } from '../connection-drain.js';

/** Per bound HTTP listener (or HTTPS filter chain): the compiled listener of the live snapshot, replaced on every swap. */
export interface ListenerRuntime {
  listener: Listener;
  readonly scheme: 'http' | 'https';
  /**
   * TLS-terminating chains only: connection-level upstream request headers, i.e. Envoy's
   * `x-forwarded-client-cert` under Istio's SANITIZE_SET. Incoming XFCC is always removed; when this
   * is present the returned `[name, value, ...]` pairs for the request's connection (lowercase names) are appended; plaintext
   * listeners leave it unset.
   */
  readonly extraRequestHeaders?: (connection: Socket) => readonly string[] | undefined;
}

/** Shared services of the data path. */
export interface ProxyContext {
  readonly clusters: ClusterManager;
  readonly accessLog: AccessLogger;
  readonly stats: StatStore;
  /** Metrics/tracing hook; `NO_OBSERVER` when off. */
  readonly observer: StreamObserver;
  /** Trace propagation; undefined when tracing is off, so the data path does no trace work. */
  readonly tracing?: TraceInjector;
  /** Shutdown draining: told where each HTTP/1.1 response starts; drains HTTP/2 sessions (gateway/connection-drain.ts). */
  readonly drain?: ConnectionDrain;
  /**
   * Idle timeout of HTTP/1 downstream connections, ms (Envoy's HTTP connection manager
   * `idle_timeout`); default `DOWNSTREAM_IDLE_TIMEOUT_MS`, 1 h, which Istio keeps for gateways.
   */
  readonly downstreamIdleTimeoutMs?: number;
}
