/**
 * Edge request hygiene through the gateway with raw sockets and curl: Istio's BASE path normalization
 * before routing (the `/admin` bypasses of a `prefix: /admin` deny route), 400 for `%00`, fragments and
 * two Host headers, client `x-envoy-*` internal headers stripped, 431 past 100 headers and past 60 KiB,
 * and 408 when the request headers time out.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, rawExchange } from '../helpers/clients.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { BACKEND_DESTINATION, backendGatewayYaml } from '../helpers/resources.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { createClientErrorHandler } from '../../gateway/http-listener.js';
import type { ListenerRuntime, ProxyContext } from '../../gateway/http/proxy-context.js';
import { StatStore } from '../../telemetry/stats.js';

function config(upstream: number): string {
  return backendGatewayYaml(
    'edge',
    [
      '- match: [{ uri: { prefix: /admin } }]',
      '  directResponse: { status: 403, body: { string: "admin is internal" } }',
      '- match: [{ uri: { prefix: /flaky } }]',
      '  retries: { attempts: 0 }',
      `  route: [{ destination: ${BACKEND_DESTINATION} }]`,
      `- route: [{ destination: ${BACKEND_DESTINATION} }]`,
    ],
    upstream,
  );
}

/** One request on a fresh connection; returns status, headers block and body. */
async function raw(
  port: number,
  target: string,
  headerLines: string[] = ['Host: edge.example'],
): Promise<{
  status: number;
  body: string;
}> {
  const text = await rawExchange(
    port,
    `GET ${target} HTTP/1.1\r\n${headerLines.join('\r\n')}\r\nConnection: close\r\n\r\n`,
  );
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

describe('edge request hygiene', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    up = await startUpstream('backend', (req, res) => {
      if (req.url?.startsWith('/flaky')) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('flaky');
        return true;
      }
    });
    gw = await startGateway(config(up.port));
    port = gw.port(80);
  });

  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it.each([
    '/admin',
    '/x/../admin',
    '/./admin',
    '/%61dmin',
    '/x/..\\admin',
    '/static/%2E%2E/admin',
    '/x/%2e%2e/admin/',
  ])('%s is normalized before routing and meets the /admin route (403)', async (target) => {
    const r = await raw(port, target);
    expect(r.status).toBe(403);
    expect(r.body).toBe('admin is internal');
  });

  it('the upstream receives the normalized path; %2F, // and the query stay as sent', async () => {
    const seen = async (target: string) => {
      expect((await raw(port, target)).status).toBe(200);
      return up.seen.at(-1)!;
    };
    expect((await seen('/static/%2E%2E/%2E%2E/etc/passwd')).url).toBe('/etc/passwd');
    expect((await seen('/a/./b/../c%7e?q=/../x%2E')).url).toBe('/a/c~?q=/../x%2E');
    expect((await seen('/a//b%2Fc/%2f?x=1')).url).toBe('/a//b%2Fc/%2f?x=1');
    // curl keeps the dots with --path-as-is, as an attacker would.
    const viaCurl = JSON.parse(await curl(['--path-as-is', `http://127.0.0.1:${port}/p/q/../../r`])) as {
      url: string;
    };
    expect(viaCurl.url).toBe('/r');
  });

  it('answers 400 for %00 in the path, a #fragment and two Host headers', async () => {
    const before = up.seen.length;
    expect((await raw(port, '/admin%00')).status).toBe(400);
    expect((await raw(port, '/ok/.%00../x')).status).toBe(400);
    expect((await raw(port, '/public#frag')).status).toBe(400);
    expect((await raw(port, '/public', ['Host: a.example', 'Host: b.example'])).status).toBe(400);
    expect(up.seen.length).toBe(before);
  });

  it('strips the x-envoy-* headers Envoy trusts only from internal callers; they do not steer retries', async () => {
    const clientHeaders = [
      'x-envoy-retry-on: 5xx',
      'x-envoy-max-retries: 5',
      'x-envoy-retry-grpc-on: unavailable',
      'x-envoy-retriable-status-codes: 500',
      'x-envoy-upstream-rq-timeout-ms: 1',
      'x-envoy-upstream-rq-per-try-timeout-ms: 1',
      'x-envoy-hedge-on-per-try-timeout: true',
      'x-envoy-force-trace: true',
      'x-envoy-internal: true',
      'x-envoy-decorator-operation: evil',
      'x-envoy-original-url: http://evil/',
    ];
    const before = up.seen.length;
    const r = await raw(port, '/flaky', ['Host: edge.example', ...clientHeaders, 'x-kept: yes']);
    expect(r.status).toBe(500);
    expect(up.seen.length - before).toBe(1); // no retry although the client asked for 5
    const seen = up.seen.at(-1)!.headers;
    expect(seen['x-kept']).toBe('yes');
    for (const line of clientHeaders) expect(seen[line.split(':')[0]!]).toBeUndefined();
    // Envoy's own x-envoy-expected-rq-timeout-ms is not faked either; x-envoy-attempt-count is the gateway's.
    expect(seen['x-envoy-attempt-count']).toBe('1');
  });

  it('431 past 100 request headers (Envoy max_request_headers_count), 100 pass', async () => {
    const extra = (n: number) => Array.from({ length: n }, (_, i) => `x-h-${i}: v`);
    // raw() adds Connection: close, so Host + Connection + 98 = 100 headers.
    const ok = await raw(port, '/count', ['Host: edge.example', ...extra(98)]);
    expect(ok.status).toBe(200);
    const tooMany = await raw(port, '/count', ['Host: edge.example', ...extra(99)]); // 101
    expect(tooMany.status).toBe(431);
    const many = await raw(port, '/count', ['Host: edge.example', ...extra(1500)]);
    expect(many.status).toBe(431);
  });

  it('431 past 60 KiB of request headers', async () => {
    const r = await raw(port, '/big', ['Host: edge.example', `x-big: ${'a'.repeat(61 * 1024)}`]);
    expect(r.status).toBe(431);
    // 50 KiB passes the gateway (the directResponse route answers; node's own default limit is 16 KiB).
    const fits = await raw(port, '/admin', ['Host: edge.example', `x-big: ${'a'.repeat(50 * 1024)}`]);
    expect(fits.status).toBe(403);
  });
});

describe('request headers timeout', () => {
  it('answers 408 (Envoy request_headers_timeout) to a client that never finishes its headers', async () => {
    const stats = new StatStore();
    const rt = { listener: { name: 'timeout-test' }, scheme: 'http' } as unknown as ListenerRuntime;
    const ctx = { stats } as unknown as ProxyContext;
    // The gateway's own server uses 60 s; the handler under test is the same, with a short budget.
    const server = http.createServer(
      { headersTimeout: 300, requestTimeout: 0, connectionsCheckingInterval: 50 },
      () => {
        throw new Error('no request should complete');
      },
    );
    server.on('clientError', createClientErrorHandler(rt, ctx, pino({ level: 'silent' })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const text = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a\r\nx-slow: '));
        let out = '';
        s.on('data', (d: Buffer) => (out += d.toString('latin1')));
        s.on('close', () => resolve(out));
        s.on('error', reject);
      });
      expect(text.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
