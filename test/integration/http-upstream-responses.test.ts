/**
 * Upstream HTTP/1.1 responses handled as Envoy handles them: 1xx interim responses (an upstream
 * 100 Continue absorbed, as Envoy does with `proxy_100_continue` off, over plaintext and originated
 * TLS; 103 Early Hints forwarded to HTTP/1.1 and HTTP/2 clients), 204/304 with a stray body (the
 * body dropped, the response delivered), and response heads up to Envoy's 60 KiB. The upstream is a
 * raw TCP (or TLS) server so it can send exactly these bytes, split across writes where asked.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { curl } from '../helpers/clients.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  gatewayYaml,
  istioResourceYaml,
  localServiceEntryYaml,
  recordWhere,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const LOOKALIKE = 'HTTP/1.1 100 Continue\r\n\r\n';

/**
 * Raw responses by request path; an array is written part by part, a pause apart, so the gateway
 * reads the parts separately.
 */
function rawResponse(path: string, conn: number): string | string[] {
  const big = (n: number) => `x-big: ${'b'.repeat(n)}\r\n`;
  switch (path) {
    case '/early-hints':
      return (
        'HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n' +
        'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello'
      );
    case '/continue':
      return `${CONTINUE}HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal`;
    case '/continue-split':
      return ['HTTP/1.1 1', '00 Continue\r\n', '\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nsplit'];
    case '/continue-hints':
      return (
        `${CONTINUE}HTTP/1.1 103 Early Hints\r\nlink: </a.js>; rel=preload\r\n\r\n` +
        'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhints'
      );
    case '/continue-twice':
      return [CONTINUE, `${CONTINUE}HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\ntwice`];
    case '/lookalike-body':
      // The body's first bytes look like a 100 head, in a read of their own.
      return [`HTTP/1.1 200 OK\r\ncontent-length: ${LOOKALIKE.length}\r\n\r\n`, LOOKALIKE];
    case '/continue-lookalike-body':
      return [`${CONTINUE}HTTP/1.1 200 OK\r\ncontent-length: ${LOOKALIKE.length}\r\n\r\n`, LOOKALIKE];
    case '/keep-alive/continue':
      return `${CONTINUE}HTTP/1.1 200 OK\r\nx-conn: ${conn}\r\ncontent-length: 2\r\n\r\nok`;
    case '/no-content':
      return 'HTTP/1.1 204 No Content\r\ncontent-length: 5\r\nx-kind: 204\r\n\r\nstray';
    case '/not-modified':
      return 'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\ncontent-length: 5\r\n\r\nstray';
    case '/big-50k':
      return `HTTP/1.1 200 OK\r\n${big(50 * 1024)}content-length: 2\r\n\r\nok`;
    case '/big-70k':
      return `HTTP/1.1 200 OK\r\n${big(70 * 1024)}content-length: 2\r\n\r\nok`;
    default:
      return 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
  }
}

/** Writes the parts one after the other with a pause between them, then `done`. */
function writeParts(sock: Duplex, parts: readonly string[], done: () => void): void {
  const [first, ...rest] = parts;
  if (first === undefined) return done();
  sock.write(first, () => {
    if (rest.length === 0) done();
    else setTimeout(() => writeParts(sock, rest, done), 30);
  });
}

/**
 * Serves one raw connection: answers each request head by path. Paths under `/keep-alive/` keep the
 * connection open for the next request (body-less requests only); others close it after answering.
 */
function serveRaw(sock: Duplex, conn: number): void {
  let buffered = '';
  let busy = false;
  const next = (): void => {
    const end = buffered.indexOf('\r\n\r\n');
    if (busy || end < 0) return;
    const head = buffered.slice(0, end);
    buffered = buffered.slice(end + 4);
    const path = head.split(' ')[1] ?? '/';
    const response = rawResponse(path, conn);
    const parts = typeof response === 'string' ? [response] : response;
    busy = true;
    writeParts(sock, parts, () => {
      busy = false;
      if (path.startsWith('/keep-alive/')) next();
      else sock.end();
    });
  };
  sock.on('data', (c: Buffer) => {
    buffered += c.toString('latin1');
    next();
  });
  sock.on('error', () => undefined);
}

interface RawUpstream {
  port: number;
  close(): Promise<void>;
}

