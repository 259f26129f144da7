/**
 * Envoy's gRPC-Web filter (`envoy.filters.http.grpc_web`), which Istio puts first in the chain of a
 * Gateway server whose port protocol is `GRPC-WEB`. A gRPC-Web request (HTTP/1.1 or HTTP/2) goes
 * upstream as gRPC: `content-type: application/grpc`, `te: trailers`, `grpc-accept-encoding:
 * identity` unless the client sent one, no `content-length`, a `-text` body base64-decoded. The
 * response goes back as gRPC-Web: `content-type: application/grpc-web+proto` (or
 * `application/grpc-web-text+proto` when `Accept` asks for text, each gRPC frame then base64 on its
 * own), the upstream trailers appended as a trailer frame; a trailers-only response stays
 * trailers-only (status in the head). A response that is not gRPC (e.g. an HTML 503 from upstream)
 * becomes `grpc-status` (mapped from its HTTP status) and `grpc-message` (its body, at most 16 KiB)
 * in the head, with no body. Local replies: gateway/http/active-stream.ts `sendLocalReply`.
 */
import type { Readable } from 'node:stream';
import type { HeaderObject } from '../header-ops.js';
import type { ActiveStream, StreamFilter } from './active-stream.js';
import { FilterStatus, type StreamTranscoder } from './filter.js';
import {
  Base64BodyDecoder,
  Base64FrameEncoder,
  grpcWebRequestMode,
  grpcWebResponseType,
  trailerFrame,
  type Base64Failure,
  type GrpcWebMode,
} from './grpc-web-codec.js';
import { httpToGrpcStatus, isGrpcContentType, percentEncodeGrpcMessage } from './grpc-status.js';
import { Base64RequestBody } from './grpc-web-text-body.js';

/** Most body bytes of a non-gRPC response kept for its `grpc-message` (Envoy's `MAX_BUFFERED_PLAINTEXT_LENGTH`). */
export const MAX_GRPC_MESSAGE_BODY_BYTES = 16384;

/** The body Envoy's filter answers a `-text` request whose base64 it cannot decode with (HTTP 400 → grpc-status 13). */
export const BAD_BASE64_BODY = 'Bad gRPC-web request, invalid base64 data.';

const EMPTY = Buffer.alloc(0);

/** One gRPC-Web stream's transcoding (what Envoy's filter instance remembers per stream). */
class GrpcWebTranscoder implements StreamTranscoder {
  holdsHead = false;
  private heldStatus = 0;
  private heldHeaders: HeaderObject | undefined;
  private heldBody: Buffer[] | undefined;
  private heldBytes = 0;
  /** The upstream answered trailers-only: the status is in the head, no trailer frame follows. */
  private trailersOnly = false;
  private readonly frames: Base64FrameEncoder | undefined;

  constructor(
    private readonly s: ActiveStream,
    private readonly mode: GrpcWebMode,
  ) {
    this.frames = mode.textResponse ? new Base64FrameEncoder() : undefined;
  }

  upstreamHeaders(out: string[]): void {
    let w = 0;
    let hasAcceptEncoding = false;
    for (let r = 0; r < out.length; r += 2) {
      const name = out[r]!;
      // Dropped: `content-length` counted the HTTP/1.1 (or base64) body, not the gRPC one.
      if (name === 'content-length' || name === 'content-type' || name === 'te') continue;
      if (name === 'grpc-accept-encoding') hasAcceptEncoding = true;
      out[w++] = name;
      out[w++] = out[r + 1]!;
    }
    out.length = w;
    out.push('content-type', 'application/grpc', 'te', 'trailers');
    if (!hasAcceptEncoding) out.push('grpc-accept-encoding', 'identity');
  }

  decodeBody(body: Readable): Readable {
    if (!this.mode.textRequest) return body;
    return new Base64RequestBody(body, new Base64BodyDecoder(), (why) => this.refuseBody(why));
  }

