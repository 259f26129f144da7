/**
 * One view of many workers: with `--concurrency N` each worker process counts what it served, and
 * the primary, which owns the admin, Prometheus and status ports, adds the workers' numbers up before
 * answering, as Envoy's stats store merges its worker threads' counters (a request is counted once,
 * by the worker that served it). Gauges that describe the server (`server.*`) come from the
 * primary, not from a sum.
 */
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { StatEntry } from '../telemetry/envoy-stats.js';

/** The parts a worker can report; the primary asks only for those the answer needs. */
interface WorkerStatsParts {
  /** The worker's `istio_*` metrics, as prom-client's `getMetricsAsJSON()` returns them. */
  readonly metrics: readonly MetricObjectWithValues<MetricValue<string>>[];
  /** The worker's Envoy stats without `server.*`. */
  readonly entries: readonly StatEntry[];
  /** The worker's `/clusters` text. */
  readonly clustersText: string;
  /** The worker's `/clusters?format=json` (`cluster_statuses`). */
  readonly clustersJson: ClusterStatuses;
}

/** The name of one of the {@link WorkerStatsParts}. */
export type WorkerStatsPart = keyof WorkerStatsParts;

/**
 * What one worker reports when the primary asks (plain data: it crosses the IPC channel): its slot
 * and the parts asked for, built only when asked (each costs a walk over every stat or host).
 */
export interface WorkerStats extends Partial<WorkerStatsParts> {
  /** The worker's slot (1..N; a replacement takes the slot of the worker it replaces). */
  readonly id: number;
}

/** The workers as the primary's observability reads them. */
export interface WorkerFleet {
  /** `--concurrency`: the number of workers (Envoy `server.concurrency`). */
  readonly concurrency: number;
  /**
   * Asks every live worker for these parts of its {@link WorkerStats}; a worker that does not
   * answer is left out.
   */
  collect(parts: readonly WorkerStatsPart[]): Promise<WorkerStats[]>;
  /** The workers now: slot id, process id, whether its listeners are bound (`/server_info`). */
  workers(): { id: number; pid: number | undefined; ready: boolean }[];
  /** Applies an admin `/logging` level change to every worker (pino level name). */
  setLogLevel(level: string): void;
}

/** `/clusters?format=json`, the part meshgate fills in. */
export interface ClusterStatuses {
  readonly cluster_statuses: readonly {
    readonly name: string;
    readonly host_statuses: readonly {
      readonly address: {
        readonly socket_address: { readonly address: string; readonly port_value: number };
      };
      readonly stats: readonly { readonly name: string; readonly value: number }[];
      readonly health_status: Readonly<Record<string, unknown>>;
      readonly [k: string]: unknown;
    }[];
    readonly [k: string]: unknown;
  }[];
}

/** Per-host `/clusters` values that are counts or gauges (summed); the others are taken from one worker. */
const SUMMED_HOST_STATS = new Set([
  'cx_active',
  'rq_active',
  'rq_error',
  'rq_success',
  'rq_timeout',
  'rq_total',
]);

/** The workers' `istio_*` metrics as one registry (counters and histograms summed; `istio_build` once). */
export function aggregateIstioMetrics(
  stats: readonly WorkerStats[],
): ReturnType<typeof AggregatorRegistry.aggregate> {
  return AggregatorRegistry.aggregate(stats.map((s) => [...(s.metrics ?? [])]));
}

/**
 * Sums Envoy stats by name (counters and gauges alike: the workers' active connections add up), in
 * the order names were first seen. `primary` holds the primary's own stats (its `server.*` gauges,
 * config reloads and rejections); the workers' `server.*` are left out, since they describe a worker
 * and the primary reloads once per change for all of them. Each worker's share of the requests is
 * kept too, as `server.worker_<id>.downstream_rq_total` (Envoy names per-worker stats
 * `server.worker_<id>.*`): it shows how evenly accept is balanced.
 */
export function sumStatEntries(workers: readonly WorkerStats[], primary: readonly StatEntry[]): StatEntry[] {
  const sums = new Map<string, { value: number; gauge: boolean }>();
  const add = (name: string, value: number, gauge: boolean): void => {
    const seen = sums.get(name);
    if (seen === undefined) sums.set(name, { value, gauge });
    else seen.value += value;
  };
  for (const e of primary) add(e.name, e.value, e.gauge);
  for (const w of [...workers].sort((a, b) => a.id - b.id)) {
    let requests = 0;
    for (const e of w.entries ?? []) {
      if (e.name.startsWith('server.')) continue;
      add(e.name, e.value, e.gauge);
      if (e.name.startsWith('http.') && e.name.endsWith('.downstream_rq_total')) requests += e.value;
    }
    add(`server.worker_${w.id}.downstream_rq_total`, requests, false);
  }
  return [...sums].map(([name, s]) => ({ name, value: s.value, gauge: s.gauge }));
}

/**
 * Merges the workers' `/clusters` texts (`cluster::host::stat::value` lines): request and
 * connection figures are summed, `health_flags` shows an outlier ejection any worker made, other
 * lines come from the first worker that has them.
 */
export function mergeClustersText(texts: readonly string[]): string {
  const lines = new Map<string, string>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const cut = line.lastIndexOf('::');
      const key = line.slice(0, cut);
      const value = line.slice(cut + 2);
      const seen = lines.get(key);
      if (seen === undefined) {
        lines.set(key, value);
        continue;
      }
      const stat = key.slice(key.lastIndexOf('::') + 2);
      if (SUMMED_HOST_STATS.has(stat)) lines.set(key, String(Number(seen) + Number(value)));
      else if (stat === 'health_flags' && value !== 'healthy') lines.set(key, value);
    }
  }
  return [...lines].map(([k, v]) => `${k}::${v}\n`).join('');
}

/** {@link mergeClustersText} for the JSON form: host stats summed, an ejection by any worker shown. */
export function mergeClustersJson(list: readonly ClusterStatuses[]): ClusterStatuses {
  type Host = ClusterStatuses['cluster_statuses'][number]['host_statuses'][number];
  const clusters = new Map<
    string,
    { first: ClusterStatuses['cluster_statuses'][number]; hosts: Map<string, Host> }
  >();
  for (const doc of list) {
    for (const c of doc.cluster_statuses) {
      let entry = clusters.get(c.name);
      if (entry === undefined) {
        entry = { first: c, hosts: new Map() };
        clusters.set(c.name, entry);
      }
      for (const h of c.host_statuses) {
        const key = `${h.address.socket_address.address}:${h.address.socket_address.port_value}`;
        const seen = entry.hosts.get(key);
        if (seen === undefined) {
          entry.hosts.set(key, h);
          continue;
        }
        const values = new Map(h.stats.map((s) => [s.name, s.value]));
        entry.hosts.set(key, {
          ...seen,
          stats: seen.stats.map((s) => ({ name: s.name, value: s.value + (values.get(s.name) ?? 0) })),
          health_status:
            h.health_status['failed_outlier_check'] === true ? h.health_status : seen.health_status,
        });
      }
    }
  }
  return {
    cluster_statuses: [...clusters.values()].map(({ first, hosts }) => ({
      ...first,
      host_statuses: [...hosts.values()],
    })),
  };
}