/** A raw HTTP/1.1 upstream over TCP, or over TLS when `cert` is given. */
async function startRawUpstream(cert?: { cert: string; key: string }): Promise<RawUpstream> {
  let conns = 0;
  const sockets = new Set<Duplex>();
  const onConnection = (sock: net.Socket): void => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    if (sock instanceof net.Socket) sock.setNoDelay(true);
    serveRaw(sock, ++conns);
  };
  const server = cert
    ? tls.createServer({ cert: cert.cert, key: cert.key, ALPNProtocols: ['http/1.1'] }, onConnection)
    : net.createServer(onConnection);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

interface H1Result {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  informational: { status: number; headers: http.IncomingHttpHeaders }[];
}

function h1(port: number, path: string, host = 'raw.example.com'): Promise<H1Result> {
  return new Promise((resolve, reject) => {
    const informational: H1Result['informational'] = [];
    const req = http.get({
      host: '127.0.0.1',
      port,
      path,
      headers: { host },
      agent: false,
    });
    req.on('information', (info) => informational.push({ status: info.statusCode, headers: info.headers }));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers, informational }),
      );
    });
    req.on('error', reject);
  });
}

describe('upstream HTTP/1.1 responses', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    up = await startRawUpstream();
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('raw-gateway', [{ port: 80, name: 'http', protocol: 'HTTP', hosts: ['*'] }]),
        virtualServiceYaml(
          'raw',
          ['raw.example.com'],
          ['raw-gateway'],
          ['http:', '- route: [{ destination: { host: raw } }]'],
        ),
        localServiceEntryYaml('raw', { number: 8080, name: 'http', protocol: 'HTTP' }, up.port),
      ),
    );
    port = gw.port(80);
  });

  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('103 Early Hints is forwarded to an HTTP/1.1 client before the 200', async () => {
    const r = await h1(port, '/early-hints');
    expect(r.informational.map((i) => i.status)).toEqual([103]);
    expect(r.informational[0]!.headers.link).toBe('</style.css>; rel=preload; as=style');
    expect([r.status, r.body]).toEqual([200, 'hello']);
  });

  it('103 Early Hints is forwarded to an HTTP/2 client before the 200', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const got = await new Promise<{ hints: http2.IncomingHttpHeaders[]; status: number; body: string }>(
      (resolve, reject) => {
        const hints: http2.IncomingHttpHeaders[] = [];
        const req = session.request({ ':path': '/early-hints', ':authority': 'raw.example.com' });
        let status = 0;
        let body = '';
        req.on('headers', (h) => hints.push(h));
        req.on('response', (h) => (status = Number(h[':status'])));
        req.setEncoding('latin1');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => resolve({ hints, status, body }));
        req.on('error', reject);
      },
    );
    session.close();
    expect(got.hints.map((h) => h[':status'])).toEqual([103]);
    expect(got.hints[0]!.link).toBe('</style.css>; rel=preload; as=style');
    expect([got.status, got.body]).toEqual([200, 'hello']);
  });

  it('an unsolicited 100 Continue is absorbed: the client gets the final 200', async () => {
    const r = await h1(port, '/continue');
    expect([r.status, r.body, r.informational]).toEqual([200, 'final', []]);
    const rec = await recordWhere(gw, (x) => x.path === '/continue');
    expect([rec.responseCode, rec.responseFlags]).toEqual([200, '-']);
  });

  it('a 100 Continue split across reads is absorbed', async () => {
    const r = await h1(port, '/continue-split');
    expect([r.status, r.body, r.informational]).toEqual([200, 'split', []]);
  });

  it('100 Continue then 103 Early Hints: the 100 is dropped, the 103 forwarded, then the 200', async () => {
    const r = await h1(port, '/continue-hints');
    expect(r.informational.map((i) => [i.status, i.headers.link])).toEqual([[103, '</a.js>; rel=preload']]);
    expect([r.status, r.body]).toEqual([200, 'hints']);
  });

  it('two 100 Continue heads, in separate reads, are both absorbed', async () => {
    const r = await h1(port, '/continue-twice');
    expect([r.status, r.body, r.informational]).toEqual([200, 'twice', []]);
  });

  it('a body that begins with "HTTP/1.1 100 " is delivered unaltered', async () => {
    const plain = await h1(port, '/lookalike-body');
    expect([plain.status, plain.body]).toEqual([200, LOOKALIKE]);
    const after = await h1(port, '/continue-lookalike-body');
    expect([after.status, after.body, after.informational]).toEqual([200, LOOKALIKE, []]);
  });

  it('the upstream connection is reused after a response that carried a 100 Continue', async () => {
    const first = await h1(port, '/keep-alive/continue');
    const second = await h1(port, '/keep-alive/continue');
    expect([first.status, first.body, second.status, second.body]).toEqual([200, 'ok', 200, 'ok']);
    expect(second.headers['x-conn']).toBe(first.headers['x-conn']);
  });

  it('a client body sent with Expect: 100-continue gets its response', async () => {
    // Asked for explicitly: curl 7.88 does not add it to a 2 KiB --data-binary body by itself.
    const out = await curl([
      '-sS',
      '-H',
      'host: raw.example.com',
      '-H',
      'expect: 100-continue',
      '--data-binary',
      'x'.repeat(2048),
      '-w',
      ' %{http_code}',
      '--expect100-timeout',
      '30',
      `http://127.0.0.1:${port}/expect`,
    ]);
    expect(out).toBe('ok 200');
  });

  it('204 and 304 with a stray body: delivered without the body', async () => {
    const nc = await h1(port, '/no-content');
    expect([nc.status, nc.body, nc.headers['x-kind']]).toEqual([204, '', '204']);
    const nm = await h1(port, '/not-modified');
    expect([nm.status, nm.body, nm.headers.etag]).toEqual([304, '', '"v1"']);
  });

  it('response heads up to 60 KiB pass; larger ones are 502 UPE as in Envoy', async () => {
    // curl accepts heads up to 100 KiB (node's client stops at 16 KiB).
    const ok = await curl(['-D', '-', '-H', 'host: raw.example.com', `http://127.0.0.1:${port}/big-50k`]);
    expect(ok).toMatch(/^HTTP\/1\.1 200 /);
    expect(ok).toContain(`x-big: ${'b'.repeat(50 * 1024)}\r\n`);
    expect(ok.endsWith('\r\n\r\nok')).toBe(true);
    const tooBig = await h1(port, '/big-70k');
    expect(tooBig.status).toBe(502);
    const r = await recordWhere(gw, (x) => x.path === '/big-70k');
    expect(r.responseFlags).toBe('UPE');
  });
});

