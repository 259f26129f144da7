/**
 * TCP servers end to end with Istio's tcp-echo sample (samples/tcp-echo): real echo workloads, the
 * gateway on an ephemeral port, `nc` and node:net clients. Half-close, weighted split per connection,
 * connect failure, connect and idle timeouts, reload without dropping open connections.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpEcho, type RunningTcpEcho } from '../../samples/tcp-echo/tcp-echo-server.js';
import { sampleValue } from '../helpers/telemetry.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import type { StreamRecord } from '../../telemetry/access-log.js';

const SAMPLES = join(import.meta.dirname, '..', '..', 'samples', 'tcp-echo');
const sample = (f: string) => readFileSync(join(SAMPLES, f), 'utf8');

const hasNc = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v nc'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasNc)
  console.warn('nc not installed: skipping the `echo hello | nc -q1` checks (CI installs netcat-openbsd)');

/** The first access-log record (already written or coming) that satisfies `pred`; waits on records, never sleeps. */
async function recordWhere(gw: TestGateway, pred: (r: StreamRecord) => boolean): Promise<StreamRecord> {
  for (;;) {
    const found = gw.records.find(pred);
    if (found) return found;
    await gw.nextRecord();
  }
}

/** The sample with the echo workloads' real ports in place of 19090/19091. */
function services(v1: number, v2: number, extra = ''): string {
  return (
    sample('tcp-echo-services.yaml').replace('tcp: 19090', `tcp: ${v1}`).replace('tcp: 19091', `tcp: ${v2}`) +
    extra
  );
}

/** Connects, writes `data`, half-closes, and resolves with everything read until the gateway closes. */
function exchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => s.end(data));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

/**
 * A port where connects hang: a listener (backlog 1) in a child process whose event loop is blocked,
 * its accept queue filled by two idle connections, so the kernel drops further SYNs. (Unroutable
 * addresses are no use here: sandboxes often answer them through a transparent proxy.)
 */
async function startBlackhole(): Promise<{ port: number; close(): void }> {
  const script =
    "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{" +
    "process.stdout.write(s.address().port+'\\n');Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0)})";
  const child: ChildProcess = spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) =>
    child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
  );
  const fillers = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
  await Promise.all(fillers.map((f) => new Promise((r) => f.once('connect', r))));
  return {
    port,
    close() {
      for (const f of fillers) f.destroy();
      child.kill('SIGKILL');
    },
  };
}

