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

/**
 * Runs `steps` to the end in slices of about `sliceMs` of work, each followed by a turn of the
 * event loop (`setImmediate`), so requests waiting on this thread are served between them. A slice
 * ends at the first pause point past `sliceMs`.
 * @returns the result of `steps`.
 */
export async function runSliced<T>(steps: Steps<T>, sliceMs: number): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() - sliceStart < sliceMs) continue;
    await new Promise<void>((resolve) => setImmediate(resolve));
    sliceStart = performance.now();
  }
}
