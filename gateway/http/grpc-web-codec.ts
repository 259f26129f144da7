/**
 * gRPC-Web wire format (grpc/doc/PROTOCOL-WEB.md) as Envoy's `envoy.filters.http.grpc_web` speaks
 * it: the four request content types, the response content type (binary, or base64 "text" when the
 * client's `Accept` asks for it), the trailer frame that carries gRPC trailers in the body, and the
 * base64 decoding of `-text` request bodies that arrive in arbitrary chunks. Pure: no streams, no
 * stream state beyond the small decoders below.
 */
import type { HeaderObject } from '../header-ops.js';

/** How a gRPC-Web stream's bodies are encoded; undefined for a request that is not gRPC-Web. */
export interface GrpcWebMode {
  /** The request body is base64 (`application/grpc-web-text[+proto]`). */
  readonly textRequest: boolean;
  /** The response body goes back base64 (`Accept: application/grpc-web-text[+proto]`). */
  readonly textResponse: boolean;
}

const BINARY_BINARY: GrpcWebMode = Object.freeze({ textRequest: false, textResponse: false });
const BINARY_TEXT: GrpcWebMode = Object.freeze({ textRequest: false, textResponse: true });
const TEXT_BINARY: GrpcWebMode = Object.freeze({ textRequest: true, textResponse: false });
const TEXT_TEXT: GrpcWebMode = Object.freeze({ textRequest: true, textResponse: true });

/** The response content type Envoy sets for a binary gRPC-Web response (always `+proto`). */
export const GRPC_WEB_PROTO = 'application/grpc-web+proto';
/** The response content type Envoy sets for a base64 ("text") gRPC-Web response. */
export const GRPC_WEB_TEXT_PROTO = 'application/grpc-web-text+proto';

/** Flag byte of a gRPC-Web trailer frame (the message frames have 0x00, or 0x01 when compressed). */
export const TRAILER_FRAME_FLAG = 0x80;

function isTextType(v: string | undefined): boolean {
  return v === 'application/grpc-web-text' || v === 'application/grpc-web-text+proto';
}

/**
 * Whether a request is gRPC-Web, and how its bodies are encoded. As Envoy's filter: the
 * `content-type` must be exactly `application/grpc-web`, `application/grpc-web+proto`,
 * `application/grpc-web-text` or `application/grpc-web-text+proto` (no parameters); the response is
 * base64 when `accept` is exactly one of the two `-text` types (whatever the request was).
 * @returns the mode, or undefined when the request is not gRPC-Web.
 */
export function grpcWebMode(
  contentType: string | undefined,
  accept: string | undefined,
): GrpcWebMode | undefined {
  let textRequest: boolean;
  switch (contentType) {
    case 'application/grpc-web':
    case 'application/grpc-web+proto':
      textRequest = false;
      break;
    case 'application/grpc-web-text':
    case 'application/grpc-web-text+proto':
      textRequest = true;
      break;
    default:
      return undefined;
  }
  const textResponse = isTextType(accept);
  return textRequest ? (textResponse ? TEXT_TEXT : TEXT_BINARY) : textResponse ? BINARY_TEXT : BINARY_BINARY;
}

/** The response `content-type` of a gRPC-Web stream. */
export function grpcWebResponseType(mode: GrpcWebMode): string {
  return mode.textResponse ? GRPC_WEB_TEXT_PROTO : GRPC_WEB_PROTO;
}

/**
 * The trailer frame carrying `trailers` in a gRPC-Web body: flag 0x80, a 4-byte big-endian length,
 * then one `name:value\r\n` line per value in the order received (names as received, lowercase on
 * HTTP/2). Undefined values are skipped.
 */
export function trailerFrame(trailers: HeaderObject): Buffer {
  let block = '';
  for (const name in trailers) {
    const v = trailers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) block += `${name}:${one}\r\n`;
    else block += `${name}:${v}\r\n`;
  }
  const payload = Buffer.from(block, 'latin1');
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = TRAILER_FRAME_FLAG;
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return frame;
}

/** A block of whole base64 quanta, padding only at its end (what Envoy's `Base64::decode` accepts). */
const BASE64_BLOCK = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Why a `-text` request body was refused (Envoy's `%RESPONSE_CODE_DETAILS%`). */
export type Base64Failure = 'grpc_base_64_decode_failed_bad_size' | 'grpc_base_64_decode_failed';

/**
 * Decodes a `-text` request body chunk by chunk, as Envoy does: whole 4-character quanta are
 * decoded as they arrive and the rest (under 4 characters) waits for the next chunk; at the end of
 * the body a remainder means the base64 was cut short (`..._bad_size`), and invalid characters or
 * padding before the end of a block fail the body (`grpc_base_64_decode_failed`).
 */
export class Base64BodyDecoder {
  private pending = '';

  /**
   * One body chunk.
   * @returns the decoded bytes (possibly empty), or the failure.
   */
  write(chunk: Buffer): Buffer | Base64Failure {
    const text = this.pending + chunk.toString('latin1');
    const whole = text.length - (text.length % 4);
    this.pending = text.slice(whole);
    return decodeBlock(text.slice(0, whole));
  }

  /**
   * The end of the body.
   * @returns nothing left to send (`undefined`), or the failure when characters are left over.
   */
  end(): Base64Failure | undefined {
    return this.pending.length === 0 ? undefined : 'grpc_base_64_decode_failed_bad_size';
  }
}

function decodeBlock(block: string): Buffer | Base64Failure {
  if (block.length === 0) return EMPTY;
  if (!BASE64_BLOCK.test(block)) return 'grpc_base_64_decode_failed';
  return Buffer.from(block, 'base64');
}

const EMPTY = Buffer.alloc(0);

/**
 * Re-encodes a gRPC response body for a `-text` client: the body is cut into whole gRPC frames
 * (5-byte prefix + message) and each frame goes out as its own base64 string, as Envoy's filter does
 * (a client decodes the body segment by segment); a partial frame waits for the rest.
 */
export class Base64FrameEncoder {
  private held: Buffer = EMPTY;

  /** One response chunk: base64 of the whole frames it completes (empty when none). */
  write(chunk: Buffer): Buffer {
    let buf = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    let out = '';
    while (buf.length >= 5) {
      const size = 5 + buf.readUInt32BE(1);
      if (buf.length < size) break;
      out += buf.toString('base64', 0, size);
      buf = buf.subarray(size);
    }
    this.held = buf.length === 0 ? EMPTY : Buffer.from(buf);
    return out.length === 0 ? EMPTY : Buffer.from(out, 'latin1');
  }
}

/** The Gateway server port protocol whose listeners run the gRPC-Web filter (Istio `GRPC-WEB`). */
export const GRPC_WEB_LISTENER_PROTOCOL = 'GRPC-WEB';

/**
 * The gRPC-Web mode of a request on a listener: Istio puts `envoy.filters.http.grpc_web` in the
 * filter chain of a Gateway server whose port protocol is `GRPC-WEB` only (listener_builder.go);
 * elsewhere a gRPC-Web request is plain HTTP.
 * @param listenerProtocol upper-case protocol of the listener's first server.
 */
export function grpcWebRequestMode(
  listenerProtocol: string,
  headers: { readonly [name: string]: string | string[] | undefined },
): GrpcWebMode | undefined {
  if (listenerProtocol !== GRPC_WEB_LISTENER_PROTOCOL) return undefined;
  const accept = headers['accept'];
  return grpcWebMode(
    headers['content-type'] as string | undefined,
    typeof accept === 'string' ? accept : undefined,
  );
}