function ncHello(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', `echo hello | nc -q1 127.0.0.1 ${port}`], { timeout: 10_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

describe('tcp-echo through a TCP gateway server', () => {
  let v1: RunningTcpEcho;
  let v2: RunningTcpEcho;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    v1 = await startTcpEcho({ prefix: 'one' });
    v2 = await startTcpEcho({ prefix: 'two' });
    gw = await startGateway(`${services(v1.port, v2.port)}\n---\n${sample('tcp-echo-all-v1.yaml')}`);
    port = gw.port(31400);
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([v1?.close(), v2?.close()]);
  });

  it.skipIf(!hasNc)(
    'answers `echo hello | nc -q1` with "one hello" and both sides close (tcp-echo-all-v1)',
    async () => {
      // The gateway is shared by this file's tests: compare counters before and after.
      const dest = 'destination_service="tcp-echo.default.svc.cluster.local"';
      const v1Dest = [dest, 'destination_version="v1"', 'response_flags="-"'];
      const metrics = async () => {
        const text = await gw.gateway.observability.prometheusText();
        return {
          opened: sampleValue(text, 'istio_tcp_connections_opened_total', ...v1Dest) ?? 0,
          closed: sampleValue(text, 'istio_tcp_connections_closed_total', ...v1Dest) ?? 0,
          received: sampleValue(text, 'istio_tcp_received_bytes_total', ...v1Dest) ?? 0,
          sent: sampleValue(text, 'istio_tcp_sent_bytes_total', ...v1Dest) ?? 0,
        };
      };
      const before = await metrics();
      expect(await ncHello(port)).toBe('one hello\n');
      const r = await recordWhere(gw, (x) => x.bytesReceived === 6);
      expect(r.method).toBe('-');
      expect(r.responseCode).toBe(0);
      expect(r.responseFlags).toBe('-');
      expect(r.upstreamCluster).toBe('outbound|9000|v1|tcp-echo.default.svc.cluster.local');
      expect(r.upstreamHost).toBe(`127.0.0.1:${v1.port}`);
      expect(r.routeName).toBe('default/tcp-echo.tcp.0');
      expect([r.bytesReceived, r.bytesSent]).toEqual([6, 10]);
      // Istio's TCP metrics, fed at open and close (before the access-log record is written).
      const after = await metrics();
      expect({
        opened: after.opened - before.opened,
        closed: after.closed - before.closed,
        received: after.received - before.received,
        sent: after.sent - before.sent,
      }).toEqual({ opened: 1, closed: 1, received: 6, sent: 10 });
    },
  );

  it('forwards the half-close: the answer to the last unterminated line arrives after the client FIN', async () => {
    const s = gw.gateway.stats;
    const names = [
      'listener.0.0.0.0_31400.downstream_cx_total',
      'cluster.outbound|9000|v1|tcp-echo.default.svc.cluster.local.upstream_cx_total',
      'tcp.outbound|9000|v1|tcp-echo.default.svc.cluster.local.downstream_cx_total',
      'tcp.outbound|9000|v1|tcp-echo.default.svc.cluster.local.downstream_cx_rx_bytes_total',
    ];
    const before = names.map((n) => s.get(n));
    expect(await exchange(port, 'a\nb\nlast')).toBe('one a\none b\none last\n');
    // Close-time counters are final once the connection's access-log record exists.
    await recordWhere(gw, (x) => x.bytesReceived === 8 && x.bytesSent === 21);
    expect(names.map((n, i) => s.get(n) - before[i]!)).toEqual([1, 1, 1, 8]);
  });

  it('keeps an open connection on its upstream across a reload, then splits new ones 80/20 over 1,000 connections', async () => {
    const open = net.connect({ port, host: '127.0.0.1' });
    open.setEncoding('utf8');
    const firstLine = new Promise<string>((r) => open.once('data', r));
    open.write('before\n');
    expect(await firstLine).toBe('one before\n');

    expect(await gw.reconfigure(`${services(v1.port, v2.port)}\n---\n${sample('tcp-echo-20-v2.yaml')}`)).toBe(
      true,
    );
    const again = new Promise<string>((r) => open.once('data', r));
    open.write('after\n');
    expect(await again).toBe('one after\n');
    const closed = new Promise<void>((r) => open.once('close', () => r()));
    open.end();
    await closed;

    const counts = { one: 0, two: 0 };
    const batch = 50;
    for (let i = 0; i < 1000; i += batch) {
      const outs = await Promise.all(Array.from({ length: batch }, () => exchange(port, 'x\n')));
      for (const o of outs) {
        if (o === 'one x\n') counts.one++;
        else if (o === 'two x\n') counts.two++;
        else throw new Error(`unexpected answer ${JSON.stringify(o)}`);
      }
    }
    expect(counts.one + counts.two).toBe(1000);
    expect(counts.one / 1000).toBeGreaterThan(0.76);
    expect(counts.one / 1000).toBeLessThan(0.84);
    expect(gw.gateway.stats.get('tcp.tcp-echo.default.downstream_cx_total')).toBeGreaterThanOrEqual(1000);
    expect(gw.gateway.stats.get('listener.0.0.0.0_31400.downstream_cx_active')).toBe(0);
  });
});

