/**
 * The config pipeline: sources (files, Kubernetes; see `sources/`) → raw documents → resources →
 * diagnostics (schema, field rules, cross-resource) → snapshot. Shared by `meshgate validate`,
 * `meshgate run` and reloads; it never knows which source a document came from.
 */
import { Codes, hasBlocking, type Diagnostic } from './diagnostics.js';
import { translateDocuments } from './load.js';
import { readSources, type ConfigSource, type SourceSnapshot } from './sources/source.js';
import { validateResources } from './validate.js';
import { analyzeResources } from './analyze.js';
import { buildSnapshot, type Snapshot, type SnapshotOptions } from './snapshot.js';
import type { Resource } from './resources.js';
import type { KubeObject } from './kube-resources.js';
import { buildKubeServices } from './kube-services.js';
import { analyzeKubeObjects } from './kube-analyze.js';

export interface PipelineOptions extends SnapshotOptions {
  readonly defaultNamespace: string;
  /** `--strict`: dangling references (missing Gateway, subset, host) block as errors do. */
  readonly strict?: boolean;
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
}

/** Reads every source and runs validation only (no snapshot): what `meshgate validate` prints. */
export async function validateConfig(
  sources: readonly ConfigSource[],
  opts: PipelineOptions,
): Promise<PipelineResult> {
  return validateDocuments(await readSources(sources), opts);
}

/** {@link validateConfig} over documents already read. Never throws. */
export function validateDocuments(input: SourceSnapshot, opts: PipelineOptions): PipelineResult {
  const loaded = translateDocuments(input, { defaultNamespace: opts.defaultNamespace });
  const kubeServices = buildKubeServices(loaded.objects);
  const validation = validateResources(loaded.resources);
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
    ...analyzeKubeObjects(loaded.objects, kubeServices, loaded.resources),
  ];
  return {
    diagnostics,
    blocked: isBlocked(diagnostics, opts.strict),
    snapshot: undefined,
    resources: loaded.resources,
    objects: loaded.objects,
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
  return compileDocuments(await readSources(sources), opts);
}

/** {@link compileConfig} over documents already read. Never throws for bad configuration. */
export function compileDocuments(input: SourceSnapshot, opts: PipelineOptions): PipelineResult {
  const v = validateDocuments(input, opts);
  if (v.blocked) return v;
  try {
    const { snapshot, diagnostics } = buildSnapshot(v.resources, opts, v.objects);
    return { ...v, diagnostics: [...v.diagnostics, ...diagnostics], snapshot };
  } catch (err) {
    // Validation should have caught it; still, a compile failure rejects the config, never the process.
    const d: Diagnostic = {
      severity: 'error',
      code: Codes.SchemaValidationError,
      layer: 'schema',
      message: `config could not be compiled: ${(err as Error).message}`,
    };
    return { ...v, diagnostics: [...v.diagnostics, d], blocked: true, snapshot: undefined };
  }
}

function isBlocked(ds: readonly Diagnostic[], strict: boolean | undefined): boolean {
  if (hasBlocking(ds)) return true;
  return strict === true && ds.some((d) => d.severity === 'error');
}
