import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { StreamRecord } from '../../telemetry/access-log.js';
import { extractContext, operationName, Tracer } from '../../telemetry/tracing.js';
import { StatStore } from '../../telemetry/stats.js';

const T128 = '463ac35c9f6413ad48485a3953bb6124';
const T64 = '80f198ee56343ba8';
const S = 'a2fb4a1d1a96d312';

function fakeReq(headers: Record<string, string>): IncomingMessage {
  return { headers, socket: { remoteAddress: '127.0.0.1', remotePort: 5555 } } as unknown as IncomingMessage;
}

function headerMap(out: string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (let i = 0; i < out.length; i += 2) m[out[i]!] = out[i + 1]!;
  return m;
}

describe('extractContext', () => {
  it.each([
    [
      'B3 multi 128-bit',
      { 'x-b3-traceid': T128, 'x-b3-spanid': S, 'x-b3-sampled': '1' },
      { traceId: T128, spanId: S, sampled: true },
    ],
    [
      'B3 multi 64-bit, upper case',
      { 'x-b3-traceid': T64.toUpperCase(), 'x-b3-spanid': S },
      { traceId: T64, spanId: S, sampled: undefined },
    ],
    [
      'B3 debug flag',
      { 'x-b3-traceid': T64, 'x-b3-spanid': S, 'x-b3-sampled': '0', 'x-b3-flags': '1' },
      { sampled: true, debug: true },
    ],
    ['B3 single', { b3: `${T128}-${S}-1` }, { traceId: T128, spanId: S, sampled: true, single: true }],
    ['B3 single deny only', { b3: '0' }, { traceId: undefined, sampled: false, single: true }],
    ['W3C', { traceparent: `00-${T128}-${S}-01` }, { traceId: T128, spanId: S, sampled: true }],
    ['W3C not sampled', { traceparent: `00-${T128}-${S}-00` }, { sampled: false }],
    ['sampling only', { 'x-b3-sampled': 'false' }, { traceId: undefined, sampled: false }],
  ])('%s', (_name, headers, expected) => {
    expect(extractContext(headers)).toMatchObject(expected);
  });

  it.each([
    ['bad B3 trace id', { 'x-b3-traceid': 'abc', 'x-b3-spanid': S }],
    ['W3C all-zero trace', { traceparent: `00-${'0'.repeat(32)}-${S}-01` }],
    ['W3C version ff', { traceparent: `ff-${T128}-${S}-01` }],
    ['nothing', {}],
  ])('ignores %s', (_name, headers) => {
    expect(extractContext(headers)).toBeUndefined();
  });

  it('prefers B3 over traceparent', () => {
    expect(
      extractContext({
        'x-b3-traceid': T64,
        'x-b3-spanid': S,
        traceparent: `00-${T128}-${'1'.repeat(16)}-01`,
      }),
    ).toMatchObject({ traceId: T64 });
  });
});

describe('Tracer.inject', () => {
  const tracer = (pct: number) =>
    new Tracer({ endpoint: 'http://127.0.0.1:9/api/v2/spans', samplingPercent: pct }, new StatStore());

  it('replaces incoming trace headers with the gateway span, keeping other headers in place', async () => {
    const t = tracer(0);
    const out = [
      'accept',
      '*/*',
      'x-b3-traceid',
      T128,
      'x-b3-spanid',
      S,
      'x-b3-sampled',
      '1',
      'tracestate',
      'a=b',
    ];
    t.inject(out, fakeReq({ 'x-b3-traceid': T128, 'x-b3-spanid': S, 'x-b3-sampled': '1' }), 'id-1');
    const h = headerMap(out);
    expect(out.filter((_, i) => i % 2 === 0 && out[i] === 'x-b3-spanid')).toHaveLength(1);
    expect(h).toMatchObject({
      accept: '*/*',
      tracestate: 'a=b',
      'x-b3-traceid': T128,
      'x-b3-parentspanid': S,
      'x-b3-sampled': '1',
    });
    expect(h['x-b3-spanid']).toMatch(/^[0-9a-f]{16}$/);
    expect(h['traceparent']).toBe(`00-${T128}-${h['x-b3-spanid']}-01`);
    await t.close();
  });

  it('starts a new 128-bit trace without context, sampled by percentage', async () => {
    const never = tracer(0);
    const always = tracer(100);
    const a: string[] = [];
    const b: string[] = [];
    never.inject(a, fakeReq({}), 'id-a');
    always.inject(b, fakeReq({}), 'id-b');
    expect(headerMap(a)).toMatchObject({ 'x-b3-sampled': '0' });
    expect(headerMap(a)['x-b3-parentspanid']).toBeUndefined();
    expect(headerMap(a)['x-b3-traceid']).toMatch(/^[0-9a-f]{32}$/);
    expect(headerMap(b)).toMatchObject({ 'x-b3-sampled': '1' });
    expect(headerMap(a)['x-b3-traceid']).not.toBe(headerMap(b)['x-b3-traceid']);
    await never.close();
    await always.close();
  });

  it('answers a B3 single header in kind', async () => {
    const t = tracer(0);
    const out: string[] = ['b3', `${T64}-${S}-1`];
    t.inject(out, fakeReq({ b3: `${T64}-${S}-1` }), 'id');
    const h = headerMap(out);
    expect(h['b3']).toBe(`${T64}-${h['x-b3-spanid']}-1-${S}`);
    expect(h['traceparent']).toBe(`00-0000000000000000${T64}-${h['x-b3-spanid']}-01`);
    await t.close();
  });
});

describe('operationName (Istio route decorator, pilot GetRouteOperation)', () => {
  const rec = (over: Partial<StreamRecord>): StreamRecord =>
    ({ authority: 'bookinfo.example', downstreamLocalAddress: '127.0.0.1:8080', ...over }) as StreamRecord;

  it.each([
    [
      'a route to one outbound cluster: <host>:<port>/*',
      { upstreamCluster: 'outbound|9080|v1|reviews.default.svc.cluster.local', routeName: 'default/vs.0' },
      'reviews.default.svc.cluster.local:9080/*',
    ],
    [
      'a route without an outbound cluster (redirect, direct response): <vs>:<listener port>/*',
      { routeName: 'default/bookinfo.v1.2' },
      'bookinfo.v1:8080/*',
    ],
    ['no route: Envoy egress default', {}, 'egress bookinfo.example'],
  ])('%s', (_name, over, expected) => {
    expect(operationName(rec(over))).toBe(expected);
  });
});
