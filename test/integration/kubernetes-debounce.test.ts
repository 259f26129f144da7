/**
 * The reload debounce `--kubernetes` runs with, istiod's: a reload 100 ms after the last change
 * (PILOT_DEBOUNCE_AFTER), and never more than 10 s after the first one (PILOT_DEBOUNCE_MAX), so a
 * steady trickle of changes cannot hold reloads back. Fake clock; the gateway is real.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { HTTP_GATEWAY_GW } from '../helpers/resources.js';

let tg: TestGateway | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await tg?.close();
  tg = undefined;
});

/** A started gateway whose reloads are counted instead of run. */
async function countingGateway(): Promise<{ count: () => number; schedule: () => void }> {
  tg = await startGateway(HTTP_GATEWAY_GW, { reloadDebounce: { quietMs: 100, maxMs: 10_000 } });
  let reloads = 0;
  const gw = tg.gateway;
  gw.reload = () => {
    reloads++;
    return Promise.resolve(true);
  };
  vi.useFakeTimers();
  return { count: () => reloads, schedule: () => gw.scheduleReload() };
}

describe('reload debounce (istiod)', () => {
  it('a burst becomes one reload, 100 ms after its last change', async () => {
    const { count, schedule } = await countingGateway();
    for (let i = 0; i < 10; i++) {
      schedule();
      vi.advanceTimersByTime(20);
    }
    expect(count()).toBe(0);
    vi.advanceTimersByTime(79);
    expect(count()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(count()).toBe(1);
  });

  it('changes every 50 ms still reload every 10 s', async () => {
    const { count, schedule } = await countingGateway();
    schedule();
    for (let t = 50; t < 9_999; t += 50) {
      vi.advanceTimersByTime(50);
      schedule();
    }
    expect(count()).toBe(0);
    vi.advanceTimersByTime(50); // 10 000 ms after the first change
    expect(count()).toBe(1);
    for (let t = 0; t < 10_000; t += 50) {
      schedule();
      vi.advanceTimersByTime(50);
    }
    expect(count()).toBe(2);
  });
});
