/**
 * The access log of a `--concurrency` worker on its way to stdout: each worker writes its batches of
 * whole lines to a stream socket of its own (a socketpair node:cluster creates as an extra stdio
 * entry, {@link ACCESS_LOG_FD} in the worker), and the primary, stdout's only writer, reads every
 * worker's socket and writes the whole lines it holds. Lines of different workers never interleave,
 * whatever their length and whatever stdout is (pipe, socket, terminal).
 *
 * Why not node:cluster's IPC channel, as before: each 64 KiB batch was serialized into a message,
 * deserialized whole by the primary, and its text decoded and encoded again for stdout. Here the
 * primary only moves bytes: a read, a search for the last newline, the write to stdout a single
 * process does as well. What the primary still pays for is mostly waking up: see
 * {@link LOG_READ_INTERVAL_MS}. Figures (primary's CPU per request, before and after) in
 * `bench/README.md`, section Workers.
 *
 * Except when stdout is a regular file: then the primary passes that file to each worker at
 * {@link ACCESS_LOG_FD} instead of a socket, and the workers write their batches to it directly.
 * They share one open file, and Linux serializes writes to a regular file's shared offset, so
 * whole-line batches never overlap; the primary copies nothing (measured with `bench/workers.js`:
 * the primary's CPU per request went from ~1.5–2 µs to ~0.6, as with the access log off).
 *
 * Why not every worker writing a pipe itself: a pipe keeps a write whole only up to PIPE_BUF
 * (4 KiB) and a line can be longer (a long path or user agent), so two workers could split each
 * other's lines; batches of at most 4 KiB would also mean one system call per few requests. And
 * stdout's non-blocking flag is shared by every process holding the pipe: node:cluster (libuv)
 * clears it on fds 0–2 of each worker it starts, after which a write to a full pipe blocks the
 * writer's event loop.
 */
import net from 'node:net';
import type { Readable } from 'node:stream';
import { LOG_MAX_QUEUED_CHARS, type LogSink } from '../telemetry/access-log.js';
import { countLines, utf8 } from '../telemetry/log-file.js';

/** The worker's end of its access-log socket: the index of the `'pipe'` entry in the fork's stdio. */
export const ACCESS_LOG_FD = 4;

/**
 * The access log's writer in a worker: batches of whole lines, written in order to
 * {@link ACCESS_LOG_FD} (Node tries each write at once on the event loop; what the socket does not
 * take yet is queued). Past {@link LOG_MAX_QUEUED_CHARS} not yet written (a primary that stopped
 * reading), lines are dropped and counted, as the file writer does; so are lines after the socket
 * failed (the primary is gone).
 */
export class WorkerLogSink implements LogSink {
  private readonly socket: net.Socket;
  /** Characters handed to the socket whose write has not completed. */
  private pendingChars = 0;
  private waiters: (() => void)[] = [];
  private broken = false;

  /** @param onDrop called with the number of lines dropped. */
  constructor(private readonly onDrop: (lines: number) => void) {
    this.socket = new net.Socket({ fd: ACCESS_LOG_FD, readable: false, writable: true });
    // Exit waits on pending writes (they are requests of the event loop), not on the open socket.
    this.socket.unref();
    this.socket.on('error', () => {
      this.broken = true;
    });
  }

  /** {@link LogSink.write}. */
  write(text: string): void {
    if (this.broken || this.pendingChars + text.length > LOG_MAX_QUEUED_CHARS) {
      this.onDrop(countLines(text));
      return;
    }
    this.pendingChars += text.length;
    this.socket.write(utf8(text), (err) => {
      if (err) this.onDrop(countLines(text));
      this.pendingChars -= text.length;
      if (this.pendingChars === 0) for (const w of this.waiters.splice(0)) w();
    });
  }

