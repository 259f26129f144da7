/**
 * gRPC-Web through the gateway (Envoy's `envoy.filters.http.grpc_web`, on a Gateway server whose
 * port protocol is `GRPC-WEB`): a real `@grpc/grpc-js` server upstream (samples/grpc echo service,
 * plus a small service that fails after one message), clients speaking gRPC-Web over HTTP/1.1
 * (undici) and HTTP/2 (node:http2). Unary, server streaming, an error status in trailers, a
 * trailers-only error, `-text` bodies (split across writes; bad base64 → 400 → 13), no route → 12,
 * a fault abort, a non-gRPC upstream reply, a CORS preflight for a browser client, and a plain
 * `HTTP` port where the filter is absent.
 */
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoServer, type RunningEchoServer } from '../../samples/grpc/echo-service.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startTelemetryGateway } from '../helpers/telemetry.js';
import {
  istioResourceYaml,
  localServiceEntryYaml,
  recordWhere,
  type ServicePort,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';
import { GRPC_9000 as GRPC_PORT } from '../helpers/resources.js';

const HTTP_PORT: ServicePort = { number: 8080, name: 'http', protocol: 'HTTP' };

/** One gRPC message frame (uncompressed) carrying `msg` as JSON. */
function frame(msg: object): Buffer {
  const body = Buffer.from(JSON.stringify(msg));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

interface WebBody {
  messages: unknown[];
  /** The trailer frame's `name:value` lines, parsed; undefined when the body had none. */
  trailers: Record<string, string> | undefined;
}

/** Splits a binary gRPC-Web body into its messages and its trailer frame; throws on a malformed body. */
function parseWebBody(body: Buffer): WebBody {
  const out: WebBody = { messages: [], trailers: undefined };
  let at = 0;
  while (at < body.length) {
    const flags = body[at]!;
    const len = body.readUInt32BE(at + 1);
    const payload = body.subarray(at + 5, at + 5 + len);
    if (payload.length !== len) throw new Error('truncated frame');
    at += 5 + len;
    if (flags === 0x80) {
      out.trailers = {};
      for (const line of payload.toString('latin1').split('\r\n')) {
        if (line === '') continue;
        const colon = line.indexOf(':');
        out.trailers[line.slice(0, colon)] = line.slice(colon + 1);
      }
    } else out.messages.push(JSON.parse(payload.toString('utf8')));
  }
  return out;
}

/** A `-text` body: base64 segments (each padded on its own, as Envoy sends one per frame), decoded. */
function decodeTextBody(text: string): Buffer {
  const parts: Buffer[] = [];
  for (const seg of text.match(/[^=]+={0,2}/g) ?? []) parts.push(Buffer.from(seg, 'base64'));
  return Buffer.concat(parts);
}

interface H2Answer {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
}

/** One HTTP/2 request; `chunks` are written one by one (each a DATA frame), then the stream ends. */
function h2Call(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  chunks: readonly (Buffer | string)[],
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ...headers });
    const body: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on('response', (h) => (head = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => resolve({ headers: head, body: Buffer.concat(body), trailers }));
    req.on('error', reject);
    const write = (i: number): void => {
      if (i === chunks.length) return void req.end();
      req.write(chunks[i]!, () => setImmediate(() => write(i + 1)));
    };
    write(0);
  });
}

/** A grpc-js service with one server-streaming method that sends one message, then fails (9, in trailers). */
async function startFailingServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(
    {
      boom: {
        path: '/meshgate.test.Fail/Boom',
        requestStream: false,
        responseStream: true,
        requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
        requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
        responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
        responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
      },
    },
    {
      boom: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        call.write({ first: true });
        call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: 'boom after one' });
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { port, close: () => new Promise<void>((r) => server.tryShutdown(() => r())) };
}

