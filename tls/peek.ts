// Reads a ClientHello off a live socket for TLS PASSTHROUGH routing, the job Envoy's `tls_inspector`
// listener filter does with MSG_PEEK. Node has no peek on net.Socket, so the bytes are consumed and
// handed back in `buffered` for the caller to replay to the upstream before piping the rest.
import type net from 'node:net';

import { parseClientHello, type ClientHelloResult } from './client-hello.js';

/**
 * Limits for {@link peekClientHello}.
 *
 * - `maxBytes`: most bytes to examine, default 16384 (Envoy's historical `tls_inspector` cap,
 *   SSL3_RT_MAX_PLAIN_LENGTH; newer Envoy makes it configurable up to 64 KiB). A ClientHello whose records
 *   end beyond this is `too-large`; current browser hellos, post-quantum key shares included, are ~2 KiB.
 * - `timeoutMs`: milliseconds from the call until a decision is forced, default 5000. Envoy's default
 *   `listener_filter_timeout` is 15 s; meshgate chooses a shorter default because a real client sends its
 *   hello in the first round trip, and a silent connection only holds a file descriptor.
 */
interface PeekOptions {
  maxBytes?: number;
  timeoutMs?: number;
}

/**
 * Result of {@link peekClientHello}. Every variant carries `buffered`: all bytes read from the socket so far
 * (possibly more than the ClientHello, possibly more than `maxBytes` since a read is never split), which the
 * caller must write to the upstream before piping the socket.
 *
 * - `hello`: a complete ClientHello; `hello.recordBytes` bytes of `buffered` are its records.
 * - `not-tls`: the bytes are not TLS or are a malformed ClientHello (`reason` from the parser). Envoy's
 *   `tls_inspector` does not close such connections; it leaves the transport protocol unset and lets filter
 *   chain matching decide, so the caller chooses.
 * - `timeout`: `timeoutMs` elapsed without a decision (Envoy closes the connection in this case unless
 *   `continue_on_listener_filters_timeout` is set).
 * - `too-large`: the ClientHello would need more than `maxBytes` bytes.
 * - `closed`: the peer ended the stream, the socket errored, or it was already closed, before a decision.
 */
export type PeekOutcome =
  | { kind: 'hello'; hello: Extract<ClientHelloResult, { status: 'complete' }>; buffered: Buffer }
  | { kind: 'not-tls'; reason: string; buffered: Buffer }
  | { kind: 'timeout'; buffered: Buffer }
  | { kind: 'too-large'; buffered: Buffer }
  | { kind: 'closed'; buffered: Buffer };

const DEFAULT_MAX_BYTES = 16_384;
const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * Reads from `socket` until a ClientHello is parsed or a limit is hit, without losing any byte.
 *
 * Attaches temporary `data`, `end`, `close` and `error` listeners and a single timer; on decision it
 * removes exactly those, clears the timer and pauses the socket, so no further data is emitted until the
 * caller resumes it (e.g. `socket.pipe(upstream)`). Socket errors during the peek are absorbed into
 * `closed`; afterwards error handling is the caller's again. The socket must not have an encoding set.
 * The returned promise never rejects; the function does not destroy or write to the socket.
 *
 * The verdict depends only on the first `maxBytes` bytes, never on how TCP segmented them, because the
 * parser is monotone and is always applied to at most `maxBytes` bytes.
 *
 * @param socket an accepted connection that nothing else is reading yet.
 * @param opts byte and time limits, see {@link PeekOptions}.
 * @throws RangeError synchronously if `maxBytes` is not a positive integer or `timeoutMs` is not a finite
 *   number ≥ 0.
 */
export function peekClientHello(socket: net.Socket, opts: PeekOptions = {}): Promise<PeekOutcome> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(maxBytes) || maxBytes < 1)
    throw new RangeError(`maxBytes must be a positive integer`);
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0)
    throw new RangeError(`timeoutMs must be a finite number ≥ 0`);

  return new Promise<PeekOutcome>((resolve) => {
    // Grows by doubling so each segment costs amortised O(1) copying, not a full re-concat.
    let storage = Buffer.allocUnsafe(Math.min(maxBytes, 4096));
    let length = 0;
    let settled = false;
    const buffered = (): Buffer => Buffer.from(storage.subarray(0, length));

    const finish = (outcome: PeekOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onClosed);
      socket.off('close', onClosed);
      socket.off('error', onClosed);
      // Removing the last 'data' listener does not stop a flowing stream; without this, bytes arriving
      // before the caller pipes would be emitted to nobody and lost.
      socket.pause();
      resolve(outcome);
    };

    function onData(chunk: Buffer | string): void {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (length + bytes.length > storage.length) {
        let capacity = storage.length * 2;
        while (capacity < length + bytes.length) capacity *= 2;
        const grown = Buffer.allocUnsafe(capacity);
        storage.copy(grown, 0, 0, length);
        storage = grown;
      }
      bytes.copy(storage, length);
      length += bytes.length;

      const result = parseClientHello(storage.subarray(0, Math.min(length, maxBytes)));
      if (result.status === 'complete') {
        finish({ kind: 'hello', hello: result, buffered: buffered() });
      } else if (result.status === 'invalid') {
        finish({ kind: 'not-tls', reason: result.reason, buffered: buffered() });
      } else if (length >= maxBytes) {
        finish({ kind: 'too-large', buffered: buffered() });
      }
    }

    function onClosed(): void {
      finish({ kind: 'closed', buffered: buffered() });
    }

    const timer = setTimeout(() => finish({ kind: 'timeout', buffered: buffered() }), timeoutMs);

    socket.on('data', onData);
    socket.on('end', onClosed);
    socket.on('close', onClosed);
    socket.on('error', onClosed);

    // No 'end' or 'close' would ever fire for a socket that is already finished.
    if (socket.destroyed || socket.readableEnded) onClosed();
  });
}
