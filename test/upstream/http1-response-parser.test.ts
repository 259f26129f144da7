/**
 * The HTTP/1.1 response parser (upstream/http1-response-parser.ts) on its own, with a recording
 * sink. Every case is fed three ways by one helper — whole, byte by byte, and split in two at
 * every offset — and all three must give the same events, bytes consumed and connection
 * verdict, so no framing decision depends on where the socket reads happen to be cut. Errors
 * assert the llhttp code and that the router classifies it as a protocol error (502 UPE).
 */
import { describe, expect, it } from 'vitest';
import { classifyUpstreamError } from '../../gateway/local-reply.js';
import {
  Http1ResponseParser,
  MAX_RESPONSE_HEAD_BYTES,
  ResponseParseError,
  type Http1ResponseSink,
} from '../../upstream/http1-response-parser.js';

/** A sink event; consecutive body chunks are merged so reads cut anywhere compare equal. */
type Event = { head: number; reason: string; raw: string[] } | { body: string } | { end: string[] | null };

class Recorder implements Http1ResponseSink {
  readonly events: Event[] = [];
  onResponseHead(status: number, reason: string, raw: string[]): void {
    this.events.push({ head: status, reason, raw: [...raw] });
  }
  onResponseBody(chunk: Buffer): void {
    const last = this.events[this.events.length - 1];
    const text = chunk.toString('latin1');
    if (last !== undefined && 'body' in last) last.body += text;
    else this.events.push({ body: text });
  }
  onResponseEnd(trailers: string[] | null): void {
    this.events.push({ end: trailers });
  }
}

/** What one way of feeding produced. */
interface Result {
  events: Event[];
  /** Bytes execute() said belonged to the response; -1 when it threw. */
  used: number;
  keepAlive: boolean;
  keepAliveHintS: number;
  /** The parse error's code, if execute() threw. */
  error: string | undefined;
  /** What eof() returned (when asked to call it). */
  eof: boolean | undefined;
}

interface FeedOptions {
  /** The request was HEAD. */
  noBody?: boolean;
  /** Call eof() after the last byte (the upstream closed the connection). */
  eof?: boolean;
}

/** Feeds `pieces` in order, stopping where execute() consumes less than a piece or throws. */
function feed(pieces: readonly Buffer[], opts: FeedOptions): Result {
  const sink = new Recorder();
  const parser = new Http1ResponseParser(sink);
  parser.expect(opts.noBody === true);
  let used = 0;
  let error: string | undefined;
  try {
    for (const piece of pieces) {
      const n = parser.execute(piece);
      used += n;
      if (n < piece.length) break;
    }
  } catch (err) {
    expect(err).toBeInstanceOf(ResponseParseError);
    error = (err as ResponseParseError).code;
    used = -1;
  }
  const eof = opts.eof === true && error === undefined ? parser.eof() : undefined;
  return {
    events: sink.events,
    used,
    keepAlive: parser.keepAlive,
    keepAliveHintS: parser.keepAliveHintS,
    error,
    eof,
  };
}

/** Splits `bytes` at `cuts` (ascending offsets). */
function cut(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.subarray(at, c));
    at = c;
  }
  return out;
}

/**
 * Parses `input` (latin1) whole, byte by byte, and split in two at every offset; asserts that
 * every way gives the same result and returns it. `stride` > 1 splits only at every stride-th
 * offset and the first and last 8 (for 60 KiB heads, which each split parses again whole).
 */
function parse(input: string, opts: FeedOptions = {}, stride = 1): Result {
  const bytes = Buffer.from(input, 'latin1');
  const whole = feed([bytes], opts);
  const key = JSON.stringify(whole);
  const all = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
  expect(feed(cut(bytes, all), opts), 'byte by byte').toEqual(whole);
  const splits = all.filter((at) => at % stride === 0 || at <= 8 || at >= bytes.length - 8);
  for (const at of splits) {
    const r = feed(cut(bytes, [at]), opts);
    // One string compare per split; expect() (with its diff) only on a difference.
    if (JSON.stringify(r) !== key) expect(r, `split at ${at}`).toEqual(whole);
  }
  return whole;
}

