/**
 * The gateway process: config pipeline → snapshot store → cluster manager and listeners. Owns
 * reloads: a new config is compiled off to the side and swapped in only when it is good; a bad one
 * is rejected whole with its diagnostics, and the last good snapshot keeps serving.
 */
import type { Logger } from 'pino';
import { ConfigCompiler, type PipelineOptions, type PipelineResult } from '../config/pipeline.js';
import type { Diagnostic } from '../config/diagnostics.js';
import { SnapshotStore } from '../config/store.js';
import { FileSource } from '../config/sources/files.js';
import type { ConfigSource } from '../config/sources/source.js';
import { DEFAULT_SLICE_MS, type Snapshot } from '../config/snapshot.js';
import { runSliced } from '../compile/steps.js';
import { ClusterManager } from '../upstream/cluster-manager.js';
import { DnsCache } from '../upstream/dns.js';
import { createAccessLogger, type AccessLogFormat, type AccessLogger } from '../telemetry/access-log.js';
import { StatStore } from '../telemetry/stats.js';
import { Observability, type ObservabilityOptions, type PortBindError } from '../admin/observability.js';
import { ConnectionDrain } from './connection-drain.js';
import { DEFAULT_CLOSE_TIMEOUT_MS, ListenerManager, type ListenerBindError } from './listener-manager.js';
import type { ProxyContext } from './http/proxy-context.js';
import { CertStore } from '../tls/cert-store.js';
import { createTlsListenerFactory } from './tls-listener.js';
import { createTcpListenerFactory } from './tcp-proxy.js';
import { ConfigReloader, reportDiagnostics, type ReloadDebounce } from './config-reloader.js';

export interface GatewayOptions extends PipelineOptions {
  /** `--dns-server`: resolve DNS endpoints and original destinations there (default: system resolver). */
  readonly dnsServer?: { readonly host: string; readonly port: number };
  /** Clock of the DNS cache, in ms (tests inject one to expire TTLs); default `Date.now`. */
  readonly dnsClock?: () => number;
  /** `-f` paths: files or directories (read by a `files` source, first among {@link sources}). */
  readonly paths: readonly string[];
  /** Further configuration sources (the Kubernetes API server), read after the `-f` paths; closed with the gateway. */
  readonly sources?: readonly ConfigSource[];
  readonly accessLog: AccessLogFormat;
  /** Replaces the stdout access log (tests capture records with it). */
  readonly accessLogger?: AccessLogger;
  /** Reload when a source reports a change (and on SIGHUP, wired by the CLI). */
  readonly watch?: boolean;
  /** Reload debounce, ms: quiet time after the last change, and the longest a change waits (default 200 / 10 000). */
  readonly reloadDebounce?: ReloadDebounce;
  /** Metrics, tracing, admin/Prometheus/status/health ports (issue 6); no extra port is bound when absent. */
  readonly telemetry?: ObservabilityOptions;
  /**
   * Reads and compiles the config (default: {@link compileConfig} at start, a {@link ConfigCompiler}
   * worker thread on reloads); a `--concurrency` worker compiles
   * what its primary validated instead of reading the sources.
   */
  readonly compile?: (sources: readonly ConfigSource[], opts: PipelineOptions) => Promise<PipelineResult>;
  /**
   * Downstream connections one listener keeps open at most; more are refused at accept and counted as
   * `listener.<name>.downstream_cx_overflow` (Envoy's listener connection limit). Default: no limit.
   */
  readonly maxConnectionsPerListener?: number;
  /**
   * Idle timeout of HTTP/1 downstream connections, ms: one with no request in flight and no bytes
   * either way for this long is closed (Envoy's HTTP connection manager `idle_timeout`). Default
   * 1 h, Envoy's and Istio's gateway value.
   */
  readonly downstreamIdleTimeoutMs?: number;
  /** Runs after the telemetry ports are up and the first snapshot is installed, before listeners bind (tests observe readiness here). */
  readonly beforeListen?: (gw: Gateway) => void | Promise<void>;
}

