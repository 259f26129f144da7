/**
 * HTTP/2 from clients: h2c with prior knowledge on a plaintext port that still serves HTTP/1.1
 * (Envoy `codec_type: AUTO`), ALPN `h2` on an HTTPS server, and every HTTP feature on an h2 stream
 * (routing by `:authority`, fault, retries, mirroring, access log `HTTP/2`). Defences: rapid reset
 * (CVE-2023-44487), a SETTINGS flood and an oversized header block end only the offending
 * session or stream; other clients keep being served. GOAWAY on drain. Real curl, node:http2 and
 * raw-socket clients.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H2_PREFACE, h2Frame as frame } from '../helpers/h2-frames.js';
import { createTestPki, writeCredential, type TestPki } from '../helpers/certs.js';
import { curl, httpGet } from '../helpers/clients.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  gatewayYaml,
  httpAndSimpleHttpsServers,
  localServiceEntryYaml,
  makeCredentialsDir,
  recordWhere,
  removeCredentialsDir,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { HTTP2_STATS } from '../../gateway/http/http2-downstream.js';

const HTTP_PORT = { number: 8080, name: 'http', protocol: 'HTTP' } as const;

interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/** One request on an existing session. */
function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let data = '';
    let head: http2.IncomingHttpHeaders = {};
    req.setEncoding('utf8');
    req.on('response', (h) => (head = h));
    req.on('data', (c: string) => (data += c));
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: data }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

function connect(
  url: string,
  opts: http2.SecureClientSessionOptions = {},
): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(url, opts);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function closeSession(s: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/**
 * Writes raw HTTP/2 bytes on a new connection and reports how it ended: the error code of the
 * GOAWAY received (the client then closes its side), and whether the server closed first. With
 * `read` false the client never reads (its flow of ACKs piles up at the server).
 */
function rawH2(
  port: number,
  bytes: Buffer,
  read = true,
): Promise<{ goaway: number | undefined; closedByServer: boolean }> {
  return new Promise((resolve) => {
    let goaway: number | undefined;
    let closedByServer = false;
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        if (buf[3] === 7 && goaway === undefined) {
          goaway = buf.readUInt32BE(9 + 4);
          // A client told GOAWAY closes; nghttp2's own GOAWAY leaves the server side to its idle timeout.
          sock.destroy();
        }
        buf = buf.subarray(9 + len);
      }
    };
    if (read) sock.on('data', onData);
    else {
      // Not reading: the server's FIN or RST is seen as a write error or the end of a paused socket.
      sock.pause();
      sock.on('error', () => (closedByServer = true));
      sock.once('end', () => (closedByServer = true));
      const probe = setInterval(() => {
        if (!sock.writable || sock.destroyed) return;
        sock.write(frame(6, 0, 0, Buffer.alloc(8)), () => undefined);
      }, 5);
      sock.once('close', () => clearInterval(probe));
    }
    sock.on('error', () => undefined);
    sock.once('end', () => (closedByServer = true));
    sock.on('close', () => resolve({ goaway, closedByServer }));
  });
}

