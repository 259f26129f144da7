/**
 * `meshgate run --concurrency N` (N > 1): the primary process. It serves no traffic itself; it
 * - reads, validates, analyzes and compiles the config once per change (a bad config is rejected
 *   here, once, with its diagnostics, and no worker changes) and sends each accepted config to every
 *   worker as validated resources (see `worker-protocol.ts` for why not the snapshot);
 * - starts N workers (`worker.ts`) and replaces one that dies while the others serve;
 * - owns the admin, Prometheus, status and health ports, answering with the workers' numbers added up;
 * - owns stdout: workers send formatted access-log batches, written here whole;
 * - handles SIGTERM/SIGINT (readiness 503, forwarded to every worker, waits for them to exit) and
 *   SIGHUP (reload).
 *
 * Why node:cluster and not worker_threads: see {@link SCHEDULING_NOTE}.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { compileConfig, type PipelineResult } from '../config/pipeline.js';
import { guardReload } from '../config/reload-guard.js';
import { formatDiagnostic } from '../config/diagnostics.js';
import { SnapshotStore } from '../config/store.js';
import { FileSource } from '../config/sources/files.js';
import type { ConfigSource } from '../config/sources/source.js';
import { ClusterManager } from '../upstream/cluster-manager.js';
import { Observability, type ObservabilityOptions } from '../admin/observability.js';
import type { WorkerFleet, WorkerStats, WorkerStatsPart } from '../admin/worker-stats.js';
import { LogFile } from '../telemetry/log-file.js';
import { LOG_CLOSE_TIMEOUT_MS, LOG_MAX_QUEUED_CHARS } from '../telemetry/access-log.js';
import { StatStore } from '../telemetry/stats.js';
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
  readonly reloadDebounce?: { readonly quietMs: number; readonly maxMs: number };
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
  private readonly settings: WorkerSettings;
  private config: ConfigPayload | undefined;
  private addresses = new Map<string, ListenerAddress>();
  private closing = false;
  private statsSeq = 0;
  private readonly statsWaiters = new Map<number, (s: WorkerStats) => void>();
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloadPendingSince: number | undefined;
  private reloading: Promise<void> = Promise.resolve();

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
    this.observability = new Observability({ ...o.worker.telemetry, fleet: this }, this);
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./worker.js', import.meta.url)),
      serialization: 'advanced',
      // Workers write nothing to stdout (their access log comes through IPC). They must not share
      // it either: Node makes an inherited stdout pipe blocking, which would make this process's
      // writes to it block a libuv thread when the reader stalls, and then exit could not finish.
      // Anything a worker prints there goes to the system log stream instead.
      stdio: ['ignore', 2, 'inherit', 'ipc'],
    });
    cluster.on('message', (worker, msg: FromWorker) => this.onMessage(worker, msg));
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
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
    const result = await compileConfig(this.sources, this.settings.pipeline);
    this.report(result);
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
    process.on('SIGHUP', () => this.scheduleReload(0));
    return true;
  }

  /** Starts worker `id`. @returns true once it is ready, or its start errors. */
  private fork(id: number): Promise<true | readonly string[]> {
    const worker = cluster.fork({ MESHGATE_WORKER_ID: String(id) });
    const slot: WorkerSlot = { id, worker, ready: false };
    const at = this.slots.findIndex((s) => s.id === id);
    if (at >= 0) this.slots[at] = slot;
    else this.slots.push(slot);
    // A replacement starts at the current log level (admin `/logging` may have changed it).
    const settings = { ...this.settings, logLevel: this.log.level };
    const init: ToWorker = { t: 'init', settings, config: this.config! };
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
          if (this.config && this.config !== init.config)
            this.sendTo(slot, { t: 'config', config: this.config });
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
      case 'log':
        this.stdout?.write(msg.text);
        return;
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
    this.config = { version: installed.version, resources: result.resources, objects: result.objects };
  }

  private report(result: PipelineResult): void {
    for (const d of result.diagnostics) {
      const line = formatDiagnostic(d);
      const level =
        d.severity === 'error'
          ? result.blocked
            ? 'error'
            : 'warn'
          : d.severity === 'warning'
            ? 'warn'
            : 'info';
      this.log[level]({ code: d.code }, line);
    }
  }

  /** Re-reads the sources; an accepted config goes to every worker, a rejected one to none. */
  private reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      if (this.closing) return;
      try {
        const compiled = await compileConfig(this.sources, this.settings.pipeline);
        // The same guard as one process: never a reload that would close every listener.
        const result = guardReload(this.store.current, compiled, this.o.paths);
        this.report(result);
        if (!result.snapshot) {
          const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
          const reason = `config rejected: ${errors} error(s); still serving snapshot version ${this.store.current.version}`;
          this.store.reject(reason);
          this.stats.inc('server.config_rejected');
          this.log.error(reason);
          return;
        }
        this.accept(result);
        for (const slot of this.slots)
          if (slot.ready) this.sendTo(slot, { t: 'config', config: this.config! });
        this.stats.inc('server.config_reloaded');
        this.log.info({ version: this.config!.version, workers: this.slots.length }, 'config reloaded');
      } catch (err) {
        this.log.error({ err }, 'reload failed; keeping the current snapshot');
      }
    });
    return this.reloading;
  }

  /** Debounces source events: `quietMs` after the last, at most `maxMs` after the first (as one process does). */
  private scheduleReload(quiet?: number): void {
    const { quietMs, maxMs } = this.o.reloadDebounce ?? { quietMs: 200, maxMs: 10_000 };
    const now = Date.now();
    this.reloadPendingSince ??= now;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    const wait = Math.max(0, Math.min(quiet ?? quietMs, this.reloadPendingSince + maxMs - now));
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      this.reloadPendingSince = undefined;
      void this.reload();
    }, wait);
  }

  private async watch(): Promise<void> {
    for (const source of this.sources) {
      source.on('change', () => this.scheduleReload());
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
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    await Promise.all(this.sources.map((s) => s.close().catch(() => undefined)));
    const drain = this.settings.gateway.drain;
    const deadline = drain.drainMs + drain.timeoutMs + WORKER_EXIT_GRACE_MS;
    await Promise.all(this.slots.map((s) => stopWorker(s.worker, deadline)));
    // A stalled stdout (nobody reads the pipe) gets as long as a single process gives it.
    await Promise.race([
      this.stdout?.drained(),
      new Promise((r) => setTimeout(r, LOG_CLOSE_TIMEOUT_MS).unref()),
    ]);
    await this.observability.close();
    await this.clusters.close();
    cluster.removeAllListeners('message');
    cluster.removeAllListeners('exit');
  }
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
