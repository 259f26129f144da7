/**
 * The data path's one telemetry hook: called once per finished HTTP stream (and, for L4
 * listeners, per closed connection) with the access-log record and the cluster/endpoint that
 * served it. Metrics and tracing exporters implement it; when nothing is attached it costs one
 * boolean check.
 */
import type { Cluster, ClusterEndpoint } from '../config/cluster.js';
import type { StreamRecord } from './access-log.js';

export interface StreamObserver {
  readonly enabled: boolean;
  /**
   * One finished HTTP request. `cluster`/`endpoint` are undefined for local replies without an
   * upstream. The observer may keep `r` until {@link drain}: pass a fresh object, never change it.
   */
  onHttp(r: StreamRecord, cluster: Cluster | undefined, endpoint: ClusterEndpoint | undefined): void;
  /** Applies whatever is still pending (readers call it before reading counters). */
  drain?(): void;
  /** A TCP proxy connection was routed to an endpoint (`istio_tcp_connections_opened_total`). */
  onTcpOpen?(cluster: Cluster | undefined, endpoint?: ClusterEndpoint): void;
  /** A TCP proxy connection closed; bytes sent to / received from the downstream, Envoy flags or `-`. */
  onTcpClose?(
    cluster: Cluster | undefined,
    sentBytes: number,
    receivedBytes: number,
    flags?: string,
    endpoint?: ClusterEndpoint,
  ): void;
}

/** The observer used when telemetry is off. */
export const NO_OBSERVER: StreamObserver = { enabled: false, onHttp: () => undefined };
