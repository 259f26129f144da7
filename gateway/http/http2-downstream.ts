/**
 * The HTTP/2 downstream codec's server for one listener (or HTTPS chain): an unbound node:http2
 * server that receives connections already classified as HTTP/2 (h2c preface or ALPN `h2`), runs
 * each stream through the connection manager, keeps its sessions so they can be sent GOAWAY on
 * drain, and counts and logs what its defences do.
 *
 * Settings (Envoy's `Http2ProtocolOptions` defaults, which Istio leaves alone on gateways, where
 * node allows): max concurrent streams 2147483647, header list 60 KiB (`max_request_headers_kb`).
 * The initial stream window is 1 MiB rather than Envoy's 256 MiB: node keeps unread DATA in memory
 * up to the window, and 1 MiB is Envoy's own per-connection buffer limit, so memory per stream stays
 * bounded as it does in Envoy. `SETTINGS_ENABLE_CONNECT_PROTOCOL` is advertised (Envoy's
 * `allow_connect`): WebSocket over HTTP/2 (RFC 8441 extended CONNECT) is routed and tunnelled like
 * an HTTP/1.1 upgrade, and every other CONNECT is refused 403 on its stream
 * (gateway/http/extended-connect.ts).
 *
 * Defences, counted and logged; the process and the other connections are unaffected:
 * - rapid reset (CVE-2023-44487): a burst of resets beyond nghttp2's rate limit gets GOAWAY from
 *   nghttp2 and its streams never reach the router; slower bursts are caught by Envoy's
 *   premature-reset rule ({@link PREMATURE_RESET_MIN_STREAMS}): GOAWAY `ENHANCE_YOUR_CALM`, close;
 * - SETTINGS/PING floods (ACKs piling up unread) and malformed frames: nghttp2 fails the session,
 *   node sends GOAWAY and closes it (`session 'error'`);
 * - a header block over 60 KiB: nghttp2 refuses that stream (RST_STREAM), the session goes on.
 */
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { StatStore } from '../../telemetry/stats.js';
import type { DownstreamRequest, DownstreamResponse } from './downstream-codec.js';
import { extendedConnectUpgrade } from './extended-connect.js';
import { bindSessionSocket, CountingHttp2Request } from './http2-codec.js';
import type { UpgradeRequest } from './upgrade.js';

/** Envoy's default `max_request_headers_kb`, bytes. */
const H2_MAX_HEADER_LIST_BYTES = 60 * 1024;
/** Envoy's default `max_concurrent_streams`. */
const H2_MAX_CONCURRENT_STREAMS = 2147483647;
/** Initial stream flow-control window, bytes (see the module comment). */
const H2_INITIAL_WINDOW_BYTES = 1024 * 1024;

/** Downstream connection idle timeout, ms (Envoy's HCM `idle_timeout` default). */
const H2_IDLE_TIMEOUT_MS = 3_600_000;

/** Stat names under `listener.<name>.` (Envoy's `http2.*` codec stats). */
export const HTTP2_STATS = {
  /** Sessions accepted. */
  sessions: 'http2.downstream_cx_total',
  /** Streams the client reset. */
  rxReset: 'http2.rx_reset',
  /** Streams the codec reset: a request whose DATA disagrees with its `content-length` (PROTOCOL_ERROR). */
  txReset: 'http2.tx_reset',
  /** Sessions ended by a protocol violation or flood (GOAWAY with an error code). */
  protocolError: 'http2.rx_messaging_error',
  /** Connections closed for too many premature resets (Envoy `downstream_rq_too_many_premature_resets`). */
  prematureReset: 'http2.downstream_rq_too_many_premature_resets',
  /** Frames node could not send or that were refused (oversized header blocks among them). */
  frameError: 'http2.frame_error',
  /** GOAWAY frames sent on drain. */
  goawaySent: 'http2.goaway_sent',
} as const;

/**
 * Envoy's premature-reset accounting (1.27.1, CVE-2023-44487): a stream the client resets within
 * this many ms of opening it is premature ...
 */
const PREMATURE_RESET_MS = 1000;
/** ... and once a connection has opened this many streams, more than half of them premature closes it. */
const PREMATURE_RESET_MIN_STREAMS = 500;

/** Socket errors of a client that left (not a protocol violation): logged at debug, not counted. */
const CLIENT_GONE: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);

/** One listener's HTTP/2 sessions. */
export class Http2Downstream {
  readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** The socket being handed to the server by {@link accept}, for the session it creates. */
  private accepting: Socket | undefined;

