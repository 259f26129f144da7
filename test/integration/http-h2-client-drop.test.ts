/**
 * HTTP/2 clients that go away while the upstream request is in flight, and request body accounting
 * on HTTP/2. A stream reset by the client (RST_STREAM CANCEL) or a dropped connection cancels the
 * upstream request at once (the upstream sees its request aborted) and the stream is logged with
 * response code 0 and flag DC, as Envoy logs a downstream disconnect, not 503 UC. `bytes_received`
 * (Envoy `%BYTES_RECEIVED%`, the request body) and `istio_request_bytes` count HTTP/2 DATA bytes as
 * HTTP/1.1 counts its body: the same POST gives the same number on both.
 */
import http from 'node:http';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { lineLog, type LineLog } from '../helpers/log-lines.js';
import {
  gatewayYaml,
  localServiceEntryYaml,
  recordWhere,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';
import type { AddressInfo } from 'node:net';

const HTTP_PORT = { number: 8080, name: 'http', protocol: 'HTTP' } as const;

function connect(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(url);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('HTTP/2 client drop → DC; HTTP/2 request body bytes', () => {
  let up: http.Server;
  const bodies = new Map<string, number>();
  let gw: TestGateway;
  let port: number;
  const events: LineLog = lineLog();

  beforeAll(async () => {
    // `/slow…` is never answered: the upstream logs its request head, and the abort when it comes.
    up = http.createServer((req, res) => {
      const url = req.url ?? '';
      if (url.startsWith('/slow')) {
        events.record(`waiting ${url}`);
        res.once('close', () => {
          if (!res.writableFinished) events.record(`aborted ${url}`);
        });
        req.resume();
        return;
      }
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        bodies.set(url, n);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve));
    const upPort = (up.address() as AddressInfo).port;
    gw = await startGateway(
      yamlDocuments(
        gatewayYaml('gw', [{ port: 80, name: 'http', protocol: 'HTTP', hosts: ['*'] }]),
        virtualServiceYaml('vs', ['*'], ['gw'], ['http:', '- route: [{ destination: { host: slow } }]']),
        localServiceEntryYaml('slow', HTTP_PORT, upPort),
      ),
    );
    port = gw.port(80);
  });

  afterAll(async () => {
    await gw?.close();
    up?.closeAllConnections();
    await new Promise((resolve) => up?.close(resolve));
  });

  it('RST_STREAM CANCEL while the upstream request is in flight: upstream aborted, logged 0 DC', async () => {
    const session = await connect(`http://127.0.0.1:${port}`);
    const stream = session.request({ ':path': '/slow/reset', ':authority': 'x' });
    stream.on('error', () => undefined);
    await events.waitFor(/^waiting \/slow\/reset$/);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await events.waitFor(/^aborted \/slow\/reset$/);
    const r = await recordWhere(gw, (x) => x.path === '/slow/reset');
    expect(r.responseCode).toBe(0);
    expect(r.responseFlags).toBe('DC');
    expect(r.protocol).toBe('HTTP/2');
    // The session is unaffected.
    const ok = await new Promise<number>((resolve) => {
      const s2 = session.request({ ':path': '/fine', ':authority': 'x' });
      s2.on('response', (h) => resolve(Number(h[':status'])));
      s2.resume();
    });
    expect(ok).toBe(200);
    session.destroy();
  });

  it('a POST whose body is still streaming when the client resets: upstream aborted, logged 0 DC', async () => {
    const session = await connect(`http://127.0.0.1:${port}`);
    const stream = session.request(
      { ':path': '/slow/upload', ':method': 'POST', ':authority': 'x' },
      { endStream: false },
    );
    stream.on('error', () => undefined);
    stream.write('part one');
    await events.waitFor(/^waiting \/slow\/upload$/);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await events.waitFor(/^aborted \/slow\/upload$/);
    const r = await recordWhere(gw, (x) => x.path === '/slow/upload');
    expect(r.responseCode).toBe(0);
    expect(r.responseFlags).toBe('DC');
    session.destroy();
  });

  it('the client connection drops while the upstream request is in flight: upstream aborted, logged 0 DC', async () => {
    const session = await connect(`http://127.0.0.1:${port}`);
    const stream = session.request({ ':path': '/slow/drop', ':authority': 'x' });
    stream.on('error', () => undefined);
    await events.waitFor(/^waiting \/slow\/drop$/);
    // The whole connection goes away with the stream still open.
    session.destroy();
    await events.waitFor(/^aborted \/slow\/drop$/);
    const r = await recordWhere(gw, (x) => x.path === '/slow/drop');
    expect(r.responseCode).toBe(0);
    expect(r.responseFlags).toBe('DC');
  });

  it('bytes_received of a POST body is the same over HTTP/2 (no content-length), HTTP/1.1 and chunked HTTP/1.1', async () => {
    const body = 'x'.repeat(70_000);
    const session = await connect(`http://127.0.0.1:${port}`);
    await new Promise<void>((resolve, reject) => {
      const st = session.request({ ':path': '/post-h2', ':method': 'POST', ':authority': 'x' });
      st.on('response', () => undefined);
      st.resume();
      st.on('end', () => resolve());
      st.on('error', reject);
      st.end(body);
    });
    session.close();
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        { port, host: '127.0.0.1', path: '/post-h1', method: 'POST', headers: { host: 'x' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    // Chunked: no content-length to read the size from; three chunks of the same body.
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        { port, host: '127.0.0.1', path: '/post-chunked', method: 'POST', headers: { host: 'x' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 10_000));
      req.write(body.slice(10_000, 40_000));
      req.end(body.slice(40_000));
    });
    const h2 = await recordWhere(gw, (x) => x.path === '/post-h2');
    const h1 = await recordWhere(gw, (x) => x.path === '/post-h1');
    const chunked = await recordWhere(gw, (x) => x.path === '/post-chunked');
    expect(h2.protocol).toBe('HTTP/2');
    expect(h2.bytesReceived).toBe(70_000);
    expect(h1.bytesReceived).toBe(70_000);
    expect(chunked.bytesReceived).toBe(70_000);
    expect(bodies.get('/post-h2')).toBe(70_000);
    expect(bodies.get('/post-chunked')).toBe(70_000);
  });
});
