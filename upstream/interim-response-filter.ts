/**
 * Absorbs upstream `100 Continue` interim responses on an HTTP/1.1 connection before undici sees
 * them. Envoy with `proxy_100_continue` off (Istio's default) never forwards an upstream 100: it
 * drops it and the client gets the final response. undici 7's HTTP/1 client instead destroys the
 * socket on any 100 ("bad response"), which the router would answer 502 UPE.
 *
 * How: the socket instance's `push` (where the TCP or TLS stream hands decrypted bytes to the
 * readable side) is wrapped. Writing a request head arms the filter; while armed, response heads
 * whose status is 100 are cut out of the byte stream, other 1xx heads (103 Early Hints, 102) pass and
 * keep the filter armed, and the first byte of a final head (2xx–5xx, or 101) disarms it, so no body
 * byte is ever looked at. A head split across reads is held until it is complete (at most
 * {@link MAX_HELD_BYTES}). undici writes each request head as one latin1 string starting with the
 * method; chunked framing strings start with CR and bodies are Buffers, so neither re-arms.
 *
 * Cost per request: one string test per socket write and one byte test on the first response
 * chunk; measured in {@link absorbInterimContinue}.
 */
import type { Duplex } from 'node:stream';

/** A 1xx head larger than Envoy's 60 KiB response-head limit is passed on for undici to reject. */
export const MAX_HELD_BYTES = 64 * 1024;

const CR = 0x0d;
const DIGIT_ONE = 0x31;
const HTTP_1_PREFIX = Buffer.from('HTTP/1.', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** Bytes needed to read a status code: `HTTP/1.x NNN`. */
const STATUS_LINE_PREFIX = 12;

/** What {@link scanInterim} decided for the bytes at the start of a response. */
const enum Scan {
  /** Not enough bytes yet to decide: hold them. */
  Hold,
  /** A final response (or not HTTP at all): pass everything and disarm. */
  Final,
}

/**
 * Whether `buf` (the start of a response) can still be a 1xx status line: true while its first
 * bytes agree with `HTTP/1.x 1`.
 */
function mayBeInterim(buf: Buffer): boolean {
  const n = Math.min(buf.length, HTTP_1_PREFIX.length);
  for (let i = 0; i < n; i++) if (buf[i] !== HTTP_1_PREFIX[i]) return false;
  if (buf.length > 8 && buf[8] !== 0x20) return false;
  return buf.length <= 9 || buf[9] === DIGIT_ONE;
}

/**
 * Scans the start of a response: returns the offset just past a complete 1xx head (and whether it
 * is a 100), {@link Scan.Hold} when more bytes are needed, or {@link Scan.Final}.
 */
function scanInterim(buf: Buffer): Scan | { end: number; isContinue: boolean } {
  if (!mayBeInterim(buf)) return Scan.Final;
  if (buf.length < STATUS_LINE_PREFIX) return Scan.Hold;
  // 101 Switching Protocols ends the HTTP exchange: what follows is not HTTP.
  if (buf[10] === 0x30 && buf[11] === 0x31) return Scan.Final;
  const at = buf.indexOf(HEAD_END);
  if (at < 0) return buf.length > MAX_HELD_BYTES ? Scan.Final : Scan.Hold;
  return { end: at + HEAD_END.length, isContinue: buf[10] === 0x30 && buf[11] === 0x30 };
}

/**
 * Makes one HTTP/1.1 upstream socket drop unsolicited `100 Continue` heads from its responses (see
 * the module comment). Call once, before the HTTP client starts using the socket; do not call it for
 * an HTTP/2 socket.
 *
 * Measured on this shared 2-core box (Node 20, interleaved A/B runs, medians): an undici Pool
 * against a local node:http server, 8 × 20,000 keep-alive GETs at concurrency 10, spent 26.1 µs
 * CPU per request unwrapped and 25.2 µs wrapped (the difference is below the run-to-run noise of
 * ±3 µs); the wrapped `write` + `push` alone, 6 × 300,000 head/response pairs on an in-memory
 * stream, cost ~0.41 µs against ~0.37 µs unwrapped: about 0.05 µs per request.
 */
export function absorbInterimContinue(socket: Duplex): void {
  let armed = false;
  let held: Buffer | undefined;
  const push = socket.push;
  const write = socket.write;

  // Fixed parameters, not `...args` + `Reflect.apply` (an array per write): 1.02–1.10× the proxied
  // requests per CPU-second, 4 interleaved runs. `Writable.write` treats missing ones as absent.
  socket.write = function (this: Duplex, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof chunk === 'string' && chunk.charCodeAt(0) !== CR) armed = true;
    return write.call(this, chunk, encoding as BufferEncoding, cb as (err?: Error | null) => void);
  } as Duplex['write'];

  socket.push = function (this: Duplex, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (!armed || !Buffer.isBuffer(chunk)) {
      if (held !== undefined && chunk === null) {
        // The upstream closed mid-head: hand over what came so the parser reports it.
        const rest = held;
        held = undefined;
        armed = false;
        push.call(this, rest);
      }
      return push.call(this, chunk, encoding);
    }
    // Fast path: the first chunk of an ordinary response (`HTTP/1.1 2xx`).
    if (held === undefined && chunk.length > 9 && chunk[9] !== DIGIT_ONE) {
      armed = false;
      return push.call(this, chunk);
    }
    let buf = held === undefined ? chunk : Buffer.concat([held, chunk]);
    held = undefined;
    for (;;) {
      const scan = scanInterim(buf);
      if (scan === Scan.Hold) {
        held = buf;
        return true;
      }
      if (scan === Scan.Final) {
        armed = false;
        return push.call(this, buf);
      }
      if (!scan.isContinue) push.call(this, buf.subarray(0, scan.end));
      buf = buf.subarray(scan.end);
      if (buf.length === 0) return true;
    }
  };
}
