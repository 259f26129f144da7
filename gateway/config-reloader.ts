/**
 * The reload loop shared by a gateway process and the `--concurrency` primary: debounces source
 * events into reloads, runs one reload at a time, logs the diagnostics, refuses a reload that would
 * close every listener (`reload-guard.ts`), counts and logs what happened, and hands an accepted
 * config to its owner to install. A rejected config leaves the last good snapshot serving.
 */
import type { Logger } from 'pino';
import { formatDiagnostic } from '../config/diagnostics.js';
import type { PipelineResult } from '../config/pipeline.js';
import { guardReload } from '../config/reload-guard.js';
import type { SnapshotStore } from '../config/store.js';
import type { StatStore } from '../telemetry/stats.js';

/** Reload debounce, ms: quiet time after the last change, and the longest a change waits. */
export interface ReloadDebounce {
  readonly quietMs: number;
  readonly maxMs: number;
}

/** Istio's debounce defaults in spirit (PILOT_DEBOUNCE_AFTER 100 ms, PILOT_DEBOUNCE_MAX 10 s). */
export const DEFAULT_RELOAD_DEBOUNCE: ReloadDebounce = { quietMs: 200, maxMs: 10_000 };

/** What a {@link ConfigReloader} works with. */
export interface ConfigReloaderOptions {
  /** Reads and compiles the current config (never rejects for bad configuration). */
  readonly compile: () => Promise<PipelineResult>;
  /**
   * Installs an accepted config (it has a snapshot).
   * @param stopped whether {@link ConfigReloader.stop} was called meanwhile (check it after any
   * await: a config must not be installed once shutdown began).
   * @returns fields logged with `config reloaded` (the installed version at least); undefined when
   * it was not installed because the reloader stopped.
   */
  readonly install: (
    result: PipelineResult,
    stopped: () => boolean,
  ) => Promise<Record<string, unknown> | undefined>;
  /** The live snapshot's store: the guard compares with it; a refusal is recorded on it. */
  readonly store: SnapshotStore;
  /** Counts `server.config_reloaded` and `server.config_rejected`. */
  readonly stats: StatStore;
  readonly log: Logger;
  /** `-f` paths, named by the guard's diagnostic. */
  readonly paths: readonly string[];
  readonly debounce?: ReloadDebounce;
  /** What a debounced reload runs (default {@link ConfigReloader.reload}; the gateway routes it through its own `reload`). */
  readonly onDue?: () => Promise<boolean>;
}

/** Logs every diagnostic of a compile at its severity (an error that does not block is a warning). */
export function reportDiagnostics(log: Logger, result: PipelineResult): void {
  for (const d of result.diagnostics) {
    const line = formatDiagnostic(d);
    if (d.severity === 'error') {
      if (result.blocked) log.error({ code: d.code }, line);
      else log.warn({ code: d.code }, `${line} (served as Istio does: 404 NR / 503 NC)`);
    } else if (d.severity === 'warning') log.warn({ code: d.code }, line);
    else log.info({ code: d.code }, line);
  }
}

/** Debounced, serialized reloads (see the module comment). */
export class ConfigReloader {
  private timer: NodeJS.Timeout | undefined;
  private pendingSince: number | undefined;
  private running: Promise<boolean> | undefined;
  private stopped = false;

  constructor(private readonly o: ConfigReloaderOptions) {}

  /**
   * Re-reads the config and installs it if it is good; a reload asked for while one runs runs after it.
   * @returns true when a new snapshot was installed.
   */
  reload(): Promise<boolean> {
    if (this.running) return this.running.then(() => this.reload());
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Debounces bursts of source events into one reload: `quietMs` (or `quietOverrideMs`) after the
   * last event, but never later than `maxMs` after the first one (istiod's PILOT_DEBOUNCE_AFTER /
   * PILOT_DEBOUNCE_MAX), so a steady trickle of changes cannot starve reloads.
   */
  schedule(quietOverrideMs?: number): void {
    if (this.stopped) return;
    const { quietMs, maxMs } = this.o.debounce ?? DEFAULT_RELOAD_DEBOUNCE;
    const now = Date.now();
    this.pendingSince ??= now;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pendingSince = undefined;
        void (this.o.onDue ? this.o.onDue() : this.reload());
      },
      Math.max(0, Math.min(quietOverrideMs ?? quietMs, this.pendingSince + maxMs - now)),
    );
  }

  /** No reload starts after this (one under way finishes without installing). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<boolean> {
    const { store, log, stats } = this.o;
    try {
      if (this.stopped) return false;
      const compiled = await this.o.compile();
      if (this.stopped) return false;
      const result = guardReload(store.current, compiled, this.o.paths);
      reportDiagnostics(log, result);
      if (!result.snapshot) {
        const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
        const reason = `config rejected: ${errors} error(s); still serving snapshot version ${store.current.version}`;
        store.reject(reason);
        stats.inc('server.config_rejected');
        log.error(reason);
        return false;
      }
      const fields = await this.o.install(result, () => this.stopped);
      if (!fields) return false;
      stats.inc('server.config_reloaded');
      log.info(fields, 'config reloaded');
      return true;
    } catch (err) {
      log.error({ err }, 'reload failed; keeping the current snapshot');
      return false;
    }
  }
}
