/**
 * A client that leaves during a fault delay (Istio `fault.delay.fixedDelay: 10s`) frees its stream
 * at once: the filter chain's `onDestroy` hook clears the delay's timer when the stream closes, so
 * nothing keeps the stream for the rest of the delay, and the access log line (flags DI,DC, no
 * upstream) is written on the disconnect. Waits on the timer being armed and on the log record.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { recordWhere } from '../helpers/tls-gateway.js';
import { HTTP_9080, istioResourceYaml, localServiceEntryYaml, yamlDocuments } from '../helpers/resources.js';

const DELAY_MS = 10_000;

function config(port: number): string {
  return yamlDocuments(
    localServiceEntryYaml('ratings', HTTP_9080, port),
    istioResourceYaml('VirtualService', 'ratings', [
      'hosts: [ratings]',
      'http:',
      '- fault: { delay: { fixedDelay: 10s, percentage: { value: 100 } } }',
      '  route: [{ destination: { host: ratings } }]',
    ]),
  );
}

describe('fault delay and a client that disconnects', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startUpstream('ratings');
    gw = await startGateway(config(up.port), { meshPort: 0 });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await gw?.close();
    await up?.close();
  });

  it('clears the delay timer and logs the stream (DI,DC) as soon as the client leaves', async () => {
    let armed!: (t: NodeJS.Timeout) => void;
    const delayTimer = new Promise<NodeJS.Timeout>((r) => (armed = r));
    const realSetTimeout = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const t = realSetTimeout(fn, ms);
      if (ms === DELAY_MS) armed(t);
      return t;
    }) as typeof setTimeout);
    const cleared = vi.spyOn(globalThis, 'clearTimeout');

    const client = net.connect(gw.meshPort(), '127.0.0.1');
    client.on('error', () => undefined);
    client.write('GET /ratings/0 HTTP/1.1\r\nhost: ratings:9080\r\n\r\n');
    const timer = await delayTimer;
    expect(cleared).not.toHaveBeenCalledWith(timer);

    client.destroy();
    const log = await recordWhere(gw, (r) => r.path === '/ratings/0');
    expect([log.responseCode, log.responseFlags, log.upstreamHost]).toEqual([0, 'DI,DC', undefined]);
    // Freed with the stream, not 10 s later.
    expect(cleared).toHaveBeenCalledWith(timer);
    expect(up.seen.map((s) => s.url)).toEqual([]);
  });
});
