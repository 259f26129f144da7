import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

import { parseClientHello, type ClientHelloResult } from '../../tls/client-hello.js';
import {
  alpnExtension,
  buildHello,
  captureClientHello,
  clientHelloBody,
  commandClient,
  handshakeMessage,
  lengthFields,
  nodeTlsClient,
  records,
  sniExtension,
  supportedVersionsExtension,
  unframe,
  vec,
  type ClientLauncher,
} from './fixtures/hellos.js';

const TLS12 = 0x0303;
const TLS13 = 0x0304;

interface CapturedCase {
  name: string;
  launch: ClientLauncher;
  serverName: string | undefined;
  alpn: string[];
  supportedVersions: number[];
  /** System OpenSSL policy (openssl.cnf MinProtocol) may append TLS 1.1/1.0 for curl and s_client defaults. */
  olderVersionsByPolicy?: true;
}

const OLDER_VERSIONS = [0x0302, 0x0301, 0x0300];

const curl = (...extra: string[]): ClientLauncher =>
  commandClient('curl', [
    '-sk',
    '--max-time',
    '10',
    '--resolve',
    'foo.example.com:{port}:127.0.0.1',
    ...extra,
    'https://foo.example.com:{port}/',
  ]);
const sClient = (...extra: string[]): ClientLauncher =>
  commandClient('openssl', ['s_client', '-connect', '127.0.0.1:{port}', ...extra]);

const CASES: CapturedCase[] = [
  {
    name: 'node tls 1.3, mixed-case SNI, h2+http/1.1',
    launch: nodeTlsClient({ servername: 'Node.Example.COM', ALPNProtocols: ['h2', 'http/1.1'] }),
    serverName: 'node.example.com',
    alpn: ['h2', 'http/1.1'],
    supportedVersions: [TLS13, TLS12],
  },
  {
    name: 'node without servername (IP literal)',
    launch: nodeTlsClient({}),
    serverName: undefined,
    alpn: [],
    supportedVersions: [TLS13, TLS12],
  },
  {
    name: 'node TLSv1.2 only',
    launch: nodeTlsClient({
      servername: 'v12.example.com',
      ALPNProtocols: ['h2', 'http/1.1'],
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
    }),
    serverName: 'v12.example.com',
    alpn: ['h2', 'http/1.1'],
    supportedVersions: [],
  },
  {
    name: 'node TLSv1.3 only',
    launch: nodeTlsClient({ servername: 'v13.example.com', minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }),
    serverName: 'v13.example.com',
    alpn: [],
    supportedVersions: [TLS13],
  },
  {
    name: 'curl default (TLS 1.3, h2)',
    launch: curl(),
    serverName: 'foo.example.com',
    alpn: ['h2', 'http/1.1'],
    supportedVersions: [TLS13, TLS12],
    olderVersionsByPolicy: true,
  },
  {
    name: 'curl --http1.1',
    launch: curl('--http1.1'),
    serverName: 'foo.example.com',
    alpn: ['http/1.1'],
    supportedVersions: [TLS13, TLS12],
    olderVersionsByPolicy: true,
  },
  {
    name: 'curl --tlsv1.2 --tls-max 1.2',
    launch: curl('--tlsv1.2', '--tls-max', '1.2'),
    serverName: 'foo.example.com',
    alpn: ['h2', 'http/1.1'],
    supportedVersions: [],
  },
  {
    name: 'curl --tlsv1.2 --tls-max 1.2 --http1.1',
    launch: curl('--tlsv1.2', '--tls-max', '1.2', '--http1.1'),
    serverName: 'foo.example.com',
    alpn: ['http/1.1'],
    supportedVersions: [],
  },
  {
    name: 'openssl s_client -servername',
    launch: sClient('-servername', 'x.example.com'),
    serverName: 'x.example.com',
    alpn: [],
    supportedVersions: [TLS13, TLS12],
    olderVersionsByPolicy: true,
  },
  {
    name: 'openssl s_client -tls1_2',
    launch: sClient('-servername', 'x.example.com', '-tls1_2'),
    serverName: 'x.example.com',
    alpn: [],
    supportedVersions: [],
  },
  {
    name: 'openssl s_client -tls1_3 -alpn h2',
    launch: sClient('-servername', 'x.example.com', '-tls1_3', '-alpn', 'h2'),
    serverName: 'x.example.com',
    alpn: ['h2'],
    supportedVersions: [TLS13],
  },
  {
    name: 'openssl s_client -noservername',
    launch: sClient('-noservername'),
    serverName: undefined,
    alpn: [],
    supportedVersions: [TLS13, TLS12],
    olderVersionsByPolicy: true,
  },
];