/** Asserts that `input` is refused with `code`, classified as a protocol error. */
function refused(input: string, code: string, opts: FeedOptions = {}, stride = 1): void {
  expect(parse(input, opts, stride).error).toBe(code);
  expect(classifyUpstreamError(new ResponseParseError(code, 'x'))).toBe('protocol-error');
}

const head = (status: number, reason: string, raw: string[]): Event => ({ head: status, reason, raw });

describe('Http1ResponseParser: framing', () => {
  it('content-length body; the connection stays reusable', () => {
    const input = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  padded \t\r\n\r\nhello';
    expect(parse(input)).toEqual({
      events: [head(200, 'OK', ['Content-Length', '5', 'X-A', 'padded']), { body: 'hello' }, { end: null }],
      used: input.length,
      keepAlive: true,
      keepAliveHintS: -1,
      error: undefined,
      eof: undefined,
    });
  });

  it('content-length 0 ends at the head; a status line without a reason', () => {
    const r = parse('HTTP/1.1 200\r\ncontent-length: 0\r\n\r\n');
    expect(r.events).toEqual([head(200, '', ['content-length', '0']), { end: null }]);
    expect([r.keepAlive, r.error]).toEqual([true, undefined]);
  });

  it('chunked with chunk extensions and trailers: trailers reach onResponseEnd as a flat list', () => {
    const input =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;name=value\r\nhello\r\n' +
      '7 ; ext\r\n, world\r\n' +
      '0\r\nGrpc-Status: 0\r\ngrpc-message:  ok \r\n\r\n';
    const r = parse(input);
    expect(r.events).toEqual([
      head(200, 'OK', ['Transfer-Encoding', 'chunked']),
      { body: 'hello, world' },
      { end: ['Grpc-Status', '0', 'grpc-message', 'ok'] },
    ]);
    expect([r.used, r.keepAlive]).toEqual([input.length, true]);
  });

  it('chunked without trailers ends with null; hex sizes in either case', () => {
    const body = 'x'.repeat(0x1a);
    const r = parse(`HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n1A\r\n${body}\r\n0\r\n\r\n`);
    expect(r.events.slice(1)).toEqual([{ body }, { end: null }]);
  });

  it('no length and not chunked: the body runs until the close, which eof() completes', () => {
    const r = parse('HTTP/1.1 200 OK\r\nx: y\r\n\r\nuntil the close', { eof: true });
    expect(r.events).toEqual([head(200, 'OK', ['x', 'y']), { body: 'until the close' }, { end: null }]);
    expect([r.eof, r.keepAlive]).toEqual([true, false]);
    // A transfer coding other than chunked last also runs to the close.
    const gz = parse('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\nabc', { eof: true });
    expect([gz.events[1], gz.eof, gz.keepAlive]).toEqual([{ body: 'abc' }, true, false]);
  });

  it('HEAD: the head ends the response whatever content-length it announces', () => {
    const input = 'HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n';
    const r = parse(input, { noBody: true });
    expect(r.events).toEqual([head(200, 'OK', ['content-length', '1234']), { end: null }]);
    expect([r.used, r.keepAlive]).toEqual([input.length, true]);
  });

  it('204 and 304 end at the head despite stray length or chunked headers', () => {
    for (const [status, reason] of [
      [204, 'No Content'],
      [304, 'Not Modified'],
    ] as const) {
      for (const stray of ['content-length: 10', 'transfer-encoding: chunked']) {
        const input = `HTTP/1.1 ${status} ${reason}\r\n${stray}\r\n\r\n`;
        const r = parse(input);
        expect(r.events).toEqual([head(status, reason, stray.split(': ')), { end: null }]);
        expect([r.used, r.keepAlive]).toEqual([input.length, true]);
      }
    }
  });

  it('100, 103 and 200 in one read: three heads, in order, then the body', () => {
    const input =
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' +
      'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    const r = parse(input);
    expect(r.events).toEqual([
      head(100, 'Continue', []),
      head(103, 'Early Hints', ['Link', '</a.css>; rel=preload']),
      head(200, 'OK', ['content-length', '2']),
      { body: 'ok' },
      { end: null },
    ]);
    expect([r.used, r.keepAlive]).toEqual([input.length, true]);
  });

  it('101: the parser stops after the head (what follows is not HTTP)', () => {
    const upgrade = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    const r = parse(`${upgrade}\x81\x05hello`);
    expect(r.events).toEqual([
      head(101, 'Switching Protocols', ['Upgrade', 'websocket', 'Connection', 'Upgrade']),
    ]);
    expect([r.used, r.keepAlive]).toEqual([upgrade.length, false]);
  });

  it('bytes after a complete response are not consumed', () => {
    const response = 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc';
    expect(parse(`${response}HTTP/1.1 200 OK\r\n\r\n`).used).toBe(response.length);
    const chunked = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n';
    expect(parse(`${chunked}\r\n`).used).toBe(chunked.length);
    const empty = 'HTTP/1.1 204 No Content\r\n\r\n';
    expect(parse(`${empty}junk`).used).toBe(empty.length);
  });
});

