import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAccessLogger, type StreamRecord } from '../../telemetry/access-log.js';

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
  it('writes one valid JSON object per line with Envoy field names', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mg-al-')), 'access.log');
    const al = createAccessLogger('json', openSync(file, 'a'));
    al.log(record);
    al.log({ ...record, responseCode: 200, responseFlags: '-' });
    al.flush();
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

  it('writes Envoy default text lines', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mg-al-')), 'access.log');
    const al = createAccessLogger('text', openSync(file, 'a'));
    al.log(record);
    al.flush();
    expect(readFileSync(file, 'utf8')).toMatch(
      /^\[2026-11-23T10:00:00\.000Z\] "GET \/productpage HTTP\/1\.1" 503 UF,URX upstream_reset_before_response_started\{connection_failure\} - "-" 0 91 12 - "-" "curl\/7\.88\.1" "r-1" "localhost:8080" "127\.0\.0\.1:19080" outbound\|9080\|\|productpage/,
    );
  });

  it('off is free: nothing enabled', () => {
    expect(createAccessLogger('off').enabled).toBe(false);
  });
});
