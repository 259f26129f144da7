/**
 * The config pipeline: sources (files, Kubernetes; see `sources/`) → raw documents → resources →
 * diagnostics (schema, field rules, cross-resource) → snapshot. Shared by `meshgate validate`,
 * `meshgate run` and reloads; it never knows which source a document came from.
 */
import { Codes, hasBlocking, type Diagnostic } from './diagnostics.js';
import { translateDocuments } from './load.js';
import {
  readSources,
  type AdmissionVerdict,
  type ConfigSource,
  type SourceSnapshot,
} from './sources/source.js';
import { admitObjects } from './admission.js';
import { validateResources } from './validate.js';
import { analyzeResources } from './analyze.js';
import { buildSnapshot, SnapshotBuilder, type Snapshot, type SnapshotOptions } from './snapshot.js';
import type { Resource } from './resources.js';
import type { KubeObject } from './kube-resources.js';
import { buildKubeServices } from './kube-services.js';
import { analyzeKubeObjects } from './kube-analyze.js';
import { FileSource } from './sources/files.js';
import { ValidateWorker } from './validate-worker-client.js';
import type { ReadSlot } from './validate-worker-protocol.js';

export interface PipelineOptions extends SnapshotOptions {
  readonly defaultNamespace: string;
  /** `--strict`: dangling references (missing Gateway, subset, host) block as errors do. */
  readonly strict?: boolean;
  /** Script of the validate worker used by {@link ConfigCompiler} (default: `validate-worker.js`; tests inject one). */
  readonly validateWorker?: URL;
}

export interface PipelineResult {
  /** Every finding, in the order found. */
  readonly diagnostics: readonly Diagnostic[];
  /** Whether the config must not be served (schema errors; with `strict`, any error). */
  readonly blocked: boolean;
  /** The compiled snapshot when not blocked. */
  readonly snapshot: Snapshot | undefined;
  readonly resources: readonly Resource[];
  /** Kubernetes core objects of the input (Services, EndpointSlices, Endpoints, Pods, Secrets, Namespaces). */
  readonly objects: readonly KubeObject[];
  /** Verdicts on documents a source marked for admission one by one (see `admission.ts`). */
  readonly admissions?: readonly AdmissionVerdict[];
}

/** Reads every source and runs validation only (no snapshot): what `meshgate validate` prints. */
export async function validateConfig(
  sources: readonly ConfigSource[],
  opts: PipelineOptions,
): Promise<PipelineResult> {
  const v = validateDocuments(await readSources(sources), opts);
  deliverAdmissions(sources, v);
  return v;
}

/** {@link validateConfig} over documents already read. Never throws. */
export function validateDocuments(
  input: SourceSnapshot,
  opts: Pick<PipelineOptions, 'defaultNamespace' | 'strict' | 'proxyNamespace'>,
): PipelineResult {
  // One validation of everything; a document admitted alone that fails it is swapped for its last
  // valid version before anything else looks at the config.
  const translated = translateDocuments(input, { defaultNamespace: opts.defaultNamespace });
  const { loaded, validation, verdicts } = admitObjects(
    input,
    translated,
    validateResources(translated.resources),
    opts.defaultNamespace,
  );
  const kubeServices = buildKubeServices(loaded.objects);
  // A resource that fails validation is not served, so it is no reference target of analysis.
  const invalid = new Set(
    validation.flatMap((d) =>
      d.severity === 'error' && d.layer === 'schema' && d.resource ? [d.resource] : [],
    ),
  );
  const knownServices = kubeServices.map(({ service: s }) => ({
    host: s.hostname,
    namespace: s.namespace,
    ports: s.ports.map((p) => p.number),
    endpointLabels: s.endpoints.map((e) => e.labels as Record<string, unknown>),
    source: s.source,
  }));
  const diagnostics = [
    ...loaded.diagnostics,
    ...validation,
    ...analyzeResources(loaded.resources, { invalid, knownServices }),
    ...analyzeKubeObjects(loaded.objects, kubeServices, loaded.resources, opts.proxyNamespace),
  ];
  return {
    diagnostics,
    blocked: isBlocked(diagnostics, opts.strict),
    snapshot: undefined,
    resources: loaded.resources,
    objects: loaded.objects,
    ...(verdicts.length ? { admissions: verdicts } : {}),
  };
}

/**
 * Loads, checks and compiles. A blocked config yields no snapshot; the caller keeps serving the
 * last good one. Never throws for bad configuration.
 */
export async function compileConfig(
  sources: readonly ConfigSource[],
  opts: PipelineOptions,
): Promise<PipelineResult> {
  const result = compileDocuments(await readSources(sources), opts);
  deliverAdmissions(sources, result);
  return result;
}

