import http from 'node:http';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../samples/common/http-util.js';
import { startHttpbin } from '../../samples/httpbin/httpbin-server.js';
import { lineLog } from '../helpers/log-lines.js';
import { request } from './net-helpers.js';

describe('httpbin server', () => {
  let bin: RunningServer;
  const log = lineLog();
  const logged = (match: RegExp) => log.waitFor(match);
  const record = log.record;

  beforeAll(async () => {
    bin = await startHttpbin({ version: 'v2', log: record });
  });
  afterAll(async () => {
    await bin.close();
  });

  it('answers /status/418 with a teapot and /status/<code> with that code, marked x-served-by', async () => {
    const teapot = await request(bin.port, '/status/418');
    expect(teapot.status).toBe(418);
    expect(teapot.body).toContain('teapot');
    expect(teapot.headers['x-served-by']).toBe('httpbin-v2');
    const unavailable = await request(bin.port, '/status/503');
    expect(unavailable.status).toBe(503);
    expect(unavailable.body).toBe('');
    expect((await request(bin.port, '/status/200,200')).status).toBe(200);
    expect((await request(bin.port, '/status/abc')).status).toBe(400);
  });

  it('echoes request headers on /headers (httpbin casing)', async () => {
    const reply = await request(bin.port, '/headers', {
      headers: { 'x-custom-thing': 'yes', 'x-b3-traceid': 'abc' },
    });
    expect(reply.headers['content-type']).toBe('application/json');
    const body = JSON.parse(reply.body) as { headers: Record<string, string> };
    expect(body.headers).toMatchObject({ 'X-Custom-Thing': 'yes', 'X-B3-Traceid': 'abc' });
    expect(body.headers.Host).toBe(`127.0.0.1:${bin.port}`);
  });

  it('answers /delay/<s> after the delay', async () => {
    const t0 = performance.now();
    const reply = await request(bin.port, '/delay/0.2?x=1');
    // The delay is the feature: a lower bound only (a timer may fire up to 1 ms early on this clock).
    expect(performance.now() - t0).toBeGreaterThanOrEqual(199);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ delay: 0.2, args: { x: '1' } });
  });

  it('drops a /delay when the client goes away', async () => {
    const req = http.request({ host: '127.0.0.1', port: bin.port, path: '/delay/10', agent: false });
    req.on('error', () => undefined);
    req.end();
    await logged(/GET \/delay\/10: delaying 10 s/);
    req.destroy();
    await logged(/GET \/delay\/10: client went away/);
  });

  it('serves /get, /anything, /post, /ip and /uuid', async () => {
    const get = JSON.parse((await request(bin.port, '/get?a=1&a=2')).body) as Record<string, unknown>;
    expect(get).toMatchObject({ args: { a: ['1', '2'] }, origin: '127.0.0.1' });
    expect(get.url).toBe(`http://127.0.0.1:${bin.port}/get?a=1&a=2`);

    const anything = await request(bin.port, '/anything/x', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"k":"v"}',
    });
    expect(JSON.parse(anything.body)).toMatchObject({ method: 'PUT', json: { k: 'v' }, data: '{"k":"v"}' });

    const form = await request(bin.port, '/post', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'data=nothing',
    });
    expect(JSON.parse(form.body)).toMatchObject({ form: { data: 'nothing' } });
    expect((await request(bin.port, '/post')).status).toBe(405);

    const ip = await request(bin.port, '/ip', { headers: { 'x-forwarded-for': '10.1.2.3, 127.0.0.1' } });
    expect(JSON.parse(ip.body)).toEqual({ origin: '10.1.2.3, 127.0.0.1' });
    const uuid = JSON.parse((await request(bin.port, '/uuid')).body) as { uuid: string };
    expect(uuid.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect((await request(bin.port, '/nope')).status).toBe(404);
  });

  it('logs every request with its Host header', async () => {
    await request(bin.port, '/get', { headers: { host: 'httpbin-shadow:8000' } });
    expect(await logged(/host=httpbin-shadow:8000 200/)).toMatch(/^httpbin-v2 GET \/get /);
  });

  it('close() ends pending delays at once: the client is cut, never answered', async () => {
    const other = await startHttpbin({ log: record });
    const req = http.request({ host: '127.0.0.1', port: other.port, path: '/delay/10', agent: false });
    let answered = false;
    req.on('response', () => (answered = true));
    const failed = once(req, 'error');
    req.end();
    await logged(new RegExp(`^httpbin-v1 GET /delay/10: delaying`));
    await other.close();
    // Had close() waited for the 10 s timer, the client would get a 200 instead of an error.
    const [err] = (await failed) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNRESET');
    expect(answered).toBe(false);
    expect(log.lines.filter((l) => /^httpbin-v1 GET \/delay\/10 .* 200 /.test(l))).toEqual([]);
  });
});
