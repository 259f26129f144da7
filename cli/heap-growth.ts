/**
 * The V8 old-generation growing factor of a gateway process, fixed at 4.0 (`--heap-growing-percent=300`):
 * after a full collection the old generation may grow to 4× its live size before the next one starts.
 * 4.0 is the top of the range V8 chooses from by itself (1.1–4.0, from its GC speed against the
 * mutator's allocation speed); it is what V8 picks for this gateway when it is not moving bulk bytes.
 *
 * Why: V8 counts the external memory allocated since the last full collection (here: the 64 KiB buffer
 * node allocates for every socket read) against the old-generation limit, and frees those buffers only
 * in a young collection, which its own rule runs once 32 MB of them are pending. V8 also reads that
 * churn as fast allocation and drops the factor to its floor of 1.1, so with a ~21 MB live heap the
 * limit sat only ~8 MB above it: a full mark-compact (6–55 ms each) started every ~20–30 MB forwarded,
 * and each of them chose 1.1 again (`--trace-gc-verbose`: 16 of 17 collections of a TCP bulk run at
 * factor 1.1). The bare node:net pipe never enters this loop: its ~4 MB heap is below V8's 8 MB
 * threshold for starting incremental marking at all. Measured (iperf3 through meshgate, `--trace-gc`,
 * 4–5 s each, both at once on one core): factor left to V8 9–28 mark-compacts per run (when it had
 * collapsed; 0 when the startup collection had picked 4.0 and no idle collection lowered it since);
 * `--heap-growing-percent` 100: 5, 200: 0, 300: 0–1. 300 leaves room for a smaller live heap. HTTP
 * serving saw no full collection in 5 s either way, and the interleaved HTTP pair (default against 300)
 * measured 0.95 and 0.99 (noise level).
 *
 * Cost: a gateway whose live heap really grows fast may reach 4× its live size before marking instead
 * of 1.1× (V8 still caps the limit halfway to the heap maximum).
 */
import v8 from 'node:v8';

/** The `--heap-growing-percent` a gateway process runs with: factor 1 + 300/100 = 4.0. */
export const HEAP_GROWING_PERCENT = 300;

const OWN_FLAG = /^--heap[-_]growing[-_]percent(=|$)/;

/**
 * Sets V8's `--heap-growing-percent` to {@link HEAP_GROWING_PERCENT} for this process, unless node was
 * started with one of its own (`node --heap-growing-percent=N …`), which then stays in force. V8 reads
 * the flag each time it recomputes its heap limits (after every full collection), so setting it after
 * start takes effect from the next one on.
 * @param execArgv - node's own command-line flags (default `process.execArgv`).
 * @returns true when the flag was set, false when the operator's own was left in place.
 */
export function setHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => OWN_FLAG.test(a))) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
