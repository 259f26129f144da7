/**
 * The access log's file writer: text handed over in large batches, written asynchronously and in
 * order (one write in flight at a time), never blocking the data path.
 *
 * Why not pino's sonic-boom: written with `minLength: 0` (each batch goes out at once), it gives no
 * way to learn when a write in flight has finished, and its synchronous flush writes queued text
 * while an earlier write may still be in flight, so lines can land out of order at shutdown.
 *
 * Destination that cannot keep up (a stalled pipe): text beyond {@link LogFile.maxQueuedChars}
 * is dropped and counted (`onDrop`), memory stays bounded. `EAGAIN` on a non-blocking pipe is
 * retried every {@link EAGAIN_RETRY_MS}; any other write error drops that batch and is counted too.
 */
import fs from 'node:fs';

/** Pause before retrying a write the destination refused with EAGAIN, ms. */
export const EAGAIN_RETRY_MS = 10;

/** Options of {@link LogFile}. */
export interface LogFileOptions {
  /** Most characters queued while the destination is slow; default 64 Mi. */
  readonly maxQueuedChars?: number;
  /** Called with the number of lines dropped (queue full or write error). */
  readonly onDrop?: (lines: number) => void;
}

/** An append-only, ordered, asynchronous writer for one file descriptor. */
export class LogFile {
  readonly maxQueuedChars: number;
  private readonly fd: number;
  private queue: string[] = [];
  private queuedChars = 0;
  /** The bytes being written (and, after a short write, what is left of them). */
  private inFlight: Buffer | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly onDrop: ((lines: number) => void) | undefined;

  /**
   * @param dest a file descriptor (1 = stdout), or a path opened for appending.
   * @throws the error of `fs.openSync` when `dest` is a path that cannot be opened.
   */
  constructor(dest: number | string, opts: LogFileOptions = {}) {
    this.fd = typeof dest === 'number' ? dest : fs.openSync(dest, 'a');
    this.maxQueuedChars = opts.maxQueuedChars ?? 64 * 1024 * 1024;
    this.onDrop = opts.onDrop;
  }

  /** Queues `text` (whole lines) and starts writing unless a write is in flight. */
  write(text: string): void {
    if (text.length === 0) return;
    if (this.queuedChars + text.length > this.maxQueuedChars) {
      this.onDrop?.(countLines(text));
      return;
    }
    this.queue.push(text);
    this.queuedChars += text.length;
    if (this.inFlight === undefined) this.next();
  }

  /** Resolves once everything written so far has reached the file descriptor. */
  drained(): Promise<void> {
    if (this.inFlight === undefined && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private next(): void {
    if (this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    const text = this.queue.length === 1 ? this.queue[0]! : this.queue.join('');
    this.queue = [];
    this.queuedChars = 0;
    this.inFlight = Buffer.from(text, 'utf8');
    this.writeInFlight();
  }

  private writeInFlight(): void {
    const buf = this.inFlight!;
    fs.write(this.fd, buf, 0, buf.length, null, (err, written) => {
      if (err) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeInFlight(), EAGAIN_RETRY_MS).unref();
          return;
        }
        this.onDrop?.(countLines(buf.toString('utf8')));
        this.inFlight = undefined;
        return this.next();
      }
      if (written < buf.length) {
        // A short write (pipes): the rest goes next, before anything queued after it.
        this.inFlight = buf.subarray(written);
        return this.writeInFlight();
      }
      this.inFlight = undefined;
      this.next();
    });
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