describe('upstream HTTP/1.1 responses over originated TLS', () => {
  let pki: TestPki;
  let up: RawUpstream;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    pki = createTestPki();
    up = await startRawUpstream(
      pki.issue('raw-tls', { cn: 'raw-tls.example.com', dns: ['raw-tls.example.com'] }),
    );
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('raw-gateway', [{ port: 80, name: 'http', protocol: 'HTTP', hosts: ['*'] }]),
        virtualServiceYaml(
          'raw-tls',
          ['raw-tls.example.com'],
          ['raw-gateway'],
          ['http:', '- route: [{ destination: { host: raw-tls } }]'],
        ),
        localServiceEntryYaml('raw-tls', { number: 8080, name: 'http', protocol: 'HTTP' }, up.port),
        istioResourceYaml('DestinationRule', 'raw-tls', [
          'host: raw-tls',
          'trafficPolicy:',
          `  tls: { mode: SIMPLE, sni: raw-tls.example.com, caCertificates: ${pki.caFile} }`,
        ]),
      ),
    );
    port = gw.port(80);
  });

  afterAll(async () => {
    await gw?.close();
    await up?.close();
    pki?.close();
  });

  it('an unsolicited 100 Continue is absorbed over TLS, also when split, and the connection reused', async () => {
    const host = 'raw-tls.example.com';
    const r = await h1(port, '/continue', host);
    expect([r.status, r.body, r.informational]).toEqual([200, 'final', []]);
    const split = await h1(port, '/continue-split', host);
    expect([split.status, split.body]).toEqual([200, 'split']);
    const first = await h1(port, '/keep-alive/continue', host);
    const second = await h1(port, '/keep-alive/continue', host);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.headers['x-conn']).toBe(first.headers['x-conn']);
  });
});
