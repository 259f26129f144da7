/**
 * Upstream HTTP/1.1 responses handled as Envoy handles them: 1xx interim responses (100 Continue
 * absorbed, 103 Early Hints forwarded to HTTP/1.1 and HTTP/2 clients), 204/304 with a stray body
 * (the body dropped, the response delivered), and response heads up to Envoy's 60 KiB. The upstream
 * is a raw TCP server so it can send exactly these bytes. Not yet: absorbing an unsolicited 100.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from '../helpers/clients.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  gatewayYaml,
  localServiceEntryYaml,
  recordWhere,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';

/** Raw responses by request path. */
function rawResponse(path: string): string {
  const big = (n: number) => `x-big: ${'b'.repeat(n)}\r\n`;
  switch (path) {
    case '/early-hints':
      return (
        'HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n' +
        'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello'
      );
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

/** A raw upstream: reads one request head per connection, answers, closes. */
async function startRawUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((sock) => {
    let head = '';
    sock.on('data', (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = head.split(' ')[1] ?? '/';
      sock.end(rawResponse(path));
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface H1Result {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  informational: { status: number; headers: http.IncomingHttpHeaders }[];
}

function h1(port: number, path: string): Promise<H1Result> {
  return new Promise((resolve, reject) => {
    const informational: H1Result['informational'] = [];
    const req = http.get({
      host: '127.0.0.1',
      port,
      path,
      headers: { host: 'raw.example.com' },
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
  let up: { port: number; close(): Promise<void> };
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

  // undici's HTTP/1 parser refuses a 100 it did not ask for; the gateway answers 502 UPE (not a
  // silent 503). Envoy absorbs it.
  it.todo('an unsolicited 100 Continue is absorbed: the client gets the final 200');

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
