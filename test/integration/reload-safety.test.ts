/**
 * Reload safety through the real reload path: the config file is edited while the gateway watches
 * it, the test waits for the store's `rejected` event, and traffic proves the last good snapshot
 * still serves. Each case was accepted (or aborted the process) before bounded parsing and the
 * reload guard.
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

describe('reload safety', () => {
  let upstream: TestUpstream;
  let tg: TestGateway;
  let good: string;

  beforeAll(async () => {
    upstream = await startUpstream('web');
    good = yamlDocuments(
      HTTP_GATEWAY_GW,
      istioResourceYaml('VirtualService', 'web', [
        'hosts: ["*"]',
        'gateways: [gw]',
        'http: [{ route: [{ destination: { host: web.local } }] }]',
      ]),
      localServiceEntryYaml('web.local', HTTP_9080, upstream.port),
    );
    tg = await startGateway(good, { watch: true });
  });

  afterAll(async () => {
    await tg.close();
    await upstream.close();
  });

  /** Writes `text` over the watched file and resolves with the rejection reason. */
  async function editAndAwaitRejection(text: string): Promise<string> {
    const rejected = once(tg.gateway.store, 'rejected') as Promise<[string]>;
    writeFileSync(tg.file, text);
    const [reason] = await rejected;
    return reason;
  }

  async function expectStillServing(version: number): Promise<void> {
    expect(tg.gateway.snapshot.version).toBe(version);
    const r = await httpGet(tg.port(80), '/still-here');
    expect(r.status).toBe(200);
    expect(r.headers['x-upstream']).toBe('web');
  }

  it('refuses 100 KB of nested "[" on every one of five reloads; the process lives and serves', async () => {
    const version = tg.gateway.snapshot.version;
    const before = tg.gateway.stats.get('server.config_rejected');
    for (let i = 0; i < 5; i++) {
      const reason = await editAndAwaitRejection('['.repeat(100_000));
      expect(reason).toMatch(/^config rejected: 1 error\(s\)/);
      await expectStillServing(version);
    }
    expect(tg.gateway.stats.get('server.config_rejected')).toBe(before + 5);
  });

  it.each([
    ['an empty file', () => ''],
    ['a file of comments only', () => '# all gone\n'],
    ['a config without Gateways (no listeners)', () => localServiceEntryYaml('web.local', HTTP_9080, 1)],
    [
      'a Gateway with an unknown apiVersion',
      () =>
        good.replace(
          'apiVersion: networking.istio.io/v1\nkind: Gateway',
          'apiVersion: networking.istio.io/v1beta2\nkind: Gateway',
        ),
    ],
  ])('refuses %s on reload and keeps serving the last good snapshot', async (_name, text) => {
    const version = tg.gateway.snapshot.version;
    const before = tg.gateway.stats.get('server.config_rejected');
    const reason = await editAndAwaitRejection(text());
    expect(reason).toContain(`still serving snapshot version ${version}`);
    expect(tg.gateway.stats.get('server.config_rejected')).toBe(before + 1);
    await expectStillServing(version);
  });

  it('still takes a good config after the refusals', async () => {
    const version = tg.gateway.snapshot.version;
    const swapped = once(tg.gateway.store, 'snapshot');
    writeFileSync(tg.file, good);
    await swapped;
    expect(tg.gateway.snapshot.version).toBe(version + 1);
    expect((await httpGet(tg.port(80), '/')).status).toBe(200);
  });
});
