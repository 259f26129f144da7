/**
 * An incremental parser of the HTTP/1.1 responses on one upstream connection (RFC 9112): status
 * line and header section, then the body as the head frames it (content-length, chunked with
 * trailers, or until the connection closes), for the HTTP/1.1 pool (h1-pool.ts).
 *
 * Strict where a lenient reading would let one response be mistaken for another (response
 * splitting): lines end in CRLF, header names are tokens, values carry no control characters,
 * `content-length` is digits and agrees with any repeat, and `transfer-encoding` next to
 * `content-length` is refused. Errors carry llhttp's `HPE_*` codes and undici's
 * `UND_ERR_HEADERS_OVERFLOW`, which the router classifies as a protocol error (502, UPE), as
 * Envoy's codec refuses such a response.
 *
 * Why our own: undici's client costs ~10 µs of CPU per proxied request more than a node:net
 * connection with this parser (bench/minimal-proxy.ts against the same proxy with this client,
 * interleaved on one core: 31.7 against 22.3 µs per request).
 */

/** Envoy's upstream response head limit (`max_response_headers_kb` default 60 KiB), bytes; trailers too. */
export const MAX_RESPONSE_HEAD_BYTES = 60 * 1024;
/** Longest chunk-size line or trailer line, bytes. */
const MAX_LINE_BYTES = 8 * 1024;

/** A response the parser refuses; `code` is llhttp's name for the fault. */
export class ResponseParseError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ResponseParseError';
  }
}

/** What the parser reports to (the pool's connection). */
export interface Http1ResponseSink {
  /**
   * A complete response head: interim (1xx) heads first, then the final one.
   * @param raw flat `[name, value, …]` list, names as sent, values without surrounding whitespace.
   */
  onResponseHead(status: number, reason: string, raw: string[]): void;
  /** Body bytes (a slice of the buffer fed in; copy it to keep it past the call). */
  onResponseBody(chunk: Buffer): void;
  /** The response is complete. @param trailers flat list of chunked trailers, or null. */
  onResponseEnd(trailers: string[] | null): void;
  /**
   * While true (set in a callback), execute() returns after that callback with the bytes used so
   * far; the caller feeds the rest once it resumes (undici's pause).
   */
  readonly paused?: boolean;
}

const enum Phase {
  /** Waiting for a response: bytes here are unexpected. */
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
}

/** A header name: RFC 9110 token characters only. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters a trailer line may not carry (HTAB allowed). */
const BAD_LINE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Bytes a head line may not carry: control characters other than HTAB (CR and LF included). */
const CONTROL = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) if (c !== 0x09) CONTROL[c] = 1;
CONTROL[0x7f] = 1;
/** RFC 9110 token characters (header names). */
const TCHAR = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[ch.charCodeAt(0)] = 1;
}
const CR = 0x0d;
const COLON = 0x3a;
const DIGITS = /^\d{1,15}$/;
const HEX = /^[0-9a-fA-F]{1,12}$/;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const LF = 0x0a;

/** Parses the responses of one connection, one at a time. */
export class Http1ResponseParser {
  private phase = Phase.Idle;
  /** Reads of a head not yet complete, and their total length. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private heldLine = '';
  private left = 0;
  private noBody = false;
  private trailers: string[] | null = null;
  /** Bytes of trailer lines so far: they count against the head limit too. */
  private trailerBytes = 0;
  /** Whether the connection may carry another request after this response (set by the head). */
  keepAlive = true;
  /** Seconds from the last response's `keep-alive: timeout=N`, or -1. */
  keepAliveHintS = -1;

  constructor(private readonly sink: Http1ResponseSink) {}

  /** Whether a response is being read (a request is outstanding). */
  get busy(): boolean {
    return this.phase !== Phase.Idle;
  }

