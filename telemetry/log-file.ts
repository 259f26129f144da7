/**
 * The access log's file writer: text handed over in large batches (64 KiB), written in order.
 *
 * A batch is first written synchronously, as Node writes its own stdout to a file: measured on one
 * pinned core, a 64 KiB write costs 15–18 µs of CPU that way and 24–62 µs through libuv's thread
 * pool (the hand-off and the wake-ups cost more than the copy), and the interleaved HTTP pair ran
 * 1.5–4.8% more requests per CPU-second. A full pipe (EAGAIN) or an error falls back to one
 * asynchronous write in flight at a time; a synchronous write that took over
 * {@link SYNC_WRITE_BUDGET_MS} (a disk under writeback pressure) moves the writer to the thread
 * pool for good, so a slow destination stalls the data path at most once.
 *
 * Why not pino's sonic-boom: written with `minLength: 0` (each batch goes out at once), it gives no
 * way to learn when a write in flight has finished, and its synchronous flush writes queued text
 * while an earlier write may still be in flight, so lines can land out of order at shutdown.
 *
 * Destination that cannot keep up (a stalled pipe): text beyond {@link LogFile.maxQueuedChars}
 * is dropped and counted (`onDrop`); memory stays bounded (the queue plus the batch in flight).
 * `EAGAIN` on a non-blocking pipe is retried every {@link EAGAIN_RETRY_MS}; any other write error
 * drops that batch and is counted too. Standard output and error, when they are pipes or sockets,
 * are switched to non-blocking first: a blocking write to a pipe nobody reads would hold a libuv
 * thread forever, and Node cannot exit while one is busy.
 */
import fs from 'node:fs';

/** Pause before retrying a write the destination refused with EAGAIN, ms. */
const EAGAIN_RETRY_MS = 10;
/** A synchronous write slower than this, ms, moves the writer to libuv's thread pool for good. */
const SYNC_WRITE_BUDGET_MS = 5;

/** Options of {@link LogFile}. */
interface LogFileOptions {
  /** Most characters queued while the destination is slow; default 16 Mi. */
  readonly maxQueuedChars?: number;
  /** Called with the number of lines dropped (queue full or write error). */
  readonly onDrop?: (lines: number) => void;
}

/** An append-only, ordered, asynchronous writer for one file descriptor. */
export class LogFile {
  readonly maxQueuedChars: number;
  private readonly fd: number;
  /** Text, or bytes of whole UTF-8 lines (a worker's access log as the primary reads it). */
  private queue: (string | Uint8Array)[] = [];
  private queuedChars = 0;
  /** The bytes being written (and, after a short write, what is left of them). */
  private inFlight: Buffer | undefined;
  /** Characters (bytes, for byte input) of the batch in flight. */
  private inFlightChars = 0;
  /**
   * Characters accepted so far, and characters written or dropped so far (for {@link drained});
   * byte input counts its bytes.
   */
  private accepted = 0;
  private settled = 0;
  private waiters: { upTo: number; resolve: () => void }[] = [];
  private readonly ownsFd: boolean;
  /** Batches are written synchronously until one such write is slow (see the module comment). */
  private sync: boolean;
  private readonly onDrop: ((lines: number) => void) | undefined;

  /**
   * @param dest a file descriptor (1 = stdout), or a path opened for appending.
   * @throws the error of `fs.openSync` when `dest` is a path that cannot be opened.
   */
  constructor(dest: number | string, opts: LogFileOptions = {}) {
    this.ownsFd = typeof dest !== 'number';
    this.fd = typeof dest === 'number' ? dest : fs.openSync(dest, 'a');
    const nonBlocking = this.fd === 1 || this.fd === 2 ? makeStdioNonBlocking(this.fd) : false;
    // Only where a write cannot block indefinitely: a regular file, or stdio made non-blocking.
    this.sync = nonBlocking || isRegularFile(this.fd);
    this.maxQueuedChars = opts.maxQueuedChars ?? 16 * 1024 * 1024;
    this.onDrop = opts.onDrop;
  }

  /**
   * Queues `text` (whole lines; as a string, or as UTF-8 bytes, written as they are) and starts
   * writing unless a write is in flight.
   */
  write(text: string | Uint8Array): void {
    if (text.length === 0) return;
    this.accepted += text.length;
    if (this.queuedChars + text.length > this.maxQueuedChars) {
      this.onDrop?.(countLines(text));
      this.settle(text.length);
      return;
    }
    this.queue.push(text);
    this.queuedChars += text.length;
    if (this.inFlight === undefined) this.next();
  }

