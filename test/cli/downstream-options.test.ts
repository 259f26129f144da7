/** `--drain-duration`, `--drain-timeout` (Go durations) and `--max-connections-per-listener` parsing. */
import { describe, expect, it } from 'vitest';
import { parseDrainOptions, parseGoDurationMs, parseMaxConnections } from '../../cli/downstream-options.js';

describe('downstream flags', () => {
  it.each([
    ['5s', 5000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['0', 0],
    ['0s', 0],
    ['1h', 3_600_000],
  ])('Go duration %s = %d ms', (text, ms) => {
    expect(parseGoDurationMs(text)).toBe(ms);
  });

  it.each(['', '5', 's', '5 s', '-1s', '5x', '1m30'])('rejects %j as a duration', (text) => {
    expect(parseGoDurationMs(text)).toBeUndefined();
  });

  it('defaults to Istio terminationDrainDuration 5 s and a 20 s deadline', () => {
    expect(parseDrainOptions({})).toEqual({ drainMs: 5000, timeoutMs: 20_000 });
    expect(parseDrainOptions({ 'drain-duration': '500ms', 'drain-timeout': '1m' })).toEqual({
      drainMs: 500,
      timeoutMs: 60_000,
    });
    expect(() => parseDrainOptions({ 'drain-timeout': 'soon' })).toThrow(
      '--drain-timeout: "soon" must be a duration such as 5s, 500ms or 1m30s',
    );
  });

  it('--max-connections-per-listener takes a positive whole number', () => {
    expect(parseMaxConnections({})).toBeUndefined();
    expect(parseMaxConnections({ 'max-connections-per-listener': '1000' })).toBe(1000);
    for (const bad of ['0', '-1', '1.5', 'many']) {
      expect(() => parseMaxConnections({ 'max-connections-per-listener': bad })).toThrow(
        '--max-connections-per-listener',
      );
    }
  });
});
