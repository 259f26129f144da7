/**
 * The access log of a `--concurrency` worker on its way to stdout: each worker writes its batches of
 * whole lines to a stream socket of its own (a socketpair node:cluster creates as an extra stdio
 * entry, {@link ACCESS_LOG_FD} in the worker), and the primary, stdout's only writer, reads every
 * worker's socket and writes the whole lines it holds. Lines of different workers never interleave,
 * whatever their length and whatever stdout is (pipe, file, socket, terminal).
 *
 * Why not node:cluster's IPC channel, as before: a 64 KiB batch sent as an IPC message cost the
 * primary 6–7 µs per request on these machines (about all of what two workers cost above one,
 * `bench/README.md`): the message is serialized and deserialized as a whole, the string is decoded
 * and re-encoded, and Node 20 reassembles a large `advanced` message by concatenating every chunk
 * read so far. Here the primary only moves bytes: one read per chunk, a search for the last newline,
 * and the write it would do anyway.
 *
 * Why not every worker writing stdout itself: a pipe keeps a write whole only up to PIPE_BUF
 * (4 KiB) and a line can be longer (a long path or user agent), so two workers could split each
 * other's lines; batches of at most 4 KiB would also mean one system call per few requests. And
 * stdout's non-blocking flag is shared by every process holding the pipe: node:cluster (libuv)
 * clears it on fds 0–2 of each worker it starts, after which a write to a full pipe blocks the
 * writer's event loop.
 */
import net from 'node:net';
import type { Readable } from 'node:stream';
import { LOG_MAX_QUEUED_CHARS, type LogSink } from '../telemetry/access-log.js';
import { countLines } from '../telemetry/log-file.js';

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
    this.socket.write(text, (err) => {
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

/** Where the primary puts a worker's lines (`LogFile`, stdout's writer, is one). */
interface LineWriter {
  /** Takes UTF-8 bytes made of whole lines. */
  write(bytes: Uint8Array): void;
}

/**
 * Reads one worker's access-log socket in the primary and hands `out` the whole lines of each
 * chunk read; a line cut by a chunk boundary waits for its end. A last line without its newline
 * when the socket ends (the worker was killed in the middle of a write) is dropped and counted.
 * @returns resolves once the socket has closed and everything read was handed over.
 */
export function readWorkerLog(
  socket: Readable,
  out: LineWriter,
  onDrop: (lines: number) => void,
): Promise<void> {
  /** Bytes after the last newline read so far: the start of a line still arriving. */
  let tail: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    let rest = chunk;
    if (tail !== undefined) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        tail = Buffer.concat([tail, chunk]);
        return;
      }
      out.write(Buffer.concat([tail, chunk.subarray(0, nl + 1)]));
      tail = undefined;
      rest = chunk.subarray(nl + 1);
    }
    const end = rest.lastIndexOf(10) + 1;
    // A copy, so that the chunk it came from is not held while the line is incomplete.
    if (end < rest.length) tail = Buffer.from(rest.subarray(end));
    if (end > 0) out.write(end === rest.length ? rest : rest.subarray(0, end));
  });
  // A reset by a dying worker ends the stream like its end; `close` follows either.
  socket.on('error', () => undefined);
  return new Promise((resolve) =>
    socket.once('close', () => {
      if (tail !== undefined) onDrop(1);
      resolve();
    }),
  );
}
