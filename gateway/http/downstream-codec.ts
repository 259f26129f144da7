/**
 * What the connection manager sees of a downstream request, whatever codec carried it: HTTP/1.1
 * (node:http) and HTTP/2 (node:http2's compatibility objects) both fit these shapes, and the
 * differences between them live in one {@link DownstreamCodec} singleton per protocol, chosen once
 * per connection. No per-request adapter object is made.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { LocalReply } from '../local-reply.js';

/** A downstream request: `IncomingMessage` (HTTP/1.1) or `Http2ServerRequest` (HTTP/2). */
export interface DownstreamRequest extends Readable {
  readonly method?: string | undefined;
  /** Request target as received (`:path` on HTTP/2). */
  readonly url?: string | undefined;
  /** Header names lowercase; on HTTP/2 the pseudo-headers (`:authority`, …) are included. */
  readonly headers: IncomingHttpHeaders;
  /** `[name, value, …]` as received; on HTTP/2 pseudo-headers come first. */
  readonly rawHeaders: string[];
  readonly socket: Socket;
  readonly httpVersion: string;
}

/** A downstream response: `ServerResponse` (HTTP/1.1) or `Http2ServerResponse` (HTTP/2). */
export interface DownstreamResponse {
  readonly headersSent: boolean;
  readonly statusCode: number;
  /** All of the response was handed to the transport (a clean end, not a reset). */
  readonly writableFinished: boolean;
  /** `headers` as an object, or as a flat `[name, value, …]` list (repeated names allowed). */
  writeHead(status: number, headers?: OutgoingHttpHeaders | string[]): unknown;
  /** Trailers sent after the body (HTTP/2: a trailing HEADERS frame; HTTP/1.1: chunked only). */
  addTrailers(trailers: Record<string, string | string[]>): void;
  /** Sends a `103 Early Hints` interim response (`link` required). */
  writeEarlyHints(hints: Record<string, string | string[]>): void;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer | string): unknown;
  once(event: 'close' | 'drain', listener: () => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  destroy(err?: Error): unknown;
}

/** The protocol-specific parts of the downstream path; one frozen instance per protocol. */
export interface DownstreamCodec {
  /** `%PROTOCOL%` of the access log (`HTTP/1.1`, `HTTP/2`). */
  protocol(req: DownstreamRequest): string;
  /**
   * Envoy's codec-level checks before routing: the local reply to send (HTTP/1.0 without
   * `Host` support → 426, no authority → 400), or undefined when the request may be routed.
   */
  refuse(req: DownstreamRequest): LocalReply | undefined;
  /**
   * The connection's socket (per-connection caches, addresses): `req.socket` on HTTP/1.1, the
   * session's socket on HTTP/2 (the request's own socket proxy is unusable once the stream closes).
   */
  connectionSocket(req: DownstreamRequest): Socket;
  /**
   * Whether the request has a body: on HTTP/1.1 what its head announced (`content-length` > 0 or
   * `transfer-encoding`), on HTTP/2 whether the HEADERS frame did not end the stream.
   */
  hasBody(req: DownstreamRequest, announced: boolean): boolean;
  /** `Host` on HTTP/1.1, `:authority` (else `host`) on HTTP/2, port included. */
  authority(req: DownstreamRequest): string;
  /**
   * Request body bytes received (Envoy `%BYTES_RECEIVED%`): the DATA payload counted as it arrived
   * on HTTP/2, `content-length` on HTTP/1.1.
   */
  bodyBytesReceived(req: DownstreamRequest): number;
  /**
   * Whether the stream closed before its response was complete (the client reset it or dropped the
   * connection: Envoy's DC): HTTP/1.1 `!writableFinished`; HTTP/2 the stream's `aborted` flag (node
   * ends the writable side of a reset stream itself, so `writableFinished` cannot tell).
   */
  closedEarly(res: DownstreamResponse): boolean;
  /** Whether the response was reset or the stream destroyed (nothing more can be written). */
  isDestroyed(res: DownstreamResponse): boolean;
  /**
   * Writes a local reply (Envoy's `server`, `content-type`, `content-length`); HTTP/1.1 closes the
   * connection after a 400 as Envoy's HTTP/1 codec does.
   * @returns bytes of body written.
   */
  writeLocalReply(res: DownstreamResponse, reply: LocalReply, extra?: Record<string, string>): number;
}
