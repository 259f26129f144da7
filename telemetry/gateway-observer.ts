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

/** Finished requests are counted this many at a time (and whenever counters are read). */
export const OBSERVER_BATCH = 128;

/**
 * Fans one finished stream out to metrics, Envoy stats and the tracer (each optional).
 *
 * Spans end at once. Metrics and Envoy counters are applied {@link OBSERVER_BATCH} requests at a
 * time: counting a batch in one loop measured 1.5–4% of a proxied request cheaper than counting
 * each request as it ends. The admin readers call {@link drain} first (the Prometheus endpoints,
 * `/stats`, `/clusters`), and so does a snapshot swap, so what they show is never stale. Code that
 * reads `IstioMetrics` or `EnvoyStats` directly must drain first too.
 */
export class GatewayObserver implements StreamObserver {
  readonly enabled = true;
  /** Pending requests: record, cluster and endpoint at the same index (no per-request tuple). */
  private readonly records: StreamRecord[] = [];
  private readonly clusters: (Cluster | undefined)[] = [];
  private readonly endpoints: (ClusterEndpoint | undefined)[] = [];

  /** `metrics` and `envoy` are both set or both undefined (`--metrics off`). */
  constructor(
    private readonly metrics: IstioMetrics | undefined,
    private readonly envoy: EnvoyStats | undefined,
    private readonly tracer: Tracer | undefined,
  ) {}

  onHttp(r: StreamRecord, cluster: Cluster | undefined, endpoint: ClusterEndpoint | undefined): void {
    if (this.tracer !== undefined) this.tracer.finish(r);
    if (this.metrics === undefined) return;
    this.clusters.push(cluster);
    this.endpoints.push(endpoint);
    if (this.records.push(r) >= OBSERVER_BATCH) this.drain();
  }

  /** Applies every pending request to the metrics and Envoy counters. */
  drain(): void {
    const n = this.records.length;
    if (n === 0) return;
    const metrics = this.metrics!;
    const envoy = this.envoy!;
    for (let i = 0; i < n; i++) {
      const r = this.records[i]!;
      metrics.onHttp(r, this.clusters[i], this.endpoints[i]);
      envoy.onHttp(r, this.clusters[i], this.endpoints[i]);
    }
    this.records.length = 0;
    this.clusters.length = 0;
    this.endpoints.length = 0;
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