  /**
   * Expects the response to the request just written.
   * @param noBody the request was HEAD: the final head ends the response whatever it announces.
   */
  expect(noBody: boolean): void {
    this.phase = Phase.Head;
    this.noBody = noBody;
    if (this.heldBytes !== 0) {
      this.held = [];
      this.heldBytes = 0;
    }
    this.heldLine = '';
    this.trailers = null;
    this.trailerBytes = 0;
    this.keepAliveHintS = -1;
  }

  /**
   * Feeds bytes read from the connection.
   * @returns how many bytes were used; fewer than `buf.length` when the response ended inside
   *   `buf` (the rest is unexpected data: the caller closes the connection) or the sink paused.
   * @throws ResponseParseError on a malformed or oversized response.
   */
  execute(buf: Buffer): number {
    let i = 0;
    const n = buf.length;
    while (i < n && this.sink.paused !== true) {
      switch (this.phase) {
        case Phase.Idle:
          return i;
        case Phase.Head:
          i = this.readHead(buf, i);
          break;
        case Phase.Length: {
          const take = Math.min(this.left, n - i);
          this.left -= take;
          this.sink.onResponseBody(i === 0 && take === n ? buf : buf.subarray(i, i + take));
          i += take;
          if (this.left === 0) this.end(null);
          break;
        }
        case Phase.UntilClose:
          this.sink.onResponseBody(i === 0 ? buf : buf.subarray(i));
          return n;
        case Phase.ChunkData: {
          const take = Math.min(this.left, n - i);
          this.left -= take;
          this.sink.onResponseBody(buf.subarray(i, i + take));
          i += take;
          if (this.left === 0) this.phase = Phase.ChunkDataEnd;
          break;
        }
        default:
          i = this.readLine(buf, i);
      }
    }
    return i;
  }

  /**
   * The connection was closed by the upstream.
   * @returns true when that completed the response (a body read until close), false when no
   *   response was outstanding or it was cut short (the caller reports a reset).
   */
  eof(): boolean {
    if (this.phase !== Phase.UntilClose) return false;
    this.end(null);
    return true;
  }

  private end(trailers: string[] | null): void {
    this.phase = Phase.Idle;
    this.sink.onResponseEnd(trailers);
  }

  private readHead(buf: Buffer, from: number): number {
    if (this.heldBytes === 0) {
      // The common case: the whole head in one read, found and checked in one pass.
      const end = scanHead(buf, from);
      if (end >= 0) {
        if (end - from > MAX_RESPONSE_HEAD_BYTES) throw headersOverflow();
        this.parseHead(buf.toString('latin1', from, end - 2));
        return end;
      }
      if (end === SCAN_INVALID) throw invalidHead();
      return this.hold(buf, from);
    }
    // A head split across reads: its end is looked for in the new bytes only (and where they meet
    // the held ones), and the pieces are joined once, so a head trickling in costs linear time.
    const fresh = buf.subarray(from);
    const tail = lastBytes(this.held, 3);
    const joint = Buffer.concat([tail, fresh.subarray(0, 3)]).indexOf(CRLFCRLF);
    const inFresh = joint >= 0 ? -1 : fresh.indexOf(CRLFCRLF);
    // Offset in `fresh` just past the blank line.
    const end = joint >= 0 ? joint + 4 - tail.length : inFresh >= 0 ? inFresh + 4 : -1;
    if (end < 0) return this.hold(buf, from);
    const data = Buffer.concat([...this.held, fresh.subarray(0, end)]);
    this.held = [];
    this.heldBytes = 0;
    if (data.length > MAX_RESPONSE_HEAD_BYTES) throw headersOverflow();
    if (scanHead(data, 0) !== data.length) throw invalidHead();
    this.parseHead(data.toString('latin1', 0, data.length - 2));
    // Bytes of `buf` consumed: everything up to the head's end.
    return from + end;
  }

