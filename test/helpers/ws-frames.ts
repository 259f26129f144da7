/**
 * A WebSocket client over an HTTP/2 extended CONNECT stream (RFC 8441) for tests: opens the stream
 * on a node:http2 session and speaks RFC 6455 frames on it (client frames masked, text only, no
 * fragmentation, which is all the echo workload sends back).
 */
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';

/** Encodes one masked text frame (FIN set), as a client sends it. */
export function encodeClientText(text: string): Buffer {
  const payload = Buffer.from(text);
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x81;
  if (len < 126) head[1] = 0x80 | len;
  else if (len < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, mask, masked]);
}

/**
 * Splits unmasked server frames off the front of `buf`.
 * @returns the text payloads of complete frames and the bytes left over.
 */
export function decodeServerFrames(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    let len = buf[off + 1]! & 0x7f;
    let at = off + 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      at = off + 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      at = off + 10;
    }
    if (buf.length < at + len) break;
    if ((buf[off]! & 0x0f) === 1) messages.push(buf.toString('utf8', at, at + len));
    off = at + len;
  }
  return { messages, rest: buf.subarray(off) };
}

/** An extended CONNECT stream as the test sees it. */
export interface H2WebSocket {
  readonly stream: http2.ClientHttp2Stream;
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  /** Response body (for refusals; empty for an accepted stream until frames are read). */
  body(): Promise<string>;
}

/** Connects a session and waits for the server's SETTINGS (extended CONNECT needs its ENABLE_CONNECT_PROTOCOL). */
export function connectH2(
  url: string,
  opts: http2.SecureClientSessionOptions = {},
): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, opts);
    session.once('remoteSettings', () => resolve(session));
    session.once('error', reject);
  });
}

/** Opens `:method CONNECT`, `:protocol` (default websocket) on `path`; resolves with the response head. */
export function openH2WebSocket(
  session: http2.ClientHttp2Session,
  path: string,
  authority: string,
  extra: http2.OutgoingHttpHeaders = {},
  protocol = 'websocket',
): Promise<H2WebSocket> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      {
        ':method': 'CONNECT',
        ':protocol': protocol,
        ':path': path,
        ':scheme': 'http',
        ':authority': authority,
        'sec-websocket-version': '13',
        ...extra,
      },
      { endStream: false },
    );
    stream.once('error', reject);
    stream.once('response', (headers) => {
      let text = '';
      const ended = new Promise<string>((done) => {
        if (Number(headers[':status']) === 200) return done('');
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => (text += c));
        stream.once('end', () => done(text));
      });
      resolve({ stream, status: Number(headers[':status']), headers, body: () => ended });
    });
  });
}

/** Sends `n` messages one after another on an open stream and collects the echoes. */
export function echoManyH2(stream: http2.ClientHttp2Stream, n: number): Promise<string[]> {
  const got: string[] = [];
  let buf: Buffer = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const { messages, rest } = decodeServerFrames(buf);
      buf = rest;
      for (const m of messages) {
        got.push(m);
        if (got.length === n) {
          stream.off('data', onData);
          return resolve(got);
        }
        stream.write(encodeClientText(`m${got.length}`));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
    stream.write(encodeClientText('m0'));
  });
}