describe('Http1ResponseParser: a sink that pauses', () => {
  it('execute() returns after the callback that paused; feeding the rest carries on', () => {
    const input =
      'HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n' +
      '3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n';
    const sink = new (class extends Recorder {
      paused = false;
      override onResponseHead(status: number, reason: string, raw: string[]): void {
        super.onResponseHead(status, reason, raw);
        this.paused = true;
      }
      override onResponseBody(chunk: Buffer): void {
        super.onResponseBody(chunk);
        this.paused = true;
      }
    })();
    const parser = new Http1ResponseParser(sink);
    parser.expect(false);
    let rest = Buffer.from(input, 'latin1');
    const steps: number[] = [];
    while (rest.length > 0) {
      sink.paused = false;
      const used = parser.execute(rest);
      steps.push(used);
      rest = rest.subarray(used);
    }
    // 103 head | 200 head | size line + `abc` | CRLF, size line + `def` | CRLF and the last chunk.
    expect(steps).toEqual([28, 47, 6, 8, 7]);
    expect(sink.events).toEqual([
      { head: 103, reason: 'Early Hints', raw: [] },
      { head: 200, reason: 'OK', raw: ['transfer-encoding', 'chunked'] },
      { body: 'abcdef' },
      { end: null },
    ]);
  });
});

describe('Http1ResponseParser: keep-alive', () => {
  const ok = (version: string, connection?: string): string =>
    `HTTP/${version} 200 OK\r\n${connection === undefined ? '' : `Connection: ${connection}\r\n`}content-length: 0\r\n\r\n`;

  it('HTTP/1.1 persists unless `close` is among the Connection tokens', () => {
    expect(parse(ok('1.1')).keepAlive).toBe(true);
    expect(parse(ok('1.1', 'close')).keepAlive).toBe(false);
    expect(parse(ok('1.1', 'CLOSE')).keepAlive).toBe(false);
    expect(parse(ok('1.1', 'foo, close')).keepAlive).toBe(false);
    expect(parse(ok('1.1', 'close,foo')).keepAlive).toBe(false);
    expect(parse(ok('1.1', 'foo, keep-alive')).keepAlive).toBe(true);
    expect(parse(ok('1.1', 'closed')).keepAlive).toBe(true);
  });

  it('HTTP/1.0 closes by default and persists with `connection: keep-alive`', () => {
    expect(parse(ok('1.0')).keepAlive).toBe(false);
    expect(parse(ok('1.0', 'keep-alive')).keepAlive).toBe(true);
    expect(parse(ok('1.0', 'foo, Keep-Alive')).keepAlive).toBe(true);
    expect(parse(ok('1.0', 'keep-alive, close')).keepAlive).toBe(false);
  });

  it('`close` wins over `keep-alive` in a later Connection header (RFC 9112 §9.3)', () => {
    for (const version of ['1.0', '1.1']) {
      const twice = `HTTP/${version} 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\ncontent-length: 0\r\n\r\n`;
      expect(parse(twice).keepAlive).toBe(false);
    }
  });

  it('`Keep-Alive: timeout=5` is kept as a hint in seconds; absent or malformed is -1', () => {
    const hint = (value: string): number =>
      parse(`HTTP/1.1 200 OK\r\nKeep-Alive: ${value}\r\ncontent-length: 0\r\n\r\n`).keepAliveHintS;
    expect(hint('timeout=5')).toBe(5);
    expect(hint('max=100, timeout=5')).toBe(5);
    expect(hint('timeout = 7; max=3')).toBe(7);
    expect(hint('max=5')).toBe(-1);
    expect(hint('timeout=soon')).toBe(-1);
    expect(parse(ok('1.1')).keepAliveHintS).toBe(-1);
  });
});