  /** Keeps the start of a head until the rest arrives. @returns the bytes of `buf` used (all). */
  private hold(buf: Buffer, from: number): number {
    this.held.push(buf.subarray(from));
    this.heldBytes += buf.length - from;
    if (this.heldBytes > MAX_RESPONSE_HEAD_BYTES) throw headersOverflow();
    return buf.length;
  }

  /**
   * Parses `text`: the status line and header lines, each ending in CRLF, as {@link scanHead} just
   * checked and marked them.
   */
  private parseHead(text: string): void {
    // `HTTP/1.x SSS[ reason]`
    if (
      !text.startsWith('HTTP/1.') ||
      (text.charCodeAt(7) !== 0x31 && text.charCodeAt(7) !== 0x30) ||
      text.charCodeAt(8) !== 0x20
    ) {
      throw new ResponseParseError('HPE_INVALID_CONSTANT', 'response does not start with HTTP/1.x');
    }
    const http10 = text.charCodeAt(7) === 0x30;
    const status = statusOf(text);
    const eol = statusLineEnd;
    const reason = eol > 13 ? text.slice(13, eol) : '';
    const raw: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let transferEncoding = false;
    let close = http10;
    // A `close` token wins over any `keep-alive`, whichever Connection header comes first.
    let closeToken = false;
    let hint = -1;
    // Header lines as scanHead marked them: colon and CR offsets, relative to the head's start.
    const lines = markedLines;
    for (let k = 0; k < lines; k++) {
      const colon = marks[2 * k]!;
      const name = text.slice(k === 0 ? eol + 2 : marks[2 * k - 1]! + 2, colon);
      const value = trimOws(text, colon + 1, marks[2 * k + 1]!);
      raw.push(name, value);
      switch (name.length) {
        case 10: {
          const lower = name.toLowerCase();
          if (lower === 'connection') {
            // What node and most servers send, without lowercasing or splitting.
            if (value === 'keep-alive') {
              if (!closeToken) close = false;
            } else if (value === 'close') close = closeToken = true;
            else {
              const v = value.toLowerCase();
              if (hasToken(v, 'close')) close = closeToken = true;
              else if (!closeToken && hasToken(v, 'keep-alive')) close = false;
            }
          } else if (lower === 'keep-alive') hint = keepAliveTimeoutOf(value);
          break;
        }
        case 14:
          if (name.toLowerCase() === 'content-length') {
            if (!DIGITS.test(value) || (contentLength >= 0 && Number(value) !== contentLength)) {
              throw new ResponseParseError(
                'HPE_UNEXPECTED_CONTENT_LENGTH',
                `invalid content-length ${JSON.stringify(value)}`,
              );
            }
            contentLength = Number(value);
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            transferEncoding = true;
            // Only `chunked` as the final coding frames the body; anything else runs to the close.
            chunked = lastToken(value.toLowerCase()) === 'chunked';
          }
          break;
        default:
      }
    }
    if (transferEncoding && contentLength >= 0) {
      throw new ResponseParseError(
        'HPE_UNEXPECTED_CONTENT_LENGTH',
        'response has both transfer-encoding and content-length',
      );
    }
    this.keepAliveHintS = hint;
    if (status < 200) {
      // An interim head; the final one follows on the same request. 101 ends HTTP on the
      // connection: the caller, which did not ask for an upgrade, refuses it.
      this.keepAlive = false;
      this.sink.onResponseHead(status, reason, raw);
      if (status === 101) this.phase = Phase.Idle;
      return;
    }
    this.keepAlive = !close;
    if (this.noBody || status === 204 || status === 304) {
      this.phase = Phase.Idle;
      this.sink.onResponseHead(status, reason, raw);
      if (this.phase === Phase.Idle) this.sink.onResponseEnd(null);
      return;
    }
    if (chunked) this.phase = Phase.ChunkSize;
    else if (contentLength >= 0) {
      this.phase = Phase.Length;
      this.left = contentLength;
    } else {
      // No length, or a transfer coding other than chunked last: the body runs to the close.
      this.phase = Phase.UntilClose;
      this.keepAlive = false;
    }
    this.sink.onResponseHead(status, reason, raw);
    if (this.phase === Phase.Length && this.left === 0) this.end(null);
  }

