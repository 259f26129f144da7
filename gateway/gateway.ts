/**
 * The gateway process: config pipeline → snapshot store → cluster manager and listeners. Owns
 * reloads: a new config is compiled off to the side and swapped in only when it is good; a bad one
 * is rejected whole with its diagnostics, and the last good snapshot keeps serving.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { compileConfig, type PipelineOptions, type PipelineResult } from '../config/pipeline.js';
import { formatDiagnostic, type Diagnostic } from '../config/diagnostics.js';
import { SnapshotStore } from '../config/store.js';
import { reloadProblems } from '../config/reload-guard.js';
import type { Snapshot } from '../config/snapshot.js';
import { ClusterManager } from '../upstream/cluster-manager.js';
import { DnsCache } from '../upstream/dns.js';
import { createAccessLogger, type AccessLogFormat, type AccessLogger } from '../telemetry/access-log.js';
import { StatStore } from '../telemetry/stats.js';
import { Observability, type ObservabilityOptions, type PortBindError } from '../admin/observability.js';
import { ListenerManager, type ListenerBindError } from './listener-manager.js';
import type { ProxyContext } from './http-stream.js';
import { CertStore } from '../tls/cert-store.js';
import { createTlsListenerFactory } from './tls-listener.js';
import { createTcpListenerFactory } from './tcp-proxy.js';

export interface GatewayOptions extends PipelineOptions {
  /** `--dns-server`: resolve DNS endpoints and original destinations there (default: system resolver). */
  readonly dnsServer?: { readonly host: string; readonly port: number };
  /** `-f` paths: files or directories. */
  readonly paths: readonly string[];
  readonly accessLog: AccessLogFormat;
  /** Replaces the stdout access log (tests capture records with it). */
  readonly accessLogger?: AccessLogger;
  /** Reload when a config file changes (and on SIGHUP, wired by the CLI). */
  readonly watch?: boolean;
  /** Metrics, tracing, admin/Prometheus/status/health ports (issue 6); no extra port is bound when absent. */
  readonly telemetry?: ObservabilityOptions;
  /** Runs after the telemetry ports are up and the first snapshot is installed, before listeners bind (tests observe readiness here). */
  readonly beforeListen?: (gw: Gateway) => void | Promise<void>;
}

export type StartResult =
  | { ok: true; gateway: Gateway }
  | {
      ok: false;
      diagnostics: readonly Diagnostic[];
      bindErrors: readonly ListenerBindError[];
      /** Telemetry ports that could not be bound (issue 6). */
      portErrors?: readonly PortBindError[];
    };

export class Gateway {
  readonly store = new SnapshotStore();
  readonly clusters: ClusterManager;
  readonly stats = new StatStore();
  readonly accessLog: AccessLogger;
  readonly listeners: ListenerManager;
  /** Metrics, tracing, admin and health ports (issue 6). */
  readonly observability: Observability;
  private watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<boolean> | undefined;

  private constructor(
    readonly opts: GatewayOptions,
    readonly log: Logger,
  ) {
    this.accessLog =
      opts.accessLogger ??
      createAccessLogger(opts.accessLog, 1, {
        // A destination that cannot keep up (stalled pipe) sheds lines instead of memory.
        onDrop: (lines) => this.stats.inc('access_log.dropped_lines', lines),
      });
    this.clusters = new ClusterManager({
      dns: new DnsCache({ server: opts.dnsServer }),
      onWarning: (message) => log.warn(message),
    });
    this.observability = new Observability(opts.telemetry ?? {}, this);
    const ctx: ProxyContext = {
      clusters: this.clusters,
      accessLog: this.accessLog,
      stats: this.stats,
      observer: this.observability.observer,
      tracing: this.observability.tracer,
    };
    this.listeners = new ListenerManager(ctx, log);
    // TLS (HTTPS terminate, PASSTHROUGH) and TCP servers; certificates shared and watched process-wide.
    this.listeners.register('TLS', createTlsListenerFactory({ certs: new CertStore(log) }));
    this.listeners.register('TCP', createTcpListenerFactory());
  }

