/**
 * The handler every endpoint pool is driven with: undici's original dispatch callbacks, all
 * present. The router's attempts and mirror copies implement them; both pools (h1-pool.ts,
 * h2-pool.ts) call nothing else, so one contract serves both.
 */
import type { Dispatcher } from 'undici';

/** undici's original handler callbacks (`onConnect` … `onError`), required. */
export interface UpstreamHandler extends Dispatcher.DispatchHandler {
  /** The request got its connection (stream); `abort` cancels it. */
  onConnect(abort: (err?: Error) => void): void;
  /**
   * A response head: interim (1xx) heads first, then the final one.
   * @param raw flat `[name, value, …]` list (strings from both pools, typed as undici's Buffers).
   * @returns false to pause the response until `resume` is called.
   */
  onHeaders(statusCode: number, raw: Buffer[], resume: () => void, statusText: string): boolean;
  /** @returns false to pause the response until the `resume` given to onHeaders is called. */
  onData(chunk: Buffer): boolean;
  /** @param trailers flat `[name, value, …]` list, or null when there were none. */
  onComplete(trailers: string[] | null): void;
  onError(err: Error): void;
}
