/**
 * Starts a real meshgate Gateway in-process on ephemeral ports from YAML text, with access-log
 * records captured for assertions.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Gateway, type GatewayOptions } from '../../gateway/gateway.js';
import type { AccessLogger, StreamRecord } from '../../telemetry/access-log.js';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly records: StreamRecord[];
  /** The config file the gateway reads (and watches when started with `watch: true`). */
  readonly file: string;
  /** Local port bound for a Gateway server port. */
  port(serverPort: number): number;
  /** Local port of the mesh listener (`meshPort` option, issue 4). */
  meshPort(): number;
  /** Rewrites the config file and waits for the reload outcome. */
  reconfigure(yaml: string): Promise<boolean>;
  /** Resolves with the next access-log record (waits on the event, no polling). */
  nextRecord(): Promise<StreamRecord>;
  close(): Promise<void>;
}

export async function startGateway(yaml: string, opts: Partial<GatewayOptions> = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-test-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  const records: StreamRecord[] = [];
  const waiters: ((r: StreamRecord) => void)[] = [];
  const accessLogger: AccessLogger = {
    enabled: true,
    log(r) {
      records.push(r);
      waiters.shift()?.(r);
    },
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const serverPorts = [...yaml.matchAll(/number:\s*(\d+)/g)].map((m) => Number(m[1]));
  const portMap = new Map<number, number>(serverPorts.map((p) => [p, 0]));
  const result = await Gateway.start(
    {
      paths: [file],
      defaultNamespace: 'default',
      accessLog: 'json',
      accessLogger,
      portMap,
      watch: false,
      ...opts,
    },
    pino({ level: process.env.MESHGATE_TEST_LOG ?? 'silent' }),
  );
  if (!result.ok) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `gateway did not start: ${result.diagnostics.map((d) => d.message).join('; ')} ${result.bindErrors.map((e) => e.message).join('; ')}`,
    );
  }
  const gw = result.gateway;
  return {
    gateway: gw,
    records,
    file,
    port(serverPort: number) {
      const l = gw.snapshot.listeners.find((x) => x.port === serverPort);
      const a = l && gw.listeners.addressOf(l.name);
      if (!a) throw new Error(`no listener for server port ${serverPort}`);
      return a.port;
    },
    meshPort() {
      const a = gw.listeners.addressOf('virtualOutbound');
      if (!a) throw new Error('no mesh listener (start with { meshPort: 0 })');
      return a.port;
    },
    async reconfigure(next: string) {
      writeFileSync(file, next);
      return gw.reload();
    },
    nextRecord: () => new Promise((r) => waiters.push(r)),
    async close() {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
