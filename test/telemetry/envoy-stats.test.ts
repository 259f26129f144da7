import { describe, expect, it } from 'vitest';
import { EnvoyStats, isGauge } from '../../telemetry/envoy-stats.js';
import { StatStore } from '../../telemetry/stats.js';
import type { Snapshot } from '../../config/snapshot.js';

const C = 'outbound|9080|v1|reviews.default.svc.cluster.local';

describe('Envoy stat names → Prometheus (Istio tag extraction)', () => {
  const envoy = new EnvoyStats(new StatStore(), () => undefined);
  envoy.onSnapshot({ clusters: new Map([[C, {}]]) } as unknown as Snapshot);

  it.each([
    [`cluster.${C}.upstream_rq_total`, 'envoy_cluster_upstream_rq_total', { cluster_name: C }],
    [`cluster.${C}.upstream_rq_200`, 'envoy_cluster_upstream_rq', { cluster_name: C, response_code: '200' }],
    [
      `cluster.${C}.upstream_rq_5xx`,
      'envoy_cluster_upstream_rq',
      { cluster_name: C, response_code_class: '5xx' },
    ],
    [
      `cluster.${C}.upstream_rq_pending_overflow`,
      'envoy_cluster_upstream_rq_pending_overflow',
      { cluster_name: C },
    ],
    [
      `cluster.${C}.outlier_detection.ejections_active`,
      'envoy_cluster_outlier_detection_ejections_active',
      { cluster_name: C },
    ],
    [
      'cluster.outbound|80||gone.example.com.upstream_rq_retry',
      'envoy_cluster_upstream_rq_retry',
      { cluster_name: 'outbound|80||gone.example.com' },
    ],
    [
      'listener.0.0.0.0_8080.downstream_cx_total',
      'envoy_listener_downstream_cx_total',
      { listener_address: '0.0.0.0_8080' },
    ],
    [
      'http.outbound_0.0.0.0_8080.downstream_rq_2xx',
      'envoy_http_downstream_rq',
      { http_conn_manager_prefix: 'outbound_0.0.0.0_8080', response_code_class: '2xx' },
    ],
    ['server.config_reloaded', 'envoy_server_config_reloaded', {}],
    ['tracing.zipkin.spans_sent', 'envoy_tracing_zipkin_spans_sent', {}],
  ])('%s', (name, family, labels) => {
    expect(envoy.toPrometheus(name)).toEqual({ family, labels });
  });

  it('classifies gauges by Envoy naming', () => {
    expect(isGauge(`cluster.${C}.upstream_cx_active`)).toBe(true);
    expect(isGauge(`cluster.${C}.membership_total`)).toBe(true);
    expect(isGauge('server.live')).toBe(true);
    expect(isGauge(`cluster.${C}.upstream_rq_total`)).toBe(false);
    expect(isGauge(`cluster.${C}.upstream_rq_pending_overflow`)).toBe(false);
  });

  it('prints admin /stats lines, optionally filtered', () => {
    const entries = [
      { name: 'a.b', value: 1, gauge: false },
      { name: 'c.d', value: 2, gauge: true },
    ];
    expect(EnvoyStats.text(entries)).toBe('a.b: 1\nc.d: 2\n');
    expect(EnvoyStats.text(entries, /^c/)).toBe('c.d: 2\n');
  });
});
