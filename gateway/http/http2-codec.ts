/** The HTTP/2 downstream codec (node:http2 compatibility objects). */
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
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
  isDestroyed: (res) => (res as unknown as Http2ServerResponse).stream.destroyed,
  // HTTP/2 has no `connection` header; a 400 ends only its stream.
  writeLocalReply: (res, reply, extra) => writeLocalReply(res, reply, extra, false),
} satisfies DownstreamCodec);
