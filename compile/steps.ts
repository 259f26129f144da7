/**
 * Builders that can pause: a generator yields between pieces of work of a few milliseconds, so
 * the same code runs at once ({@link runSteps}) or spread over turns of a serving thread's event
 * loop (`SnapshotBuilder.buildSliced`), never blocking it for long.
 */

/** A builder in steps: yields between pieces of work, returns its result. */
export type Steps<T> = Generator<void, T, void>;

/** Runs `steps` to the end without pausing. @returns its result. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Items a loop handles between two yields (each costs microseconds: a slice stays ~1 ms). */
export const ITEMS_PER_STEP = 256;