describe('HTTP/2 downstream', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let flaky: TestUpstream;
  let shadow: TestUpstream;
  let gw: TestGateway;
  let pki: TestPki;
  let creds: string;
  let port: number;
  let tlsPort: number;
  let flakyCalls = 0;
  /** Never answers: a stream through it stays open until the client goes away. */
  let hang: http.Server;

  beforeAll(async () => {
    pki = createTestPki();
    creds = makeCredentialsDir();
    writeCredential(creds, 'h2-credential', pki.issue('h2', { cn: 'a.example.com', dns: ['a.example.com'] }));
    a = await startUpstream('a');
    b = await startUpstream('b');
    shadow = await startUpstream('shadow');
    hang = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    flaky = await startUpstream('flaky', (_req, res) => {
      if (flakyCalls++ % 2 === 0) {
        res.writeHead(503, { 'content-length': 4 });
        res.end('fail');
        return true;
      }
      return false;
    });
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('h2-gateway', httpAndSimpleHttpsServers('h2-credential', ['a.example.com'])),
        virtualServiceYaml(
          'a',
          ['a.example.com'],
          ['h2-gateway'],
          [
            'http:',
            '- match: [{ uri: { prefix: /abort } }]',
            '  fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }',
            '  route: [{ destination: { host: svc-a } }]',
            '- match: [{ uri: { prefix: /retry } }]',
            '  retries: { attempts: 2, retryOn: 5xx }',
            '  route: [{ destination: { host: svc-flaky } }]',
            '- match: [{ uri: { prefix: /mirror } }]',
            '  mirror: { host: svc-shadow }',
            '  route: [{ destination: { host: svc-a } }]',
            '- route: [{ destination: { host: svc-a } }]',
          ],
        ),
        virtualServiceYaml(
          'b',
          ['b.example.com'],
          ['h2-gateway'],
          ['http:', '- route: [{ destination: { host: svc-b } }]'],
        ),
        localServiceEntryYaml('svc-a', HTTP_PORT, a.port),
        localServiceEntryYaml('svc-b', HTTP_PORT, b.port),
        localServiceEntryYaml('svc-flaky', HTTP_PORT, flaky.port),
        localServiceEntryYaml('svc-shadow', HTTP_PORT, shadow.port),
        virtualServiceYaml(
          'hang',
          ['hang.example.com'],
          ['h2-gateway'],
          ['http:', '- route: [{ destination: { host: svc-hang } }]'],
        ),
        localServiceEntryYaml('svc-hang', HTTP_PORT, (hang.address() as net.AddressInfo).port),
      ),
      { credentialsDir: creds },
    );
    port = gw.port(80);
    tlsPort = gw.port(443);
  });

  afterAll(async () => {
    await gw?.close();
    for (const u of [a, b, flaky, shadow]) await u?.close();
    hang?.closeAllConnections();
    hang?.close();
    removeCredentialsDir(creds);
  });

  it('curl --http2-prior-knowledge: 200 and HTTP/2 in the access log; the same port serves HTTP/1.1', async () => {
    const out = await curl([
      '--http2-prior-knowledge',
      '-H',
      'host: a.example.com',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{http_version}',
      `http://127.0.0.1:${port}/h2c`,
    ]);
    expect(out).toBe('200 2');
    const r = await recordWhere(gw, (x) => x.path === '/h2c');
    expect(r.protocol).toBe('HTTP/2');
    expect(r.authority).toBe('a.example.com');
    expect(r.upstreamCluster).toBe('outbound|8080||svc-a.default.svc.cluster.local');
    const h1 = await httpGet(port, '/h1', { host: 'a.example.com' });
    expect(h1.status).toBe(200);
    expect((await recordWhere(gw, (x) => x.path === '/h1')).protocol).toBe('HTTP/1.1');
  });

  it('curl --http2 over HTTPS negotiates h2 with ALPN; --http1.1 still works', async () => {
    const args = (v: string, path: string) => [
      v,
      '--cacert',
      pki.caFile,
      '--resolve',
      `a.example.com:${tlsPort}:127.0.0.1`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{http_version}',
      `https://a.example.com:${tlsPort}${path}`,
    ];
    expect(await curl(args('--http2', '/tls-h2'))).toBe('200 2');
    expect(await curl(args('--http1.1', '/tls-h1'))).toBe('200 1.1');
    const r = await recordWhere(gw, (x) => x.path === '/tls-h2');
    expect(r.protocol).toBe('HTTP/2');
    expect(r.requestedServerName).toBe('a.example.com');
  });

  it('routes by :authority; fault, retries, mirroring and request bodies work on h2 streams', async () => {
    const s = await connect(`http://127.0.0.1:${port}`);
    const ra = await h2Request(s, { ':path': '/x', ':authority': 'a.example.com' });
    const rb = await h2Request(s, { ':path': '/x', ':authority': 'b.example.com' });
    expect([ra.headers['x-upstream'], rb.headers['x-upstream']]).toEqual(['a', 'b']);
    expect(ra.headers.server).toBe('istio-envoy');
    const seen = JSON.parse(ra.body) as { headers: Record<string, string> };
    expect(seen.headers.host).toBe('a.example.com');
    expect(seen.headers['x-forwarded-proto']).toBe('http');

    const nr = await h2Request(s, { ':path': '/x', ':authority': 'nowhere.example.com' });
    expect(nr.status).toBe(404);
    const abort = await h2Request(s, { ':path': '/abort', ':authority': 'a.example.com' });
    expect([abort.status, abort.body]).toEqual([418, 'fault filter abort']);

    flakyCalls = 0;
    const retried = await h2Request(s, { ':path': '/retry', ':authority': 'a.example.com' });
    expect(retried.status).toBe(200);
    expect(flakyCalls).toBe(2);

    const post = await h2Request(
      s,
      {
        ':method': 'POST',
        ':path': '/mirror',
        ':authority': 'a.example.com',
        'content-type': 'text/plain',
        'content-length': '8',
      },
      'hello h2',
    );
    expect(post.status).toBe(200);
    expect(a.seen.at(-1)!.body).toBe('hello h2');
    await recordWhere(gw, (x) => x.path === '/mirror');
    for (;;) {
      if (shadow.seen.some((x) => x.headers.host === 'a.example.com-shadow')) break;
      await new Promise((r) => setImmediate(r));
    }
    await closeSession(s);
  });

  it('a stream still open when its connection drops is logged with its addresses', async () => {
    // The session is destroyed first and its streams close after: the record must not read the
    // session's socket proxy, which throws once unbound.
    const sock = net.connect(port, '127.0.0.1');
    const s = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => sock });
    s.on('error', () => undefined);
    const arrived = new Promise((resolve) => hang.once('request', resolve));
    const req = s.request({ ':path': '/dropped', ':authority': 'hang.example.com' });
    req.on('error', () => undefined);
    await arrived;
    await new Promise((resolve) => {
      sock.once('close', resolve);
      sock.destroy();
    });
    // The router hears the drop at once and cancels the upstream request: Envoy's DC, code 0.
    const r = await recordWhere(gw, (x) => x.path === '/dropped');
    expect(r.protocol).toBe('HTTP/2');
    expect(r.downstreamRemoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(r.responseFlags).toBe('DC');
    expect(r.responseCode).toBe(0);
    expect((await httpGet(port, '/after-drop', { host: 'a.example.com' })).status).toBe(200);
  });

  it('rapid reset and a SETTINGS flood end only their own session; others are served', async () => {
    // Rapid reset (CVE-2023-44487): HEADERS then RST_STREAM(CANCEL) for stream after stream.
    const authority = Buffer.from('a.example.com');
    // HPACK: :method GET, :scheme http, :path / (static indexes 2, 6, 4), :authority literal (name index 1).
    const block = Buffer.concat([Buffer.from([0x82, 0x86, 0x84, 0x01, authority.length]), authority]);
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(http2.constants.NGHTTP2_CANCEL);
    const resets = (n: number) => {
      const frames: Buffer[] = [H2_PREFACE, frame(4, 0, 0)];
      for (let id = 1; id < 2 * n; id += 2) frames.push(frame(1, 0x5, id, block), frame(3, 0, id, cancel));
      return Buffer.concat(frames);
    };
    // A burst beyond nghttp2's reset rate limit: GOAWAY, the streams never reach the router.
    expect((await rawH2(port, resets(5000))).goaway).toBeDefined();
    // 600 streams, all reset at once: Envoy's premature-reset rule closes the connection.
    const premature = `listener.0.0.0.0_80.${HTTP2_STATS.prematureReset}`;
    const before = gw.gateway.stats.get(premature);
    expect((await rawH2(port, resets(600))).goaway).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect(gw.gateway.stats.get(premature)).toBe(before + 1);

    // SETTINGS and PING floods from a client that never reads the ACKs: the session is failed.
    const errors = `listener.0.0.0.0_80.${HTTP2_STATS.protocolError}`;
    const errorsBefore = gw.gateway.stats.get(errors);
    const settings = await rawH2(
      port,
      Buffer.concat([H2_PREFACE, ...Array<Buffer>(20000).fill(frame(4, 0, 0))]),
      false,
    );
    const pings = await rawH2(
      port,
      Buffer.concat([
        H2_PREFACE,
        frame(4, 0, 0),
        ...Array<Buffer>(20000).fill(frame(6, 0, 0, Buffer.alloc(8))),
      ]),
      false,
    );
    expect([settings.closedByServer, pings.closedByServer]).toEqual([true, true]);
    expect(gw.gateway.stats.get(errors)).toBe(errorsBefore + 2);

    const s = await connect(`http://127.0.0.1:${port}`);
    expect((await h2Request(s, { ':path': '/after', ':authority': 'a.example.com' })).status).toBe(200);
    await closeSession(s);
    expect((await httpGet(port, '/after-h1', { host: 'a.example.com' })).status).toBe(200);
  });

  it('a header block over 60 KiB is refused on its stream; the session and process go on', async () => {
    const s = await connect(`http://127.0.0.1:${port}`);
    s.on('error', () => undefined);
    const big = await h2Request(s, {
      ':path': '/big',
      ':authority': 'a.example.com',
      'x-big': 'x'.repeat(70 * 1024),
    }).then(
      (r) => r.status,
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect(big === 431 || typeof big === 'string').toBe(true);
    const s2 = await connect(`http://127.0.0.1:${port}`);
    expect((await h2Request(s2, { ':path': '/ok', ':authority': 'a.example.com' })).status).toBe(200);
    await closeSession(s2);
    s.destroy();
  });

  // Last in this file: it starts the shutdown drain of the shared gateway.
  it('the shutdown drain sends GOAWAY (NO_ERROR) to open HTTP/2 sessions', async () => {
    const s = await connect(`http://127.0.0.1:${port}`);
    expect((await h2Request(s, { ':path': '/pre', ':authority': 'a.example.com' })).status).toBe(200);
    const goaway = new Promise<number>((resolve) => s.once('goaway', (code: number) => resolve(code)));
    gw.gateway.listeners.beginDrain();
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    s.destroy();
    expect(gw.gateway.stats.get(`listener.0.0.0.0_80.http2.goaway_sent`)).toBeGreaterThanOrEqual(1);
  });
});
