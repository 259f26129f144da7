import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, setHeapGrowth } from '../../cli/heap-growth.js';

const MODULE = fileURLToPath(new URL('../../dist/cli/heap-growth.js', import.meta.url));

/**
 * Runs `script` in a child node (with `nodeFlags`, `--expose-gc --trace-gc-verbose`) after importing the
 * built heap-growth module as `m`; returns its stdout: the script's lines and V8's GC trace.
 */
function child(nodeFlags: string[], script: string): string {
  const r = spawnSync(
    process.execPath,
    [
      ...nodeFlags,
      '--expose-gc',
      '--trace-gc-verbose',
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(MODULE)});\n${script}`,
    ],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** The growing factor V8 applied at the last full collection (`[HeapController] Limit: … (F)`). */
function lastFactor(trace: string): number {
  const all = [...trace.matchAll(/\[HeapController\] Limit: .*\(([\d.]+)\)/g)];
  expect(all.length).toBeGreaterThan(0);
  return Number(all[all.length - 1]![1]);
}

describe('V8 heap growth of a gateway process', () => {
  it('leaves an operator-given --heap-growing-percent in place (both spellings)', () => {
    expect(setHeapGrowth(['--heap-growing-percent=50'])).toBe(false);
    expect(setHeapGrowth(['--max-old-space-size=512', '--heap_growing_percent', '50'])).toBe(false);
  });

  it('fixes the factor at 1 + 300/100 from the next full collection on, even when set after start', () => {
    // A lower value set first stands for a collapsed dynamic factor; ours replaces it at run time.
    const out = child(
      [],
      `(await import('node:v8')).default.setFlagsFromString('--heap-growing-percent=10');
       gc();
       console.log('set', m.setHeapGrowth());
       gc();`,
    );
    expect(out).toContain('set true');
    expect(HEAP_GROWING_PERCENT).toBe(300);
    expect(lastFactor(out)).toBe(4);
    // Before our call, V8 applied the lower value: the flag is live, not read once at start.
    const before = out.slice(0, out.indexOf('set true'));
    expect(lastFactor(before)).toBe(1.1);
  });

  it('keeps the operator flag V8 was started with', () => {
    const out = child(['--heap-growing-percent=50'], `console.log('set', m.setHeapGrowth()); gc();`);
    expect(out).toContain('set false');
    expect(lastFactor(out)).toBe(1.5);
  });
});
