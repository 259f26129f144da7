/**
 * `meshgate run --concurrency N` (N > 1): the primary process. It serves no traffic itself; it
 * - reads, validates, analyzes and compiles the config once per change (a bad config is rejected
 *   here, once, with its diagnostics, and no worker changes) and sends each accepted config to every
 *   worker as validated resources, a delta against the worker's last (see `worker-protocol.ts` for
 *   why not the snapshot); the reload loop (debounce, guard, report) is the one a single process
 *   runs (`gateway/config-reloader.ts`);
 * - starts N workers (`worker.ts`) and replaces one that dies while the others serve;
 * - owns the admin, Prometheus, status and health ports, answering with the workers' numbers added up;
 * - owns stdout: each worker writes its access-log batches to a socket of its own, and the whole
 *   lines read from it are written here (`access-log-channel.ts`);
 * - handles SIGTERM/SIGINT (readiness 503, forwarded to every worker, waits for them to exit) and
 *   SIGHUP (reload).
 *
 * Why node:cluster and not worker_threads: see {@link SCHEDULING_NOTE}.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { ConfigCompiler, type PipelineResult } from '../config/pipeline.js';
import { SnapshotStore } from '../config/store.js';
import { encodeByIdentity } from '../config/resource-delta.js';
import type { KubeObject } from '../config/kube-resources.js';
import type { Resource } from '../config/resources.js';
import { ConfigReloader, reportDiagnostics, type ReloadDebounce } from '../gateway/config-reloader.js';
import { FileSource } from '../config/sources/files.js';
import type { ConfigSource } from '../config/sources/source.js';
import { ClusterManager } from '../upstream/cluster-manager.js';
import { Observability, type ObservabilityOptions } from '../admin/observability.js';
import type { WorkerFleet, WorkerStats, WorkerStatsPart } from '../admin/worker-stats.js';
import { isRegularFile, LogFile } from '../telemetry/log-file.js';
import { LOG_CLOSE_TIMEOUT_MS, LOG_MAX_QUEUED_CHARS } from '../telemetry/access-log.js';
import { StatStore } from '../telemetry/stats.js';
import { gatewayExecArgv } from './gc-threads.js';
import { ACCESS_LOG_FD, WorkerLogReader } from './access-log-channel.js';
import type {
  ConfigPayload,
  FromWorker,
  ListenerAddress,
  ToWorker,
  WorkerSettings,
} from './worker-protocol.js';

/**
 * Why node:cluster with its default round-robin accept (SCHED_RR: the primary accepts and hands
 * each connection to the next worker). worker_threads cannot share a listening socket in Node 20: a
 * `net.Server` handle cannot be transferred to a thread (`reusePort` arrived in Node 22), so threads
 * would need one port each or a hand-off of every accepted socket, which threads cannot receive; and
 * a crash in one thread takes every thread with it, where a process dies alone and is replaced.
 * Measured with `bench/workers.ts` (wrk -c50 keep-alive, unpinned, on this shared 2-core machine):
 * SCHED_NONE (workers `accept()` on one shared socket) was no faster (14,028 vs 14,984 requests/s,
 * 62.3 vs 58.1 µs CPU per request over three rounds) and balances short connections by the kernel's
 * whim; round-robin spreads them evenly (the workers test sees near half each). Its one cost: a
 * connection being handed to a worker at the moment it dies is held by the primary, not reset.
 */
const SCHEDULING_NOTE = 'node:cluster, round-robin';

/** Wait past a worker's own drain deadline before it is killed, ms (its access log and spans flush). */
const WORKER_EXIT_GRACE_MS = 5_000;
/** A worker that asks no longer than this for its stats is left out of one scrape, ms. */
const STATS_TIMEOUT_MS = 2_000;
/** Wait before replacing a worker that died before it was ready (no tight crash loop), ms. */
const RESTART_BACKOFF_MS = 1_000;

/** What `cli/main.ts` hands the primary. */
interface PrimaryOptions {
  readonly concurrency: number;
  readonly paths: readonly string[];
  /** Further config sources (after the `-f` paths). */
  readonly sources?: readonly ConfigSource[];
  /** Pipeline, access log and log level for the workers; telemetry ports and settings as for one process. */
  readonly worker: WorkerSettings;
  readonly watch: boolean;
  /** Reload debounce, ms (see `GatewayOptions.reloadDebounce`); default 200 quiet / 10 000 at most. */
  readonly reloadDebounce?: ReloadDebounce;
}

