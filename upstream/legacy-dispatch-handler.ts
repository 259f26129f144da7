/**
 * undici 7 calls a dispatch handler through one of two APIs: the original callbacks (`onConnect`,
 * `onHeaders`, `onData`, `onComplete`, `onError`, which the router's attempts implement) or the
 * controller API (`onRequestStart`, `onResponseStart`, …, which mirror copies implement). The
 * HTTP/2 pool (h2-pool.ts) speaks the original callbacks only; this turns a controller-API handler
 * into one, so both kinds of handler can be dispatched to any endpoint pool.
 */
import type { Dispatcher } from 'undici';

/** The original undici handler callbacks, all present. */
export interface LegacyDispatchHandler {
  onConnect(abort: (err?: Error) => void): void;
  /**
   * @param raw flat `[name, value, …]` list (strings here; Buffers from undici's own clients).
   * @returns false to pause the response until `resume` is called.
   */
  onHeaders(statusCode: number, raw: Buffer[], resume: () => void, statusText: string): boolean;
  /** @returns false to pause the response until the `resume` given to onHeaders is called. */
  onData(chunk: Buffer): boolean;
  /** @param trailers flat `[name, value, …]` list, or null when there were none. */
  onComplete(trailers: string[] | null): void;
  onError(err: Error): void;
}

type ControllerHandler = Required<
  Pick<
    Dispatcher.DispatchHandler,
    'onRequestStart' | 'onResponseStart' | 'onResponseData' | 'onResponseEnd' | 'onResponseError'
  >
>;

/** Flat `[name, value, …]` list as an object (repeated names become arrays). */
function objectOf(raw: readonly (Buffer | string)[] | null): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (raw === null) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = String(raw[i]).toLowerCase();
    const value = String(raw[i + 1]);
    const had = out[name];
    out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}

/** Drives a controller-API handler from the original callbacks. */
class ControllerAdapter implements LegacyDispatchHandler {
  private abortFn: ((err?: Error) => void) | undefined;
  private resumeFn: (() => void) | undefined;
  private pausedNow = false;
  private abortedNow = false;
  private reasonNow: Error | null = null;
  private readonly controller: Dispatcher.DispatchController;

  constructor(private readonly h: ControllerHandler) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.controller = {
      get aborted() {
        return self.abortedNow;
      },
      get paused() {
        return self.pausedNow;
      },
      get reason() {
        return self.reasonNow;
      },
      abort(reason: Error) {
        self.abortedNow = true;
        self.reasonNow = reason;
        self.abortFn?.(reason);
      },
      pause() {
        self.pausedNow = true;
      },
      resume() {
        if (!self.pausedNow) return;
        self.pausedNow = false;
        self.resumeFn?.();
      },
    };
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    this.h.onRequestStart(this.controller, {});
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    this.resumeFn = resume;
    this.h.onResponseStart(this.controller, statusCode, objectOf(raw), statusText);
    return !this.pausedNow;
  }

  onData(chunk: Buffer): boolean {
    this.h.onResponseData(this.controller, chunk);
    return !this.pausedNow;
  }

  onComplete(trailers: string[] | null): void {
    this.h.onResponseEnd(this.controller, objectOf(trailers));
  }

  onError(err: Error): void {
    this.h.onResponseError(this.controller, err);
  }
}

/** The handler itself when it has the original callbacks, else an adapter to its controller API. */
export function legacyHandlerOf(handler: Dispatcher.DispatchHandler): LegacyDispatchHandler {
  if (typeof handler.onHeaders === 'function') return handler as unknown as LegacyDispatchHandler;
  return new ControllerAdapter(handler as ControllerHandler);
}
