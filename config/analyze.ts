// TEMPORARY stub (replaced by the full analyzer being written in parallel).
import type { Diagnostic } from './diagnostics.js';
import type { Resource } from './resources.js';
export function analyzeResources(_r: readonly Resource[]): Diagnostic[] {
  return [];
}
