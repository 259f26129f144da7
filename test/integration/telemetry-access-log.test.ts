/**
 * `--access-log text` through the real gateway: Envoy's default format line (istio-semantics §5.4)
 * for a proxied request and for a 404 NR local reply, written to a file descriptor.
 */
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAccessLogger } from '../../telemetry/access-log.js';
import { startUpstream } from '../helpers/upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { httpGet } from '../helpers/clients.js';
import { bookinfoConfig } from '../helpers/telemetry.js';

describe('text access log', () => {
  it('writes one Envoy default-format line per request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-al-'));
    const file = join(dir, 'access.log');
    const accessLogger = createAccessLogger('text', openSync(file, 'a'));
    const up = await startUpstream('productpage');
    const gw = await startGateway(bookinfoConfig({ productpage: up.port }), {
      accessLog: 'text',
      accessLogger,
    });
    try {
      const port = gw.port(8080);
      expect(
        (await httpGet(port, '/productpage', { 'user-agent': 'curl/8.5.0', 'x-request-id': 'req-1' })).status,
      ).toBe(200);
      expect((await httpGet(port, '/', { 'user-agent': 'curl/8.5.0', 'x-request-id': 'req-2' })).status).toBe(
        404,
      );
      await gw.close();
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(2);
      const esc = (s: string) => s.replace(/[|.[\]()]/g, '\\$&');
      expect(lines[0]).toMatch(
        new RegExp(
          '^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] "GET /productpage HTTP/1\\.1" 200 - via_upstream - "-" 0 \\d+ \\d+ \\d+ ' +
            `"-" "curl/8\\.5\\.0" "req-1" "127\\.0\\.0\\.1:${port}" "127\\.0\\.0\\.1:${up.port}" ` +
            `${esc('outbound|9080||productpage.default.svc.cluster.local')} - 127\\.0\\.0\\.1:${port} 127\\.0\\.0\\.1:\\d+ - default/bookinfo\\.0$`,
        ),
      );
      expect(lines[1]).toMatch(
        new RegExp(
          '^\\[[^\\]]+\\] "GET / HTTP/1\\.1" 404 NR route_not_found - "-" 0 0 \\d+ - "-" "curl/8\\.5\\.0" "req-2" ' +
            `"127\\.0\\.0\\.1:${port}" "-" - - 127\\.0\\.0\\.1:${port} 127\\.0\\.0\\.1:\\d+ - -$`,
        ),
      );
    } finally {
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
