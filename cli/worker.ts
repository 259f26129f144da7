/**
 * A `--concurrency` worker process (started by `primary.ts` through node:cluster): a `Gateway`
 * with no telemetry ports and no sources of its own. Its listeners are shared with the other workers
 * (node:cluster hands the accepted connections round-robin); its config comes from the primary as
 * validated resources and is only compiled here; its access log and stats go to the primary.
 */
import pino from 'pino';
import type { PipelineResult } from '../config/pipeline.js';
import { ConfigCompiler } from '../config/pipeline.js';
import { decodeDelta } from '../config/resource-delta.js';
import type { KubeObject } from '../config/kube-resources.js';
import type { Resource } from '../config/resources.js';
import { Gateway } from '../gateway/gateway.js';
import { createAccessLogger, LOG_MAX_QUEUED_CHARS, type LogSink } from '../telemetry/access-log.js';
import type {
  ConfigPayload,
  FromWorker,
  ListenerAddress,
  ToWorker,
  WorkerSettings,
} from './worker-protocol.js';
import { setHeapGrowth } from './heap-growth.js';
import { raiseMallocTrimThreshold } from './malloc-trim.js';

/** Sends to the primary; a closed channel (primary gone) is ignored: the worker is about to exit. */
function send(msg: FromWorker, done?: (err: Error | null) => void): void {
  if (!process.connected || !process.send) {
    done?.(new Error('IPC channel closed'));
    return;
  }
  process.send(msg, undefined, {}, (err: Error | null) => done?.(err));
}

/**
 * The access log's destination in a worker: each formatted batch (whole lines) goes to the primary
 * as one message and the primary writes it with its own stdout writer, so lines from different
 * workers never interleave. Writing to the shared stdout directly would not be safe: a pipe keeps a
 * write whole only up to PIPE_BUF (4 KiB) and batches are up to 64 KiB, so two workers' writes could
 * split each other's lines. Past {@link LOG_MAX_QUEUED_CHARS} not yet handed over, lines are dropped
 * and counted, as the file writer does.
 */