const captured = new Map<string, Buffer>();

beforeAll(async () => {
  const hellos = await Promise.all(CASES.map((c) => captureClientHello(c.launch)));
  CASES.forEach((c, i) => captured.set(c.name, hellos[i]!));
});

function hello(name: string): Buffer {
  const buf = captured.get(name);
  if (buf === undefined) throw new Error(`no capture for ${name}`);
  return buf;
}

function expectEveryPrefixIncomplete(buf: Uint8Array): void {
  for (let i = 0; i < buf.length; i++) {
    const r = parseClientHello(buf.subarray(0, i));
    if (r.status !== 'incomplete') {
      expect.fail(`prefix of ${i}/${buf.length} bytes gave ${JSON.stringify(r)}`);
    }
  }
}

describe('parseClientHello on ClientHellos captured from real clients', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (name, c) => {
    const buf = hello(name);
    const result = parseClientHello(buf);
    if (result.status !== 'complete') expect.fail(`parse gave ${JSON.stringify(result)}`);
    const extra = result.supportedVersions.slice(c.supportedVersions.length);
    expect(extra).toEqual(c.olderVersionsByPolicy ? OLDER_VERSIONS.slice(0, extra.length) : []);
    const expected: ClientHelloResult = {
      status: 'complete',
      serverName: c.serverName,
      alpn: c.alpn,
      legacyVersion: TLS12,
      supportedVersions: [...c.supportedVersions, ...extra],
      recordBytes: buf.length,
    };
    expect(result).toEqual(expected);
    expectEveryPrefixIncomplete(buf);

    // Bytes the client might send next (TLS 1.3 middlebox-compat CCS, early data) do not change the result.
    const withNext = Buffer.concat([buf, Buffer.from([20, 3, 3, 0, 1, 1, 23, 3, 3])]);
    expect(parseClientHello(withNext)).toEqual(expected);

    // Re-framed across 2–3 records, including splits inside the 4-byte handshake header.
    const message = unframe(buf);
    const third = Math.floor(message.length / 3);
    for (const sizes of [[1], [2, 1], [3, third], [third, third], [message.length - 1], [4]]) {
      const reframed = records(message, sizes, 0x0303);
      expect(reframed.length).toBeGreaterThan(buf.length);
      expect(parseClientHello(reframed), `fragments ${sizes.join('+')}+rest`).toEqual({
        ...expected,
        recordBytes: reframed.length,
      });
    }
    const threeRecords = records(message, [third, third]);
    expectEveryPrefixIncomplete(threeRecords);
  });
});

