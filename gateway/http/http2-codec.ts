/** The HTTP/2 downstream codec (node:http2 compatibility objects). */
import { Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { writeLocalReply, Replies } from '../local-reply.js';
import type { DownstreamCodec } from './downstream-codec.js';

/**
 * Each session's real TCP/TLS socket. `session.socket` is a proxy that throws
 * (ERR_HTTP2_SOCKET_UNBOUND) once the session is gone, and streams of a closed session still close
 * (and are logged) after that; the plain socket keeps its addresses and cached fields.
 */
const SESSION_SOCKETS = new WeakMap<Http2Session, Socket>();

/** Remembers the socket `session` was created on (see {@link HTTP2_CODEC.connectionSocket}). */
export function bindSessionSocket(session: Http2Session, socket: Socket): void {
  SESSION_SOCKETS.set(session, socket);
}

/**
 * node's HTTP/2 request with a count of the body bytes pushed into it (the DATA payload, Envoy's
 * `%BYTES_RECEIVED%`), given to the server as its request class. Counting where node hands each
 * chunk over costs no listener and leaves the stream's flow (and flow control) as it was.
 */
export class CountingHttp2Request extends Http2ServerRequest {
  /** Body bytes received so far. */
  bodyBytes = 0;

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined) this.bodyBytes += (chunk as { length: number }).length;
    return super.push(chunk, encoding);
  }
}

/** HTTP/2 specifics of the downstream path. */
export const HTTP2_CODEC: DownstreamCodec = Object.freeze({
  protocol: () => 'HTTP/2',
  refuse(req) {
    // RFC 9113 §8.3.1: a request to an http(s) URI carries `:authority` or `Host`.
    const h = req.headers;
    return h[':authority'] === undefined && h.host === undefined ? Replies.badRequest : undefined;
  },
  authority(req) {
    const h = req.headers;
    return (h[':authority'] as string | undefined) ?? h.host ?? '';
  },
  connectionSocket(req) {
    const session = (req as unknown as Http2ServerRequest).stream.session!;
    return SESSION_SOCKETS.get(session) ?? (session.socket as Socket);
  },
  hasBody: (req) => !(req as unknown as Http2ServerRequest).stream.endAfterHeaders,
  bodyBytesReceived: (req) => (req as Partial<CountingHttp2Request>).bodyBytes ?? 0,
  closedEarly: (res) => (res as unknown as Http2ServerResponse).stream.aborted,
  isDestroyed: (res) => (res as unknown as Http2ServerResponse).stream.destroyed,
  // HTTP/2 has no `connection` header; a 400 ends only its stream.
  writeLocalReply: (res, reply, extra) => writeLocalReply(res, reply, extra, false),
} satisfies DownstreamCodec);