/** Hands each source the verdicts on the documents it marked for admission. */
function deliverAdmissions(sources: readonly ConfigSource[], v: PipelineResult): void {
  if (!v.admissions?.length) return;
  for (const s of sources) s.admitted?.(v.admissions);
}

/** {@link compileConfig} over documents already read. Never throws for bad configuration. */
export function compileDocuments(input: SourceSnapshot, opts: PipelineOptions): PipelineResult {
  return compileValidated(validateDocuments(input, opts), opts);
}

/** The compiling half of {@link compileDocuments}: a validated config → snapshot. Never throws for bad configuration. */
function compileValidated(v: PipelineResult, opts: PipelineOptions): PipelineResult {
  if (v.blocked) return v;
  try {
    return withSnapshot(v, buildSnapshot(v.resources, opts, v.objects));
  } catch (err) {
    return compileFailed(v, err);
  }
}

function withSnapshot(
  v: PipelineResult,
  built: { snapshot: Snapshot; diagnostics: readonly Diagnostic[] },
): PipelineResult {
  return { ...v, diagnostics: [...v.diagnostics, ...built.diagnostics], snapshot: built.snapshot };
}

function compileFailed(v: PipelineResult, err: unknown): PipelineResult {
  // Validation should have caught it; still, a compile failure rejects the config, never the process.
  const d: Diagnostic = {
    severity: 'error',
    code: Codes.SchemaValidationError,
    layer: 'schema',
    message: `config could not be compiled: ${(err as Error).message}`,
  };
  return { ...v, diagnostics: [...v.diagnostics, d], blocked: true, snapshot: undefined };
}

/**
 * {@link compileConfig} for a serving gateway: reading, YAML parsing, translation, validation and
 * analysis run in a worker thread (`validate-worker.ts`); only what builds live objects (the
 * snapshot) runs on the calling thread, after a turn of its event loop. `-f` paths are read by the
 * worker itself; other sources (the API server) are read here and their documents sent over. A
 * worker that dies rejects that compile with a diagnostic; the next compile starts a new one.
 * Same diagnostics and the same blocking as {@link compileConfig}.
 */
export class ConfigCompiler {
  private worker: ValidateWorker | undefined;
  /** Reuses what the previous compile built from unchanged resources (see `SnapshotBuilder`). */
  private readonly builder = new SnapshotBuilder();

  /**
   * Compiles the current config of `sources`. Never rejects for bad configuration.
   * @param fallback when the worker fails, read and validate on this thread instead (a gateway
   * starting up, which serves nothing yet) rather than rejecting the config.
   */
  async compile(
    sources: readonly ConfigSource[],
    opts: PipelineOptions,
    fallback = false,
  ): Promise<PipelineResult> {
    const slots = await Promise.all(sources.map(readSlot));
    this.worker ??= new ValidateWorker(opts.validateWorker);
    const { workerFailed, ...v } = await this.worker.validate(slots, opts);
    if (workerFailed && fallback) return this.compileValidated(await validateConfig(sources, opts), opts);
    const validated: PipelineResult = { ...v, snapshot: undefined };
    deliverAdmissions(sources, validated);
    return this.compileValidated(validated, opts);
  }

  /**
   * Compiles a config already read and validated (a `--concurrency` worker gets it from its
   * primary): the snapshot is built in steps with turns of the event loop between them, reusing
   * what the previous compile built from the same resource objects. Never rejects for bad
   * configuration.
   */
  async compileValidated(v: PipelineResult, opts: PipelineOptions): Promise<PipelineResult> {
    if (v.blocked) return v;
    let compiled: PipelineResult;
    try {
      // Requests that arrived while the worker's last message was being received go first.
      await nextTurn();
      compiled = withSnapshot(v, await this.builder.buildSliced(v.resources, opts, v.objects));
    } catch (err) {
      compiled = compileFailed(v, err);
    }
    // And again before the caller swaps the snapshot in and reconciles clusters and listeners.
    await nextTurn();
    return compiled;
  }

  /** Stops the worker thread (idempotent). */
  async close(): Promise<void> {
    await this.worker?.close();
    this.worker = undefined;
  }
}

/** What the worker needs of one source: its `-f` paths, or the documents it holds in memory. */
async function readSlot(source: ConfigSource): Promise<ReadSlot> {
  if (source instanceof FileSource) return { kind: 'files', paths: source.paths };
  const read = await source.read();
  return {
    kind: 'documents',
    diagnostics: read.diagnostics,
    documents: read.documents.map((d) => {
      const lines = d.itemLines?.();
      return {
        object: d.object,
        source: d.source,
        ...(lines ? { itemLines: lines } : {}),
        ...(d.admission ? { admission: d.admission } : {}),
      };
    }),
  };
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function isBlocked(ds: readonly Diagnostic[], strict: boolean | undefined): boolean {
  if (hasBlocking(ds)) return true;
  return strict === true && ds.some((d) => d.severity === 'error');
}
