// Pure parser for the first flight a TLS client sends: the ClientHello, possibly spread over several
// TLS records and arriving in arbitrary TCP segments. It is the meshgate counterpart of the parsing
// Envoy's `tls_inspector` listener filter delegates to BoringSSL: it reads just enough to route a TLS
// PASSTHROUGH connection (SNI, ALPN) and never decrypts or answers anything.

/**
 * Outcome of {@link parseClientHello}.
 *
 * - `complete`: the buffer holds a whole, well-formed ClientHello.
 *   - `serverName`: the RFC 6066 §3 `server_name` extension's `host_name` entry, ASCII-lowercased, exactly
 *     as sent otherwise (a trailing dot is kept); `undefined` when the extension or a `host_name` entry is
 *     absent (e.g. clients connecting to an IP literal). With Encrypted ClientHello this is the outer,
 *     public name.
 *   - `alpn`: the RFC 7301 §3.1 `application_layer_protocol_negotiation` protocol names in client
 *     preference order, each byte mapped to one UTF-16 code unit (Latin-1); `[]` when the extension is absent.
 *   - `legacyVersion`: the ClientHello `legacy_version` (RFC 8446 §4.1.2) as a 16-bit number, e.g.
 *     `0x0303` for TLS 1.2 and for TLS 1.3 clients alike.
 *   - `supportedVersions`: the RFC 8446 §4.2.1 `supported_versions` list as 16-bit numbers in client order,
 *     GREASE values (RFC 8701) included; `[]` when the extension is absent (TLS ≤ 1.2-only clients).
 *   - `recordBytes`: length in bytes of the TLS records (headers included) that carried the ClientHello,
 *     counted from the start of the buffer. Bytes after that offset belong to whatever the client sent next.
 * - `incomplete`: everything present is a valid prefix of a ClientHello; more bytes are needed.
 * - `invalid`: the bytes are not TLS, or are a malformed ClientHello; `reason` is a short human-readable
 *   explanation for logs. More bytes can never turn this into another status.
 */
export type ClientHelloResult =
  | {
      status: 'complete';
      serverName: string | undefined;
      alpn: string[];
      legacyVersion: number;
      supportedVersions: number[];
      recordBytes: number;
    }
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string };

const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_TYPE_CLIENT_HELLO = 1;
const RECORD_HEADER_BYTES = 5;
const HANDSHAKE_HEADER_BYTES = 4;
// RFC 8446 §5.1 caps plaintext fragments at 2^14; the extra 2048 tolerates the TLS 1.2 compressed-record
// allowance (RFC 5246 §6.2.2) so a peculiar but harmless client is not misclassified as "not TLS".
const MAX_RECORD_FRAGMENT_BYTES = 2 ** 14 + 2048;
const RANDOM_BYTES = 32;
const MAX_SESSION_ID_BYTES = 32;
// legacy_version + random + session_id<0..32> + cipher_suites<2..> + legacy_compression_methods<1..>.
const MIN_CLIENT_HELLO_BODY_BYTES = 2 + RANDOM_BYTES + 1 + 2 + 2 + 1 + 1;
const MAX_HOST_NAME_BYTES = 255;

const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
const SERVER_NAME_TYPE_HOST_NAME = 0;

// Only a parser bug can produce this reason; the property tests assert it never appears.
const INTERNAL_ERROR_REASON_PREFIX = 'internal parser error';

