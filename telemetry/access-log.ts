/**
 * Access logs: one record per HTTP request or TCP connection, with Envoy's default fields, as JSON
 * (Istio's JSON encoding; the default here) or Envoy's default text line.
 *
 * Cost. Lines are built with string templates (no intermediate object; a string is escaped only
 * when it holds a character JSON must escape), JSON lines mostly from cached runs of the fields
 * that repeat between requests ({@link JsonRun}), and collected in memory; a batch goes to the file
 * writer (`log-file.ts`) once it holds {@link LOG_BATCH_CHARS} characters, and at least every
 * {@link LOG_FLUSH_INTERVAL_MS} (Envoy's file access log also buffers; Istio starts Envoy with
 * `--file-flush-interval-msec 1000`). Measured on these machines: handing pino's sonic-boom one
 * line per request cost about 7 µs a line (it measures the byte length of its whole pending buffer
 * on every write), and each asynchronous file write costs about 10 µs besides its bytes, hence
 * large batches.
 */
import { LogFile } from './log-file.js';

/** What the data path records about one stream (Envoy `StreamInfo`). Times in ms. */
export interface StreamRecord {
  /** Epoch ms when the request started. */
  startTime: number;
  method: string;
  /** Original path (before rewrites). */
  path: string;
  protocol: string;
  responseCode: number;
  responseFlags: string;
  responseCodeDetails: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  /** Upstream time to first byte of the response, ms; undefined when no upstream answered. */
  upstreamServiceTimeMs: number | undefined;
  xForwardedFor: string | undefined;
  userAgent: string | undefined;
  requestId: string | undefined;
  authority: string | undefined;
  upstreamHost: string | undefined;
  upstreamCluster: string | undefined;
  routeName: string | undefined;
  downstreamRemoteAddress: string | undefined;
  downstreamLocalAddress: string | undefined;
  requestedServerName: string | undefined;
  /** `grpc-status` a gRPC stream ended with (upstream trailers or a gRPC local reply); absent otherwise. */
  grpcStatus?: string;
  /**
   * Whether the stream came in on the mesh (sidecar outbound) listener, when the recorder knows it
   * (the HTTP connection manager does); absent, consumers tell it from `downstreamLocalAddress`.
   */
  meshListener?: boolean;
}

export type AccessLogFormat = 'json' | 'text' | 'off';

export interface AccessLogger {
  readonly enabled: boolean;
  /** Records one stream. The logger may keep `r` until it is written: pass a fresh object, never change it. */
  log(r: StreamRecord): void;
  /** Resolves once every line logged so far is written. */
  flush(): Promise<void>;
  /**
   * Flushes and stops the flush timer; resolves when the last line is written, or after
   * {@link LOG_CLOSE_TIMEOUT_MS} when the destination is stalled. Do not log afterwards.
   */
  close(): Promise<void>;
}

/** Records are formatted this many at a time (and on every timer tick and flush). */
export const LOG_BATCH_RECORDS = 128;
/** Formatted text is handed to the file writer once it holds this many characters. */
const LOG_BATCH_CHARS = 64 * 1024;
/** Buffered lines are written at least this often, ms (a quiet gateway's lines still show up). */
const LOG_FLUSH_INTERVAL_MS = 1000;
/** Longest `close()` waits for the last lines to be written, ms. */
export const LOG_CLOSE_TIMEOUT_MS = 2000;
/**
 * Most characters queued for a destination that does not keep up (a stalled pipe); further lines
 * are dropped and counted by `onDrop` rather than growing memory without bound.
 */
export const LOG_MAX_QUEUED_CHARS = 16 * 1024 * 1024;

/** Optional hooks of {@link createAccessLogger}. */
interface AccessLoggerOptions {
  /** Called with the number of lines dropped ({@link LOG_MAX_QUEUED_CHARS} reached, or a write error). */
  readonly onDrop?: (lines: number) => void;
  /**
   * Where formatted batches go instead of a file descriptor (a worker hands them to the primary,
   * which owns stdout, so lines of different workers never interleave).
   */
  readonly sink?: LogSink;
}

/** The writer side of the access log: whole lines in, written in order. `LogFile` is one. */
export interface LogSink {
  /** Takes text made of whole lines. */
  write(text: string): void;
  /** Resolves once everything written so far has left (or was dropped). */
  drained(): Promise<void>;
  /** Releases the destination; call after {@link drained}. */
  close(): void;
}

