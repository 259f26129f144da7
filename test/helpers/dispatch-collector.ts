/**
 * A recording handler for the upstream pools' dispatch contract (upstream/upstream-handler.ts:
 * undici's original callbacks), as the router's attempts implement it: what a request produced,
 * the order of the callbacks, and switches to pause, resume and abort the way a router would.
 */
import type { UpstreamHandler } from '../../upstream/upstream-handler.js';

/** What a dispatch produced. */
export interface Outcome {
  status: number;
  /** Interim (1xx) statuses, in order. */
  informational: number[];
  /** The final head's flat `[name, value, …]` list. */
  headers: string[];
  /** The body bytes as latin1 text. */
  body: string;
  trailers: string[] | null;
  error: (Error & { code?: string }) | undefined;
}

/** A handler that records everything; `done` resolves at onComplete or onError. */
export class Collector implements UpstreamHandler {
  readonly out: Outcome = {
    status: 0,
    informational: [],
    headers: [],
    body: '',
    trailers: null,
    error: undefined,
  };
  /** Callbacks in order: `connect`, `headers <status>`, `data` (once per run of chunks), `complete`, `error`. */
  readonly log: string[] = [];
  abort: ((err?: Error) => void) | undefined;
  /** The final head's resume (clears `paused`). */
  resume: (() => void) | undefined;
  /** Aborts with this error from onConnect (a queued request whose try was given up). */
  abortOnConnect: Error | undefined;
  /** Return false from the final onHeaders (pause before the body). */
  pauseOnHeaders = false;
  /** Return false from the first onData. */
  pauseOnFirstData = false;
  /** Return false from every onData. */
  pauseOnData = false;
  /** Whether the last callback paused the response. */
  paused = false;
  /** onData calls made while paused (the contract allows none). */
  dataWhilePaused = 0;
  /** onData calls. */
  chunks = 0;
  readonly done: Promise<Outcome>;
  private finish!: (o: Outcome) => void;
  private onEvent: (() => void) | undefined;

  constructor() {
    this.done = new Promise((r) => (this.finish = r));
  }
  onConnect(abort: (err?: Error) => void): void {
    this.log.push('connect');
    this.abort = abort;
    if (this.abortOnConnect) abort(this.abortOnConnect);
  }
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    this.log.push(`headers ${status}`);
    if (status < 200) this.out.informational.push(status);
    else {
      this.out.status = status;
      this.out.headers = raw.map(String);
      this.resume = () => {
        this.paused = false;
        resume();
      };
      this.paused = this.pauseOnHeaders;
    }
    this.onEvent?.();
    return !this.paused;
  }
  onData(chunk: Buffer): boolean {
    if (this.paused) this.dataWhilePaused++;
    if (this.log[this.log.length - 1] !== 'data') this.log.push('data');
    this.chunks++;
    this.out.body += chunk.toString('latin1');
    this.paused = this.pauseOnData || (this.pauseOnFirstData && this.chunks === 1);
    this.onEvent?.();
    return !this.paused;
  }
  onComplete(trailers: string[] | null): void {
    this.log.push('complete');
    this.out.trailers = trailers;
    this.finish(this.out);
  }
  onError(err: Error): void {
    this.log.push('error');
    this.out.error = err;
    this.finish(this.out);
  }
  /** Resolves once `test()` holds after some callback. */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => {
      this.onEvent = () => {
        if (!test()) return;
        this.onEvent = undefined;
        resolve();
      };
    });
  }
  /** Resolves once the first body chunk arrived. */
  firstChunk(): Promise<void> {
    return this.until(() => this.chunks > 0);
  }
}