  /**
   * @param handler the connection manager's stream handler for the HTTP/2 codec; CONNECT streams
   *   reach it with their upgrade details.
   * @param statPrefix `listener.<name>` at the time of counting (the listener may be renamed on reload).
   */
  constructor(
    handler: (req: DownstreamRequest, res: DownstreamResponse, upgrade?: UpgradeRequest) => void,
    private readonly stats: StatStore,
    private readonly statPrefix: () => string,
    private readonly log: Logger,
  ) {
    const server = http2.createServer(
      {
        // node's defaults, named: 10 MB of session memory before new streams are refused
        // (ENHANCE_YOUR_CALM), 128 header fields per block (Envoy's `max_headers_count` is 100,
        // pseudo-headers not counted).
        maxSessionMemory: 10,
        settings: {
          maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
          maxHeaderListSize: H2_MAX_HEADER_LIST_BYTES,
          initialWindowSize: H2_INITIAL_WINDOW_BYTES,
          enablePush: false,
          enableConnectProtocol: true,
        },
        maxHeaderListPairs: 128,
        Http2ServerRequest: CountingHttp2Request,
      },
      handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    server.on('session', (session) => this.onSession(session));
    // node's compatibility layer hands CONNECT streams to 'connect' instead of 'request'.
    server.on('connect', (req, res) => {
      handler(
        req as unknown as DownstreamRequest,
        res as unknown as DownstreamResponse,
        extendedConnectUpgrade(req),
      );
    });
    // Envoy's connection idle timeout (1 h): node destroys a session idle this long. This also ends
    // sessions nghttp2 itself sent GOAWAY to (reset-rate limit): node stops reading those sockets.
    server.setTimeout(H2_IDLE_TIMEOUT_MS);
    this.server = server;
  }

  /** Hands over a connection known to speak HTTP/2 (plaintext after the preface peek, or TLS with ALPN h2). */
  accept(socket: Socket): void {
    // HTTP/2 has no use for a half-open connection, but node:http's server (which accepted the h2c
    // socket) keeps one open after the client's FIN: the session would never hear that its client
    // left, and its streams and upstream requests would wait for the idle timeout.
    socket.allowHalfOpen = false;
    // node creates the session (and emits 'session') synchronously inside this emit.
    this.accepting = socket;
    try {
      this.server.emit('connection', socket);
    } finally {
      this.accepting = undefined;
    }
  }

  /**
   * Sends GOAWAY (NO_ERROR) to every open session: no new streams are accepted, streams in flight
   * finish, then each session closes (Envoy's drain). Returns the number of sessions told.
   */
  goAway(): number {
    let n = 0;
    for (const s of this.sessions) {
      if (s.closed || s.destroyed) continue;
      s.close();
      n++;
    }
    if (n > 0) this.stats.inc(`${this.statPrefix()}.${HTTP2_STATS.goawaySent}`, n);
    return n;
  }

  /** Sessions currently open. */
  get openSessions(): number {
    return this.sessions.size;
  }

  private onSession(session: http2.ServerHttp2Session): void {
    const prefix = this.statPrefix();
    this.sessions.add(session);
    if (this.accepting !== undefined) bindSessionSocket(session, this.accepting);
    this.stats.inc(`${prefix}.${HTTP2_STATS.sessions}`);
    const resets = { streams: 0, premature: 0 };
    session.on('stream', (stream, headers) => {
      resets.streams++;
      const opened = performance.now();
      // `aborted`: the client reset the stream before it ended (the 'aborted' event is not emitted
      // when the request had already ended, so the flag is read on close).
      stream.once('close', () => {
        if (!stream.aborted) return;
        if (
          stream.rstCode === http2.constants.NGHTTP2_PROTOCOL_ERROR &&
          headers['content-length'] !== undefined
        ) {
          // nghttp2 (here as in Envoy) resets a request whose DATA disagrees with its content-length
          // (RFC 9113 §8.1.1): our reset, not the client's. (A client resetting its own stream with
          // PROTOCOL_ERROR after announcing a length would be counted here too.)
          this.stats.inc(`${this.statPrefix()}.${HTTP2_STATS.txReset}`);
          this.log.warn(
            { listener: this.statPrefix(), stream: stream.id, contentLength: headers['content-length'] },
            'HTTP/2 stream reset (PROTOCOL_ERROR): DATA does not match content-length',
          );
          return;
        }
        this.stats.inc(`${this.statPrefix()}.${HTTP2_STATS.rxReset}`);
        if (performance.now() - opened < PREMATURE_RESET_MS) resets.premature++;
        if (resets.streams >= PREMATURE_RESET_MIN_STREAMS && resets.premature * 2 > resets.streams) {
          this.tooManyResets(session, resets.streams, resets.premature);
        }
      });
    });
    session.on('frameError', (type: number, code: number, id: number) => {
      this.stats.inc(`${this.statPrefix()}.${HTTP2_STATS.frameError}`);
      this.log.debug({ listener: this.statPrefix(), type, code, stream: id }, 'HTTP/2 frame error');
    });
    session.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== undefined && CLIENT_GONE.has(err.code)) {
        // The client's socket went away (reset, broken pipe): no protocol error of ours to count.
        this.log.debug(
          { listener: this.statPrefix(), code: err.code },
          'HTTP/2 connection closed by the client',
        );
        return;
      }
      // nghttp2 found a protocol violation or a flood (SETTINGS/PING ACKs piling up): node sends
      // GOAWAY and destroys the session; counted and logged, the process goes on.
      this.stats.inc(`${this.statPrefix()}.${HTTP2_STATS.protocolError}`);
      this.log.warn(
        { listener: this.statPrefix(), code: err.code, message: err.message },
        'HTTP/2 session closed on a protocol error or flood',
      );
    });
    session.once('close', () => {
      this.sessions.delete(session);
    });
  }

  /** Envoy's premature-reset defence: GOAWAY `ENHANCE_YOUR_CALM`, then the connection is closed. */
  private tooManyResets(session: http2.ServerHttp2Session, streams: number, premature: number): void {
    if (session.destroyed) return;
    this.stats.inc(`${this.statPrefix()}.${HTTP2_STATS.prematureReset}`);
    this.log.warn(
      { listener: this.statPrefix(), streams, premature, remote: session.socket?.remoteAddress },
      'HTTP/2 connection closed: too many premature stream resets (rapid reset)',
    );
    session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  }
}