  /** Reads one CRLF-terminated line of the chunked framing (size, data end, trailer). */
  private readLine(buf: Buffer, from: number): number {
    const nl = buf.indexOf(LF, from);
    const stop = nl < 0 ? buf.length : nl;
    this.heldLine += buf.toString('latin1', from, stop);
    if (this.heldLine.length > MAX_LINE_BYTES) {
      throw new ResponseParseError('HPE_INVALID_CHUNK_SIZE', 'chunk framing line too long');
    }
    if (nl < 0) return buf.length;
    const line = this.heldLine;
    this.heldLine = '';
    if (line.charCodeAt(line.length - 1) !== 0x0d) {
      throw new ResponseParseError('HPE_LF_EXPECTED', 'chunk framing line not ended by CRLF');
    }
    this.onLine(line.slice(0, -1));
    return nl + 1;
  }

  private onLine(line: string): void {
    switch (this.phase) {
      case Phase.ChunkSize: {
        const semi = line.indexOf(';');
        const hex = semi < 0 ? line : trimOws(line, 0, semi);
        if (!HEX.test(hex)) throw new ResponseParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
        this.left = parseInt(hex, 16);
        this.phase = this.left === 0 ? Phase.Trailers : Phase.ChunkData;
        return;
      }
      case Phase.ChunkDataEnd:
        if (line !== '') throw new ResponseParseError('HPE_STRICT', 'chunk data not followed by CRLF');
        this.phase = Phase.ChunkSize;
        return;
      default: {
        // Trailers: field lines until an empty line.
        if (line === '') return this.end(this.trailers);
        this.trailerBytes += line.length + 2;
        if (this.trailerBytes > MAX_RESPONSE_HEAD_BYTES) throw headersOverflow();
        const colon = line.indexOf(':');
        const name = colon < 0 ? '' : line.slice(0, colon);
        if (!TOKEN.test(name) || BAD_LINE_CHAR.test(line)) {
          throw new ResponseParseError('HPE_INVALID_HEADER_TOKEN', 'invalid trailer field');
        }
        (this.trailers ??= []).push(name, trimOws(line, colon + 1, line.length));
      }
    }
  }
}

function headersOverflow(): ResponseParseError {
  const err = new ResponseParseError('UND_ERR_HEADERS_OVERFLOW', 'response head larger than 60 KiB');
  return err;
}

/** The three-digit status code at offset 9 of a status line. */
function statusOf(text: string): number {
  const a = text.charCodeAt(9) - 48;
  const b = text.charCodeAt(10) - 48;
  const c = text.charCodeAt(11) - 48;
  const after = text.charCodeAt(12);
  if (!(a >= 1 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9) || (after !== 0x20 && after !== 0x0d)) {
    throw new ResponseParseError('HPE_INVALID_STATUS', 'invalid response status');
  }
  return a * 100 + b * 10 + c;
}

/** `text[from, to)` without leading and trailing spaces and tabs. */
function trimOws(text: string, from: number, to: number): string {
  let a = from;
  let b = to;
  while (a < b && (text.charCodeAt(a) === 0x20 || text.charCodeAt(a) === 0x09)) a++;
  while (b > a && (text.charCodeAt(b - 1) === 0x20 || text.charCodeAt(b - 1) === 0x09)) b--;
  return text.slice(a, b);
}

/** Whether the comma-separated list `lower` (lowercase) holds `token`. */
function hasToken(lower: string, token: string): boolean {
  if (lower === token) return true;
  for (const t of lower.split(',')) if (t.trim() === token) return true;
  return false;
}

function lastToken(lower: string): string {
  const comma = lower.lastIndexOf(',');
  return (comma < 0 ? lower : lower.slice(comma + 1)).trim();
}

