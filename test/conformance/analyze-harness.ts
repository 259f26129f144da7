/**
 * Shared steps of the analysis conformance tests: resources written as compact objects become one
 * YAML text, which goes through the loader, validation and analysis as `meshgate validate` runs
 * them; findings are compared with Istio's expected messages as `[code, "Kind ns/name"]` pairs.
 */
import { loadText } from '../../config/load.js';
import { validateResources } from '../../config/validate.js';
import { analyzeResources, type KnownService } from '../../config/analyze.js';
import type { Diagnostic } from '../../config/diagnostics.js';

/**
 * One resource document: `kind`, `namespace/name` (namespace optional, default `default`), spec.
 * JSON is YAML, so the spec is written as JSON text.
 */
export function doc(kind: string, nsName: string, spec: unknown, meta: Record<string, unknown> = {}): string {
  const slash = nsName.indexOf('/');
  const metadata = {
    name: slash < 0 ? nsName : nsName.slice(slash + 1),
    ...(slash < 0 ? {} : { namespace: nsName.slice(0, slash) }),
    ...meta,
  };
  return `apiVersion: networking.istio.io/v1\nkind: ${kind}\nmetadata: ${JSON.stringify(metadata)}\nspec: ${JSON.stringify(spec)}\n`;
}

/** Documents joined into one multi-document YAML text. */
export function yaml(...docs: string[]): string {
  return docs.join('---\n');
}

/** A finding as Istio's analyzer tests write it: code and `Kind ns/name`. */
export type Message = readonly [code: string, resource: string];

/**
 * Loads, validates and analyzes YAML text (namespace `default`), as the pipeline does: resources
 * that fail validation are no reference target.
 */
export function analyzeYaml(text: string, knownServices: readonly KnownService[] = []): Diagnostic[] {
  const loaded = loadText(text, 'conformance.yaml', { defaultNamespace: 'default' });
  const validation = validateResources(loaded.resources);
  const invalid = new Set(
    validation.flatMap((d) =>
      d.severity === 'error' && d.layer === 'schema' && d.resource ? [d.resource] : [],
    ),
  );
  return analyzeResources(loaded.resources, { knownServices, invalid });
}

/** `VirtualService/default/x` → `VirtualService default/x`, the form Istio's expectations use. */
export function asMessage(d: Diagnostic): Message {
  const [kind, ns, name] = (d.resource ?? '//').split('/');
  return [d.code, `${kind} ${ns}/${name}`];
}

/** Istio's short form `Kind name` means the default namespace. */
export function normalise(m: Message): Message {
  const [code, r] = m;
  const [kind, name] = r.split(' ');
  return [code, `${kind} ${name!.includes('/') ? name : `default/${name}`}`];
}

/** Multiset comparison: how many expected messages were found, and the extra ones. */
export function compare(
  found: readonly Message[],
  expected: readonly Message[],
): { matched: number; missing: Message[]; extra: Message[] } {
  const left = found.map((m) => m.join('|'));
  const missing: Message[] = [];
  let matched = 0;
  for (const e of expected) {
    const i = left.indexOf(e.join('|'));
    if (i >= 0) {
      left.splice(i, 1);
      matched++;
    } else missing.push(e);
  }
  return { matched, missing, extra: left.map((s) => s.split('|') as unknown as Message) };
}
