/**
 * With `--concurrency N` the primary asks its workers for stats on every admin or Prometheus
 * request; each answer needs one or two of the parts (`istio_*` metrics, Envoy stats, `/clusters`
 * text or JSON), and a worker builds only those. Both halves run on a real gateway: the primary's
 * observability with a recording fleet, and a worker's `workerStats`.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WorkerFleet, WorkerStats, WorkerStatsPart } from '../../admin/worker-stats.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { BACKEND_DESTINATION, backendGatewayYaml } from '../helpers/resources.js';

/** A gateway on 80 routing everything to one `backend` endpoint (never called: only stats are read). */
const CONFIG = backendGatewayYaml('all', [`- route: [{ destination: ${BACKEND_DESTINATION} }]`], 1);

describe('worker stats: only the part asked for', () => {
  let worker: TestGateway;
  let primary: TestGateway;
  const asked: WorkerStatsPart[][] = [];

  beforeAll(async () => {
    worker = await startGateway(CONFIG);
    const fleet: WorkerFleet = {
      concurrency: 2,
      collect: async (parts) => {
        asked.push([...parts]);
        return [await worker.gateway.observability.workerStats(1, parts)];
      },
      workers: () => [],
      setLogLevel: () => undefined,
    };
    primary = await startGateway(CONFIG, { telemetry: { fleet } });
  });
  afterAll(async () => {
    await primary?.close();
    await worker?.close();
  });

  it('a worker builds only the parts asked for', async () => {
    const registry = worker.gateway.observability.metrics!.registry;
    const getMetrics = vi.spyOn(registry, 'getMetricsAsJSON');
    const keys = (s: WorkerStats) => Object.keys(s).sort();
    expect(keys(await worker.gateway.observability.workerStats(3, ['clustersText']))).toEqual([
      'clustersText',
      'id',
    ]);
    expect(keys(await worker.gateway.observability.workerStats(3, ['clustersJson']))).toEqual([
      'clustersJson',
      'id',
    ]);
    expect(keys(await worker.gateway.observability.workerStats(3, ['entries']))).toEqual(['entries', 'id']);
    expect(getMetrics).not.toHaveBeenCalled();
    const both = await worker.gateway.observability.workerStats(3, ['metrics', 'entries']);
    expect(keys(both)).toEqual(['entries', 'id', 'metrics']);
    expect(getMetrics).toHaveBeenCalledTimes(1);
    expect(both.metrics!.some((m) => m.name === 'istio_build')).toBe(true);
    getMetrics.mockRestore();
  });

  it('each admin answer asks the workers for what it shows', async () => {
    const obs = primary.gateway.observability;
    asked.length = 0;
    await obs.clustersText();
    await obs.clustersJson();
    await obs.statsText(undefined);
    const prom = await obs.prometheusText();
    expect(asked).toEqual([['clustersText'], ['clustersJson'], ['entries'], ['metrics', 'entries']]);
    expect(prom).toContain('istio_build');
  });
});