let lastKeepAlive = '';
let lastKeepAliveS = -1;

/**
 * `timeout=N` of a `Keep-Alive` header, seconds; -1 when absent or malformed. An upstream sends
 * the same value on every response: the last one is remembered.
 */
function keepAliveTimeoutOf(value: string): number {
  if (value === lastKeepAlive) return lastKeepAliveS;
  const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(value);
  lastKeepAlive = value;
  lastKeepAliveS = m === null ? -1 : Number(m[1]);
  return lastKeepAliveS;
}

/** Most header lines of an upstream response (Envoy's `max_headers_count` default, 100). */
const MAX_RESPONSE_HEADERS = 100;
/** {@link scanHead}: the bytes end before the head does. */
const SCAN_INCOMPLETE = -1;
/** {@link scanHead}: a byte or line a head may not carry. */
const SCAN_INVALID = -2;
/** Offset of the status line's CR, relative to the head's start (set by {@link scanHead}). */
let statusLineEnd = 0;
/** Header lines {@link scanHead} marked. */
let markedLines = 0;
/** Per header line: the colon's offset, then the CR's, relative to the head's start. */
const marks = new Int32Array(2 * MAX_RESPONSE_HEADERS);

/**
 * Finds and checks a response head starting at `buf[from]` in one pass: a status line of
 * non-control bytes (HTAB allowed), then header lines of a token name, a colon and a value
 * without control characters, each ended by CRLF, then an empty line. Marks the lines for
 * {@link Http1ResponseParser.parseHead}. One pass instead of a search for the blank line, a
 * control-character scan and a regular expression per name: about half the cost of the head.
 * @returns the offset just past the blank line, {@link SCAN_INCOMPLETE} or {@link SCAN_INVALID}.
 */
function scanHead(buf: Buffer, from: number): number {
  const n = buf.length;
  let i = from;
  while (i < n && CONTROL[buf[i]!] === 0) i++;
  if (i + 1 >= n) return SCAN_INCOMPLETE;
  if (buf[i] !== CR || buf[i + 1] !== LF) return SCAN_INVALID;
  statusLineEnd = i - from;
  i += 2;
  let k = 0;
  for (;;) {
    const lineStart = i;
    while (i < n && TCHAR[buf[i]!] === 1) i++;
    if (i >= n) return SCAN_INCOMPLETE;
    const c = buf[i];
    if (c === CR) {
      // The blank line ending the head (a name without a colon is not one).
      if (i !== lineStart) return SCAN_INVALID;
      if (i + 1 >= n) return SCAN_INCOMPLETE;
      if (buf[i + 1] !== LF) return SCAN_INVALID;
      markedLines = k;
      return i + 2;
    }
    if (c !== COLON || i === lineStart || k === MAX_RESPONSE_HEADERS) return SCAN_INVALID;
    marks[2 * k] = i - from;
    i++;
    while (i < n && CONTROL[buf[i]!] === 0) i++;
    if (i + 1 >= n) return SCAN_INCOMPLETE;
    if (buf[i] !== CR || buf[i + 1] !== LF) return SCAN_INVALID;
    marks[2 * k + 1] = i - from;
    k++;
    i += 2;
  }
}

/** The last `n` bytes held across `chunks` (fewer when they hold fewer). */
function lastBytes(chunks: readonly Buffer[], n: number): Buffer {
  const parts: Buffer[] = [];
  let need = n;
  for (let i = chunks.length - 1; i >= 0 && need > 0; i--) {
    const c = chunks[i]!;
    const take = Math.min(need, c.length);
    parts.unshift(c.subarray(c.length - take));
    need -= take;
  }
  return Buffer.concat(parts);
}

function invalidHead(): ResponseParseError {
  return new ResponseParseError(
    'HPE_INVALID_HEADER_TOKEN',
    'response head with a control character, a bare CR or LF, an invalid name or over 100 headers',
  );
}