/**
 * Parses a TLS ClientHello from the bytes a client has sent so far.
 *
 * Reads TLS plaintext records (RFC 8446 §5.1: content type 22 `handshake`, record version 0x0300–0x0304,
 * fragment length 1 to 2^14 + 2048 bytes), reassembles the first handshake message across as many records as
 * it spans, requires handshake type 1 (`client_hello`), then walks the body (RFC 8446 §4.1.2):
 * `legacy_version`, `random`, `legacy_session_id`, `cipher_suites`, `legacy_compression_methods` and
 * `extensions`, extracting `server_name` (ext 0, RFC 6066), `application_layer_protocol_negotiation`
 * (ext 16, RFC 7301) and `supported_versions` (ext 43, RFC 8446). Every vector length is bounds-checked
 * against its enclosing vector; duplicate extensions, trailing bytes and SNI host names containing bytes
 * outside visible ASCII (0x21–0x7E) are `invalid`.
 *
 * The result is monotone in the input, so callers may re-parse a growing buffer after every TCP segment:
 * a prefix of a ClientHello is `incomplete`; once `invalid` or `complete`, appending bytes never changes
 * the result. Non-TLS traffic is rejected as soon as the distinguishing byte arrives (plain HTTP after its
 * first byte). SSLv2-format hellos are `invalid`.
 *
 * Pure and synchronous; allocates only when a ClientHello spans several records. Never throws: an escaped
 * exception (a parser bug) is reported as `invalid` with a reason starting with `internal parser error`.
 *
 * @param buf bytes received so far, starting at the first byte of the connection.
 */
export function parseClientHello(buf: Uint8Array): ClientHelloResult {
  try {
    return parseRecords(buf);
  } catch (err) {
    return invalid(`${INTERNAL_ERROR_REASON_PREFIX}: ${String(err)}`);
  }
}

function invalid(reason: string): { status: 'invalid'; reason: string } {
  return { status: 'invalid', reason };
}

function incomplete(): { status: 'incomplete' } {
  return { status: 'incomplete' };
}

function hex(n: number, digits: number): string {
  return `0x${n.toString(16).padStart(digits, '0')}`;
}

/** Walks record headers, collecting handshake fragments until the ClientHello message is whole. */
function parseRecords(buf: Uint8Array): ClientHelloResult {
  // Fragments are views into `buf`; they are copied only if the message spans several records.
  const fragments: Uint8Array[] = [];
  let collected = 0;
  let messageBytes: number | undefined;
  let offset = 0;

  for (;;) {
    if (offset >= buf.length) return incomplete();
    const contentType = buf[offset]!;
    if (contentType !== CONTENT_TYPE_HANDSHAKE) {
      return invalid(
        offset === 0
          ? `not a TLS handshake record (first byte ${hex(contentType, 2)})`
          : `record of content type ${contentType} before the ClientHello was complete`,
      );
    }
    if (offset + 1 < buf.length && buf[offset + 1] !== 3) {
      return invalid(`unsupported record version major ${buf[offset + 1]}`);
    }
    if (offset + 2 < buf.length && buf[offset + 2]! > 4) {
      return invalid(`unsupported record version ${hex(0x0300 | buf[offset + 2]!, 4)}`);
    }
    if (offset + RECORD_HEADER_BYTES > buf.length) return incomplete();

    const fragmentLength = (buf[offset + 3]! << 8) | buf[offset + 4]!;
    // RFC 8446 §5.1 forbids zero-length handshake fragments; no real client sends them.
    if (fragmentLength === 0) return invalid('zero-length handshake record');
    if (fragmentLength > MAX_RECORD_FRAGMENT_BYTES) {
      return invalid(`record length ${fragmentLength} exceeds ${MAX_RECORD_FRAGMENT_BYTES}`);
    }

    const fragmentStart = offset + RECORD_HEADER_BYTES;
    const available = Math.min(fragmentLength, buf.length - fragmentStart);
    fragments.push(buf.subarray(fragmentStart, fragmentStart + available));
    collected += available;

    if (collected >= 1 && byteAt(fragments, 0) !== HANDSHAKE_TYPE_CLIENT_HELLO) {
      return invalid(`first handshake message has type ${byteAt(fragments, 0)}, not client_hello (1)`);
    }
    if (messageBytes === undefined && collected >= HANDSHAKE_HEADER_BYTES) {
      const bodyLength = (byteAt(fragments, 1) << 16) | (byteAt(fragments, 2) << 8) | byteAt(fragments, 3);
      if (bodyLength < MIN_CLIENT_HELLO_BODY_BYTES) {
        return invalid(
          `ClientHello length ${bodyLength} is below the minimum ${MIN_CLIENT_HELLO_BODY_BYTES}`,
        );
      }
      messageBytes = HANDSHAKE_HEADER_BYTES + bodyLength;
    }

    // recordBytes must cover whole records, so wait for the rest of the record even if the message is done.
    if (available < fragmentLength) return incomplete();
    offset = fragmentStart + fragmentLength;

    if (messageBytes !== undefined && collected >= messageBytes) {
      const message = concatPrefix(fragments, messageBytes);
      return parseClientHelloBody(message.subarray(HANDSHAKE_HEADER_BYTES), offset);
    }
  }
}

