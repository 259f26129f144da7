/**
 * Outlier detection with an injected clock: consecutive-error ejection, ejection time growing with
 * the number of ejections, maxEjectionPercent, panic mode, legacy consecutiveErrors, stats.
 */
import { describe, expect, it } from 'vitest';
import { OutlierDetector, outlierConfig, type Clock } from '../../upstream/outlier-detector.js';
import type { OutlierDetection } from '../../config/resources.js';
import { StatStore } from '../../telemetry/stats.js';

class FakeClock implements Clock {
  t = 1_000;
  now(): number {
    return this.t;
  }
}

const NAME = 'outbound|80||svc';
const hosts = (n: number) => Array.from({ length: n }, (_, i) => ({ endpoint: { key: `10.0.0.${i}:80` } }));

function detector(od: OutlierDetection, n: number) {
  const clock = new FakeClock();
  const d = new OutlierDetector(outlierConfig(od)!, NAME, clock);
  const stats = new StatStore();
  d.bindStats(stats);
  const list = hosts(n);
  d.setHosts(list.map((h) => h.endpoint.key));
  return { d, clock, stats, list };
}

describe('outlierConfig', () => {
  it('applies Envoy defaults and honours legacy consecutiveErrors as gateway errors', () => {
    expect(outlierConfig({})).toEqual({
      consecutive5xx: 5,
      consecutiveGatewayErrors: 0,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionTimeMs: 300_000,
      maxEjectionPercent: 10,
      minHealthPercent: 0,
    });
    const legacy = outlierConfig({
      consecutiveErrors: 1,
      interval: '1s',
      baseEjectionTime: '3m',
      maxEjectionPercent: 100,
    })!;
    expect(legacy.consecutiveGatewayErrors).toBe(1);
    expect(legacy.consecutive5xx).toBe(0);
    expect(legacy.baseEjectionTimeMs).toBe(180_000);
    expect(outlierConfig({ consecutive5xxErrors: 0 })!.consecutive5xx).toBe(0);
  });
});

describe('OutlierDetector', () => {
  it('ejects on the 5th consecutive 5xx, skips the host, and brings it back after baseEjectionTime', () => {
    const { d, clock, stats, list } = detector(
      { consecutive5xxErrors: 5, interval: '1s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
      2,
    );
    const bad = list[0]!.endpoint.key;
    for (let i = 0; i < 4; i++) d.report(bad, 502);
    d.report(bad, 200); // a success resets the run
    for (let i = 0; i < 4; i++) d.report(bad, 500);
    expect(d.isEjected(bad)).toBe(false);
    d.report(bad, 503);
    expect(d.isEjected(bad)).toBe(true);
    expect(d.healthyOf(list)).toEqual([list[1]]);
    expect(stats.get(`cluster.${NAME}.outlier_detection.ejections_enforced_total`)).toBe(1);
    expect(stats.get(`cluster.${NAME}.outlier_detection.ejections_active`)).toBe(1);
    clock.t += 29_000;
    d.sweep();
    expect(d.isEjected(bad)).toBe(true);
    clock.t += 1_000;
    d.sweep();
    expect(d.isEjected(bad)).toBe(false);
    expect(d.healthyOf(list)).toBe(list);
    expect(stats.get(`cluster.${NAME}.outlier_detection.ejections_active`)).toBe(0);
  });

  it('multiplies the ejection time by the number of ejections, capped at 300 s', () => {
    const { d, clock, list } = detector(
      {
        consecutiveGatewayErrors: 1,
        consecutive5xxErrors: 0,
        baseEjectionTime: '100s',
        maxEjectionPercent: 100,
      },
      1,
    );
    const k = list[0]!.endpoint.key;
    const ejectAndMeasure = () => {
      d.report(k, 502);
      expect(d.isEjected(k)).toBe(true);
      const start = clock.t;
      while (d.isEjected(k)) {
        clock.t += 1_000;
        d.sweep();
      }
      return clock.t - start;
    };
    expect(ejectAndMeasure()).toBe(100_000);
    expect(ejectAndMeasure()).toBe(200_000);
    expect(ejectAndMeasure()).toBe(300_000);
    expect(ejectAndMeasure()).toBe(300_000);
  });

  it('respects maxEjectionPercent and counts ejections_overflow', () => {
    const { d, stats, list } = detector({ consecutive5xxErrors: 1, maxEjectionPercent: 50 }, 4);
    for (const h of list) d.report(h.endpoint.key, 500);
    expect(d.ejectedCount).toBe(2);
    expect(d.healthyOf(list)).toHaveLength(2);
    expect(stats.get(`cluster.${NAME}.outlier_detection.ejections_overflow`)).toBe(2);
  });

  it('with the default 10% never ejects in a cluster of fewer than 10 hosts (Envoy arithmetic)', () => {
    const { d, list } = detector({ consecutive5xxErrors: 1 }, 5);
    d.report(list[0]!.endpoint.key, 500);
    expect(d.ejectedCount).toBe(0);
  });

  it('counts only 502/503/504 for consecutiveGatewayErrors; a 500 breaks the run', () => {
    const { d, list } = detector(
      { consecutiveGatewayErrors: 2, consecutive5xxErrors: 0, maxEjectionPercent: 100 },
      1,
    );
    const k = list[0]!.endpoint.key;
    d.report(k, 502);
    d.report(k, 500);
    d.report(k, 504);
    expect(d.isEjected(k)).toBe(false);
    d.report(k, 503);
    expect(d.isEjected(k)).toBe(true);
  });

  it('panics below minHealthPercent: all hosts are used again', () => {
    const { d, list } = detector(
      { consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent: 50 },
      3,
    );
    d.report(list[0]!.endpoint.key, 500);
    expect(d.healthyOf(list)).toHaveLength(2); // 66% healthy ≥ 50%
    d.report(list[1]!.endpoint.key, 500);
    expect(d.healthyOf(list)).toBe(list); // 33% < 50%: panic
  });

  it('sweeps lazily on results when no timer runs, and notifies the cluster on changes', () => {
    const { d, clock, list } = detector(
      { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '1s', maxEjectionPercent: 100 },
      2,
    );
    let changes = 0;
    d.onChange = () => changes++;
    d.report(list[0]!.endpoint.key, 500);
    expect(changes).toBe(1);
    clock.t += 1_500;
    d.report(list[1]!.endpoint.key, 200);
    expect(d.isEjected(list[0]!.endpoint.key)).toBe(false);
    expect(changes).toBe(2);
  });
});
