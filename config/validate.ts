// TEMPORARY stub (replaced by the full validator being written in parallel).
import type { Diagnostic } from './diagnostics.js';
import type { Resource } from './resources.js';
export function validateResources(_r: readonly Resource[]): Diagnostic[] {
  return [];
}
