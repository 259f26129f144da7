/**
 * Log lines of a sample workload (its `log` option), kept so a test can wait for the workload's own
 * account of an event ("delaying 5 s", "client went away") instead of sleeping or polling.
 */

export interface LineLog {
  /** Every line so far, oldest first. */
  readonly lines: readonly string[];
  /** The hook to pass as the workload's `log` option. */
  readonly record: (line: string) => void;
  /** Resolves with the first line, already logged or still to come, that `match` accepts. */
  waitFor(match: RegExp): Promise<string>;
}

/** An empty {@link LineLog}. */
export function lineLog(): LineLog {
  const lines: string[] = [];
  let waiters: { match: RegExp; resolve: (line: string) => void }[] = [];
  return {
    lines,
    record(line) {
      lines.push(line);
      const waiting: typeof waiters = [];
      for (const w of waiters) {
        if (w.match.test(line)) w.resolve(line);
        else waiting.push(w);
      }
      waiters = waiting;
    },
    waitFor(match) {
      const hit = lines.find((l) => match.test(l));
      return hit !== undefined
        ? Promise.resolve(hit)
        : new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}
