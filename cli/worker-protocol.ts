/**
 * Messages between the `--concurrency` primary and its workers (node:cluster IPC with `advanced`
 * serialization, so Maps such as `--port-map` cross as they are).
 *
 * What crosses for a config change: the *validated resources* (and Kubernetes objects) the primary
 * accepted (it also compiles them once, for its config dump and to reject what would not compile),
 * never the compiled snapshot, which holds functions, regexes bound to closures and live
 * objects that cannot be cloned between processes. The primary reads the sources, validates and
 * analyzes once per change (a bad config is rejected there, once, and no worker hears of it); each
 * worker only compiles and swaps. The resources go as a delta against the config the worker holds
 * (`config/resource-delta.ts`): an unchanged resource is an index, so the worker deserializes only
 * what changed and keeps its old objects, and its snapshot builder (the same incremental, sliced
 * build a single process uses) recompiles only what they feed. The trade-off against "send a
 * version number, let each worker reload": workers never re-read files that may have changed again
 * in between (all of them serve the same accepted config) and never run validation or analysis on
 * their serving thread.
 */
import type { KubeObject } from '../config/kube-resources.js';
import type { PipelineOptions } from '../config/pipeline.js';
import type { Resource } from '../config/resources.js';
import type { DeltaEntry } from '../config/resource-delta.js';
import type { AccessLogFormat } from '../telemetry/access-log.js';
import type { ObservabilityOptions } from '../admin/observability.js';
import type { WorkerStats, WorkerStatsPart } from '../admin/worker-stats.js';
import type { DrainOptions, GatewayOptions } from '../gateway/gateway.js';

/** One accepted configuration, as the primary sends it. */
export interface ConfigPayload {
  /** The primary's snapshot version it was accepted as. */
  readonly version: number;
  /** The version the entries are a delta against (the worker's current config); 0: whole items. */
  readonly base: number;
  readonly resources: readonly DeltaEntry<Resource>[];
  readonly objects: readonly DeltaEntry<KubeObject>[];
}

/** A listener's bound address, as a worker reports it. */
export interface ListenerAddress {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

/** What a worker is started with. */
export interface WorkerSettings {
  readonly pipeline: PipelineOptions & Pick<GatewayOptions, 'dnsServer'>;
  /** `--drain-duration`/`--drain-timeout` (applied on SIGTERM) and `--max-connections-per-listener`. */
  readonly gateway: { readonly drain: DrainOptions } & Pick<GatewayOptions, 'maxConnectionsPerListener'>;
  readonly accessLog: AccessLogFormat;
  /** Metrics and tracing settings; workers bind no telemetry port. */
  readonly telemetry: ObservabilityOptions;
  readonly logLevel: string;
}

/** Primary → worker. */
export type ToWorker =
  | { readonly t: 'init'; readonly settings: WorkerSettings; readonly config: ConfigPayload }
  | { readonly t: 'config'; readonly config: ConfigPayload }
  | { readonly t: 'stats'; readonly id: number; readonly parts: readonly WorkerStatsPart[] }
  | { readonly t: 'log-level'; readonly level: string };

/** Worker → primary. */
export type FromWorker =
  /** Loaded and listening for `init` (node:cluster's `online` comes before the module has run). */
  | { readonly t: 'hello' }
  /** Every listener of the first snapshot is bound. */
  | { readonly t: 'ready'; readonly listeners: readonly ListenerAddress[] }
  /** Start failed (a port could not be bound); the worker exits next. */
  | { readonly t: 'failed'; readonly errors: readonly string[] }
  /** A config change was installed; listeners as now bound. */
  | { readonly t: 'installed'; readonly version: number; readonly listeners: readonly ListenerAddress[] }
  | { readonly t: 'stats'; readonly id: number; readonly stats: WorkerStats };
