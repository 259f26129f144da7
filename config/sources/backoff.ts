/**
 * The one retry back-off of the Kubernetes source: informer restarts, API discovery and the gateway
 * pod's labels all wait the same way: from `initialMs` doubling to `maxMs`, optionally jittered
 * (client-go's informers jitter so that many gateways do not retry in step), and every wait can
 * be cancelled (a source closing, a process stopping before it started). Timers are injected so
 * tests drive time with a fake clock.
 */

/** Back-off between retries, ms. */
export interface BackoffOptions {
  /** First delay (default 500). */
  readonly initialMs: number;
  /** Ceiling (default 30 000). */
  readonly maxMs: number;
}

/** 0.5 s doubling to 30 s. */
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/** The timer functions a back-off uses; `setTimeout`'s handle is passed back to `clearTimeout`. */
export interface BackoffTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers. */
const REAL_TIMERS: BackoffTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Injected parts of a {@link Backoff}. */
export interface BackoffDeps {
  /** Default {@link REAL_TIMERS}. */
  readonly timers?: BackoffTimers;
  /** Uniform in [0, 1) for the jitter; default `Math.random`. */
  readonly random?: () => number;
}

/** One retry loop's back-off state; see the file comment. */
export class Backoff {
  private attempt = 0;
  private timer: unknown;
  private readonly timers: BackoffTimers;
  private readonly random: () => number;

  constructor(
    private readonly opts: BackoffOptions = DEFAULT_BACKOFF,
    deps: BackoffDeps = {},
  ) {
    this.timers = deps.timers ?? REAL_TIMERS;
    this.random = deps.random ?? Math.random;
  }

  /** The ceiling, ms (what a retry that cannot soon succeed waits: a 403, a missing CRD). */
  get maxMs(): number {
    return this.opts.maxMs;
  }

  /**
   * The delay of the next retry, ms, and counts it: `initialMs · 2^n` capped at `maxMs`; with
   * `jitter`, uniformly in [half, whole) of that.
   */
  next(jitter = false): number {
    const exp = Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** this.attempt);
    this.attempt++;
    return jitter ? exp / 2 + this.random() * (exp / 2) : exp;
  }

  /** Starts over from `initialMs` (a retry succeeded). */
  reset(): void {
    this.attempt = 0;
  }

  /**
   * Waits `ms`. Cancellable by `signal`: the timer is cleared and the promise resolves false at
   * once (also when the signal was aborted before). Never rejects.
   * @returns true when the time elapsed.
   */
  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.timers.clearTimeout(handle);
        resolve(false);
      };
      const handle = this.timers.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Whether a {@link schedule}d call is pending. */
  get scheduled(): boolean {
    return this.timer !== undefined;
  }

  /**
   * Calls `fn` after `ms` unless {@link cancel}led; one call at a time (ignored while one is
   * pending). With `unref`, the timer does not keep the process alive.
   */
  schedule(fn: () => void, ms: number, opts: { unref?: boolean } = {}): void {
    if (this.timer !== undefined) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      fn();
    }, ms);
    if (opts.unref) (this.timer as { unref?: () => void }).unref?.();
  }

  /** Cancels a scheduled call (idempotent). */
  cancel(): void {
    if (this.timer === undefined) return;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
