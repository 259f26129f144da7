/**
 * A real Prometheus (Debian's `prometheus` package; `.ci/run` installs it) scrapes the gateway's
 * Prometheus port every second while Bookinfo traffic goes through; its HTTP API must then report
 * the exact request count and a positive rate, as the user's dashboards would query them.
 * Skipped, saying why, when the binary is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
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

/**
 * Stands between Prometheus and the gateway's Prometheus port, passing scrapes through unchanged,
 * so the test can wait on scrapes as events. Prometheus appends and commits a target's scrape
 * before it starts that target's next one, so once a scrape has begun after some traffic and the
 * following scrape has begun too, a query sees the traffic.
 */
interface ScrapeRelay {
  readonly port: number;
  /** Resolves when the next scrape request arrives. */
  nextScrape(): Promise<void>;
  close(): Promise<void>;
}

async function startScrapeRelay(target: { port: number }): Promise<ScrapeRelay> {
  let waiters: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    for (const w of waiters.splice(0)) w();
    const up = http.request(
      { host: '127.0.0.1', port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    nextScrape: () => new Promise((r) => waiters.push(r)),
    close: () =>
      new Promise<void>((r) => {
        waiters = [];
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
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
  let relay: ScrapeRelay;

  /** Instant query through Prometheus' HTTP API. */
  async function query(q: string): Promise<QueryResult> {
    const r = await request(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    return (await r.body.json()) as QueryResult;
  }

  /** The single value of an instant query (fails when the query has no result). */
  async function valueOf(q: string): Promise<number> {
    const r = await query(q);
    expect(r.status, `${q}\n${promLog.slice(-2000)}`).toBe('success');
    const v = r.data.result[0]?.value[1];
    expect(v, `${q} has no value\n${promLog.slice(-2000)}`).toBeDefined();
    return Number(v);
  }

  /**
   * Waits until Prometheus holds everything the gateway counted so far: one scrape begun now
   * (it reads the counters as they are) and the next one begun (the first is committed by then).
   */
  async function scrapedAndStored(): Promise<void> {
    await relay.nextScrape();
    await relay.nextScrape();
  }

  /** Sends `n` requests for the productpage and waits until the gateway has logged (and counted) them. */
  async function productpageTraffic(n: number): Promise<void> {
    const from = gw.records.length;
    for (let i = 0; i < n; i++) expect((await httpGet(gw.port(8080), '/productpage')).status).toBe(200);
    while (gw.records.length < from + n) await gw.nextRecord();
  }

  beforeAll(async () => {
    productpage = await startUpstream('productpage');
    gw = await startTelemetryGateway(bookinfoConfig({ productpage: productpage.port }));
    relay = await startScrapeRelay(gw.gateway.observability.address('prometheus')!);
    const target = `127.0.0.1:${relay.port}`;
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
        '--log.level=info',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const ready = new Promise<void>((resolve, reject) => {
      const onLog = (c: Buffer): void => {
        promLog += c.toString();
        if (promLog.includes('Server is ready to receive web requests.')) resolve();
      };
      prom!.stdout!.on('data', onLog);
      prom!.stderr!.on('data', onLog);
      prom!.once('exit', (code) => reject(new Error(`prometheus exited ${code}:\n${promLog}`)));
    });
    await ready;
  }, 60_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise<void>((r) => prom!.once('exit', () => r()));
      prom.kill('SIGTERM');
      const t = setTimeout(() => prom!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await relay?.close();
    await gw?.close();
    await productpage?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the exact request count and a positive rate', async () => {
    // Two batches in different scrapes, so rate() has an increase to see inside its window.
    await productpageTraffic(6);
    await scrapedAndStored();
    expect(await valueOf('up{job="meshgate"}')).toBe(1);
    const first = await valueOf(`sum(${SELECTOR})`);
    expect(first).toBe(6);
    await productpageTraffic(6);
    await scrapedAndStored();
    const total = await valueOf(`sum(${SELECTOR})`);
    expect(total).toBe(12);

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

    const rate = await valueOf(`sum(rate(${SELECTOR}[1m]))`);
    const histogram = await valueOf(
      'sum(istio_request_duration_milliseconds_count{destination_service=~"productpage.*"})',
    );
    const envoy = await valueOf(
      'sum(envoy_cluster_upstream_rq_total{cluster_name="outbound|9080||productpage.default.svc.cluster.local"})',
    );
    console.log(
      `[prometheus.test] sum(${SELECTOR}) = ${first} then ${total}; ` +
        `sum(rate(...[1m])) = ${rate.toFixed(4)}/s; duration _count = ${histogram}; envoy upstream_rq_total = ${envoy}`,
    );
    expect(rate).toBeGreaterThan(0);
    expect(histogram).toBe(12);
    expect(envoy).toBe(12);
  }, 60_000);
});

describe.skipIf(HAVE_PROMETHEUS)('real Prometheus scraping /stats/prometheus (skipped)', () => {
  it.skip(SKIP_REASON, () => undefined);
});