/** A worker's telemetry: metrics and tracing as asked, no port (the primary serves them). */
function workerTelemetry(t: ObservabilityOptions): ObservabilityOptions {
  return {
    ...t,
    adminPort: undefined,
    prometheusPort: undefined,
    statusPort: undefined,
    healthPort: undefined,
  };
}

interface WorkerSlot {
  readonly id: number;
  worker: Worker;
  ready: boolean;
  /** Version of the config last sent to it (what the next delta is against). */
  version: number;
}

/** An accepted config as the workers are sent it. */
interface AcceptedConfig {
  readonly version: number;
  readonly resources: readonly Resource[];
  readonly objects: readonly KubeObject[];
}

/** Runs the primary until SIGTERM/SIGINT. @returns the exit code (1: did not start). */
export async function runPrimary(o: PrimaryOptions, log: Logger): Promise<number> {
  // Handled from the first moment: a SIGTERM while workers start ends the start, then shuts down.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  const p = new Primary(o, log);
  if (!(await p.start())) {
    await p.close();
    return 1;
  }
  await stopped;
  await p.close();
  return 0;
}

class Primary implements WorkerFleet {
  readonly store = new SnapshotStore();
  readonly stats = new StatStore();
  /** Unused by the primary's data path (it has none); the observability view needs one. */
  readonly clusters = new ClusterManager();
  readonly observability: Observability;
  readonly sources: readonly ConfigSource[];
  private readonly slots: WorkerSlot[] = [];
  private readonly stdout: LogFile | undefined;
  /** Reads the workers' access-log sockets; undefined with the access log off. */
  private readonly logReader: WorkerLogReader | undefined;
  /** Workers' access-log sockets still open (a dead worker's is read to its end). */
  private readonly logChannels = new Set<Promise<void>>();
  private readonly settings: WorkerSettings;
  /** The config accepted last, and the one before (what workers that are up to date hold). */
  private config: AcceptedConfig | undefined;
  private previous: AcceptedConfig | undefined;
  /** The delta from {@link previous} to {@link config}, encoded once for every worker. */
  private delta: ConfigPayload | undefined;
  /** Reads and validates in a worker thread; unchanged resources stay the same objects. */
  private readonly compiler = new ConfigCompiler();
  private readonly reloader: ConfigReloader;
  private addresses = new Map<string, ListenerAddress>();
  private closing = false;
  private statsSeq = 0;
  private readonly statsWaiters = new Map<number, (s: WorkerStats) => void>();

