/**
 * Per-object admission: what Istio's validating webhook does for objects that reach the API server.
 * A source whose objects arrive one by one (the Kubernetes source) marks each document with an
 * {@link Admission}; after the one validation of the whole config (in the validate worker), a marked
 * document with blocking diagnostics is taken out alone and replaced by its last valid version (what
 * the cluster would still hold had the webhook refused the update), or left out when it never was
 * valid; the rest of the config applies. The verdicts go back to the source, which remembers the
 * last valid version and logs each rejection once.
 *
 * Unmarked documents (files) are not touched: a file is one change, rejected as a whole.
 */
import { formatDiagnostic, hasBlocking, type Diagnostic } from './diagnostics.js';
import { translateDocuments, type LoadResult } from './load.js';
import type { Admission, AdmissionVerdict, RawDocument, SourceSnapshot } from './sources/source.js';
import { validateResources } from './validate.js';

/** A translated and validated config, with every rejected marked document replaced by its fallback. */
interface Admitted {
  readonly loaded: LoadResult;
  readonly validation: Diagnostic[];
  readonly verdicts: readonly AdmissionVerdict[];
}

/**
 * Applies the admission of the documents of `input` that carry one.
 * @param loaded the translation of all of `input`
 * @param validation `validateResources(loaded.resources)`
 * @param defaultNamespace for translating fallbacks
 * @returns `loaded` and `validation` without the rejected documents (and with their fallbacks),
 * and one verdict per marked document. Never throws.
 */
export function admitObjects(
  input: SourceSnapshot,
  loaded: LoadResult,
  validation: Diagnostic[],
  defaultNamespace: string,
): Admitted {
  const marked = new Map<string, Admission>();
  for (const d of input.documents) if (d.admission) marked.set(d.source.file, d.admission);
  if (marked.size === 0) return { loaded, validation, verdicts: [] };
  const byFile = new Map<string, Diagnostic[]>();
  for (const d of [...loaded.diagnostics, ...validation]) {
    const file = d.source?.file;
    if (file === undefined || !marked.has(file)) continue;
    let list = byFile.get(file);
    if (!list) byFile.set(file, (list = []));
    list.push(d);
  }
  const verdicts: AdmissionVerdict[] = [];
  const rejected = new Set<string>();
  const fallbacks: RawDocument[] = [];
  for (const [file, a] of marked) {
    const ds = byFile.get(file) ?? [];
    const blocked = hasBlocking(ds);
    verdicts.push({
      key: a.key,
      resourceVersion: a.resourceVersion,
      errors: blocked ? ds.filter((d) => d.severity === 'error').map(formatDiagnostic) : undefined,
    });
    if (!blocked) continue;
    rejected.add(file);
    if (a.fallback) fallbacks.push(a.fallback);
  }
  if (rejected.size === 0) return { loaded, validation, verdicts };
  const kept = (d: { source?: { file: string } }): boolean => !rejected.has(d.source?.file ?? '');
  // Fallbacks were valid when they were admitted; one that no longer is stays out too.
  const fb = translateDocuments({ documents: fallbacks, diagnostics: [] }, { defaultNamespace });
  const fbValidation = validateResources(fb.resources);
  const fbOk = hasBlocking([...fb.diagnostics, ...fbValidation]) ? undefined : fb;
  return {
    loaded: {
      resources: [...loaded.resources.filter(kept), ...(fbOk?.resources ?? [])],
      objects: loaded.objects.filter(kept),
      diagnostics: [...loaded.diagnostics.filter(kept), ...(fbOk?.diagnostics ?? [])],
    },
    validation: [...validation.filter(kept), ...(fbOk ? fbValidation : [])],
    verdicts,
  };
}
