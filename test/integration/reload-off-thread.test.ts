/**
 * Reloads read, parse and validate the config in a worker thread: requests keep being answered
 * while a large config is checked, and a worker that dies rejects that reload while the gateway
 * keeps serving its last good snapshot.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { httpGet } from '../helpers/clients.js';
import {
  HTTP_GATEWAY_GW,
  istioResourceYaml,
  localServiceEntryYaml,
  HTTP_9080,
  yamlDocuments,
} from '../helpers/resources.js';
import { ConfigCompiler } from '../../config/pipeline.js';
import { FileSource } from '../../config/sources/files.js';

const CRASHING_WORKER = new URL('../fixtures/workers/crashing-validate-worker.mjs', import.meta.url);

/** The Gateway, a catch-all route to `web.local`, and `hosts` more VirtualService + ServiceEntry pairs. */
function configYaml(upstreamPort: number, hosts: number): string {
  const docs = [
    HTTP_GATEWAY_GW,
    istioResourceYaml('VirtualService', 'web', [
      'hosts: ["*"]',
      'gateways: [gw]',
      'http: [{ route: [{ destination: { host: web.local } }] }]',
    ]),
    localServiceEntryYaml('web.local', HTTP_9080, upstreamPort),
  ];
  for (let i = 0; i < hosts; i++) {
    docs.push(
      istioResourceYaml('VirtualService', `svc-${i}`, [
        `hosts: [svc-${i}.example.com]`,
        'gateways: [gw]',
        `http: [{ route: [{ destination: { host: svc-${i}.local } }] }]`,
      ]),
      localServiceEntryYaml(`svc-${i}.local`, HTTP_9080, upstreamPort),
    );
  }
  return yamlDocuments(...docs);
}

describe('reload off the serving thread', () => {
  let upstream: TestUpstream;
  let tg: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream('web');
    tg = await startGateway(configYaml(upstream.port, 0));
  });

  afterAll(async () => {
    await tg.close();
    await upstream.close();
  });

  it('answers requests while a large config is read and validated, before its snapshot is swapped in', async () => {
    const events: string[] = [];
    const version = tg.gateway.snapshot.version;
    tg.gateway.store.once('snapshot', () => events.push('snapshot'));
    writeFileSync(tg.file, configYaml(upstream.port, 2_000));
    const reload = tg.gateway.reload();
    // Sequential requests from the moment the reload began. Read and validated on this thread, the
    // 4,001 resources would hold the event loop until the swap, so at most the first request (sent
    // before reading started) could be answered; three answers mean requests were served while the
    // config was being checked.
    let swapped = false;
    void reload.then(() => (swapped = true));
    let answered = 0;
    while (!swapped) {
      const r = await httpGet(tg.port(80), '/during');
      expect(r.status).toBe(200);
      events.push('response');
      answered++;
    }
    expect(await reload).toBe(true);
    expect(tg.gateway.snapshot.version).toBe(version + 1);
    expect(events.slice(0, 3)).toEqual(['response', 'response', 'response']);
    expect(events).toContain('snapshot');
    expect(answered).toBeGreaterThanOrEqual(3);
    const r = await httpGet(tg.port(80), '/new', { host: 'svc-1999.example.com' });
    expect(r.status).toBe(200);
    expect(r.headers['x-upstream']).toBe('web');
  });

  it('rejects the reload when the worker dies and keeps serving; the next reload starts a new worker', async () => {
    const compiler = new ConfigCompiler();
    const opts = { defaultNamespace: 'default', validateWorker: CRASHING_WORKER };
    const sources = [new FileSource([tg.file])];
    for (let i = 0; i < 2; i++) {
      const result = await compiler.compile(sources, opts);
      expect(result.blocked).toBe(true);
      expect(result.snapshot).toBeUndefined();
      expect(result.diagnostics.map((d) => [d.severity, d.code, d.message])).toEqual([
        ['error', 'IST0106', 'validate worker exited with code 70'],
      ]);
    }
    await compiler.close();
  });

  it('a gateway whose validate worker dies on reload keeps serving its last good snapshot', async () => {
    const crashing = await startGateway(configYaml(upstream.port, 1), { validateWorker: CRASHING_WORKER });
    try {
      const version = crashing.gateway.snapshot.version;
      for (let i = 0; i < 2; i++) {
        const rejected = once(crashing.gateway.store, 'rejected') as Promise<[string]>;
        expect(await crashing.reconfigure(configYaml(upstream.port, 2))).toBe(false);
        const [reason] = await rejected;
        expect(reason).toBe(`config rejected: 1 error(s); still serving snapshot version ${version}`);
        expect(crashing.gateway.snapshot.version).toBe(version);
        const r = await httpGet(crashing.port(80), '/still-here', { host: 'svc-0.example.com' });
        expect(r.status).toBe(200);
        expect((await httpGet(crashing.port(80), '/', { host: 'svc-1.example.com' })).status).toBe(200); // catch-all
      }
      expect(crashing.gateway.stats.get('server.config_rejected')).toBe(2);
    } finally {
      await crashing.close();
    }
  });
});
