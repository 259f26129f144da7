/**
 * The Kubernetes source's one back-off (`config/sources/backoff.ts`), driven by a fake clock: the
 * delays double to the ceiling, jitter stays in [half, whole), a wait ends when its time comes or at
 * once when cancelled (its timer cleared), and a scheduled retry never fires after cancel.
 */
import { describe, expect, it } from 'vitest';
import { Backoff, type BackoffTimers } from '../../config/sources/backoff.js';

/** Timers that fire only when the test advances the clock. */
class FakeTimers implements BackoffTimers {
  now = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  get count(): number {
    return this.pending.size;
  }

  /** Moves the clock and runs every timer now due, in time order. */
  advance(ms: number): void {
    this.now += ms;
    for (const [id, t] of [...this.pending].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at > this.now) continue;
      this.pending.delete(id);
      t.fn();
    }
  }
}

describe('Backoff', () => {
  it('doubles from initialMs to maxMs; reset starts over; jitter stays in [half, whole)', () => {
    const b = new Backoff({ initialMs: 500, maxMs: 30_000 }, { random: () => 0.5 });
    expect(Array.from({ length: 9 }, () => b.next())).toEqual([
      500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
    b.reset();
    expect(b.next(true)).toBe(375);
    const low = new Backoff({ initialMs: 100, maxMs: 1000 }, { random: () => 0 });
    const high = new Backoff({ initialMs: 100, maxMs: 1000 }, { random: () => 0.999 });
    expect([low.next(true), low.next(true)]).toEqual([50, 100]);
    expect(high.next(true)).toBeLessThan(100);
    expect(high.next(true)).toBeGreaterThanOrEqual(100);
  });

  it('wait resolves true when its time comes, not before', async () => {
    const timers = new FakeTimers();
    const b = new Backoff(undefined, { timers });
    let done: boolean | undefined;
    const waiting = b.wait(b.next()).then((r) => (done = r));
    timers.advance(499);
    await Promise.resolve();
    expect(done).toBeUndefined();
    timers.advance(1);
    expect(await waiting).toBe(true);
  });

  it('an aborted wait resolves false at once and clears its timer; an already aborted signal never waits', async () => {
    const timers = new FakeTimers();
    const b = new Backoff(undefined, { timers });
    const stop = new AbortController();
    const waiting = b.wait(30_000, stop.signal);
    expect(timers.count).toBe(1);
    stop.abort();
    expect(await waiting).toBe(false);
    expect(timers.count).toBe(0);
    expect(await b.wait(10, stop.signal)).toBe(false);
    expect(timers.count).toBe(0);
  });

  it('schedule runs once after the delay; one at a time; cancel stops it', () => {
    const timers = new FakeTimers();
    const b = new Backoff(undefined, { timers });
    let runs = 0;
    b.schedule(() => runs++, 1000);
    b.schedule(() => runs++, 1000); // ignored: one pending
    expect(b.scheduled).toBe(true);
    timers.advance(1000);
    expect(runs).toBe(1);
    expect(b.scheduled).toBe(false);
    b.schedule(() => runs++, 1000);
    b.cancel();
    timers.advance(5000);
    expect(runs).toBe(1);
    expect(timers.count).toBe(0);
  });
});