  constructor(
    private readonly o: PrimaryOptions,
    readonly log: Logger,
  ) {
    this.settings = { ...o.worker, telemetry: workerTelemetry(o.worker.telemetry) };
    this.sources = [...(o.paths.length > 0 ? [new FileSource(o.paths)] : []), ...(o.sources ?? [])];
    this.stdout =
      o.worker.accessLog === 'off'
        ? undefined
        : new LogFile(1, {
            maxQueuedChars: LOG_MAX_QUEUED_CHARS,
            onDrop: (lines) => this.stats.inc('access_log.dropped_lines', lines),
          });
    const stdoutIsFile = this.stdout !== undefined && isRegularFile(1);
    this.logReader =
      this.stdout &&
      new WorkerLogReader(this.stdout, (lines) => this.stats.inc('access_log.dropped_lines', lines));
    this.observability = new Observability({ ...o.worker.telemetry, fleet: this }, this);
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./worker.js', import.meta.url)),
      execArgv: gatewayExecArgv(),
      serialization: 'advanced',
      // Workers write nothing to stdout (their access log comes through the socket at index
      // ACCESS_LOG_FD). They must not share it either: Node makes an inherited stdout pipe
      // blocking, which would make this process's writes to it block a libuv thread when the
      // reader stalls, and then exit could not finish. Anything a worker prints there goes to the
      // system log stream instead.
      // A regular file as stdout is given to the workers themselves (at the same index): each
      // writes whole-line batches to it, and the kernel keeps concurrent writes to one open file
      // from overlapping, so the primary copies nothing (access-log-channel.ts).
      stdio: ['ignore', 2, 'inherit', 'ipc', ...(this.stdout ? [stdoutIsFile ? 1 : ('pipe' as const)] : [])],
    });
    cluster.on('message', (worker, msg: FromWorker) => this.onMessage(worker, msg));
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    this.reloader = new ConfigReloader({
      compile: () => this.compiler.compile(this.sources, this.settings.pipeline),
      // An accepted config goes to every ready worker, a rejected one to none.
      install: (result) => {
        this.accept(result);
        for (const slot of this.slots) if (slot.ready) this.sendConfig(slot);
        return Promise.resolve({ version: this.config!.version, workers: this.slots.length });
      },
      store: this.store,
      stats: this.stats,
      log,
      paths: o.paths,
      debounce: o.reloadDebounce,
    });
  }

  get concurrency(): number {
    return this.o.concurrency;
  }

  /** The listener addresses the workers reported (all workers share them). */
  readonly listeners = { addressOf: (name: string) => this.addresses.get(name) };

  /** Ports, first config, N workers ready. @returns false when the gateway must not start. */
  async start(): Promise<boolean> {
    const portErrors = await this.observability.start();
    for (const e of portErrors) this.log.error(e.message);
    if (portErrors.length > 0) return false;
    const result = await this.compiler.compile(this.sources, this.settings.pipeline, true);
    reportDiagnostics(this.log, result);
    if (!result.snapshot) {
      this.log.error('configuration rejected; not starting (see the errors above)');
      return false;
    }
    this.accept(result);
    const outcomes = await Promise.all(
      Array.from({ length: this.o.concurrency }, (_, i) => this.fork(i + 1)),
    );
    const failed = outcomes.find((r): r is readonly string[] => r !== true);
    if (failed !== undefined) {
      for (const e of failed) this.log.error(e);
      return false;
    }
    this.observability.markListenersBound();
    this.log.info({ concurrency: this.o.concurrency, scheduling: SCHEDULING_NOTE }, 'all workers ready');
    if (this.o.watch) await this.watch();
    process.on('SIGHUP', () => this.reloader.schedule(0));
    return true;
  }

  /** Starts worker `id`. @returns true once it is ready, or its start errors. */
  private fork(id: number): Promise<true | readonly string[]> {
    const worker = cluster.fork({ MESHGATE_WORKER_ID: String(id) });
    this.readLog(worker);
    const slot: WorkerSlot = { id, worker, ready: false, version: this.config!.version };
    const at = this.slots.findIndex((s) => s.id === id);
    if (at >= 0) this.slots[at] = slot;
    else this.slots.push(slot);
    // A replacement starts at the current log level (admin `/logging` may have changed it).
    const settings = { ...this.settings, logLevel: this.log.level };
    const init: ToWorker = { t: 'init', settings, config: wholeConfig(this.config!) };
    return new Promise((resolve) => {
      const onMessage = (msg: FromWorker): void => {
        if (msg.t === 'hello') {
          worker.send(init);
          return;
        }
        if (msg.t === 'ready') {
          slot.ready = true;
          this.setAddresses(msg.listeners);
          this.log.info({ worker: id, pid: worker.process.pid }, 'worker ready');
          // A config accepted while it was starting.
          if (this.config && this.config.version !== slot.version) this.sendConfig(slot);
        } else if (msg.t === 'failed') resolve(msg.errors);
        else return;
        worker.off('message', onMessage);
        if (msg.t === 'ready') resolve(true);
      };
      worker.on('message', onMessage);
      worker.once('exit', () => resolve([`worker ${id} exited before it was ready`]));
    });
  }

  private onMessage(worker: Worker, msg: FromWorker): void {
    switch (msg.t) {
      case 'stats':
        this.statsWaiters.get(msg.id)?.(msg.stats);
        return;
      case 'installed':
        this.setAddresses(msg.listeners);
        this.log.info({ worker: this.slotOf(worker)?.id, version: msg.version }, 'worker installed config');
        return;
      default:
        return;
    }
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.slotOf(worker);
    if (!slot || this.closing) return;
    const wasReady = slot.ready;
    this.log.error(
      { worker: slot.id, pid: worker.process.pid, code, signal },
      'worker died; starting a replacement',
    );
    this.stats.inc('server.worker_restarts');
    slot.ready = false;
    const restart = (): void => {
      if (this.closing) return;
      void this.fork(slot.id).then((r) => {
        if (r !== true) for (const e of r) this.log.error({ worker: slot.id }, e);
      });
    };
    if (wasReady) restart();
    else setTimeout(restart, RESTART_BACKOFF_MS).unref();
  }

  /** Copies the whole lines of `worker`'s access-log socket to stdout until the socket closes. */
  private readLog(worker: Worker): void {
    const socket = worker.process.stdio[ACCESS_LOG_FD];
    if (!this.logReader || !socket) return;
    const done = this.logReader.add(socket as Readable).finally(() => this.logChannels.delete(done));
    this.logChannels.add(done);
  }

  private slotOf(worker: Worker): WorkerSlot | undefined {
    return this.slots.find((s) => s.worker === worker);
  }

  private setAddresses(list: readonly ListenerAddress[]): void {
    this.addresses = new Map(list.map((a) => [a.name, a]));
  }

  private sendTo(slot: WorkerSlot, msg: ToWorker): void {
    if (slot.worker.isConnected()) slot.worker.send(msg);
  }

  /** Installs an accepted config here (config dump, version) and remembers it for the workers. */
  private accept(result: PipelineResult): void {
    this.observability.setResources(result.resources);
    const installed = this.store.swap(result.snapshot!);
    this.previous = this.config;
    this.config = { version: installed.version, resources: result.resources, objects: result.objects };
    this.delta = undefined;
  }

  /** Sends the current config to a worker: a delta when it holds the previous one, else whole. */
  private sendConfig(slot: WorkerSlot): void {
    const config = this.config!;
    const prev = this.previous;
    let payload: ConfigPayload;
    if (prev && slot.version === prev.version) {
      this.delta ??= {
        version: config.version,
        base: prev.version,
        resources: encodeByIdentity(config.resources, prev.resources),
        objects: encodeByIdentity(config.objects, prev.objects),
      };
      payload = this.delta;
    } else payload = wholeConfig(config);
    slot.version = config.version;
    this.sendTo(slot, { t: 'config', config: payload });
  }

  private async watch(): Promise<void> {
    for (const source of this.sources) {
      source.on('change', () => this.reloader.schedule());
      source.on('error', (err) => this.log.warn({ source: source.name, err: err.message }, 'config source'));
      try {
        await source.start();
      } catch (err) {
        this.log.warn({ source: source.name, err: (err as Error).message }, 'config source cannot watch');
      }
    }
  }

  /** {@link WorkerFleet.collect}: one stats request to every ready worker, answers within a deadline. */
  async collect(parts: readonly WorkerStatsPart[]): Promise<WorkerStats[]> {
    const asks = this.slots
      .filter((s) => s.ready && s.worker.isConnected())
      .map(
        (slot) =>
          new Promise<WorkerStats | undefined>((resolve) => {
            const id = ++this.statsSeq;
            const timer = setTimeout(() => {
              this.statsWaiters.delete(id);
              resolve(undefined);
            }, STATS_TIMEOUT_MS);
            this.statsWaiters.set(id, (s) => {
              clearTimeout(timer);
              this.statsWaiters.delete(id);
              resolve(s);
            });
            this.sendTo(slot, { t: 'stats', id, parts });
          }),
      );
    return (await Promise.all(asks)).filter((s): s is WorkerStats => s !== undefined);
  }

  /** {@link WorkerFleet.workers}. */
  workers(): { id: number; pid: number | undefined; ready: boolean }[] {
    return this.slots.map((s) => ({ id: s.id, pid: s.worker.process.pid, ready: s.ready }));
  }

  /** {@link WorkerFleet.setLogLevel}. */
  setLogLevel(level: string): void {
    for (const slot of this.slots) this.sendTo(slot, { t: 'log-level', level });
  }

  /** Readiness 503, SIGTERM to every worker, waits for them, flushes stdout, closes the ports. */
  async close(): Promise<void> {
    this.closing = true;
    this.observability.beginDrain();
    this.reloader.stop();
    await Promise.all(this.sources.map((s) => s.close().catch(() => undefined)));
    const drain = this.settings.gateway.drain;
    const deadline = drain.drainMs + drain.timeoutMs + WORKER_EXIT_GRACE_MS;
    await Promise.all(this.slots.map((s) => stopWorker(s.worker, deadline)));
    // Every worker's last lines (read to the end of its socket), then stdout; a stalled stdout
    // (nobody reads the pipe) gets as long as a single process gives it.
    await Promise.race([
      Promise.all(this.logChannels).then(() => this.stdout?.drained()),
      new Promise((r) => setTimeout(r, LOG_CLOSE_TIMEOUT_MS).unref()),
    ]);
    await this.compiler.close();
    await this.observability.close();
    await this.clusters.close();
    cluster.removeAllListeners('message');
    cluster.removeAllListeners('exit');
  }
}

/** A config as whole items (a worker starting, or one that missed the previous config). */
function wholeConfig(c: AcceptedConfig): ConfigPayload {
  return { version: c.version, base: 0, resources: c.resources, objects: c.objects };
}

/** SIGTERM (the worker drains and exits), SIGKILL after `deadlineMs`. */
function stopWorker(worker: Worker, deadlineMs: number): Promise<void> {
  if (worker.isDead()) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => worker.process.kill('SIGKILL'), deadlineMs);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    worker.process.kill('SIGTERM');
  });
}