/**
 * Graceful shutdown timing (`--drain-duration`, `--drain-timeout`).
 * - `drainMs`: listeners keep accepting while every response closes its connection (Istio's
 *   `terminationDrainDuration`, default 5 s): clients and load balancers move away without errors.
 * - `timeoutMs`: then listeners stop accepting and open connections get this long to finish before
 *   they are destroyed.
 */
export interface DrainOptions {
  readonly drainMs: number;
  readonly timeoutMs: number;
}

/** Istio's `terminationDrainDuration` default, ms. */
export const DEFAULT_DRAIN_MS = 5_000;
/**
 * Deadline for in-flight requests after the drain, ms. Envoy's `--drain-time-s` (600 s) and Istio's
 * `drainDuration` (45 s) would outlast Kubernetes' default 30 s `terminationGracePeriodSeconds` and end in
 * SIGKILL; 5 s drain + 20 s leaves 5 s for the access log and spans to flush.
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = DEFAULT_CLOSE_TIMEOUT_MS;

type StartResult =
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
  /** Where the config comes from: the `-f` files, then {@link GatewayOptions.sources}. */
  readonly sources: readonly ConfigSource[];
  private watching = false;
  /**
   * Reads and validates in a worker thread; on this one only the snapshot is built, in slices,
   * reusing what the previous build made from unchanged resources.
   */
  private readonly compiler = new ConfigCompiler();
  private readonly reloader: ConfigReloader;
  private sourcesClosed: Promise<void> | undefined;

  private constructor(
    readonly opts: GatewayOptions,
    readonly log: Logger,
  ) {
    this.sources = [...(opts.paths.length > 0 ? [new FileSource(opts.paths)] : []), ...(opts.sources ?? [])];
    this.accessLog =
      opts.accessLogger ??
      createAccessLogger(opts.accessLog, 1, {
        // A destination that cannot keep up (stalled pipe) sheds lines instead of memory.
        onDrop: (lines) => this.stats.inc('access_log.dropped_lines', lines),
      });
    this.clusters = new ClusterManager({
      dns: new DnsCache({ server: opts.dnsServer, now: opts.dnsClock }),
      onWarning: (message) => log.warn(message),
    });
    this.observability = new Observability(opts.telemetry ?? {}, this);
    const ctx: ProxyContext = {
      clusters: this.clusters,
      accessLog: this.accessLog,
      stats: this.stats,
      observer: this.observability.observer,
      tracing: this.observability.tracer,
      drain: new ConnectionDrain(),
      downstreamIdleTimeoutMs: opts.downstreamIdleTimeoutMs,
    };
    this.listeners = new ListenerManager(ctx, log, {
      maxConnectionsPerListener: opts.maxConnectionsPerListener,
    });
    // TLS (HTTPS terminate, PASSTHROUGH) and TCP servers; certificates shared and watched process-wide.
    this.listeners.register('TLS', createTlsListenerFactory({ certs: new CertStore(log) }));
    this.listeners.register('TCP', createTcpListenerFactory());
    this.reloader = new ConfigReloader({
      compile: () =>
        this.opts.compile
          ? this.opts.compile(this.sources, this.opts)
          : this.compiler.compile(this.sources, this.opts),
      install: async (result, stopped) => {
        // Cluster states are built in slices beside the live ones, then adopted with the swap.
        const adopt = await runSliced(this.clusters.prepare(result.snapshot!), DEFAULT_SLICE_MS);
        if (stopped()) return undefined;
        this.observability.setResources(result.resources);
        const installed = this.install(result.snapshot!, adopt);
        const errors = await this.listeners.reconcile(installed);
        for (const e of errors) this.log.error(e.message);
        return { version: installed.version, listeners: installed.listeners.length };
      },
      store: this.store,
      stats: this.stats,
      log,
      paths: opts.paths,
      debounce: opts.reloadDebounce,
      onDue: () => this.reload(),
    });
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
    // Through the compiler's worker like a reload, so the first reload finds it and the snapshot
    // builder already holding this config (and sends, and rebuilds, only what changed).
    const result = await (opts.compile ?? ((s, o) => gw.compiler.compile(s, o, true)))(gw.sources, opts);
    reportDiagnostics(log, result);
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
    if (opts.watch) await gw.watchSources();
    return { ok: true, gateway: gw };
  }

  /** The live snapshot. */
  get snapshot(): Snapshot {
    return this.store.current;
  }

  /**
   * Swaps `next` in and adopts its cluster states in the same turn.
   * @param adopt what `ClusterManager.prepare` returned for `next`; default: reconcile now.
   */
  private install(next: Snapshot, adopt?: () => void): Snapshot {
    // Requests still pending in the observer's batch are counted against the snapshot they ran on.
    this.observability.observer.drain?.();
    const installed = this.store.swap(next);
    if (adopt) adopt();
    else this.clusters.reconcile(installed);
    return installed;
  }

  /**
   * Re-reads the config and swaps it in if it is good (see `config-reloader.ts`).
   * @returns true when a new snapshot was installed.
   */
  reload(): Promise<boolean> {
    return this.reloader.reload();
  }

  /** Subscribes to every source's `change` events; a source that cannot watch is logged, not fatal. */
  private async watchSources(): Promise<void> {
    this.watching = true;
    for (const source of this.sources) {
      source.on('change', this.onSourceChange);
      source.on('error', (err) => this.log.warn({ source: source.name, err: err.message }, 'config source'));
      try {
        await source.start();
      } catch (err) {
        this.log.warn({ source: source.name, err: (err as Error).message }, 'config source cannot watch');
      }
    }
  }

  private readonly onSourceChange = (): void => this.scheduleReload();

  /**
   * Debounces bursts of source events into one reload: `quietMs` after the last event, at most
   * `maxMs` after the first (`reloadDebounce`).
   */
  scheduleReload(): void {
    this.reloader.schedule();
  }

  /**
   * Graceful shutdown (SIGTERM): readiness turns 503 at once; for `drainMs` the listeners keep
   * accepting while every response closes its connection; then {@link close} with `timeoutMs`.
   * Always ends: whatever is still open at the deadline is destroyed.
   */
  async shutdown(
    drain: DrainOptions = { drainMs: DEFAULT_DRAIN_MS, timeoutMs: DEFAULT_DRAIN_TIMEOUT_MS },
  ): Promise<void> {
    void this.stopReloads();
    this.observability.beginDrain();
    this.listeners.beginDrain();
    if (drain.drainMs > 0) await new Promise<void>((r) => setTimeout(r, drain.drainMs));
    await this.close(drain.timeoutMs);
  }

  /** Stops watching and reloading, then closes every source (once, however often it is called). */
  private stopReloads(): Promise<void> {
    if (this.sourcesClosed) return this.sourcesClosed;
    // From here no reload may bind listeners again.
    this.reloader.stop();
    if (this.watching) for (const source of this.sources) source.off('change', this.onSourceChange);
    this.watching = false;
    // Also unwatched sources: reading may have opened connections (the API server's).
    this.sourcesClosed = Promise.all(this.sources.map((s) => s.close().catch(() => undefined))).then(
      () => undefined,
    );
    return this.sourcesClosed;
  }

  /**
   * Stops listeners (open connections get up to `timeoutMs`, then are destroyed), watchers and pools;
   * flushes the access log.
   */
  async close(timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS): Promise<void> {
    this.observability.beginDrain();
    await this.stopReloads();
    await this.compiler.close();
    await this.listeners.close(timeoutMs);
    await this.clusters.close();
    // Last: readiness keeps answering 503 (DRAINING) while listeners finish; queued spans are sent.
    await this.observability.close();
    // Every access log line reaches stdout before close resolves (the process may exit next).
    await this.accessLog.close();
  }
}