describe('TCP upstream failures and timeouts', () => {
  let echo: RunningTcpEcho;
  let gw: TestGateway;
  let stoppedPort: number;
  let blackhole: { port: number; close(): void };

  const yaml = (echoPort: number) => `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: tcp-gateway }
spec:
  servers:
  - { port: { number: 31400, name: tcp, protocol: TCP }, hosts: ["*"] }
  - { port: { number: 31401, name: tcp-refused, protocol: TCP }, hosts: ["*"] }
  - { port: { number: 31402, name: tcp-blackhole, protocol: TCP }, hosts: ["*"] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: routes }
spec:
  hosts: ["*"]
  gateways: [tcp-gateway]
  tcp:
  - match: [{ port: 31400 }]
    route: [{ destination: { host: idle-echo, port: { number: 9000 } } }]
  - match: [{ port: 31401 }]
    route: [{ destination: { host: refused, port: { number: 9000 } } }]
  - match: [{ port: 31402 }]
    route: [{ destination: { host: blackhole, port: { number: 9000 } } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: idle-echo }
spec:
  host: idle-echo
  trafficPolicy: { connectionPool: { tcp: { idleTimeout: 300ms } } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: blackhole }
spec:
  host: blackhole
  trafficPolicy: { connectionPool: { tcp: { connectTimeout: 200ms } } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: idle-echo }
spec:
  hosts: [idle-echo]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9000, name: tcp, protocol: TCP }]
  endpoints: [{ address: 127.0.0.1, ports: { tcp: ${echoPort} } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: refused }
spec:
  hosts: [refused]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9000, name: tcp, protocol: TCP }]
  endpoints: [{ address: 127.0.0.1, ports: { tcp: ${stoppedPort} } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: blackhole }
spec:
  hosts: [blackhole]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9000, name: tcp, protocol: TCP }]
  endpoints: [{ address: 127.0.0.1, ports: { tcp: ${blackhole.port} } }]
`;

  beforeAll(async () => {
    echo = await startTcpEcho({ prefix: 'one' });
    const stopped = await startTcpEcho();
    stoppedPort = stopped.port;
    await stopped.close();
    blackhole = await startBlackhole();
    gw = await startGateway(yaml(echo.port));
  });

  afterAll(async () => {
    await gw?.close();
    await echo?.close();
    blackhole?.close();
  });

  it('closes the client with UF when the upstream refuses, and keeps serving', async () => {
    expect(await exchange(gw.port(31401), 'hello\n')).toBe('');
    const r = await recordWhere(gw, (x) => x.upstreamCluster?.includes('refused') === true);
    expect(r.responseFlags).toBe('UF');
    expect(r.upstreamCluster).toBe('outbound|9000||refused.default.svc.cluster.local');
    expect(
      gw.gateway.stats.get(
        'cluster.outbound|9000||refused.default.svc.cluster.local.upstream_cx_connect_fail',
      ),
    ).toBe(1);
    expect(await exchange(gw.port(31400), 'still\n')).toBe('one still\n');
  });

  it('gives up on a silent upstream at connectTimeout (UF)', async () => {
    // The cause is in the counters and the details (connect timeout, not refused), not a duration.
    expect(await exchange(gw.port(31402), 'hello\n')).toBe('');
    const r = await recordWhere(gw, (x) => x.upstreamCluster?.includes('blackhole') === true);
    expect(r.responseFlags).toBe('UF');
    expect(
      gw.gateway.stats.get(
        'cluster.outbound|9000||blackhole.default.svc.cluster.local.upstream_cx_connect_fail',
      ),
    ).toBe(1);
    expect(
      gw.gateway.stats.get(
        'cluster.outbound|9000||blackhole.default.svc.cluster.local.upstream_cx_connect_timeout',
      ),
    ).toBe(1);
    expect(r.responseCodeDetails).toBe('upstream_connect_timeout');
  });

  it('closes both sides after idleTimeout without traffic', async () => {
    const s = net.connect({ port: gw.port(31400), host: '127.0.0.1' });
    s.setEncoding('utf8');
    const answer = new Promise<string>((r) => s.once('data', r));
    s.write('ping\n');
    expect(await answer).toBe('one ping\n');
    const idleFrom = performance.now();
    await new Promise<void>((r) => s.once('close', () => r()));
    const idle = performance.now() - idleFrom;
    // Not before the timeout; that the timeout closed it is the idle_timeout counter's to say.
    expect(idle).toBeGreaterThan(250);
    expect(gw.gateway.stats.get('tcp.outbound|9000||idle-echo.default.svc.cluster.local.idle_timeout')).toBe(
      1,
    );
  });
});