describe('Http1ResponseParser: refused responses', () => {
  it('a status line that is not `HTTP/1.x `', () => {
    refused('HTTP/2.0 200 OK\r\ncontent-length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT');
    refused('HTTP/1.1200 OK\r\n\r\n', 'HPE_INVALID_CONSTANT');
    refused('ICY 200 OK\r\n\r\n', 'HPE_INVALID_CONSTANT');
  });

  it('a status that is not three digits followed by a space or the line end', () => {
    refused('HTTP/1.1 2x0 OK\r\n\r\n', 'HPE_INVALID_STATUS');
    refused('HTTP/1.1 20\r\n\r\n', 'HPE_INVALID_STATUS');
    refused('HTTP/1.1 2000 OK\r\n\r\n', 'HPE_INVALID_STATUS');
    refused('HTTP/1.1 099 OK\r\n\r\n', 'HPE_INVALID_STATUS');
  });

  it('a header name with a space before the colon', () => {
    refused('HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN');
  });

  it('a header line without a colon, and an obs-fold continuation line', () => {
    refused('HTTP/1.1 200 OK\r\nno colon here\r\ncontent-length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN');
    refused('HTTP/1.1 200 OK\r\nx-a: 1\r\n folded\r\ncontent-length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN');
  });

  it('a control character in a header value', () => {
    refused('HTTP/1.1 200 OK\r\nx-a: b\x01c\r\ncontent-length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN');
    refused('HTTP/1.1 200 OK\r\nx-a: b\rc\r\ncontent-length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN');
  });

  it('a bare LF line end inside the head', () => {
    refused('HTTP/1.1 200 OK\nx-a: b\r\ncontent-length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN');
    refused('HTTP/1.1 200 OK\r\nx-a: b\ncontent-length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN');
  });

  it('content-length repeated with another value; the same value twice is fine', () => {
    refused(
      'HTTP/1.1 200 OK\r\ncontent-length: 3\r\nContent-Length: 4\r\n\r\nabcd',
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    );
    const same = parse('HTTP/1.1 200 OK\r\ncontent-length: 3\r\nContent-Length: 3\r\n\r\nabc');
    expect([same.error, same.events[1], same.events[2]]).toEqual([undefined, { body: 'abc' }, { end: null }]);
  });

  it('a content-length that is not digits', () => {
    refused('HTTP/1.1 200 OK\r\ncontent-length: 0x10\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH');
    refused('HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH');
    refused('HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabc', 'HPE_UNEXPECTED_CONTENT_LENGTH');
    refused('HTTP/1.1 200 OK\r\ncontent-length:\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH');
  });

  it('transfer-encoding together with content-length (either order)', () => {
    const body = '3\r\nabc\r\n0\r\n\r\n';
    refused(
      `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n${body}`,
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    );
    refused(
      `HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n${body}`,
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    );
  });

  it('an invalid chunk size', () => {
    const chunked = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';
    refused(`${chunked}zz\r\nhello\r\n0\r\n\r\n`, 'HPE_INVALID_CHUNK_SIZE');
    refused(`${chunked}\r\n0\r\n\r\n`, 'HPE_INVALID_CHUNK_SIZE');
    refused(`${chunked}-5\r\nhello\r\n0\r\n\r\n`, 'HPE_INVALID_CHUNK_SIZE');
    refused(`${chunked}1234567890abc\r\n`, 'HPE_INVALID_CHUNK_SIZE');
  });

  it('chunk data not followed by CRLF', () => {
    const chunked = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';
    refused(`${chunked}5\r\nhelloXY\r\n0\r\n\r\n`, 'HPE_STRICT');
  });

  it('a chunk-size line ended by a bare LF', () => {
    const chunked = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';
    refused(`${chunked}5\nhello\r\n0\r\n\r\n`, 'HPE_LF_EXPECTED');
    refused(`${chunked}5\r\nhello\r\n0\n\r\n`, 'HPE_LF_EXPECTED');
  });

  it('an invalid trailer line', () => {
    const chunked = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n';
    refused(`${chunked}no colon\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN');
    refused(`${chunked}x-t: a\x01b\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN');
  });

  it('a head over 60 KiB is UND_ERR_HEADERS_OVERFLOW, with or without its end in sight', () => {
    const big = `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(MAX_RESPONSE_HEAD_BYTES)}\r\n`;
    refused(`${big}content-length: 0\r\n\r\n`, 'UND_ERR_HEADERS_OVERFLOW', {}, 61);
    refused(big, 'UND_ERR_HEADERS_OVERFLOW', {}, 61);
    // A head of exactly 60 KiB is fine.
    const fits = `HTTP/1.1 200 OK\r\nx: ${'a'.repeat(MAX_RESPONSE_HEAD_BYTES - 24)}\r\n\r\n`;
    expect(fits.length).toBe(MAX_RESPONSE_HEAD_BYTES);
    const r = parse(fits, { eof: true }, 61);
    expect([r.error, r.eof, r.events.length]).toEqual([undefined, true, 2]);
  });

  it("more than 100 header lines (Envoy's max_headers_count); 100 are fine", () => {
    const lines = (n: number): string => Array.from({ length: n }, (_, i) => `x-${i}: ${i}\r\n`).join('');
    refused(`HTTP/1.1 200 OK\r\n${lines(100)}content-length: 0\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN');
    const r = parse(`HTTP/1.1 200 OK\r\n${lines(99)}content-length: 0\r\n\r\n`);
    expect([r.error, (r.events[0] as { raw: string[] }).raw.length]).toEqual([undefined, 200]);
  });

  it('trailers over 60 KiB in all are UND_ERR_HEADERS_OVERFLOW (each line alone is short)', () => {
    const line = `x-t: ${'a'.repeat(1000)}\r\n`;
    const many = line.repeat(Math.ceil(MAX_RESPONSE_HEAD_BYTES / line.length) + 1);
    const chunked = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n';
    refused(`${chunked}${many}\r\n`, 'UND_ERR_HEADERS_OVERFLOW', {}, 61);
    const fewer = line.repeat(10);
    expect(parse(`${chunked}${fewer}\r\n`).events.at(-1)).toEqual({
      end: fewer
        .trimEnd()
        .split('\r\n')
        .flatMap((l) => l.split(': ')),
    });
  });

  it('eof() mid-body or mid-head is false (a reset, not a response)', () => {
    expect(parse('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc', { eof: true }).eof).toBe(false);
    expect(parse('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab', { eof: true }).eof).toBe(
      false,
    );
    expect(parse('HTTP/1.1 200 OK\r\ncontent-le', { eof: true }).eof).toBe(false);
  });
});