  /** A `-text` body that is not base64: Envoy's 400 local reply (trailers-only, status 13), upstream reset. */
  private refuseBody(why: Base64Failure): void {
    const s = this.s;
    // Too late for a reply once the response started (an upstream answered early): a reset, as Envoy.
    if (s.res.headersSent) s.res.destroy();
    else s.sendLocalReply({ status: 400, flag: undefined, body: BAD_BASE64_BODY, details: why });
    // The try upstream is abandoned without a reply of its own (as for a client that left).
    s.closeListener?.onDownstreamClose(true);
  }

  /** The upstream response head, after the other encoders (this filter is first in the chain, so last to encode). */
  encodeHead(status: number, headers: HeaderObject): void {
    delete headers['content-length'];
    const ct = headers['content-type'];
    const grpcStatus = headers['grpc-status'];
    headers['content-type'] = grpcWebResponseType(this.mode);
    if (grpcStatus !== undefined) {
      // Trailers-only (Envoy: a head ending the stream with `grpc-status`): passed on as it is.
      this.trailersOnly = true;
      this.s.grpcStatus = Array.isArray(grpcStatus) ? grpcStatus[0] : grpcStatus;
      return;
    }
    const contentType = Array.isArray(ct) ? ct[0] : ct;
    if (status === 200 && (isGrpcContentType(contentType) || isGrpcWebProto(contentType))) return;
    // Not a gRPC response: its status and body become `grpc-status` / `grpc-message` once it ended.
    this.holdsHead = true;
    this.heldStatus = status;
    this.heldHeaders = headers;
    this.heldBody = [];
  }

  encodeData(chunk: Buffer): Buffer {
    if (this.heldBody !== undefined) {
      const room = MAX_GRPC_MESSAGE_BODY_BYTES - this.heldBytes;
      if (room > 0) {
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        this.heldBody.push(part);
        this.heldBytes += part.length;
      }
      return EMPTY;
    }
    return this.frames === undefined ? chunk : this.frames.write(chunk);
  }

  encodeTrailers(trailers: HeaderObject | undefined): void {
    const s = this.s;
    const res = s.res;
    if (this.heldHeaders !== undefined) {
      const h = this.heldHeaders;
      const code = String(httpToGrpcStatus(this.heldStatus));
      h['grpc-status'] = code;
      h['grpc-message'] = percentEncodeGrpcMessage(
        Buffer.concat(this.heldBody!, this.heldBytes).toString('utf8'),
      );
      h['content-length'] = '0';
      s.grpcStatus = code;
      this.heldHeaders = undefined;
      this.heldBody = undefined;
      if (!s.codec.isDestroyed(res)) res.writeHead(this.heldStatus, h as Record<string, string | string[]>);
      res.end();
      return;
    }
    if (this.trailersOnly || trailers === undefined || !hasKeys(trailers)) {
      res.end();
      return;
    }
    const frame = trailerFrame(trailers);
    const tail = this.mode.textResponse ? Buffer.from(frame.toString('base64'), 'latin1') : frame;
    s.bytesSent += tail.length;
    res.end(tail);
  }
}

function isGrpcWebProto(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const semi = ct.indexOf(';');
  const t = (semi < 0 ? ct : ct.slice(0, semi)).trimEnd().toLowerCase();
  return t === 'application/grpc-web' || t === 'application/grpc-web+proto';
}

function hasKeys(o: object): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

/** Turns gRPC-Web requests of `GRPC-WEB` listeners into gRPC and their responses back into gRPC-Web. */
export const grpcWebFilter: StreamFilter = {
  name: 'envoy.filters.http.grpc_web',
  decodeHeaders(s) {
    const mode = grpcWebRequestMode(s.rt.listener.protocol, s.req.headers);
    if (mode !== undefined) s.transcoder = new GrpcWebTranscoder(s, mode);
    return FilterStatus.Continue;
  },
  // Only a gRPC-Web stream's head is rewritten; any other head passes as received (the router's
  // flat list, no header object): 1.01–1.03× the requests per CPU-second, 4 interleaved runs.
  encodesHeaders: (s) => s.transcoder instanceof GrpcWebTranscoder,
  encodeHeaders(s, status, headers) {
    const tc = s.transcoder;
    if (tc instanceof GrpcWebTranscoder) tc.encodeHead(status, headers);
  },
};