/** Byte `index` of the logical concatenation of `parts`; callers guarantee it exists. */
function byteAt(parts: readonly Uint8Array[], index: number): number {
  let rest = index;
  for (const part of parts) {
    if (rest < part.length) return part[rest]!;
    rest -= part.length;
  }
  throw new RangeError(`byte ${index} beyond collected fragments`);
}

/** The first `length` bytes of the concatenation of `parts` (no copy when the first part suffices). */
function concatPrefix(parts: readonly Uint8Array[], length: number): Uint8Array {
  if (parts[0]!.length >= length) return parts[0]!.subarray(0, length);
  const out = new Uint8Array(length);
  let written = 0;
  for (const part of parts) {
    if (written >= length) break;
    const take = Math.min(part.length, length - written);
    out.set(part.subarray(0, take), written);
    written += take;
  }
  return out;
}

/** Thrown-free failure value for the body walkers; converted to an `invalid` result at the top. */
class Malformed {
  constructor(readonly reason: string) {}
}

/** Bounds-checked big-endian cursor over `buf[start, end)`; every read returns `undefined` past `end`. */
class ByteReader {
  private pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number | undefined {
    if (this.remaining < 1) return undefined;
    return this.buf[this.pos++]!;
  }

  u16(): number | undefined {
    if (this.remaining < 2) return undefined;
    const value = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return value;
  }

  skip(n: number): boolean {
    if (this.remaining < n) return false;
    this.pos += n;
    return true;
  }

  /** Reads a TLS vector's 1- or 2-byte length prefix and returns a reader confined to its contents. */
  vector(lengthBytes: 1 | 2): ByteReader | undefined {
    const length = lengthBytes === 1 ? this.u8() : this.u16();
    if (length === undefined || this.remaining < length) return undefined;
    const sub = new ByteReader(this.buf, this.pos, this.pos + length);
    this.pos += length;
    return sub;
  }

  /** Remaining bytes as Latin-1 code units, consuming them. */
  latin1(): string {
    let out = '';
    while (this.pos < this.end) out += String.fromCharCode(this.buf[this.pos++]!);
    return out;
  }
}

function parseClientHelloBody(body: Uint8Array, recordBytes: number): ClientHelloResult {
  const r = new ByteReader(body, 0, body.length);

  const legacyVersion = r.u16();
  if (legacyVersion === undefined) return invalid('truncated legacy_version');
  if (legacyVersion >> 8 !== 3) return invalid(`unsupported legacy_version ${hex(legacyVersion, 4)}`);
  if (!r.skip(RANDOM_BYTES)) return invalid('truncated random');

  const sessionId = r.vector(1);
  if (sessionId === undefined) return invalid('legacy_session_id overruns the ClientHello');
  if (sessionId.remaining > MAX_SESSION_ID_BYTES) return invalid('legacy_session_id longer than 32 bytes');

  const cipherSuites = r.vector(2);
  if (cipherSuites === undefined) return invalid('cipher_suites overruns the ClientHello');
  if (cipherSuites.remaining < 2 || cipherSuites.remaining % 2 !== 0) {
    return invalid(`cipher_suites length ${cipherSuites.remaining} is empty or odd`);
  }

  const compression = r.vector(1);
  if (compression === undefined) return invalid('legacy_compression_methods overruns the ClientHello');
  if (compression.remaining < 1) return invalid('legacy_compression_methods is empty');

  let serverName: string | undefined;
  let alpn: string[] = [];
  let supportedVersions: number[] = [];

  // Pre-extension (SSL 3.0 era) ClientHellos simply end here.
  if (r.remaining > 0) {
    const extensions = r.vector(2);
    if (extensions === undefined) return invalid('extensions overrun the ClientHello');
    if (r.remaining !== 0) return invalid(`${r.remaining} trailing bytes after extensions`);

    const seen = new Set<number>();
    while (extensions.remaining > 0) {
      const type = extensions.u16();
      const data = type === undefined ? undefined : extensions.vector(2);
      if (type === undefined || data === undefined) return invalid('truncated extension');
      // RFC 8446 §4.2: at most one extension of each type.
      if (seen.has(type)) return invalid(`duplicate extension ${type}`);
      seen.add(type);

      if (type === EXT_SERVER_NAME) {
        const parsed = parseServerName(data);
        if (parsed instanceof Malformed) return invalid(parsed.reason);
        serverName = parsed;
      } else if (type === EXT_ALPN) {
        const parsed = parseAlpn(data);
        if (parsed instanceof Malformed) return invalid(parsed.reason);
        alpn = parsed;
      } else if (type === EXT_SUPPORTED_VERSIONS) {
        const parsed = parseSupportedVersions(data);
        if (parsed instanceof Malformed) return invalid(parsed.reason);
        supportedVersions = parsed;
      }
    }
  }

  return { status: 'complete', serverName, alpn, legacyVersion, supportedVersions, recordBytes };
}

