/** Raw HTTP/2 bytes for tests that speak the wire protocol below node:http2's client. */

/** The client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * One HTTP/2 frame: the 9-byte header (24-bit payload length, type, flags, 31-bit stream id) and
 * `payload`.
 */
export function h2Frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h.writeUInt8(type, 3);
  h.writeUInt8(flags, 4);
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