describe('gRPC-Web through the gateway (GRPC-WEB server port)', () => {
  let echo: RunningEchoServer;
  let failing: { port: number; close(): Promise<void> };
  let html: http.Server;
  let raw: http2.Http2Server;
  /** What the raw gRPC upstream received: the last request head and body. */
  const seen: { headers?: http2.IncomingHttpHeaders; body?: Buffer } = {};
  let gw: TestGateway;
  let base: string;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    echo = await startEchoServer('v1');
    failing = await startFailingServer();
    html = http.createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end('<h1>down for maintenance</h1>');
    });
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    // A bare HTTP/2 gRPC server: records what arrives, answers one message and grpc-status 0.
    raw = http2.createServer();
    raw.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        seen.headers = headers;
        seen.body = Buffer.concat(chunks);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': 't' }));
        stream.end(frame({ raw: true }));
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const route = (host: string) => `route: [{ destination: { host: ${host} } }]`;
    gw = await startTelemetryGateway(
      yamlDocuments(
        istioResourceYaml('Gateway', 'web', [
          'servers:',
          '- port: { number: 80, name: grpc-web, protocol: GRPC-WEB }',
          '  hosts: ["*"]',
          '- port: { number: 81, name: http, protocol: HTTP }',
          '  hosts: ["*"]',
        ]),
        virtualServiceYaml(
          'echo',
          ['echo.example.com'],
          ['web'],
          [
            'http:',
            '- match: [{ headers: { x-fault: { exact: abort } } }]',
            '  fault: { abort: { grpcStatus: UNAVAILABLE, percentage: { value: 100 } } }',
            `  ${route('echo')}`,
            '- match: [{ uri: { prefix: /meshgate.test.Fail/ } }]',
            `  ${route('failing')}`,
            '- match: [{ uri: { prefix: /raw/ } }]',
            `  ${route('raw')}`,
            '- match: [{ uri: { prefix: /html/ } }]',
            `  ${route('html')}`,
            '- corsPolicy:',
            '    allowOrigins: [{ exact: "https://app.example" }]',
            '    allowMethods: [POST]',
            '    allowHeaders: [content-type, x-grpc-web, x-user-agent, grpc-timeout]',
            '    exposeHeaders: [grpc-status, grpc-message]',
            `  ${route('echo')}`,
          ],
        ),
        localServiceEntryYaml('echo', GRPC_PORT, echo.port),
        localServiceEntryYaml('failing', GRPC_PORT, failing.port),
        localServiceEntryYaml('html', HTTP_PORT, (html.address() as AddressInfo).port),
        localServiceEntryYaml('raw', GRPC_PORT, (raw.address() as AddressInfo).port),
      ),
    );
    base = `http://127.0.0.1:${gw.port(80)}`;
    session = http2.connect(base);
  });

  afterAll(async () => {
    session?.close();
    await gw?.close();
    await echo?.close();
    await failing?.close();
    await new Promise((r) => html?.close(r));
    await new Promise((r) => raw?.close(r));
  });

  /** A gRPC-Web call over HTTP/1.1 (undici). */
  async function h1Call(path: string, body: Buffer | string, headers: Record<string, string> = {}) {
    const r = await request(`${base}${path}`, {
      method: 'POST',
      headers: {
        host: 'echo.example.com',
        'content-type': 'application/grpc-web+proto',
        'x-grpc-web': '1',
        ...headers,
      },
      body,
    });
    return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
  }

  it('unary over HTTP/1.1: the reply frame, then the trailers as a trailer frame', async () => {
    const r = await h1Call('/meshgate.echo.Echo/Say', frame({ name: 'web' }));
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc-web+proto');
    expect(r.headers['content-length']).toBeUndefined();
    const web = parseWebBody(r.body);
    expect(web.messages).toEqual([{ message: 'hello web', version: 'v1' }]);
    expect(web.trailers?.['grpc-status']).toBe('0');
    const rec = await recordWhere(
      gw,
      (x) => x.path === '/meshgate.echo.Echo/Say' && x.protocol === 'HTTP/1.1',
    );
    expect([rec.responseCode, rec.grpcStatus]).toEqual([200, '0']);
  });

  it('the upstream gets gRPC: application/grpc, te: trailers, grpc-accept-encoding, no content-length', async () => {
    const text = frame({ n: 1 }).toString('base64');
    const r = await h1Call('/raw/Call', text, { 'content-type': 'application/grpc-web-text' });
    expect(seen.headers?.['content-type']).toBe('application/grpc');
    expect(seen.headers?.['te']).toBe('trailers');
    expect(seen.headers?.['grpc-accept-encoding']).toBe('identity');
    expect(seen.headers?.['x-grpc-web']).toBe('1');
    expect(seen.body).toEqual(frame({ n: 1 }));
    // Never the client's (base64) length: the decoded one when the body went up whole, else none.
    expect([undefined, String(frame({ n: 1 }).length)]).toContain(seen.headers?.['content-length']);
    const web = parseWebBody(r.body);
    expect(web.messages).toEqual([{ raw: true }]);
    expect(web.trailers).toEqual({ 'grpc-status': '0', 'x-trailer': 't' });
    // A client's own grpc-accept-encoding is kept.
    await h1Call('/raw/Call', frame({}), { 'grpc-accept-encoding': 'gzip' });
    expect(seen.headers?.['grpc-accept-encoding']).toBe('gzip');
  });

  it('server streaming over HTTP/2: every message, then the trailer frame', async () => {
    const r = await h2Call(
      session,
      {
        ':path': '/meshgate.echo.Echo/Count',
        ':authority': 'echo.example.com',
        'content-type': 'application/grpc-web',
      },
      [frame({ n: 20 })],
    );
    expect(r.headers[':status']).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc-web+proto');
    expect(r.trailers).toBeUndefined();
    const web = parseWebBody(r.body);
    expect(web.messages.map((m) => (m as { i: number }).i)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(web.trailers?.['grpc-status']).toBe('0');
  });

  it('-text both ways over HTTP/2: a base64 body split across DATA frames, each reply frame base64', async () => {
    const text = frame({ name: 'text mode' }).toString('base64');
    // Cut inside base64 quanta: 3 characters, then 6, then the rest.
    const r = await h2Call(
      session,
      {
        ':path': '/meshgate.echo.Echo/Say',
        ':authority': 'echo.example.com',
        'content-type': 'application/grpc-web-text',
        accept: 'application/grpc-web-text',
      },
      [text.slice(0, 3), text.slice(3, 9), text.slice(9)],
    );
    expect(r.headers['content-type']).toBe('application/grpc-web-text+proto');
    const body = r.body.toString('latin1');
    expect(body).toMatch(/^[A-Za-z0-9+/=]+$/);
    const web = parseWebBody(decodeTextBody(body));
    expect(web.messages).toEqual([{ message: 'hello text mode', version: 'v1' }]);
    expect(web.trailers?.['grpc-status']).toBe('0');
  });

  it('-text request without Accept: the response is binary (Envoy decides by Accept)', async () => {
    const r = await h1Call('/meshgate.echo.Echo/Say', frame({ name: 't' }).toString('base64'), {
      'content-type': 'application/grpc-web-text+proto',
    });
    expect(r.headers['content-type']).toBe('application/grpc-web+proto');
    expect(parseWebBody(r.body).messages).toEqual([{ message: 'hello t', version: 'v1' }]);
  });

  it('invalid base64: Envoy 400 as gRPC (13), trailers-only, the gateway serves the next call', async () => {
    const r = await h1Call('/meshgate.echo.Echo/Say', 'AAA*AAAA', {
      'content-type': 'application/grpc-web-text',
    });
    expect(r.status).toBe(200);
    expect(r.headers['grpc-status']).toBe('13');
    expect(r.headers['grpc-message']).toBe('Bad gRPC-web request, invalid base64 data.');
    expect(r.body.length).toBe(0);
    const cut = await h1Call('/meshgate.echo.Echo/Say', 'AAAAA', {
      'content-type': 'application/grpc-web-text',
    });
    expect(cut.headers['grpc-status']).toBe('13');
    const details = gw.records
      .filter((x) => x.path === '/meshgate.echo.Echo/Say')
      .map((x) => x.responseCodeDetails);
    expect(details).toEqual(
      expect.arrayContaining(['grpc_base_64_decode_failed', 'grpc_base_64_decode_failed_bad_size']),
    );
    const ok = await h1Call('/meshgate.echo.Echo/Say', frame({ name: 'after' }));
    expect(parseWebBody(ok.body).messages).toEqual([{ message: 'hello after', version: 'v1' }]);
  });

  it('an error status after a message: the trailer frame carries it', async () => {
    const r = await h1Call('/meshgate.test.Fail/Boom', frame({}));
    const web = parseWebBody(r.body);
    expect(web.messages).toEqual([{ first: true }]);
    expect(web.trailers?.['grpc-status']).toBe('9');
    expect(web.trailers?.['grpc-message']).toBe('boom%20after%20one');
  });

  it('a trailers-only upstream error stays trailers-only: status in the head, no body', async () => {
    // Istio's default retry policy retries UNAVAILABLE twice: the third refusal is the answer.
    const r = await h1Call('/meshgate.echo.Echo/Say', frame({ name: 'x', key: 'k', failFirst: 3 }));
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc-web+proto');
    expect([r.headers['grpc-status'], r.headers['grpc-message']]).toEqual(['14', 'try%203%20refused']);
    expect(r.body.length).toBe(0);
  });

  it('no route: HTTP 200, grpc-status 12 in the head (HTTP/1.1 and HTTP/2)', async () => {
    const r = await h1Call('/meshgate.echo.Echo/Say', frame({ name: 'x' }), { host: 'nowhere.example.com' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc-web+proto');
    expect(r.headers['grpc-status']).toBe('12');
    expect(r.headers['content-length']).toBe('0');
    const h2 = await h2Call(
      session,
      {
        ':path': '/x',
        ':authority': 'nowhere.example.com',
        'content-type': 'application/grpc-web-text',
        accept: 'application/grpc-web-text',
      },
      [frame({}).toString('base64')],
    );
    expect([h2.headers[':status'], h2.headers['grpc-status'], h2.headers['content-type']]).toEqual([
      200,
      '12',
      'application/grpc-web-text+proto',
    ]);
    const rec = await recordWhere(gw, (x) => x.authority === 'nowhere.example.com');
    expect(rec.responseFlags).toBe('NR');
  });

  it('fault abort grpcStatus UNAVAILABLE: grpc-status 14, grpc-message "fault filter abort"', async () => {
    const r = await h1Call('/meshgate.echo.Echo/Say', frame({ name: 'x' }), { 'x-fault': 'abort' });
    expect([r.status, r.headers['grpc-status'], r.headers['grpc-message']]).toEqual([
      200,
      '14',
      'fault filter abort',
    ]);
    expect(r.body.length).toBe(0);
  });

  it('a non-gRPC upstream reply: its status kept, grpc-status mapped, its body as grpc-message', async () => {
    const r = await h1Call('/html/x', frame({}));
    expect(r.status).toBe(503);
    expect(r.headers['content-type']).toBe('application/grpc-web+proto');
    expect(r.headers['grpc-status']).toBe('14');
    expect(r.headers['grpc-message']).toBe('<h1>down for maintenance</h1>');
    expect(r.body.length).toBe(0);
  });

  it('a browser: the CORS preflight is answered, the call gets the CORS headers', async () => {
    const pre = await request(`${base}/meshgate.echo.Echo/Say`, {
      method: 'OPTIONS',
      headers: {
        host: 'echo.example.com',
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-grpc-web,x-user-agent',
      },
    });
    await pre.body.dump();
    expect(pre.statusCode).toBe(200);
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(pre.headers['access-control-allow-headers']).toBe(
      'content-type,x-grpc-web,x-user-agent,grpc-timeout',
    );
    const r = await h1Call('/meshgate.echo.Echo/Say', frame({ name: 'browser' }), {
      origin: 'https://app.example',
    });
    expect(r.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(r.headers['access-control-expose-headers']).toBe('grpc-status,grpc-message');
    expect(parseWebBody(r.body).messages).toEqual([{ message: 'hello browser', version: 'v1' }]);
  });

  it('on a plain HTTP port the filter is absent: no route is a plain 404 (gRPC-Web is not gRPC to Envoy)', async () => {
    const r = await request(`http://127.0.0.1:${gw.port(81)}/meshgate.echo.Echo/Say`, {
      method: 'POST',
      headers: { host: 'nowhere.example.com', 'content-type': 'application/grpc-web' },
      body: frame({}),
    });
    await r.body.dump();
    expect(r.statusCode).toBe(404);
    expect(r.headers['grpc-status']).toBeUndefined();
  });
});