/** RFC 6066 §3 `ServerNameList`; returns the lowercased `host_name`, if any. */
function parseServerName(data: ByteReader): string | undefined | Malformed {
  const list = data.vector(2);
  if (list === undefined || data.remaining !== 0) return new Malformed('server_name list length mismatch');
  if (list.remaining === 0) return new Malformed('empty server_name list');

  let hostName: string | undefined;
  while (list.remaining > 0) {
    const nameType = list.u8();
    // Only host_name (0) is defined; like common TLS stacks, assume any future type is also
    // a 2-byte-length-prefixed opaque value so the walk can continue.
    const name = nameType === undefined ? undefined : list.vector(2);
    if (nameType === undefined || name === undefined) return new Malformed('truncated server_name entry');
    if (nameType !== SERVER_NAME_TYPE_HOST_NAME) continue;
    // RFC 6066 §3: no more than one name of the same name_type.
    if (hostName !== undefined) return new Malformed('more than one host_name in server_name');
    if (name.remaining === 0) return new Malformed('empty host_name');
    if (name.remaining > MAX_HOST_NAME_BYTES)
      return new Malformed(`host_name longer than ${MAX_HOST_NAME_BYTES}`);
    const raw = name.latin1();
    let lower = '';
    for (let i = 0; i < raw.length; i++) {
      const code = raw.charCodeAt(i);
      if (code < 0x21 || code > 0x7e) return new Malformed(`host_name contains byte ${hex(code, 2)}`);
      lower += code >= 0x41 && code <= 0x5a ? String.fromCharCode(code + 0x20) : raw[i];
    }
    hostName = lower;
  }
  return hostName;
}

/** RFC 7301 §3.1 `ProtocolNameList`: `ProtocolName protocol_name_list<2..2^16-1>`, names `<1..2^8-1>`. */
function parseAlpn(data: ByteReader): string[] | Malformed {
  const list = data.vector(2);
  if (list === undefined || data.remaining !== 0) return new Malformed('ALPN list length mismatch');
  if (list.remaining === 0) return new Malformed('empty ALPN list');
  const names: string[] = [];
  while (list.remaining > 0) {
    const name = list.vector(1);
    if (name === undefined) return new Malformed('truncated ALPN protocol name');
    if (name.remaining === 0) return new Malformed('empty ALPN protocol name');
    names.push(name.latin1());
  }
  return names;
}

/** RFC 8446 §4.2.1 ClientHello form: `ProtocolVersion versions<2..254>`. */
function parseSupportedVersions(data: ByteReader): number[] | Malformed {
  const list = data.vector(1);
  if (list === undefined || data.remaining !== 0) return new Malformed('supported_versions length mismatch');
  if (list.remaining < 2 || list.remaining % 2 !== 0) {
    return new Malformed(`supported_versions length ${list.remaining} is empty or odd`);
  }
  const versions: number[] = [];
  for (let v = list.u16(); v !== undefined; v = list.u16()) versions.push(v);
  return versions;
}
