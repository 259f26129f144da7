/**
 * The V8 flag a gateway process starts with: `--single-threaded-gc` (V8 does its young and full
 * collections, marking and sweeping on the thread whose heap it is, with no helper tasks).
 *
 * Why: a gateway runs one serving thread per core it may use (`--concurrency`, default the CPUs
 * available), so V8's parallel and concurrent GC helpers have no idle core to go to; they take
 * turns with the serving threads and add their hand-offs and wake-ups. Measured with the
 * interleaved HTTP pair (meshgate pinned to one core with metrics and access log on, each round two
 * fresh processes, 5 s each, 8 rounds): the flag on one side of the same build gave 1.019–1.061× the
 * requests per CPU-second (geometric mean 1.035); against the minimal proxy, 0.966 without it and
 * 1.023 with it. Young collections stay ~0.7 ms each (`--trace-gc`).
 *
 * V8 reads it only at start (setting it later with `v8.setFlagsFromString` aborts the process in a
 * check of the concurrent marker; the parts that can be set later did not change the figure), so
 * it goes on node's command line: the image's entrypoint, the `meshgate` command and the sample
 * and bench launchers pass it, and the primary passes it to its workers.
 */

/** The V8 flags of a gateway process. */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

const OWN_CHOICE = /^--(no-)?single[-_]threaded[-_]gc$/;

/**
 * Node flags for a gateway process started from this one: `execArgv` plus
 * {@link GATEWAY_NODE_FLAGS}, unless `execArgv` already decides (`--single-threaded-gc` or
 * `--no-single-threaded-gc`, which then stays as the operator gave it).
 * @param execArgv - node's own command-line flags (default `process.execArgv`).
 * @returns a new array.
 */
export function gatewayExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  return gcThreadsLeftToV8(execArgv) ? [...execArgv, ...GATEWAY_NODE_FLAGS] : [...execArgv];
}

/**
 * Whether node was started without any choice about GC helper threads (neither flag on its
 * command line): the gateway then notes once that it runs with V8's default helpers.
 * @param execArgv - node's own command-line flags (default `process.execArgv`).
 */
export function gcThreadsLeftToV8(execArgv: readonly string[] = process.execArgv): boolean {
  return !execArgv.some((a) => OWN_CHOICE.test(a));
}
