/**
 * Envoy's `codec_type: AUTO` on a plaintext port: HTTP/2 with prior knowledge (h2c) and HTTP/1.1
 * share the port, told apart by the first bytes, which for HTTP/2 are the 24-byte connection
 * preface (RFC 9113 §3.4). The first chunk is read, put back with `unshift`, and the socket handed
 * to the chosen codec's server.
 *
 * Why a peek and not node's `allowHTTP1`: that option exists only on TLS servers (it switches on
 * ALPN), and node:http2's plaintext server answers an HTTP/1.1 request with a GOAWAY. The peek costs
 * one `data` listener per connection, not per request (node:http2 takes the bytes already buffered
 * on the socket when its session starts).
 */
import type { Socket } from 'node:net';

/** The HTTP/2 client connection preface. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Classifies the bytes read so far: `h2` once the whole preface is there, `h1` as soon as they
 * differ from it, `undefined` while they are a strict prefix of it.
 */
function classifyPreface(buf: Buffer): 'h1' | 'h2' | undefined {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) !== 0) return 'h1';
  return n === H2_PREFACE.length ? 'h2' : undefined;
}

/**
 * Waits for enough bytes to tell the protocol, puts them back, and calls the matching handler.
 * A connection that closes first is dropped (it never sent a request); one that sends nothing for
 * `firstBytesTimeoutMs` (0: no limit) is destroyed. One whose client half-closes (FIN) first is
 * destroyed too, as Envoy closes on a remote close: node:http's sockets allow half-open, so it
 * would otherwise sit in CLOSE-WAIT until the timeout and hold a drain until its deadline.
 */
export function sniffPreface(
  socket: Socket,
  onH1: (s: Socket) => void,
  onH2: (s: Socket) => void,
  firstBytesTimeoutMs = 0,
): void {
  let buffered: Buffer | undefined;
  // Until it is handed over, neither node:http's headers timeout nor the HTTP/2 idle timeout
  // watches the connection: a client that never sends its first bytes is closed here instead.
  const onTimeout = (): void => void socket.destroy();
  if (firstBytesTimeoutMs > 0) socket.setTimeout(firstBytesTimeoutMs, onTimeout);
  const onData = (chunk: Buffer): void => {
    buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
    const kind = classifyPreface(buffered);
    if (kind === undefined) return;
    socket.removeListener('data', onData);
    socket.removeListener('error', onError);
    socket.removeListener('end', onError);
    if (firstBytesTimeoutMs > 0) {
      socket.setTimeout(0);
      socket.removeListener('timeout', onTimeout);
    }
    socket.pause();
    socket.unshift(buffered);
    if (kind === 'h2') return onH2(socket);
    onH1(socket);
    socket.resume();
  };
  const onError = (): void => void socket.destroy();
  socket.on('data', onData);
  socket.once('error', onError);
  socket.once('end', onError);
}