describe('parseClientHello on constructed inputs', () => {
  it('rejects non-TLS traffic from the first byte', () => {
    expect(parseClientHello(Buffer.from('G'))).toEqual({ status: 'invalid', reason: expect.any(String) });
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')).status).toBe('invalid');
    expect(parseClientHello(Buffer.from([0x80, 0x2e, 0x01])).status).toBe('invalid'); // SSLv2 hello
    expect(parseClientHello(Buffer.from([23, 3, 3])).status).toBe('invalid'); // application data
  });

  it('reports an empty buffer and a lone handshake byte as incomplete', () => {
    expect(parseClientHello(new Uint8Array(0))).toEqual({ status: 'incomplete' });
    expect(parseClientHello(Buffer.from([22]))).toEqual({ status: 'incomplete' });
  });

  it.each([
    ['record version major 2', [22, 2]],
    ['record version 0x0305', [22, 3, 5]],
    ['zero-length record', [22, 3, 1, 0, 0]],
    ['record longer than 2^14+2048', [22, 3, 1, 0x48, 0x01]],
    ['handshake type server_hello', [22, 3, 1, 0, 50, 2]],
    ['ClientHello length below minimum', [22, 3, 1, 0, 50, 1, 0, 0, 40]],
  ])('rejects %s as soon as the bytes show it', (_name, bytes) => {
    expect(parseClientHello(Buffer.from(bytes)).status).toBe('invalid');
  });

  it('accepts the largest allowed record length while waiting for it', () => {
    expect(parseClientHello(Buffer.from([22, 3, 1, 0x48, 0x00, 1, 0, 0x40, 0]))).toEqual({
      status: 'incomplete',
    });
  });

  it('extracts fields from a constructed hello and lowercases the SNI', () => {
    const buf = buildHello({
      legacyVersion: 0x0301,
      extensions: [
        [0xaaaa, new Uint8Array(0)], // GREASE extension, ignored
        sniExtension('WWW.Example.ORG'),
        alpnExtension('spdy/3', 'http/1.1'),
        supportedVersionsExtension(0x3a3a, TLS13, TLS12),
      ],
    });
    expect(parseClientHello(buf)).toEqual({
      status: 'complete',
      serverName: 'www.example.org',
      alpn: ['spdy/3', 'http/1.1'],
      legacyVersion: 0x0301,
      supportedVersions: [0x3a3a, TLS13, TLS12],
      recordBytes: buf.length,
    });
  });

  it('accepts hellos without an extensions block and with an empty one', () => {
    for (const extensions of [undefined, []]) {
      const buf = buildHello({ legacyVersion: 0x0300, sessionId: new Uint8Array(0), extensions });
      expect(parseClientHello(buf)).toMatchObject({ status: 'complete', serverName: undefined, alpn: [] });
    }
  });

  it('reassembles a hello sent in one-byte records and waits for the whole last record', () => {
    const message = handshakeMessage(clientHelloBody({ extensions: [sniExtension('a.b')] }));
    const oneByteRecords = records(message, new Array<number>(message.length).fill(1));
    expect(parseClientHello(oneByteRecords)).toMatchObject({
      status: 'complete',
      serverName: 'a.b',
      recordBytes: message.length * 6,
    });
    // Hello ends mid-record (a second handshake message follows in the same record): wait for the record.
    const withTrailer = records(Buffer.concat([message, handshakeMessage(Buffer.alloc(3), 20)]));
    expect(parseClientHello(withTrailer.subarray(0, 5 + message.length)).status).toBe('incomplete');
    expect(parseClientHello(withTrailer)).toMatchObject({
      status: 'complete',
      recordBytes: withTrailer.length,
    });
  });

  it('rejects a non-handshake record before the hello is complete', () => {
    const message = handshakeMessage(clientHelloBody());
    const split = records(message, [10]);
    const firstRecordEnd = 5 + 10;
    const interleaved = Buffer.from(split);
    interleaved[firstRecordEnd] = 21; // alert
    expect(parseClientHello(interleaved).status).toBe('invalid');
  });

  const malformed: Array<[string, Buffer]> = [
    ['legacy_version 0x0203', buildHello({ legacyVersion: 0x0203 })],
    ['session_id of 33 bytes', buildHello({ sessionId: Buffer.alloc(33) })],
    ['empty cipher_suites', buildHello({ cipherSuites: [] })],
    ['empty compression_methods', buildHello({ compressionMethods: [] })],
    ['duplicate extensions', buildHello({ extensions: [sniExtension('a.com'), sniExtension('b.com')] })],
    ['SNI with a space', buildHello({ extensions: [sniExtension('a b.com')] })],
    ['SNI with a NUL byte', buildHello({ extensions: [sniExtension('a.com\u0000.evil')] })],
    ['SNI with a UTF-8 byte', buildHello({ extensions: [sniExtension('bücher.de')] })],
    ['SNI with DEL', buildHello({ extensions: [sniExtension('a\u007f.com')] })],
    ['empty SNI host name', buildHello({ extensions: [sniExtension('')] })],
    ['two SNI host names', buildHello({ extensions: [sniExtension('a.com', 'b.com')] })],
    ['SNI host name of 256 bytes', buildHello({ extensions: [sniExtension('a'.repeat(256))] })],
    ['empty SNI list', buildHello({ extensions: [[0, vec(2, new Uint8Array(0))]] })],
    [
      'SNI extension with trailing byte',
      buildHello({ extensions: [[0, Buffer.concat([sniExtension('a.com')[1], Buffer.from([0])])]] }),
    ],
    ['empty ALPN list', buildHello({ extensions: [[16, vec(2, new Uint8Array(0))]] })],
    ['empty ALPN name', buildHello({ extensions: [alpnExtension('h2', '')] })],
    ['odd supported_versions', buildHello({ extensions: [[43, vec(1, Buffer.from([3, 4, 3]))]] })],
    ['empty supported_versions', buildHello({ extensions: [[43, vec(1, new Uint8Array(0))]] })],
    [
      'extension overrunning the block',
      buildHello({ extensions: [[0x1234, Buffer.alloc(4)]] }).subarray(0, -1),
    ],
  ];
  it.each(malformed)('rejects %s', (_name, buf) => {
    const r = parseClientHello(fixRecordLengths(buf));
    expect(r.status).toBe('invalid');
  });

  it('bounds-checks every length field: ±1 on any inner length is invalid', () => {
    const buf = buildHello({
      extensions: [
        sniExtension('a.example'),
        alpnExtension('h2', 'http/1.1'),
        supportedVersionsExtension(TLS13, TLS12),
        [0x1234, Buffer.from([1, 2, 3])],
      ],
    });
    const fields = lengthFields(buf);
    expect(fields).toHaveLength(16);
    for (const { offset, width } of fields) {
      for (const delta of [-1, 1]) {
        const corrupt = Buffer.from(buf);
        corrupt.writeUIntBE(corrupt.readUIntBE(offset, width) + delta, offset, width);
        const r = parseClientHello(corrupt);
        // A longer record or handshake length only means "wait for more bytes".
        const want = offset < 9 && delta === 1 ? 'incomplete' : 'invalid';
        expect(r.status, `length at ${offset} ${delta > 0 ? '+' : ''}${delta}: ${JSON.stringify(r)}`).toBe(
          want,
        );
      }
    }
  });

  it('rejects trailing bytes after the extensions block', () => {
    const body = Buffer.concat([clientHelloBody({ extensions: [sniExtension('a.com')] }), Buffer.from([0])]);
    expect(parseClientHello(records(handshakeMessage(body))).status).toBe('invalid');
  });

  it('accepts an unknown server_name type next to host_name', () => {
    const list = Buffer.concat([
      Buffer.from([7]),
      vec(2, Buffer.from('x')),
      Buffer.from([0]),
      vec(2, Buffer.from('h.io')),
    ]);
    const buf = buildHello({ extensions: [[0, vec(2, list)]] });
    expect(parseClientHello(buf)).toMatchObject({ status: 'complete', serverName: 'h.io' });
  });
});

