/**
 * What a reload may not do even when the new config is valid: take a serving gateway down to
 * nothing. Istio never pushes "no listeners" because a file was emptied mid-write; an empty or
 * listener-less config on reload is far more often a truncated write or a wrong edit than intent.
 */
import { Codes, type Diagnostic } from './diagnostics.js';
import type { PipelineResult } from './pipeline.js';
import type { Snapshot } from './snapshot.js';

/**
 * Checks a compiled config against the snapshot it would replace.
 * @param current the snapshot serving now.
 * @param next the candidate snapshot (already valid on its own).
 * @param paths the `-f` paths it was read from (named in the diagnostic).
 * @returns `MG0007` errors when `next` would close every listener `current` serves (an empty
 * config included); empty when the reload may go ahead.
 */
function reloadProblems(current: Snapshot, next: Snapshot, paths: readonly string[]): Diagnostic[] {
  if (current.listeners.length === 0 || next.listeners.length > 0) return [];
  const names = current.listeners.map((l) => l.name).join(', ');
  const what =
    next.resourceCount === 0
      ? `no Istio networking resources were found in ${paths.join(', ')}`
      : 'the new config has no listeners';
  return [
    {
      severity: 'error',
      code: Codes.ReloadRefused,
      layer: 'schema',
      source: { file: paths[0] ?? '', docIndex: 0, line: 1 },
      message: `${what}; refusing a reload that would close every listener (serving: ${names})`,
    },
  ];
}

/**
 * {@link reloadProblems} applied to a pipeline result: a reload it refuses comes back blocked, with
 * no snapshot and the refusal among its diagnostics; any other result unchanged.
 */
export function guardReload(
  current: Snapshot,
  compiled: PipelineResult,
  paths: readonly string[],
): PipelineResult {
  const refused = compiled.snapshot ? reloadProblems(current, compiled.snapshot, paths) : [];
  if (refused.length === 0) return compiled;
  return {
    ...compiled,
    diagnostics: [...compiled.diagnostics, ...refused],
    blocked: true,
    snapshot: undefined,
  };
}
