/**
 * Bookinfo with its service-to-service calls going through the mesh listener (the workloads' proxy,
 * as `MESH_PORT=15001 npm start` sets `HTTP_PROXY`): the sample's own YAML (bookinfo-gateway,
 * destination-rule-all, virtual-service-all-v1) plus the task files, a later file replacing the
 * same-named VirtualService as `kubectl apply` does. The page is fetched through the ingress.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBookinfoService, PAGE_TEXT, BOOKINFO_LAYOUT } from '../../samples/bookinfo/workloads.js';
import type { RunningServer } from '../../samples/common/http-util.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { curl } from '../helpers/clients.js';
import { lineLog } from '../helpers/log-lines.js';
import type { StreamRecord } from '../../telemetry/access-log.js';

const SAMPLE = join(process.cwd(), 'samples', 'bookinfo');
const PRODUCTPAGE = 'outbound|9080||productpage.default.svc.cluster.local';
const REVIEWS_V2 = 'outbound|9080|v2|reviews.default.svc.cluster.local';
const RATINGS_V1 = 'outbound|9080|v1|ratings.default.svc.cluster.local';

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

/** service-entries.yaml with the workloads' actual ports. */
function serviceEntries(ports: Map<string, number>): string {
  const byService = new Map<string, { version: string; port: number }[]>();
  for (const w of BOOKINFO_LAYOUT) {
    const list = byService.get(w.service) ?? [];
    list.push({ version: w.version, port: ports.get(`${w.service}-${w.version}`)! });
    byService.set(w.service, list);
  }
  return [...byService]
    .map(
      ([service, eps]) => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${service} }
spec:
  hosts: [${service}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints:
${eps.map((e) => `  - { address: 127.0.0.1, ports: { http: ${e.port} }, labels: { app: ${service}, version: ${e.version} } }`).join('\n')}
`,
    )
    .join('');
}

const task = (name: string) => readFileSync(join(SAMPLE, 'tasks', name), 'utf8');

describe('Bookinfo through the mesh listener', () => {
  const workloads: RunningServer[] = [];
  let dir: string;
  let tasksFile: string;
  let gw: TestGateway;
  let ingress: number;

  /** One line per request ratings answered (`... end-user=jason` for jason's). */
  const ratingsLog = lineLog();
  const ratingsCallsFor = (user: string) => ratingsLog.lines.filter((l) => l.endsWith(` end-user=${user}`));
  /** Waits for the first record from index `from` on that `pred` accepts (on the log event). */
  const recordFrom = async (from: number, pred: (r: StreamRecord) => boolean): Promise<StreamRecord> => {
    for (;;) {
      const hit = gw.records.slice(from).find(pred);
      if (hit) return hit;
      await gw.nextRecord();
    }
  };
  /** The ingress record of a page: the last of its records to be logged. */
  const isPage = (r: StreamRecord) => r.upstreamCluster === PRODUCTPAGE;
  const isReviews = (r: StreamRecord) =>
    r.upstreamCluster?.endsWith('|reviews.default.svc.cluster.local') === true;
  const page = (user?: string) =>
    curl([...(user ? ['-H', `end-user: ${user}`] : []), `http://127.0.0.1:${ingress}/productpage`]);
  const applyTasks = async (...names: string[]) => {
    writeFileSync(tasksFile, names.map(task).join('\n---\n'));
    expect(await gw.gateway.reload()).toBe(true);
  };

  beforeAll(async () => {
    const meshPort = await freePort();
    const ports = new Map<string, number>();
    for (const w of BOOKINFO_LAYOUT) {
      const s = await startBookinfoService({
        service: w.service,
        version: w.version,
        port: 0,
        proxy: `http://127.0.0.1:${meshPort}`,
        log: w.service === 'ratings' ? ratingsLog.record : undefined,
      });
      workloads.push(s);
      ports.set(`${w.service}-${w.version}`, s.port);
    }
    dir = mkdtempSync(join(tmpdir(), 'meshgate-bookinfo-'));
    const seFile = join(dir, 'service-entries.yaml');
    writeFileSync(seFile, serviceEntries(ports));
    tasksFile = join(dir, 'tasks.yaml');
    writeFileSync(tasksFile, '');
    gw = await startGateway('', {
      meshPort,
      portMap: new Map([[80, 0]]),
      paths: [
        join(SAMPLE, 'bookinfo-gateway.yaml'),
        join(SAMPLE, 'destination-rule-all.yaml'),
        join(SAMPLE, 'virtual-service-all-v1.yaml'),
        seFile,
        tasksFile,
      ],
    });
    ingress = gw.port(80);
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all(workloads.map((w) => w.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('virtual-service-all-v1: reviews v1 for everybody (no stars)', async () => {
    for (const user of [undefined, 'jason']) {
      const html = await page(user);
      expect(html).toContain(PAGE_TEXT.title);
      expect(html).toContain('Reviews served by: reviews-v1');
      expect(html).not.toContain('<font color=');
    }
    expect(
      gw.records.some((r) => r.upstreamCluster === 'outbound|9080|v1|reviews.default.svc.cluster.local'),
    ).toBe(true);
  });

  it('reviews-test-v2: jason sees black stars (v2), others no stars', async () => {
    await applyTasks('virtual-service-reviews-test-v2.yaml');
    for (let i = 0; i < 3; i++) {
      const jason = await page('jason');
      expect(jason).toContain('Reviews served by: reviews-v2');
      expect(jason).toContain('<font color="black">');
      const other = await page('bob');
      expect(other).toContain('Reviews served by: reviews-v1');
      expect(other).not.toContain('<font color=');
    }
  });

  it('ratings-test-abort (with reviews-test-v2): jason sees "Ratings service is currently unavailable" without any timeout', async () => {
    await applyTasks('virtual-service-reviews-test-v2.yaml', 'virtual-service-ratings-test-abort.yaml');
    const from = gw.records.length;
    const jasonCallsBefore = ratingsCallsFor('jason').length;
    const jason = await page('jason');
    expect(jason).toContain('Reviews served by: reviews-v2');
    expect(jason).toContain(PAGE_TEXT.ratingsUnavailable);
    await recordFrom(from, isPage);
    const records = gw.records.slice(from);
    // The fault filter answered for ratings: FI, no upstream, and ratings never saw the call.
    const aborted = records.filter((r) => r.responseFlags === 'FI');
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toMatchObject({ responseCode: 500, upstreamCluster: undefined });
    expect(aborted[0]!.routeName?.startsWith('default/ratings')).toBe(true);
    expect(ratingsCallsFor('jason')).toHaveLength(jasonCallsBefore);
    // "At once": productpage's first reviews try was answered, so no client timeout and no retry.
    expect(records.filter(isReviews).map((r) => [r.responseCode, r.responseFlags])).toEqual([[200, '-']]);
    expect(await page('bob')).not.toContain(PAGE_TEXT.ratingsUnavailable);
  });

  it("ratings-test-delay (with reviews-test-v2): jason's page gives up on reviews after productpage's two 3 s tries; the delayed call (DI) reaches ratings later", async () => {
    await applyTasks('virtual-service-reviews-test-v2.yaml', 'virtual-service-ratings-test-delay.yaml');
    const from = gw.records.length;
    const jasonCallsBefore = ratingsCallsFor('jason').length;
    const started = performance.now();
    const jason = await page('jason');
    const ms = performance.now() - started;
    expect(jason).toContain(PAGE_TEXT.reviewsUnavailable);
    // Two reviews tries of 3 s each (productpage's own timeouts; a lower bound only).
    expect(ms).toBeGreaterThanOrEqual(2 * 3000);
    await recordFrom(from, isPage);
    // Both reviews tries were given up by their caller (DC) while reviews-v2 still waited on ratings:
    // the 7 s delay outlasts productpage's patience.
    expect(
      gw.records
        .slice(from)
        .filter(isReviews)
        .map((r) => [r.upstreamCluster, r.responseFlags]),
    ).toEqual([
      [REVIEWS_V2, 'DC'],
      [REVIEWS_V2, 'DC'],
    ]);
    // The delayed call does reach ratings once its 7 s are over (DI).
    const delayed = await recordFrom(from, (r) => r.responseFlags === 'DI');
    expect([delayed.responseCode, delayed.upstreamCluster]).toEqual([200, RATINGS_V1]);
    expect(delayed.durationMs).toBeGreaterThanOrEqual(7000 - 1);
    expect(ratingsCallsFor('jason').length).toBeGreaterThan(jasonCallsBefore);
    const bob = await page('bob');
    expect(bob).toContain('Reviews served by: reviews-v1');
  }, 30_000);
});
