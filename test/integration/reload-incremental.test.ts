/**
 * Incremental reloads end to end: the validate worker sends unchanged resources as references, so
 * the serving thread keeps its objects; the snapshot builder then reuses their clusters and the
 * cluster manager keeps their runtime state (pools, breakers) while the changed route goes live.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { httpGet } from '../helpers/clients.js';
import {
  HTTP_GATEWAY_GW,
  HTTP_9080,
  istioResourceYaml,
  localServiceEntryYaml,
  yamlDocuments,
} from '../helpers/resources.js';
import { ConfigCompiler } from '../../config/pipeline.js';
import { FileSource } from '../../config/sources/files.js';

/** Per host a VirtualService (response header `x-config` on host 0) and a ServiceEntry; a DR with a breaker on host 1. */
function configYaml(upstreamPort: number, hosts: number, version: string): string {
  const docs = [HTTP_GATEWAY_GW];
  for (let i = 0; i < hosts; i++) {
    const headers = i === 0 ? `, headers: { response: { set: { x-config: ${version} } } }` : '';
    docs.push(
      istioResourceYaml('VirtualService', `svc-${i}`, [
        `hosts: [svc-${i}.example.com]`,
        'gateways: [gw]',
        `http: [{ route: [{ destination: { host: svc-${i}.local } }]${headers} }]`,
      ]),
      localServiceEntryYaml(`svc-${i}.local`, HTTP_9080, upstreamPort),
    );
  }
  docs.push(
    istioResourceYaml('DestinationRule', 'svc-1', [
      'host: svc-1.local',
      'trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 100 } } }',
    ]),
  );
  return yamlDocuments(...docs);
}

describe('incremental reload', () => {
  let upstream: TestUpstream;
  let tg: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream('web');
    tg = await startGateway(configYaml(upstream.port, 20, 'v1'));
  });

  afterAll(async () => {
    await tg.close();
    await upstream.close();
  });

  it('keeps the clusters and cluster states of unchanged resources and serves the changed route', async () => {
    const gw = tg.gateway;
    const before = gw.snapshot;
    const name = 'outbound|9080||svc-1.local';
    const cluster = before.clusters.get(name)!;
    expect((await httpGet(tg.port(80), '/', { host: 'svc-1.example.com' })).status).toBe(200);
    const state = gw.clusters.get(cluster)!;
    expect(state.breaker).toBeDefined();

    expect(await tg.reconfigure(configYaml(upstream.port, 20, 'v2'))).toBe(true);
    const after = gw.snapshot;
    expect(after.version).toBe(before.version + 1);
    expect(after.clusters.get(name)).toBe(cluster);
    expect(gw.clusters.get(cluster)).toBe(state);
    const changed = await httpGet(tg.port(80), '/', { host: 'svc-0.example.com' });
    expect(changed.status).toBe(200);
    expect(changed.headers['x-config']).toBe('v2');
    const other = await httpGet(tg.port(80), '/', { host: 'svc-19.example.com' });
    expect(other.status).toBe(200);
    expect(other.headers['x-config']).toBeUndefined();
  });

  it('gets unchanged resources back from the validate worker as the objects it already holds', async () => {
    const compiler = new ConfigCompiler();
    const sources = [new FileSource([tg.file])];
    const opts = { defaultNamespace: 'default' };
    try {
      writeFileSync(tg.file, configYaml(upstream.port, 5, 'v1'));
      const first = await compiler.compile(sources, opts);
      writeFileSync(tg.file, configYaml(upstream.port, 5, 'v3'));
      const second = await compiler.compile(sources, opts);
      expect(second.blocked).toBe(false);
      expect(second.resources.length).toBe(first.resources.length);
      const changed = second.resources.filter((r, i) => r !== first.resources[i]);
      expect(changed.map((r) => `${r.kind}/${r.metadata.name}`)).toEqual(['VirtualService/svc-0']);
      const vh = second.snapshot!.listeners[0]!.routeConfig!.virtualHostFor('svc-0.example.com');
      expect(vh!.routes[0]!.responseHeaders?.set).toEqual([['x-config', 'v3']]);
    } finally {
      await compiler.close();
    }
  });
});
