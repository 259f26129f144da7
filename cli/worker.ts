/**
 * A `--concurrency` worker process (started by `primary.ts` through node:cluster): a `Gateway`
 * with no telemetry ports and no sources of its own. Its listeners are shared with the other workers
 * (node:cluster hands the accepted connections round-robin); its config comes from the primary as
 * validated resources and is only compiled here; its access log goes to the primary over a socket of its own
 * (`access-log-channel.ts`), its stats on request over IPC.
 */
import pino from 'pino';
import type { PipelineResult } from '../config/pipeline.js';
import { ConfigCompiler } from '../config/pipeline.js';
import { decodeDelta } from '../config/resource-delta.js';
import type { KubeObject } from '../config/kube-resources.js';
import type { Resource } from '../config/resources.js';
import { Gateway } from '../gateway/gateway.js';
import { createAccessLogger } from '../telemetry/access-log.js';
import { ACCESS_LOG_FD, WorkerLogSink } from './access-log-channel.js';
import { isRegularFile } from '../telemetry/log-file.js';
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
  const onDrop = (lines: number): void => ref.gw?.stats.inc('access_log.dropped_lines', lines);
  // The channel to the primary exists only with the access log on; when the primary's stdout is a
  // regular file, the primary hands the worker that file instead (access-log-channel.ts).
  const direct = settings.accessLog !== 'off' && isRegularFile(ACCESS_LOG_FD);
  const accessLogger = createAccessLogger(settings.accessLog, ACCESS_LOG_FD, {
    sink: settings.accessLog === 'off' || direct ? undefined : new WorkerLogSink(onDrop),
    onDrop,
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