  /**
   * Resolves once everything given to {@link write} before this call has reached the file
   * descriptor or was dropped (text written later does not delay it).
   */
  drained(): Promise<void> {
    if (this.settled >= this.accepted) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ upTo: this.accepted, resolve }));
  }

  /** Closes the file descriptor if this writer opened it (a path); call after {@link drained}. */
  close(): void {
    if (this.ownsFd) fs.closeSync(this.fd);
  }

  private settle(chars: number): void {
    this.settled += chars;
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.settled >= w.upTo) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private next(): void {
    if (this.queue.length === 0) return;
    const queue = this.queue;
    this.queue = [];
    this.inFlightChars = this.queuedChars;
    this.queuedChars = 0;
    this.inFlight = toBuffer(queue);
    this.writeInFlight();
  }

  private done(): void {
    this.inFlight = undefined;
    this.settle(this.inFlightChars);
    this.next();
  }

  private writeInFlight(): void {
    const buf = this.inFlight!;
    if (this.sync) {
      // Written on the spot; a pipe that is full (EAGAIN) or any error goes the asynchronous way,
      // which retries or counts the drop.
      const t0 = performance.now();
      let written = 0;
      try {
        written = fs.writeSync(this.fd, buf, 0, buf.length, null);
      } catch {
        written = 0;
      }
      if (performance.now() - t0 > SYNC_WRITE_BUDGET_MS) this.sync = false;
      if (written === buf.length) return this.done();
      if (written > 0) this.inFlight = buf.subarray(written);
    }
    const rest = this.inFlight!;
    fs.write(this.fd, rest, 0, rest.length, null, (err, written) => {
      if (err) {
        if (err.code === 'EAGAIN') {
          // Kept referenced: lines still to write hold the process up; shutdown bounds the wait.
          setTimeout(() => this.writeInFlight(), EAGAIN_RETRY_MS);
          return;
        }
        this.onDrop?.(countLines(rest));
        return this.done();
      }
      if (written < rest.length) {
        // A short write (pipes): the rest goes next, before anything queued after it.
        this.inFlight = rest.subarray(written);
        return this.writeInFlight();
      }
      this.done();
    });
  }
}

/**
 * Switches stdout/stderr to non-blocking when they are pipes or sockets. Node's own stream for them
 * (a libuv pipe handle) does that when first created; this writer then writes to the same fd.
 * @returns whether it did (the descriptor is a pipe or socket).
 */
function makeStdioNonBlocking(fd: 1 | 2): boolean {
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFIFO() && !st.isSocket()) return false;
    void (fd === 1 ? process.stdout : process.stderr).fd;
    return true;
  } catch {
    // Not a usable descriptor: the first write reports it.
    return false;
  }
}

/** Whether `fd` is open on a regular file (not a pipe, socket or terminal); false when unusable. */
export function isRegularFile(fd: number): boolean {
  try {
    return fs.fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/** The queued parts as one Buffer (strings joined first: one encoding pass). */
function toBuffer(queue: readonly (string | Uint8Array)[]): Buffer {
  if (queue.length === 1) {
    const only = queue[0]!;
    return typeof only === 'string' ? utf8(only) : Buffer.from(only.buffer, only.byteOffset, only.byteLength);
  }
  if (queue.every((p): p is string => typeof p === 'string')) return utf8(queue.join(''));
  return Buffer.concat(queue.map((p) => (typeof p === 'string' ? utf8(p) : p)));
}

/**
 * `text` as UTF-8. Access-log text is nearly always ASCII, and then its latin1 bytes are the same:
 * a 64 KiB batch measured ~35–40 µs through V8's UTF-8 encoder and ~15–20 µs for the length check
 * plus the latin1 copy.
 */
export function utf8(text: string): Buffer {
  return Buffer.byteLength(text, 'utf8') === text.length
    ? Buffer.from(text, 'latin1')
    : Buffer.from(text, 'utf8');
}

/** Newlines in `text` (string or UTF-8 bytes; a newline byte is never part of another character). */
export function countLines(text: string | Uint8Array): number {
  let n = 0;
  if (typeof text === 'string') {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  } else {
    for (let i = text.indexOf(10); i >= 0; i = text.indexOf(10, i + 1)) n++;
  }
  return n;
}
