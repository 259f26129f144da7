import { describe, expect, it } from 'vitest';
import { pickWeighted } from '../../routes/weighted-pick.js';

describe('pickWeighted (Envoy weighted_clusters)', () => {
  it('returns undefined for no items and the only item for one, whatever its weight', () => {
    expect(pickWeighted([], 0)).toBeUndefined();
    const only = { weight: 0, name: 'a' };
    expect(pickWeighted([only], 0)).toBe(only);
  });

  it('picks in proportion to relative weights', () => {
    const items = [
      { weight: 3, name: 'a' },
      { weight: 1, name: 'b' },
    ];
    let a = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) if (pickWeighted(items, 4)!.name === 'a') a++;
    expect(a / n).toBeGreaterThan(0.73);
    expect(a / n).toBeLessThan(0.77);
  });
});
