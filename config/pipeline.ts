/**
 * The config pipeline: files → resources → diagnostics (schema, field rules, cross-resource) →
 * snapshot. Shared by `meshgate validate`, `meshgate run` and reloads.
 */
import { Codes, hasBlocking, type Diagnostic } from './diagnostics.js';
import { loadConfig } from './load.js';
import { validateResources } from './validate.js';
import { analyzeResources } from './analyze.js';
import { buildSnapshot, type Snapshot, type SnapshotOptions } from './snapshot.js';
import type { Resource } from './resources.js';

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
}

/** Runs validation only (no snapshot): what `meshgate validate` prints. */
export async function validateConfig(
  paths: readonly string[],
  opts: PipelineOptions,
): Promise<PipelineResult> {
  const loaded = await loadConfig(paths, { defaultNamespace: opts.defaultNamespace });
  const diagnostics = [
    ...loaded.diagnostics,
    ...validateResources(loaded.resources),
    ...analyzeResources(loaded.resources),
  ];
  return {
    diagnostics,
    blocked: isBlocked(diagnostics, opts.strict),
    snapshot: undefined,
    resources: loaded.resources,
  };
}

/**
 * Loads, checks and compiles. A blocked config yields no snapshot; the caller keeps serving the
 * last good one. Never throws for bad configuration.
 */
export async function compileConfig(
  paths: readonly string[],
  opts: PipelineOptions,
): Promise<PipelineResult> {
  const v = await validateConfig(paths, opts);
  if (v.blocked) return v;
  try {
    const { snapshot, diagnostics } = buildSnapshot(v.resources, opts);
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
