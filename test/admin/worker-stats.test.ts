import { describe, expect, it } from 'vitest';
import {
  mergeClustersJson,
  mergeClustersText,
  sumStatEntries,
  type WorkerStats,
} from '../../admin/worker-stats.js';
import type { StatEntry } from '../../telemetry/envoy-stats.js';

function worker(id: number, entries: StatEntry[], clustersText = ''): WorkerStats {
  return { id, metrics: [], entries, clustersText, clustersJson: { cluster_statuses: [] } };
}

describe('one view of many workers', () => {
  it("sums stats by name, keeps the primary's server stats, and counts each worker's requests", () => {
    const rq = (v: number): StatEntry => ({
      name: 'http.outbound_0.0.0.0_80.downstream_rq_total',
      value: v,
      gauge: false,
    });
    const out = sumStatEntries(
      [
        worker(2, [rq(3), { name: 'server.config_reloaded', value: 1, gauge: false }]),
        worker(1, [rq(5), { name: 'cluster.c.upstream_cx_active', value: 2, gauge: true }]),
      ],
      [
        { name: 'server.concurrency', value: 2, gauge: true },
        { name: 'server.config_reloaded', value: 1, gauge: false },
      ],
    );
    expect(Object.fromEntries(out.map((e) => [e.name, e.value]))).toEqual({
      'server.concurrency': 2,
      'server.config_reloaded': 1,
      'http.outbound_0.0.0.0_80.downstream_rq_total': 8,
      'cluster.c.upstream_cx_active': 2,
      'server.worker_1.downstream_rq_total': 5,
      'server.worker_2.downstream_rq_total': 3,
    });
  });

  it('merges /clusters text: request figures summed, an ejection by any worker shown', () => {
    const a =
      'c::observability_name::c\nc::127.0.0.1:1::rq_total::4\nc::127.0.0.1:1::health_flags::healthy\n';
    const b =
      'c::observability_name::c\nc::127.0.0.1:1::rq_total::6\nc::127.0.0.1:1::health_flags::/failed_outlier_check\n';
    expect(mergeClustersText([a, b])).toBe(
      'c::observability_name::c\nc::127.0.0.1:1::rq_total::10\nc::127.0.0.1:1::health_flags::/failed_outlier_check\n',
    );
  });

  it('merges /clusters JSON host stats by address', () => {
    const doc = (total: number, ejected: boolean) => ({
      cluster_statuses: [
        {
          name: 'c',
          host_statuses: [
            {
              address: { socket_address: { address: '127.0.0.1', port_value: 1 } },
              stats: [{ name: 'rq_total', value: total }],
              health_status: ejected
                ? { eds_health_status: 'HEALTHY', failed_outlier_check: true }
                : { eds_health_status: 'HEALTHY' },
            },
          ],
        },
      ],
    });
    const merged = mergeClustersJson([doc(1, false), doc(2, true)]);
    expect(merged.cluster_statuses[0]!.host_statuses[0]).toMatchObject({
      stats: [{ name: 'rq_total', value: 3 }],
      health_status: { failed_outlier_check: true },
    });
  });
});
