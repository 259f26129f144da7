/** The HTTP/1.1 downstream codec (node:http objects). */
import { IncomingMessage } from 'node:http';
import { writeLocalReply, Replies } from '../local-reply.js';
import type { DownstreamCodec, DownstreamResponse } from './downstream-codec.js';

/**
 * node:http's request with a count of the body bytes its parser delivered (Envoy's
 * `%BYTES_RECEIVED%`), whatever the framing: `content-length` says what a client announced, not
 * what arrived, and a chunked body has none. The parser hands every body chunk to `push`, so
 * counting there costs no listener and leaves the stream's flow as it was. Installed with the
 * server's `IncomingMessage` option.
 */
export class CountingIncomingMessage extends IncomingMessage {
  /** Body bytes received so far. */
  bodyBytes = 0;

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined) this.bodyBytes += (chunk as { length: number }).length;
    return super.push(chunk, encoding);
  }
}

/** HTTP/1.x specifics of the downstream path. */
export const HTTP1_CODEC: DownstreamCodec = Object.freeze({
  protocol: (req) => (req.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`),
  refuse(req) {
    // Envoy refuses HTTP/1.0 unless `accept_http_10` is set (Istio leaves it off): 426.
    if (req.httpVersion === '1.0') return Replies.http10;
    // HTTP/1.1 requires Host (RFC 9112 §3.2). Node rejects it before this point unless the server
    // opts out, as the mesh listener does so the refusal is access-logged.
    if (req.headers.host === undefined) return Replies.badRequest;
    return undefined;
  },
  authority: (req) => req.headers.host ?? '',
  connectionSocket: (req) => req.socket,
  hasBody: (_req, announced) => announced,
  bodyBytesReceived: (req) => (req as Partial<CountingIncomingMessage>).bodyBytes ?? 0,
  closedEarly: (res) => !res.writableFinished,
  isDestroyed: (res) => (res as DownstreamResponse & { destroyed: boolean }).destroyed,
  writeLocalReply: (res, reply, extra) => writeLocalReply(res, reply, extra, true),
} satisfies DownstreamCodec);
