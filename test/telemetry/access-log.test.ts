import { mkdtempSync, openSync, readFileSync, watch } from 'node:fs';
import fc from 'fast-check';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  LOG_BATCH_RECORDS,
  createAccessLogger,
  formatJson,
  type StreamRecord,
} from '../../telemetry/access-log.js';

const record: StreamRecord = {
  startTime: Date.UTC(2026, 10, 23, 10, 0, 0),
  method: 'GET',
  path: '/productpage',
  protocol: 'HTTP/1.1',
  responseCode: 503,
  responseFlags: 'UF,URX',
  responseCodeDetails: 'upstream_reset_before_response_started{connection_failure}',
  bytesReceived: 0,
  bytesSent: 91,
  durationMs: 12.4,
  upstreamServiceTimeMs: undefined,
  xForwardedFor: undefined,
  userAgent: 'curl/7.88.1',
  requestId: 'r-1',
  authority: 'localhost:8080',
  upstreamHost: '127.0.0.1:19080',
  upstreamCluster: 'outbound|9080||productpage.default.svc.cluster.local',
  routeName: 'default/bookinfo.0',
  downstreamRemoteAddress: '127.0.0.1:5000',
  downstreamLocalAddress: '127.0.0.1:8080',
  requestedServerName: undefined,
};

describe('access log', () => {
  it('writes one valid JSON object per line with Envoy field names', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mg-al-')), 'access.log');
    const al = createAccessLogger('json', openSync(file, 'a'));
    al.log(record);
    al.log({ ...record, responseCode: 200, responseFlags: '-' });
    await al.flush();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({
      start_time: '2026-11-23T10:00:00.000Z',
      method: 'GET',
      path: '/productpage',
      response_code: 503,
      response_flags: 'UF,URX',
      duration: 12,
      upstream_service_time: null,
      upstream_cluster: 'outbound|9080||productpage.default.svc.cluster.local',
    });
  });

  it('writes Envoy default text lines', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mg-al-')), 'access.log');
    const al = createAccessLogger('text', openSync(file, 'a'));
    al.log(record);
    await al.flush();
    expect(readFileSync(file, 'utf8')).toMatch(
      /^\[2026-11-23T10:00:00\.000Z\] "GET \/productpage HTTP\/1\.1" 503 UF,URX upstream_reset_before_response_started\{connection_failure\} - "-" 0 91 12 - "-" "curl\/7\.88\.1" "r-1" "localhost:8080" "127\.0\.0\.1:19080" outbound\|9080\|\|productpage/,
    );
  });

  it('off is free: nothing enabled', () => {
    expect(createAccessLogger('off').enabled).toBe(false);
  });

  it('escapes client-sent strings so every line stays one valid JSON object', () => {
    const nasty = ['/a"b\\c', '/tab\there', '/nl\nx', '/\u0001ctl', '/ünïcödé/日本', '/lone\ud800', ''];
    for (const path of nasty) {
      const line = formatJson({ ...record, path, userAgent: path, authority: path });
      expect(line.endsWith('\n')).toBe(true);
      expect(line.indexOf('\n')).toBe(line.length - 1);
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(parsed['path']).toBe(JSON.parse(JSON.stringify(path)) as string);
      expect(parsed['user_agent']).toBe(parsed['path']);
    }
  });

  it('JSON lines equal JSON.stringify of the fields in order, for awkward values and repeats', () => {
    // The formatter caches runs of fields that repeat; lines must not depend on what came before.
    const reference = (r: StreamRecord): string => {
      const num = (v: number): number | null => (Number.isFinite(v) ? Math.round(v) : null);
      return `${JSON.stringify({
        start_time: new Date(r.startTime).toISOString(),
        method: r.method,
        path: r.path,
        protocol: r.protocol,
        response_code: r.responseCode,
        response_flags: r.responseFlags,
        response_code_details: r.responseCodeDetails,
        bytes_received: r.bytesReceived,
        bytes_sent: r.bytesSent,
        duration: num(r.durationMs),
        upstream_service_time: r.upstreamServiceTimeMs === undefined ? null : num(r.upstreamServiceTimeMs),
        x_forwarded_for: r.xForwardedFor ?? null,
        user_agent: r.userAgent ?? null,
        request_id: r.requestId ?? null,
        authority: r.authority ?? null,
        upstream_host: r.upstreamHost ?? null,
        upstream_cluster: r.upstreamCluster ?? null,
        route_name: r.routeName ?? null,
        downstream_remote_address: r.downstreamRemoteAddress ?? null,
        downstream_local_address: r.downstreamLocalAddress ?? null,
        requested_server_name: r.requestedServerName ?? null,
      })}\n`;
    };
    const awkward = [
      '',
      'GET',
      '/a"b\\c',
      '\t\n\r\b\f',
      '\u0000\u001f\u007f',
      'ünïcödé/日本/😀',
      'lone\ud800',
      '\udc00tail',
      '\u2028\u2029',
      '</script>',
    ];
    const str = fc.oneof(
      fc.constantFrom(...awkward),
      fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 12 }),
    );
    const opt = fc.option(str, { nil: undefined });
    const num = fc.oneof(
      fc.double(),
      fc.constantFrom(0, -0, 0.5, -0.5, 1.5, 2.5, 1e21, -1e21, NaN, Infinity, -Infinity),
    );
    const rec = fc.record({
      startTime: fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }),
      method: str,
      path: str,
      protocol: str,
      responseCode: fc.integer({ min: 0, max: 599 }),
      responseFlags: str,
      responseCodeDetails: str,
      bytesReceived: fc.nat(),
      bytesSent: fc.nat(),
      durationMs: num,
      upstreamServiceTimeMs: fc.option(num, { nil: undefined }),
      xForwardedFor: opt,
      userAgent: opt,
      requestId: opt,
      authority: opt,
      upstreamHost: opt,
      upstreamCluster: opt,
      routeName: opt,
      downstreamRemoteAddress: opt,
      downstreamLocalAddress: opt,
      requestedServerName: opt,
    });
    fc.assert(
      fc.property(
        fc.array(rec, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(3), { maxLength: 12 }),
        (recs, order) => {
          // Records logged again, and in between others, hit and miss the cached runs.
          for (const i of [0, ...order]) {
            const r = recs[i % recs.length]!;
            expect(formatJson(r)).toBe(reference(r));
          }
        },
      ),
      { numRuns: 3000 },
    );
    expect(formatJson(record)).toBe(reference(record));
  });

  it('start_time equals Date#toISOString for any millisecond', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }), (t) => {
        const parsed = JSON.parse(formatJson({ ...record, startTime: t })) as { start_time: string };
        expect(parsed.start_time).toBe(new Date(t).toISOString());
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps order across batches and writes a lone line on the flush timer, without flush()', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mg-al-')), 'access.log');
    const al = createAccessLogger('json', openSync(file, 'a'));
    const n = LOG_BATCH_RECORDS * 3 + 1;
    for (let i = 0; i < n; i++) al.log({ ...record, requestId: `r-${i}` });
    // The last record is alone in its batch: only the timer writes it (else this wait never ends).
    await new Promise<void>((resolve) => {
      const w = watch(file, () => {
        if (readFileSync(file, 'utf8').includes(`"r-${n - 1}"`)) {
          w.close();
          resolve();
        }
      });
    });
    const ids = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { request_id: string }).request_id);
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => `r-${i}`));
    await al.close();
  });
});
