/**
 * "Did you mean" for mistyped command-line flags: the closest known flag by edit distance.
 */

/** Levenshtein distance (insertions, deletions, substitutions each cost 1). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The known flag closest to `given` (both without leading dashes), if it is close enough to be a
 * typo: at most 2 edits, and fewer than a third of the flag's length for short flags.
 * @returns e.g. `tracing-endpoint` for `tracing-endpont`; undefined when nothing is close.
 */
export function suggestFlag(given: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(given, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.min(2, Math.max(1, Math.floor(best.length / 3)));
  return bestDistance <= limit ? best : undefined;
}
