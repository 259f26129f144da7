import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { THRESHOLD_RAISING_BLOCK_BYTES } from '../../cli/malloc-trim.js';

const MODULE = fileURLToPath(new URL('../../dist/cli/malloc-trim.js', import.meta.url));

describe.runIf(process.platform === 'linux')('glibc trim threshold raise', () => {
  it('allocates one block under 32 MiB outside the V8 heap, never touched, freed by the next collection', () => {
    // A child process: the block and the collection must not disturb the test runner's own heap.
    const script = `
      const m = await import(${JSON.stringify(MODULE)});
      const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
      gc();
      const ab0 = process.memoryUsage().arrayBuffers, rss0 = rss();
      m.raiseMallocTrimThreshold();
      const ab1 = process.memoryUsage().arrayBuffers, rss1 = rss();
      // V8 frees array buffers on a background thread after the collection: collect again until the
      // accounting shows it (bounded by a count of turns, not by time).
      let ab2 = Infinity;
      for (let i = 0; i < 200 && ab2 - ab0 >= 1024 * 1024; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
        ab2 = process.memoryUsage().arrayBuffers;
      }
      console.log(JSON.stringify({ held: ab1 - ab0, resident: rss1 - rss0, left: ab2 - ab0 }));`;
    const r = spawnSync(
      process.execPath,
      ['--expose-gc', '--input-type=commonjs', '-e', `(async () => {${script}})()`],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const { held, resident, left } = JSON.parse(r.stdout) as Record<string, number>;
    expect(THRESHOLD_RAISING_BLOCK_BYTES).toBeLessThanOrEqual(32 * 1024 * 1024 - 4096);
    expect(THRESHOLD_RAISING_BLOCK_BYTES).toBeGreaterThan(16 * 1024 * 1024);
    // Other buffers may be accounted for at the same moment (V8's background sweep): a few KiB either way.
    expect(Math.abs(held - THRESHOLD_RAISING_BLOCK_BYTES)).toBeLessThan(64 * 1024);
    // Uninitialized: the pages were never written, so they are not resident.
    expect(resident).toBeLessThan(THRESHOLD_RAISING_BLOCK_BYTES / 4);
    expect(left).toBeLessThan(1024 * 1024);
  });
});