const OFF: AccessLogger = {
  enabled: false,
  log: () => undefined,
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/**
 * Creates the access logger.
 * @param format `json` (Envoy field names as Istio's JSON encoding uses them), `text` (Envoy's default
 *   format line), or `off`.
 * @param dest file descriptor or path; default stdout.
 */
export function createAccessLogger(
  format: AccessLogFormat,
  dest: number | string = 1,
  opts: AccessLoggerOptions = {},
): AccessLogger {
  if (format === 'off') return OFF;
  const file = opts.sink ?? new LogFile(dest, { maxQueuedChars: LOG_MAX_QUEUED_CHARS, onDrop: opts.onDrop });
  return new BatchedAccessLogger(format === 'text' ? formatText : formatJson, file);
}

/**
 * Keeps records, formats them {@link LOG_BATCH_RECORDS} at a time, and hands the text to the writer
 * in batches of about {@link LOG_BATCH_CHARS}. Formatting a batch in one loop measured about 5% of
 * a proxied request cheaper than formatting each record when its request ends (the formatting code
 * and its data stay in cache).
 */
class BatchedAccessLogger implements AccessLogger {
  readonly enabled = true;
  /** Records not yet formatted (the data path hands over fresh objects and never changes them). */
  private records: StreamRecord[] = [];
  /** Formatted text not yet handed to the writer. */
  private chunks: string[] = [];
  private chunkChars = 0;
  private readonly timer: NodeJS.Timeout;
  /** After close(): a late record is written at once (no timer is left to write it). */
  private closed = false;

  constructor(
    private readonly format: (r: StreamRecord) => string,
    private readonly file: LogSink,
  ) {
    this.timer = setInterval(() => this.hand(), LOG_FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  log(r: StreamRecord): void {
    const n = this.records.push(r);
    if (this.closed) this.hand();
    else if (n >= LOG_BATCH_RECORDS) this.formatRecords();
  }

  private formatRecords(): void {
    const records = this.records;
    if (records.length === 0) return;
    this.records = [];
    const format = this.format;
    let text = '';
    for (let i = 0; i < records.length; i++) text += format(records[i]!);
    this.chunks.push(text);
    this.chunkChars += text.length;
    if (this.chunkChars >= LOG_BATCH_CHARS) this.write();
  }

  /** Formats what is left and gives everything to the writer (timer, flush). */
  private hand(): void {
    this.formatRecords();
    this.write();
  }

  /** Gives the formatted text to the writer, which writes it asynchronously. */
  private write(): void {
    if (this.chunks.length === 0) return;
    const batch = this.chunks.length === 1 ? this.chunks[0]! : this.chunks.join('');
    this.chunks = [];
    this.chunkChars = 0;
    this.file.write(batch);
  }

  flush(): Promise<void> {
    this.hand();
    return this.file.drained();
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    this.closed = true;
    // A stalled destination (nobody reading the stdout pipe) must not hold shutdown forever.
    return new Promise<void>((resolve) => {
      const deadline = setTimeout(resolve, LOG_CLOSE_TIMEOUT_MS);
      deadline.unref();
      void this.flush().then(() => {
        clearTimeout(deadline);
        this.file.close();
        resolve();
      });
    });
  }
}

/** Characters JSON.stringify would escape (or that may be escaped: non-ASCII is rare in these fields). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

/** A JSON string literal; plain ASCII is quoted without JSON.stringify (twice as fast for these fields). */
function json(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/**
 * A run of a JSON line that depends on up to four string fields, kept while they stay the same.
 * Most fields repeat from one request to the next (method, protocol, flags, details, host,
 * cluster, route, local address), so a line is built from ~20 pieces instead of ~45 small
 * strings: measured, the cost of a line is mostly V8 walking those pieces when the batch is turned
 * into bytes, and an equal field also skips the escape test and the quoting.
 */
class JsonRun {
  private a: string | undefined;
  private b: string | undefined;
  private c: string | undefined;
  private d: string | undefined;
  private text: string | undefined;

  /** @param build the run's text for the given field values (JSON literals made with {@link jsonOrNull}). */
  constructor(
    private readonly build: (
      a: string | undefined,
      b: string | undefined,
      c: string | undefined,
      d: string | undefined,
    ) => string,
  ) {}

  get(a: string | undefined, b?: string, c?: string, d?: string): string {
    if (this.text === undefined || a !== this.a || b !== this.b || c !== this.c || d !== this.d) {
      this.a = a;
      this.b = b;
      this.c = c;
      this.d = d;
      this.text = flattened(this.build(a, b, c, d));
    }
    return this.text;
  }
}

/**
 * `s` as one flat string: V8 flattens a string it converts to a number, so copying the cached run
 * into each line is one copy rather than a walk over the pieces it was built from.
 */
function flattened(s: string): string {
  void Number(s);
  return s;
}

/** A JSON string literal, or `null` for a missing value (Istio's JSON encoding of an absent field). */
function jsonOrNull(v: string | undefined): string {
  return v === undefined ? 'null' : json(v);
}

/** Envoy's `-` for an absent field in the text format. */
function dash(v: string | undefined): string {
  return v === undefined || v === '' ? '-' : v;
}

/** A rounded number, or `fallback` for NaN/Infinity (which would not be valid JSON). */
function rounded(v: number, fallback: string): string | number {
  return Number.isFinite(v) ? Math.round(v) : fallback;
}

/** `%START_TIME%` as ISO 8601 with ms; the second's prefix is reused while it stays the same. */
let isoSecond = -1;
let isoPrefix = '';
function isoTime(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    isoSecond = sec;
    // `YYYY-MM-DDTHH:MM:SS.` (the ms and `Z` follow).
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
  }
  const frac = ms - sec * 1000;
  return `${isoPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${Math.floor(frac)}Z`;
}

const methodRun = new JsonRun((method) => `${jsonOrNull(method)},"path":`);
const protocolRun = new JsonRun((protocol) => `,"protocol":${jsonOrNull(protocol)},"response_code":`);
const flagsRun = new JsonRun(
  (flags, details) =>
    `,"response_flags":${jsonOrNull(flags)},"response_code_details":${jsonOrNull(details)},"bytes_received":`,
);
const clientRun = new JsonRun(
  (xff, userAgent) =>
    `,"x_forwarded_for":${jsonOrNull(xff)},"user_agent":${jsonOrNull(userAgent)},"request_id":`,
);
const upstreamRun = new JsonRun(
  (authority, host, cluster, route) =>
    `,"authority":${jsonOrNull(authority)},"upstream_host":${jsonOrNull(host)},` +
    `"upstream_cluster":${jsonOrNull(cluster)},"route_name":${jsonOrNull(route)},"downstream_remote_address":`,
);
const listenerRun = new JsonRun(
  (local, serverName) =>
    `,"downstream_local_address":${jsonOrNull(local)},"requested_server_name":${jsonOrNull(serverName)}}\n`,
);

/**
 * One JSON line with Envoy's default fields under the names Istio's JSON access log uses; exactly
 * what `JSON.stringify` gives for the same fields in this order (undefined as `null`, durations
 * rounded, NaN/Infinity as `null`). Fields that tend to repeat come from cached runs ({@link JsonRun});
 * the path, request id and remote address, which seldom do, are quoted on every line.
 */
export function formatJson(r: StreamRecord): string {
  const ust = r.upstreamServiceTimeMs;
  return (
    startRun(r.startTime) +
    methodRun.get(r.method) +
    jsonOrNull(r.path) +
    protocolRun.get(r.protocol) +
    r.responseCode +
    flagsRun.get(r.responseFlags, r.responseCodeDetails) +
    r.bytesReceived +
    ',"bytes_sent":' +
    r.bytesSent +
    ',"duration":' +
    rounded(r.durationMs, 'null') +
    ',"upstream_service_time":' +
    (ust === undefined ? 'null' : rounded(ust, 'null')) +
    clientRun.get(r.xForwardedFor, r.userAgent) +
    jsonOrNull(r.requestId) +
    upstreamRun.get(r.authority, r.upstreamHost, r.upstreamCluster, r.routeName) +
    jsonOrNull(r.downstreamRemoteAddress) +
    listenerRun.get(r.downstreamLocalAddress, r.requestedServerName)
  );
}

/** `{"start_time":"…","method":` for one start time, kept while the millisecond stays the same. */
let startMs = NaN;
let startText = '';
function startRun(ms: number): string {
  if (ms !== startMs) {
    startMs = ms;
    startText = flattened(`{"start_time":"${isoTime(ms)}","method":`);
  }
  return startText;
}

/** One line of Envoy's default text format. */
function formatText(r: StreamRecord): string {
  const ust = r.upstreamServiceTimeMs;
  return (
    `[${isoTime(r.startTime)}] "${r.method} ${r.path} ${r.protocol}" ${r.responseCode} ` +
    `${r.responseFlags} ${r.responseCodeDetails} - "-" ${r.bytesReceived} ${r.bytesSent} ${rounded(r.durationMs, '-')} ` +
    `${ust === undefined ? '-' : rounded(ust, '-')} "${dash(r.xForwardedFor)}" "${dash(r.userAgent)}" "${dash(r.requestId)}" ` +
    `"${dash(r.authority)}" "${dash(r.upstreamHost)}" ${dash(r.upstreamCluster)} - ${dash(r.downstreamLocalAddress)} ` +
    `${dash(r.downstreamRemoteAddress)} ${dash(r.requestedServerName)} ${dash(r.routeName)}\n`
  );
}
