/**
 * The gateway's {@link StreamObserver}: one call per finished HTTP stream fans out to the Istio
 * metrics, the Envoy cluster/listener counters and, when tracing is on, the span of the request.
 * Built by `admin/observability.ts`; `NO_OBSERVER` is used instead when all three are off.
 */
import type { Cluster, ClusterEndpoint } from '../config/cluster.js';
import type { StreamRecord } from './access-log.js';
import type { EnvoyStats } from './envoy-stats.js';
import type { IstioMetrics } from './metrics.js';
import type { StreamObserver } from './observer.js';
import type { Tracer } from './tracing.js';

/** Fans one finished stream out to metrics, Envoy stats and the tracer (each optional). */
export class GatewayObserver implements StreamObserver {
  readonly enabled = true;

  /** `metrics` and `envoy` are both set or both undefined (`--metrics off`). */
  constructor(
    private readonly metrics: IstioMetrics | undefined,
    private readonly envoy: EnvoyStats | undefined,
    private readonly tracer: Tracer | undefined,
  ) {}

  onHttp(r: StreamRecord, cluster: Cluster | undefined, endpoint: ClusterEndpoint | undefined): void {
    if (this.metrics !== undefined) {
      this.metrics.onHttp(r, cluster, endpoint);
      this.envoy!.onHttp(r, cluster, endpoint);
    }
    if (this.tracer !== undefined) this.tracer.finish(r);
  }

  /**
   * A TCP proxy connection was routed (for the TCP proxy; see `IstioMetrics.onTcpOpen`). Not yet
   * part of the `StreamObserver` contract: callers reach it through `Gateway.observability.observer`.
   */
  onTcpOpen(cluster: Cluster | undefined, endpoint?: ClusterEndpoint): void {
    this.metrics?.onTcpOpen(cluster, endpoint);
  }

  /** A TCP proxy connection closed: bytes to / from the downstream, Envoy flags (`-` when none). */
  onTcpClose(
    cluster: Cluster | undefined,
    sentBytes: number,
    receivedBytes: number,
    flags = '-',
    endpoint?: ClusterEndpoint,
  ): void {
    this.metrics?.onTcpClose(cluster, sentBytes, receivedBytes, flags, endpoint);
  }
}
