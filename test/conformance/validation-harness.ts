/**
 * Runs Istio's validation cases (facts ported from istio/istio `pkg/config/validation`) through
 * meshgate's validation: a case is one resource and whether Istio's webhook accepts it.
 */
import { describe, expect, it } from 'vitest';
import { validateResources } from '../../config/validate.js';
import { loadText } from '../../config/load.js';
import type { Diagnostic } from '../../config/diagnostics.js';
import type { Kind, Resource } from '../../config/resources.js';

/** One Istio case: a resource (spec as Istio's test builds it, or a whole YAML document) and the verdict. */
export interface IstioCase {
  /** The case name in Istio's table (the input, where Istio's table has no names). */
  readonly name: string;
  /** True when Istio accepts it (warnings allowed). */
  readonly valid: boolean;
  readonly kind?: string;
  readonly spec?: unknown;
  /** `metadata.labels` of the resource (e.g. `istio.io/use-waypoint`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** `metadata.namespace` (default `default`). */
  readonly namespace?: string;
  /** A whole YAML document instead of `kind` + `spec` (Istio's `testdata/crds` cases). */
  readonly yaml?: string;
}

/** Errors meshgate reports for one case (loading included, for YAML cases). */
export function caseErrors(c: IstioCase): Diagnostic[] {
  let resources: Resource[];
  let loadDiagnostics: Diagnostic[] = [];
  if (c.yaml !== undefined) {
    const loaded = loadText(c.yaml, 'case.yaml', { defaultNamespace: 'default' });
    resources = loaded.resources;
    loadDiagnostics = loaded.diagnostics;
  } else {
    resources = [
      {
        apiVersion: 'networking.istio.io/v1',
        kind: c.kind as Kind,
        metadata: {
          name: 'case',
          namespace: c.namespace ?? 'default',
          ...(c.labels ? { labels: { ...c.labels } } : {}),
        },
        spec: (c.spec ?? {}) as never,
        source: { file: 'case', docIndex: 0, line: 1 },
      },
    ];
  }
  return [...loadDiagnostics, ...validateResources(resources)].filter(
    (d) => d.severity === 'error' && d.layer === 'schema',
  );
}

/**
 * One `describe` per Istio test function, one `it` per case: a valid case must draw no error, an
 * invalid one at least one.
 * @param file the Istio source file (`pkg/config/validation/validation_test.go`).
 * @param fn the Istio test function.
 * @param notPorted case names left out, each with the reason (meshgate ignores the field, ...).
 */
export function describeIstioCases(
  file: string,
  fn: string,
  cases: readonly IstioCase[],
  notPorted: Readonly<Record<string, string>> = {},
): void {
  describe(`${fn} (${file})`, () => {
    for (const c of cases) {
      if (c.name in notPorted) continue;
      it(`${c.valid ? 'accepts' : 'rejects'}: ${c.name}`, () => {
        const errors = caseErrors(c);
        if (process.env.DEBUG_CASES && c.valid !== (errors.length === 0))
          console.log(
            `CASE|${fn}|${c.name}|${c.valid}|${errors.map((d) => `${d.path}: ${d.message}`).join(' ; ')}`,
          );
        if (c.valid) expect(errors.map((d) => `${d.path}: ${d.message}`)).toEqual([]);
        else
          expect(errors.length, 'Istio rejects this config; meshgate reported no error').toBeGreaterThan(0);
      });
    }
  });
}
