/**
 * Linear-time regex through the gateway: a route regex and an admin `/stats?filter=` that backtrack
 * exponentially in JavaScript's engine are answered (correctly) while an unrelated request is served.
 * With a backtracking engine these requests hold the event loop (2.4 s for `/(a+)+b` on 27 characters on the
 * dev machine, doubling per character: minutes at 34), so each test here times out on such an engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../helpers/clients.js';
import type { TestGateway } from '../helpers/gateway.js';
import { BACKEND_DESTINATION, backendGatewayYaml } from '../helpers/resources.js';
import { baseUrl, fetchText, startTelemetryGateway } from '../helpers/telemetry.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

function config(upstream: number): string {
  return backendGatewayYaml(
    'redos',
    [
      '- match: [{ uri: { regex: "/(a+)+b" } }]',
      '  directResponse: { status: 200, body: { string: "regex route" } }',
      '- match: [{ headers: { x-probe: { regex: "(x+x+)+y" } } }]',
      '  directResponse: { status: 200, body: { string: "header route" } }',
      `- route: [{ destination: ${BACKEND_DESTINATION} }]`,
    ],
    upstream,
  );
}

describe('linear-time regex', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    up = await startUpstream('backend');
    gw = await startTelemetryGateway(config(up.port));
    port = gw.port(80);
  });

  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('a route regex /(a+)+b on a 34-character path falls through (no match) while another request is served', async () => {
    const [pathological, unrelated] = await Promise.all([
      httpGet(port, `/${'a'.repeat(33)}`),
      httpGet(port, '/unrelated'),
    ]);
    expect(pathological.status).toBe(200);
    expect(JSON.parse(pathological.body)).toMatchObject({ upstream: 'backend', url: `/${'a'.repeat(33)}` });
    expect(unrelated.status).toBe(200);
    expect(JSON.parse(unrelated.body)).toMatchObject({ upstream: 'backend', url: '/unrelated' });
    const hit = await httpGet(port, `/${'a'.repeat(33)}b`);
    expect(hit.body).toBe('regex route');
  });

  it('a 10,000-character path against the same regex is answered', async () => {
    const r = await httpGet(port, `/${'a'.repeat(9999)}`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ upstream: 'backend' });
  });

  it('a header regex (x+x+)+y on a long header value does not match and does not stall', async () => {
    const [miss, hit] = await Promise.all([
      httpGet(port, '/h', { 'x-probe': 'x'.repeat(64) }),
      httpGet(port, '/h', { 'x-probe': 'xxy' }),
    ]);
    expect(JSON.parse(miss.body)).toMatchObject({ upstream: 'backend', url: '/h' });
    expect(hit.body).toBe('header route');
  });

  it('admin /stats?filter=^(.+)+x$ answers (RE2 search) while the data path serves', async () => {
    const admin = baseUrl(gw, 'admin');
    const [stats, unrelated] = await Promise.all([
      fetchText(`${admin}/stats?filter=${encodeURIComponent('^(.+)+x$')}`),
      httpGet(port, '/during-filter'),
    ]);
    expect(stats.status).toBe(200);
    for (const line of stats.body.split('\n').filter(Boolean)) expect(line.split(':')[0]).toMatch(/x$/);
    expect(unrelated.status).toBe(200);
    const some = await fetchText(`${admin}/stats?filter=${encodeURIComponent('^server\\.(live|state)$')}`);
    expect(
      some.body
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(':')[0]),
    ).toEqual(['server.live', 'server.state']);
    const bad = await fetchText(`${admin}/stats?filter=${encodeURIComponent('a(?=b)')}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('lookahead');
  });
});