class PrimaryLogSink implements LogSink {
  private pendingChars = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly onDrop: (lines: number) => void) {}

  write(text: string): void {
    if (this.pendingChars + text.length > LOG_MAX_QUEUED_CHARS) {
      this.onDrop(text.split('\n').length - 1);
      return;
    }
    this.pendingChars += text.length;
    send({ t: 'log', text }, () => {
      this.pendingChars -= text.length;
      if (this.pendingChars === 0) for (const w of this.waiters.splice(0)) w();
    });
  }

  drained(): Promise<void> {
    if (this.pendingChars === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {}
}

function listenerAddresses(gw: Gateway): ListenerAddress[] {
  const out: ListenerAddress[] = [];
  for (const l of gw.snapshot.listeners) {
    const a = gw.listeners.addressOf(l.name);
    if (a) out.push({ name: l.name, address: a.address, port: a.port });
  }
  return out;
}

/** A config as whole lists, with the primary's version of it. */
interface HeldConfig {
  readonly version: number;
  readonly resources: readonly Resource[];
  readonly objects: readonly KubeObject[];
}

/**
 * Turns a payload into whole lists: unchanged resources are the objects `held` already has.
 * @throws Error when the payload is a delta against a config other than `held` (a protocol bug).
 */
function decodeConfig(payload: ConfigPayload, held: HeldConfig | undefined): HeldConfig {
  if (payload.base !== 0 && payload.base !== held?.version)
    throw new Error(`delta against version ${payload.base}, holding ${held?.version ?? 'none'}`);
  const base = payload.base === 0 ? undefined : held;
  return {
    version: payload.version,
    resources: decodeDelta(payload.resources, base?.resources ?? []),
    objects: decodeDelta(payload.objects, base?.objects ?? []),
  };
}

/** This worker's slot, 1..N, set by the primary. */
const workerId = Number(process.env['MESHGATE_WORKER_ID'] ?? 0);

async function runWorker(settings: WorkerSettings, first: ConfigPayload): Promise<void> {
  const log = pino(
    { level: settings.logLevel, base: { component: 'meshgate', worker: workerId } },
    pino.destination(2),
  );
  // The config as whole lists; each payload is a delta against the one before.
  let latest = decodeConfig(first, undefined);
  const compiler = new ConfigCompiler();
  // Compile only: the primary read, validated and analyzed this config and logged its diagnostics.
  // The build reuses what the last one made from unchanged resources and runs in slices.
  const compile = (): Promise<PipelineResult> => {
    const { resources, objects } = latest;
    return compiler.compileValidated(
      { diagnostics: [], blocked: false, snapshot: undefined, resources, objects },
      settings.pipeline,
    );
  };
  // Set once started; lines dropped before (none can be) would go uncounted.
  const ref: { gw?: Gateway } = {};
  const accessLogger = createAccessLogger(settings.accessLog, 1, {
    sink: new PrimaryLogSink((lines) => ref.gw?.stats.inc('access_log.dropped_lines', lines)),
  });
  const started = await Gateway.start(
    {
      ...settings.pipeline,
      paths: [],
      accessLog: settings.accessLog,
      accessLogger,
      watch: false,
      telemetry: settings.telemetry,
      maxConnectionsPerListener: settings.gateway.maxConnectionsPerListener,
      compile,
    },
    log,
  );
  if (!started.ok) {
    const errors = [...started.bindErrors, ...(started.portErrors ?? [])].map((e) => e.message);
    if (errors.length === 0) errors.push('configuration could not be compiled in the worker');
    send({ t: 'failed', errors }, () => process.exit(1));
    return;
  }
  const served = started.gateway;
  ref.gw = served;
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));

  let closing = false;
  const stop = (why: string): void => {
    if (closing) return;
    closing = true;
    log.info({ reason: why }, 'worker shutting down');
    // The drain: readiness is the primary's; listeners keep accepting with `Connection: close` for
    // the drain duration, then open connections get the drain timeout.
    void served.shutdown(settings.gateway.drain).finally(() => {
      if (process.connected) process.disconnect();
      process.exitCode = 0;
      // A write stuck on a stalled channel must not keep the worker alive.
      setTimeout(() => process.exit(0), 1000).unref();
    });
  };
  process.on('message', (msg: ToWorker) => {
    switch (msg.t) {
      case 'config':
        try {
          latest = decodeConfig(msg.config, latest);
        } catch (err) {
          log.error({ err }, 'config from the primary could not be decoded; keeping the current one');
          return;
        }
        void served.reload().then((ok) => {
          if (ok) send({ t: 'installed', version: msg.config.version, listeners: listenerAddresses(served) });
        });
        return;
      case 'stats':
        void served.observability
          .workerStats(workerId, msg.parts)
          .then((stats) => send({ t: 'stats', id: msg.id, stats }));
        return;
      case 'log-level':
        served.observability.setLogLevel(msg.level);
        return;
      default:
        return;
    }
  });
  // The primary forwards SIGTERM; a terminal's SIGINT reaches the whole process group.
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // Reloads are the primary's (it forwards the new config); a SIGHUP to the group is not for us.
  process.on('SIGHUP', () => undefined);
  // The primary is gone: nobody would replace us or read our access log.
  process.on('disconnect', () => stop('primary exited'));
  send({ t: 'ready', listeners: listenerAddresses(served) });
}

process.once('message', (msg: ToWorker) => {
  if (msg.t !== 'init') return;
  // As the single-process gateway does (heap-growth.ts, malloc-trim.ts).
  setHeapGrowth();
  raiseMallocTrimThreshold();
  runWorker(msg.settings, msg.config).catch((err: unknown) => {
    process.stderr.write(`meshgate worker: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(70);
  });
});
send({ t: 'hello' });