/** After truncating a single-record hello, rewrite the record and handshake lengths to match. */
function fixRecordLengths(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  out.writeUInt16BE(out.length - 5, 3);
  out.writeUIntBE(out.length - 9, 6, 3);
  return out;
}

describe('parseClientHello properties', () => {
  const RUNS = { numRuns: 2000, seed: 0x7e5 };
  const STATUSES = ['complete', 'incomplete', 'invalid'];

  function checkSane(buf: Uint8Array): ClientHelloResult {
    const r = parseClientHello(buf);
    expect(STATUSES).toContain(r.status);
    if (r.status === 'invalid') expect(r.reason).not.toMatch(/^internal parser error/);
    if (r.status === 'complete') {
      expect(r.recordBytes).toBeLessThanOrEqual(buf.length);
      if (r.serverName !== undefined) expect(r.serverName).toMatch(/^[\x21-\x40\x5b-\x7e]+$/);
    }
    return r;
  }

  /** The verdict on a prefix is final: invalid/complete stay so, incomplete is all a prefix of a hello gives. */
  function checkMonotone(buf: Uint8Array, cut: number): void {
    const full = parseClientHello(buf);
    const prefix = parseClientHello(buf.subarray(0, Math.min(cut, buf.length)));
    if (prefix.status === 'complete') expect(full).toEqual(prefix);
    if (prefix.status === 'invalid') expect(full.status).toBe('invalid');
    if (full.status === 'incomplete') expect(prefix.status).toBe('incomplete');
  }

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1024 }), fc.nat(), (buf, cut) => {
        checkSane(buf);
        checkMonotone(buf, cut);
      }),
      RUNS,
    );
  });

  it('never throws on arbitrary bytes behind a plausible record and handshake header', () => {
    const plausible = fc
      .tuple(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 700 }),
        fc.uint8Array({ maxLength: 700 }),
      )
      .map(([minor, len, rest]) =>
        Buffer.concat([Buffer.from([22, 3, minor, len >> 8, len & 0xff, 1]), rest]),
      );
    fc.assert(
      fc.property(plausible, fc.nat(), (buf, cut) => {
        checkSane(buf);
        checkMonotone(buf, cut);
      }),
      RUNS,
    );
  });

  type Mutation =
    | { kind: 'flip'; at: number; mask: number }
    | { kind: 'truncate'; at: number }
    | { kind: 'length'; field: number; value: number; delta: number; random: boolean }
    | { kind: 'insert'; at: number; bytes: Uint8Array }
    | { kind: 'delete'; at: number; count: number };

  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('length' as const),
      field: fc.nat(),
      value: fc.oneof(fc.nat(0xffffff), fc.constantFrom(0, 1, 0xff, 0x100, 0xffff, 0xffffff)),
      delta: fc.integer({ min: -3, max: 3 }),
      random: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  );

  function mutate(original: Buffer, mutations: Mutation[]): Buffer {
    let buf = Buffer.from(original);
    const fields = lengthFields(original);
    for (const m of mutations) {
      if (buf.length === 0) break;
      if (m.kind === 'flip') {
        buf[m.at % buf.length]! ^= m.mask;
      } else if (m.kind === 'truncate') {
        buf = buf.subarray(0, m.at % buf.length);
      } else if (m.kind === 'length') {
        const f = fields[m.field % fields.length]!;
        if (f.offset + f.width > buf.length) continue;
        const max = 2 ** (8 * f.width) - 1;
        const current = buf.readUIntBE(f.offset, f.width);
        const value = m.random ? m.value & max : Math.min(max, Math.max(0, current + m.delta));
        buf.writeUIntBE(value, f.offset, f.width);
      } else if (m.kind === 'insert') {
        const at = m.at % (buf.length + 1);
        buf = Buffer.concat([buf.subarray(0, at), m.bytes, buf.subarray(at)]);
      } else {
        const at = m.at % buf.length;
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.count)]);
      }
    }
    return buf;
  }

  it('never throws on mutated real hellos (flips, truncations, length corruption, insertions)', () => {
    const originals = CASES.map((c) => hello(c.name));
    const statuses = new Map<string, number>();
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: originals.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (index, mutations, cut) => {
          const buf = mutate(originals[index]!, mutations);
          const r = checkSane(buf);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          checkMonotone(buf, cut);
        },
      ),
      RUNS,
    );
    // The mutations must exercise all three outcomes, or the property proves little.
    expect([...statuses.keys()].sort()).toEqual(['complete', 'incomplete', 'invalid']);
  });
});
