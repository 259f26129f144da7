/**
 * Upstream → downstream bytes of a TCP route, which the gateway reads into reused buffers (`onread`
 * of the upstream socket, gateway/tcp-proxy.ts): every byte arrives once and in order whether the
 * client keeps up or not (a slow client makes the downstream writes asynchronous, which must hand out
 * fresh buffers, and pauses the upstream), for trickles of small reads and bursts of large ones, and
 * the upstream's FIN is passed on while the client keeps sending.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import type { StreamRecord } from '../../telemetry/access-log.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** An upstream whose behaviour per connection is `serve`; resolves once listening. */
async function upstream(serve: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port;

/** A TCP Gateway server per route: 31400 → download, 31401 → trickle, 31402 → fin-first, 31403 → small-stalled. */
function config(ports: Record<'download' | 'trickle' | 'finFirst' | 'smallStalled', number>): string {
  const routes = [
    ['download', 31400, ports.download],
    ['trickle', 31401, ports.trickle],
    ['fin-first', 31402, ports.finFirst],
    ['small-stalled', 31403, ports.smallStalled],
  ] as const;
  const servers = routes
    .map(([name, p]) => `    - port: { number: ${p}, name: tcp-${name}, protocol: TCP }\n      hosts: ['*']`)
    .join('\n');
  const docs = routes.map(
    ([name, p, up]) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name} }
spec:
  hosts: ['*']
  gateways: [gw]
  tcp:
    - match: [{ port: ${p} }]
      route: [{ destination: { host: ${name}, port: { number: 7000 } } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name} }
spec:
  hosts: [${name}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 7000, name: tcp, protocol: TCP }]
  endpoints: [{ address: 127.0.0.1, ports: { tcp: ${up} } }]`,
  );
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  selector: { istio: ingressgateway }
  servers:
${servers}
---
${docs.join('\n---\n')}
`;
}

/** Everything a connection receives until the peer's FIN. */
function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

describe('TCP upstream → downstream bytes (reused read buffers)', () => {
  // 48 MiB: more than the loopback socket buffers on both sides hold, so a paused client makes the
  // gateway's writes asynchronous and pushes back on the upstream.
  const download = randomBytes(48 * 1024 * 1024);
  // Small pieces written in separate turns, with large bursts between them: reads of every size.
  const pieces: Buffer[] = [];
  for (let i = 0; i < 600; i++) pieces.push(randomBytes(i % 50 === 49 ? 300_000 : 1 + ((i * 997) % 6000)));
  const trickle = Buffer.concat(pieces);
  // 24 MB in 2000-byte writes, one per turn: small reads, which the gateway keeps writing (no
  // push-back below the 16 KiB high-water mark) while an earlier write to the stalled client is pending.
  const small = randomBytes(24_000_000);
  let onSmallSent: () => void = () => undefined;
  const smallSent = new Promise<void>((resolve) => (onSmallSent = resolve));
  // Resolved when the download upstream's write first returns false (the gateway stopped reading).
  let onBlocked: () => void = () => undefined;
  const upstreamBlocked = new Promise<void>((resolve) => (onBlocked = resolve));
  let finFirstReceived: Promise<Buffer> | undefined;
  const servers: net.Server[] = [];
  let gw: TestGateway;

  beforeAll(async () => {
    servers.push(
      await upstream((s) => {
        let off = 0;
        const send = (): void => {
          while (off < download.length) {
            const end = Math.min(off + 256 * 1024, download.length);
            const more = s.write(download.subarray(off, end));
            off = end;
            if (!more) {
              onBlocked();
              s.once('drain', send);
              return;
            }
          }
          s.end();
        };
        send();
      }),
      await upstream((s) => {
        let i = 0;
        const next = (): void => {
          if (i === pieces.length) return void s.end();
          s.write(pieces[i++]!);
          setImmediate(next);
        };
        next();
      }),
      await upstream((s) => {
        finFirstReceived = readAll(s);
        s.end('bye');
      }),
      await upstream((s) => {
        let off = 0;
        const next = (): void => {
          if (off === small.length) {
            onSmallSent();
            return void s.end();
          }
          const more = s.write(small.subarray(off, (off += 2000)));
          if (more) setImmediate(next);
          else {
            onSmallSent();
            s.once('drain', next);
          }
        };
        next();
      }),
    );
    gw = await startGateway(
      config({
        download: portOf(servers[0]!),
        trickle: portOf(servers[1]!),
        finFirst: portOf(servers[2]!),
        smallStalled: portOf(servers[3]!),
      }),
    );
  });

  afterAll(async () => {
    await gw?.close();
    for (const s of servers) s.close();
  });

  async function record(route: string): Promise<StreamRecord> {
    for (;;) {
      const r = gw.records.find((x) => x.upstreamCluster?.includes(`|${route}`) === true);
      if (r) return r;
      await gw.nextRecord();
    }
  }

  /**
   * Connects to `serverPort` without reading until `release` resolves, then reads to the end and
   * checks the bytes against `expected`.
   */
  async function stalledClient(serverPort: number, release: Promise<void>, expected: Buffer): Promise<void> {
    const c = net.connect({ port: gw.port(serverPort), host: '127.0.0.1' });
    c.pause();
    await release;
    const got = readAll(c);
    c.resume();
    const body = await got;
    c.end();
    expect(body.length).toBe(expected.length);
    expect(sha256(body)).toBe(sha256(expected));
  }

  it('delivers 48 MiB intact to a client that stops reading until the upstream is pushed back', async () => {
    // Read once the upstream was told to stop (its write returned false).
    await stalledClient(31400, upstreamBlocked, download);
    const r = await record('download');
    expect(r.bytesSent).toBe(download.length);
    expect(r.responseFlags).toBe('-');
  });

  it('delivers small reads and large bursts in order', async () => {
    const c = net.connect({ port: gw.port(31401), host: '127.0.0.1' });
    const body = await readAll(c);
    c.end();
    expect(body.length).toBe(trickle.length);
    expect(sha256(body)).toBe(sha256(trickle));
    expect((await record('trickle')).bytesSent).toBe(trickle.length);
  });

  it('delivers small reads intact to a client that stops reading (pending writes keep their buffers)', async () => {
    // Read once the upstream sent everything or was pushed back, whichever comes first.
    await stalledClient(31403, smallSent, small);
  });

  it("passes the upstream's FIN on and keeps forwarding the client's bytes after it", async () => {
    const c = net.connect({ port: gw.port(31402), host: '127.0.0.1', allowHalfOpen: true });
    const got = await readAll(c);
    expect(got.toString()).toBe('bye');
    c.end('after the FIN');
    await new Promise((resolve) => c.once('close', resolve));
    expect((await finFirstReceived!).toString()).toBe('after the FIN');
    const r = await record('fin-first');
    expect([r.bytesReceived, r.bytesSent]).toEqual([13, 3]);
  });
});
