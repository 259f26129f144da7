/**
 * Hot reload of a `-f` file however it is replaced: written in place, renamed over (what editors
 * and atomic writers do), or swapped in by a ConfigMap volume's `..data` symlink. Every change must
 * be served, not just the first. Waits on the store's `snapshot` event, never on sleeps.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Gateway } from '../../gateway/gateway.js';
import { httpGet } from '../helpers/clients.js';
import { configMapVolume, renameOver } from '../helpers/config-volume.js';
import { HTTP_GATEWAY_GW, istioResourceYaml, yamlDocuments } from '../helpers/resources.js';

/** Gateway `gw` on port 80 and a VirtualService answering every request with `body`. */
function config(body: string): string {
  return yamlDocuments(
    HTTP_GATEWAY_GW,
    istioResourceYaml('VirtualService', 'answer', [
      'hosts: ["*"]',
      'gateways: [gw]',
      `http: [{ directResponse: { status: 200, body: { string: ${body} } } }]`,
    ]),
  );
}

async function start(path: string): Promise<Gateway> {
  const started = await Gateway.start(
    {
      paths: [path],
      defaultNamespace: 'default',
      accessLog: 'off',
      portMap: new Map([[80, 0]]),
      watch: true,
    },
    pino({ level: 'silent' }),
  );
  if (!started.ok) throw new Error('gateway did not start');
  return started.gateway;
}

async function body(gw: Gateway): Promise<string> {
  const address = gw.listeners.addressOf('0.0.0.0_80');
  const r = await httpGet(address!.port, '/', { host: 'any.example' });
  return r.body;
}

describe('config reload when the -f file is replaced', () => {
  let dir: string;
  let gw: Gateway | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshgate-reload-'));
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Applies `change`, waits for the snapshot it causes, and checks the new config is served. */
  async function expectServed(g: Gateway, change: () => void, expected: string): Promise<void> {
    const installed = once(g.store, 'snapshot');
    change();
    await installed;
    expect(await body(g)).toBe(expected);
  }

  it('serves every rename-over, not only the first', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, config('v1'));
    gw = await start(file);
    expect(await body(gw)).toBe('v1');
    for (const v of ['v2', 'v3', 'v4']) {
      await expectServed(gw, () => renameOver(file, config(v)), v);
    }
    // And an in-place write after the renames.
    await expectServed(gw, () => writeFileSync(file, config('v5')), 'v5');
  });

  it('serves in-place writes', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, config('v1'));
    gw = await start(file);
    for (const v of ['v2', 'v3']) await expectServed(gw, () => writeFileSync(file, config(v)), v);
  });

  it('serves every ConfigMap update (the ..data symlink re-pointed at a new timestamped directory)', async () => {
    const volume = configMapVolume(dir, config('v1'));
    gw = await start(volume.file);
    expect(await body(gw)).toBe('v1');
    for (const v of ['v2', 'v3']) await expectServed(gw, () => volume.update(config(v)), v);
  });
});