  /**
   * Compiles the config and binds every listener. Refuses to start (returns the reasons) on blocking
   * diagnostics or when any listener port cannot be bound.
   */
  static async start(opts: GatewayOptions, log: Logger): Promise<StartResult> {
    const gw = new Gateway(opts, log);
    // Telemetry ports first, so /healthz/ready answers (503) while the config compiles and binds.
    const portErrors = await gw.observability.start();
    if (portErrors.length > 0) {
      await gw.close();
      return { ok: false, diagnostics: [], bindErrors: [], portErrors };
    }
    const result = await compileConfig(opts.paths, opts);
    gw.report(result);
    if (!result.snapshot) {
      await gw.close();
      return { ok: false, diagnostics: result.diagnostics, bindErrors: [] };
    }
    gw.observability.setResources(result.resources);
    const installed = gw.install(result.snapshot);
    await opts.beforeListen?.(gw);
    const bindErrors = await gw.listeners.reconcile(installed);
    if (bindErrors.length > 0) {
      await gw.close();
      return { ok: false, diagnostics: result.diagnostics, bindErrors };
    }
    gw.observability.markListenersBound();
    if (opts.watch) gw.watchFiles();
    return { ok: true, gateway: gw };
  }

  /** The live snapshot. */
  get snapshot(): Snapshot {
    return this.store.current;
  }

  private install(next: Snapshot): Snapshot {
    // Requests still pending in the observer's batch are counted against the snapshot they ran on.
    this.observability.observer.drain?.();
    const installed = this.store.swap(next);
    this.clusters.reconcile(installed);
    return installed;
  }

  private report(result: PipelineResult): void {
    for (const d of result.diagnostics) {
      const line = formatDiagnostic(d);
      if (d.severity === 'error') {
        if (result.blocked) this.log.error({ code: d.code }, line);
        else this.log.warn({ code: d.code }, `${line} (served as Istio does: 404 NR / 503 NC)`);
      } else if (d.severity === 'warning') this.log.warn({ code: d.code }, line);
      else this.log.info({ code: d.code }, line);
    }
  }

  /**
   * Re-reads the config and swaps it in if it is good.
   * @returns true when a new snapshot was installed.
   */
  reload(): Promise<boolean> {
    if (this.reloading) return this.reloading.then(() => this.reload());
    this.reloading = (async () => {
      try {
        const compiled = await compileConfig(this.opts.paths, this.opts);
        const refused = compiled.snapshot
          ? reloadProblems(this.store.current, compiled.snapshot, this.opts.paths)
          : [];
        const result: PipelineResult =
          refused.length > 0
            ? {
                ...compiled,
                diagnostics: [...compiled.diagnostics, ...refused],
                blocked: true,
                snapshot: undefined,
              }
            : compiled;
        this.report(result);
        if (!result.snapshot) {
          const reason = `config rejected: ${result.diagnostics.filter((d) => d.severity === 'error').length} error(s); still serving snapshot version ${this.store.current.version}`;
          this.store.reject(reason);
          this.stats.inc('server.config_rejected');
          this.log.error(reason);
          return false;
        }
        this.observability.setResources(result.resources);
        const installed = this.install(result.snapshot);
        const errors = await this.listeners.reconcile(installed);
        for (const e of errors) this.log.error(e.message);
        this.stats.inc('server.config_reloaded');
        this.log.info(
          { version: installed.version, listeners: installed.listeners.length },
          'config reloaded',
        );
        return true;
      } catch (err) {
        this.log.error({ err }, 'reload failed; keeping the current snapshot');
        return false;
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  private watchFiles(): void {
    for (const p of this.opts.paths) {
      try {
        const w = watch(p, () => this.scheduleReload());
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch (err) {
        this.log.warn({ path: p, err: (err as Error).message }, 'cannot watch config path');
      }
    }
  }

  /** Debounces bursts of file events (editors write in several steps). */
  scheduleReload(): void {
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      void this.reload();
    }, 200);
  }

  /** Stops listeners, watchers and pools; flushes the access log. */
  async close(): Promise<void> {
    this.observability.beginDrain();
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    await this.listeners.close();
    await this.clusters.close();
    // Last: readiness keeps answering 503 (DRAINING) while listeners finish; queued spans are sent.
    await this.observability.close();
    // Every access log line reaches stdout before close resolves (the process may exit next).
    await this.accessLog.close();
  }
}
