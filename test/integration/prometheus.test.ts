/**
 * A real Prometheus (Debian's `prometheus` package; `.ci/run` installs it) scrapes the gateway's
 * Prometheus port every second while Bookinfo traffic goes through; its HTTP API must then report
 * the exact request count and a positive rate, as the user's dashboards would query them.
 * Skipped, saying why, when the binary is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import type { TestGateway } from '../helpers/gateway.js';
import { httpGet } from '../helpers/clients.js';
import { bookinfoConfig, startTelemetryGateway } from '../helpers/telemetry.js';

const HAVE_PROMETHEUS = spawnSync('sh', ['-c', 'command -v prometheus'], { stdio: 'ignore' }).status === 0;
const SKIP_REASON = 'prometheus binary not found; CI installs it via apt (apt-get install -y prometheus)';
if (!HAVE_PROMETHEUS) console.warn(`[prometheus.test] skipped: ${SKIP_REASON}`);

const SELECTOR = 'istio_requests_total{destination_service=~"productpage.*",response_code="200"}';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface QueryResult {
  status: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe.skipIf(!HAVE_PROMETHEUS)('real Prometheus scraping /stats/prometheus', () => {
  let productpage: TestUpstream;
  let gw: TestGateway;
  let prom: ChildProcess | undefined;
  let promUrl = '';
  let promLog = '';
  let dir = '';

  /** Instant query through Prometheus' HTTP API. */
  async function query(q: string): Promise<QueryResult> {
    const r = await request(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    return (await r.body.json()) as QueryResult;
  }

  /** Re-queries (bounded: 1 s scrapes, up to `tries` × 250 ms) until `ok` holds for the scalar value. */
  async function waitForValue(q: string, ok: (v: number) => boolean, tries = 80): Promise<number> {
    let last: number | undefined;
    for (let i = 0; i < tries; i++) {
      const r = await query(q);
      const v = r.data.result[0]?.value[1];
      last = v === undefined ? undefined : Number(v);
      if (last !== undefined && ok(last)) return last;
      await new Promise((res) => setTimeout(res, 250));
    }
    throw new Error(`Prometheus never satisfied ${q}: last value ${String(last)}\n${promLog.slice(-2000)}`);
  }

  beforeAll(async () => {
    productpage = await startUpstream('productpage');
    gw = await startTelemetryGateway(bookinfoConfig({ productpage: productpage.port }));
    const target = `127.0.0.1:${gw.gateway.observability.address('prometheus')!.port}`;
    dir = mkdtempSync(join(tmpdir(), 'mg-prom-'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: meshgate
    metrics_path: /stats/prometheus
    static_configs:
      - targets: ['${target}']
`,
    );
    const webPort = await freePort();
    promUrl = `http://127.0.0.1:${webPort}`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${webPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prom.stdout!.on('data', (c: Buffer) => (promLog += c.toString()));
    prom.stderr!.on('data', (c: Buffer) => (promLog += c.toString()));
    // Ready when /-/ready answers 200 (bounded wait; no fixed sleep).
    for (let i = 0; ; i++) {
      if (prom.exitCode !== null) throw new Error(`prometheus exited ${prom.exitCode}:\n${promLog}`);
      try {
        const r = await request(`${promUrl}/-/ready`);
        await r.body.dump();
        if (r.statusCode === 200) break;
      } catch {
        // Not listening yet.
      }
      if (i > 120) throw new Error(`prometheus not ready after 30 s:\n${promLog}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 60_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise<void>((r) => prom!.once('exit', () => r()));
      prom.kill('SIGTERM');
      const t = setTimeout(() => prom!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await gw?.close();
    await productpage?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the exact request count and a positive rate', async () => {
    // The target is up once the first scrape succeeded.
    await waitForValue('up{job="meshgate"}', (v) => v === 1);

    // Two batches across scrapes, so rate() has an increase to see inside its window.
    for (let i = 0; i < 6; i++) expect((await httpGet(gw.port(8080), '/productpage')).status).toBe(200);
    const first = await waitForValue(`sum(${SELECTOR})`, (v) => v === 6);
    for (let i = 0; i < 6; i++) expect((await httpGet(gw.port(8080), '/productpage')).status).toBe(200);
    const total = await waitForValue(`sum(${SELECTOR})`, (v) => v === 12);

    const series = await query(SELECTOR);
    expect(series.status).toBe('success');
    expect(series.data.result).toHaveLength(1);
    const metric = series.data.result[0]!.metric;
    expect(metric).toMatchObject({
      __name__: 'istio_requests_total',
      job: 'meshgate',
      reporter: 'source',
      source_workload: 'istio-ingressgateway',
      destination_service: 'productpage.default.svc.cluster.local',
      destination_service_name: 'productpage',
      response_code: '200',
      response_flags: '-',
      request_protocol: 'http',
    });

    const rate = await waitForValue(`sum(rate(${SELECTOR}[1m]))`, (v) => v > 0);
    const histogram = await waitForValue(
      'sum(istio_request_duration_milliseconds_count{destination_service=~"productpage.*"})',
      (v) => v === 12,
    );
    const envoy = await waitForValue(
      'sum(envoy_cluster_upstream_rq_total{cluster_name="outbound|9080||productpage.default.svc.cluster.local"})',
      (v) => v === 12,
    );
    console.log(
      `[prometheus.test] sum(${SELECTOR}) = ${first} then ${total}; ` +
        `sum(rate(...[1m])) = ${rate.toFixed(4)}/s; duration _count = ${histogram}; envoy upstream_rq_total = ${envoy}`,
    );
    expect(total).toBe(12);
    expect(rate).toBeGreaterThan(0);
  }, 60_000);
});

describe.skipIf(HAVE_PROMETHEUS)('real Prometheus scraping /stats/prometheus (skipped)', () => {
  it.skip(SKIP_REASON, () => undefined);
});
