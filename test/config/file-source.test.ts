import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSource } from '../../config/sources/files.js';
import { configMapVolume, renameOver, type ConfigMapVolume } from '../helpers/config-volume.js';

/** One ServiceEntry document whose only host is `host`: enough to see which version was read. */
function doc(host: string): string {
  return `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: se\nspec:\n  hosts: [${host}]\n  resolution: DNS\n`;
}

async function hostsRead(source: FileSource): Promise<unknown[]> {
  const { documents, diagnostics } = await source.read();
  expect(diagnostics).toEqual([]);
  return documents.map((d) => (d.object as { spec: { hosts: string[] } }).spec.hosts[0]);
}

describe('FileSource', () => {
  let dir: string;
  let source: FileSource | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshgate-files-'));
  });
  afterEach(async () => {
    await source?.close();
    source = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads documents with file, document index and line', async () => {
    const file = join(dir, 'a.yaml');
    writeFileSync(file, `${doc('a.example')}---\n${doc('b.example').replace('name: se', 'name: se2')}`);
    source = new FileSource([file]);
    const { documents } = await source.read();
    expect(documents.map((d) => d.source)).toEqual([
      { file, docIndex: 0, line: 1 },
      { file, docIndex: 1, line: 9 },
    ]);
  });

  it('sees an in-place write, then another', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, doc('v1.example'));
    source = new FileSource([file]);
    await source.start();
    for (const host of ['v2.example', 'v3.example']) {
      const changed = once(source, 'change');
      writeFileSync(file, doc(host));
      await changed;
      expect(await hostsRead(source)).toEqual([host]);
    }
  });

  it('sees a file renamed over the watched one, every time (editors, atomic writers)', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, doc('v1.example'));
    source = new FileSource([file]);
    await source.start();
    for (const host of ['v2.example', 'v3.example', 'v4.example']) {
      const changed = once(source, 'change');
      renameOver(file, doc(host));
      await changed;
      expect(await hostsRead(source)).toEqual([host]);
    }
  });

  it.each([
    ['the file path', (v: ConfigMapVolume) => v.file],
    ['the volume directory', (v: ConfigMapVolume) => v.dir],
  ])('sees every ConfigMap update (kubelet swaps ..data) when -f names %s', async (_name, pathOf) => {
    const volume = configMapVolume(dir, doc('v1.example'));
    source = new FileSource([pathOf(volume)]);
    expect(await hostsRead(source)).toEqual(['v1.example']);
    await source.start();
    for (const host of ['v2.example', 'v3.example']) {
      const changed = once(source, 'change');
      volume.update(doc(host));
      await changed;
      expect(await hostsRead(source)).toEqual([host]);
    }
  });

  it('follows a symlink swap once a plain file path was replaced by a symlink', async () => {
    // A plain file path ignores the other entries of its directory; once the path is a symlink
    // (`config.yaml -> current/config.yaml`), re-pointing `current` must be seen, as `..data` is.
    const file = join(dir, 'config.yaml');
    writeFileSync(file, doc('v0.example'));
    source = new FileSource([file]);
    await source.start();
    for (const v of ['v1', 'v2']) {
      mkdirSync(join(dir, v));
      writeFileSync(join(dir, v, 'config.yaml'), doc(`${v}.example`));
    }
    symlinkSync('v1', join(dir, 'current'));
    const linked = once(source, 'change');
    symlinkSync(join('current', 'config.yaml'), join(dir, 'config.yaml.tmp'));
    renameSync(join(dir, 'config.yaml.tmp'), file);
    await linked;
    expect(await hostsRead(source)).toEqual(['v1.example']);
    const swapped = once(source, 'change');
    symlinkSync('v2', join(dir, 'current.tmp'));
    renameSync(join(dir, 'current.tmp'), join(dir, 'current'));
    await swapped;
    expect(await hostsRead(source)).toEqual(['v2.example']);
  });

  it('sees a file added to a watched directory, then its removal', async () => {
    writeFileSync(join(dir, 'a.yaml'), doc('a.example'));
    source = new FileSource([dir]);
    await source.start();
    const added = once(source, 'change');
    writeFileSync(join(dir, 'b.yaml'), doc('b.example').replace('name: se', 'name: se-b'));
    await added;
    expect(await hostsRead(source)).toEqual(['a.example', 'b.example']);
    const removed = once(source, 'change');
    rmSync(join(dir, 'a.yaml'));
    await removed;
    expect(await hostsRead(source)).toEqual(['b.example']);
  });

  it('close() stops the events and releases the watchers', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, doc('v1.example'));
    source = new FileSource([file]);
    await source.start();
    await source.close();
    let changes = 0;
    source.on('change', () => changes++);
    writeFileSync(file, doc('v2.example'));
    // A fresh source over the same file sees the write; the closed one must not have.
    const probe = new FileSource([file]);
    await probe.start();
    const seen = once(probe, 'change');
    writeFileSync(file, doc('v3.example'));
    await seen;
    await probe.close();
    expect(changes).toBe(0);
  });
});