  /** {@link LogSink.drained}. */
  drained(): Promise<void> {
    if (this.pendingChars === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** {@link LogSink.close}: ends the socket (the primary reads to its end). */
  close(): void {
    this.socket.end();
  }
}

/** Where the primary puts the workers' lines (`LogFile`, stdout's writer, is one). */
interface LineWriter {
  /** Takes UTF-8 bytes made of whole lines. */
  write(bytes: Uint8Array): void;
}

/**
 * How often the primary reads its workers' sockets, ms. Read whenever data arrives, a worker's
 * 64 KiB write reaches the primary in several pieces, each a wake-up (and each stdout write one
 * more, through libuv's thread pool): `strace -c` counted some 700 socket reads a second at
 * 19,000 requests/s, and on these virtual machines waking an idle process costs tens of µs
 * (`perf`: a quarter of the primary's samples in the scheduler's switch-in). Read in bursts
 * instead: every interval, every socket is read as far as it holds data and the lines go to stdout
 * in one write. 20 ms of a busy worker's lines (~130 KiB at 15,000 requests/s of ~450-byte lines)
 * fit in a socket's kernel buffer (~208 KiB), so workers rarely wait; a worker's lines already
 * wait up to a second in its own batch.
 */
export const LOG_READ_INTERVAL_MS = 20;

/** One worker's socket as the reader tracks it. */
interface Channel {
  readonly socket: Readable;
  /** Bytes after the last newline read so far: the start of a line still arriving. */
  tail: Buffer | undefined;
}

/**
 * The primary's side: reads every worker's access-log socket in bursts (see
 * {@link LOG_READ_INTERVAL_MS}) and hands `out` the whole lines read, once per burst. A line cut
 * by a read boundary waits for its end. A last line without its newline when a socket ends (the
 * worker was killed in the middle of a write) is dropped and counted.
 */
export class WorkerLogReader {
  private readonly channels = new Set<Channel>();
  /** Whole lines read in the current burst, in order per worker. */
  private parts: Uint8Array[] = [];
  private inBurst = false;
  private resumeTimer: NodeJS.Timeout | undefined;

  /**
   * @param out where whole lines go (stdout's writer).
   * @param onDrop called with the number of lines dropped.
   * @param intervalMs pause between bursts; {@link LOG_READ_INTERVAL_MS} unless given.
   */
  constructor(
    private readonly out: LineWriter,
    private readonly onDrop: (lines: number) => void,
    private readonly intervalMs = LOG_READ_INTERVAL_MS,
  ) {}

  /**
   * Reads `socket` (a worker's end of its channel, as the primary holds it) until it closes.
   * @returns resolves once it has closed and everything read from it was handed to `out`.
   */
  add(socket: Readable): Promise<void> {
    const ch: Channel = { socket, tail: undefined };
    this.channels.add(ch);
    if (this.resumeTimer !== undefined) socket.pause();
    socket.on('data', (chunk: Buffer) => this.onChunk(ch, chunk));
    // A reset by a dying worker ends the stream like its end; `close` follows either.
    socket.on('error', () => undefined);
    return new Promise((resolve) =>
      socket.once('close', () => {
        this.channels.delete(ch);
        if (ch.tail !== undefined) this.onDrop(1);
        this.endBurst();
        resolve();
      }),
    );
  }

  private onChunk(ch: Channel, chunk: Buffer): void {
    if (!this.inBurst) {
      // Every read libuv does for this wake-up happens before the check phase.
      this.inBurst = true;
      setImmediate(() => this.endBurst());
    }
    let rest = chunk;
    if (ch.tail !== undefined) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        ch.tail = Buffer.concat([ch.tail, chunk]);
        return;
      }
      this.parts.push(Buffer.concat([ch.tail, chunk.subarray(0, nl + 1)]));
      ch.tail = undefined;
      rest = chunk.subarray(nl + 1);
    }
    const end = rest.lastIndexOf(10) + 1;
    // A copy, so that the chunk it came from is not held while the line is incomplete.
    if (end < rest.length) ch.tail = Buffer.from(rest.subarray(end));
    if (end > 0) this.parts.push(end === rest.length ? rest : rest.subarray(0, end));
  }

  /** Hands over the burst's lines, pauses every socket and resumes them after the interval. */
  private endBurst(): void {
    this.inBurst = false;
    const parts = this.parts;
    if (parts.length > 0) {
      this.parts = [];
      this.out.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    }
    if (this.resumeTimer !== undefined || this.channels.size === 0) return;
    for (const ch of this.channels) ch.socket.pause();
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      for (const ch of this.channels) ch.socket.resume();
    }, this.intervalMs);
  }
}
