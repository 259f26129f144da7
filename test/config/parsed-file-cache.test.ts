/**
 * The validate worker's cache of parsed files: a file whose text is unchanged is not parsed again
 * (the very same decoded documents come back), a changed one is, and the result is the same as
 * without a cache.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ParsedFileCache, readConfigFiles } from '../../config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'meshgate-parse-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const doc = (name: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: ${name}\nspec:\n  hosts: [${name}.local]\n`;

describe('ParsedFileCache', () => {
  it('reuses the documents of unchanged files and parses changed ones', async () => {
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    writeFileSync(a, doc('a'));
    writeFileSync(b, `${doc('b')}---\n[unclosed\n`);
    const cache = new ParsedFileCache();
    const first = await readConfigFiles([dir], cache);
    writeFileSync(b, doc('b2'));
    const second = await readConfigFiles([dir], cache);
    expect(second.documents[0]).toBe(first.documents[0]);
    expect(second.documents[1]).not.toBe(first.documents[1]);
    expect(second.documents.map((d) => d.object)).toEqual(
      (await readConfigFiles([dir])).documents.map((d) => d.object),
    );
    expect(first.diagnostics.map((d) => d.code)).toEqual(['MG0001']);
    expect(second.diagnostics).toEqual([]);
    expect([...cache.files.keys()]).toEqual([a, b]);
  });

  it('forgets files no longer read', async () => {
    const cache = new ParsedFileCache();
    const c = join(dir, 'c.yaml');
    writeFileSync(c, doc('c'));
    await readConfigFiles([dir], cache);
    await readConfigFiles([c], cache);
    expect([...cache.files.keys()]).toEqual([c]);
  });
});
