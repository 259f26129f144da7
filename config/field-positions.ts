/**
 * Line and column of a field inside the YAML it was read from, so a diagnostic can point at
 * `spec.http[0].timeout` itself rather than at the start of its document.
 *
 * The loader records, per resource provenance, the file text and where the resource sits in it; a
 * position is found only when asked (diagnostics are rare), by parsing that text again. Nothing but
 * the text is kept alive: no syntax tree per resource.
 */
import { isMap, isScalar, isSeq, type Node } from 'yaml';
import type { Provenance } from './resources.js';
import { parseYaml, type ParsedYaml, type TextPosition } from './yaml-parse.js';

interface Origin {
  readonly text: string;
  /** Steps from the document root to the resource: `[]`, or `['items', 3]` inside a `kind: List`. */
  readonly prefix: readonly (string | number)[];
}

const origins = new WeakMap<Provenance, Origin>();

/** Records where the resource with provenance `source` was read from (its file text, List item). */
export function rememberOrigin(source: Provenance, text: string, prefix: readonly (string | number)[]): void {
  origins.set(source, { text, prefix });
}

/** Records `item` as the element `steps` below the resource read with provenance `parent` (List items). */
export function rememberNestedOrigin(
  item: Provenance,
  parent: Provenance,
  steps: readonly (string | number)[],
): void {
  const origin = origins.get(parent);
  if (origin) origins.set(item, { text: origin.text, prefix: [...origin.prefix, ...steps] });
}

const STEP = /^(?:\.?([A-Za-z_$][\w$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/;

/**
 * Splits a field path (`spec.http[0].headers["x-user"]`) into steps (`['spec', 'http', 0,
 * 'headers', 'x-user']`). @returns undefined when the text is not a field path.
 */
function pathSteps(path: string): (string | number)[] | undefined {
  const steps: (string | number)[] = [];
  let rest = path;
  while (rest !== '') {
    const m = STEP.exec(rest);
    if (!m) return undefined;
    steps.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]!) as string)));
    rest = rest.slice(m[0].length);
  }
  return steps;
}

/** One parsed file at a time: the diagnostics of one resource, then of the next in the same file. */
let cache: { text: string; parsed: ParsedYaml } | undefined;

/**
 * Where `path` is in the resource read with provenance `source`: the key of the deepest field of the
 * path that exists (the field itself, or the parent of a missing one).
 * @returns undefined for resources not read from YAML text (built in memory).
 */
export function fieldPosition(source: Provenance, path: string): TextPosition | undefined {
  const origin = origins.get(source);
  const steps = pathSteps(path);
  if (!origin || !steps) return undefined;
  if (cache?.text !== origin.text) cache = { text: origin.text, parsed: parseYaml(origin.text) };
  const { parsed } = cache;
  const doc = parsed.documents[source.docIndex]?.node;
  if (!doc) return undefined;
  let node: unknown = doc.contents;
  let at: number | undefined = isNodeWithRange(node) ? node.range[0] : undefined;
  for (const step of [...origin.prefix, ...steps]) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
      if (!pair) break;
      if (isNodeWithRange(pair.key)) at = pair.key.range[0];
      node = pair.value;
    } else if (isSeq(node) && typeof step === 'number') {
      node = node.items[step];
      if (!isNodeWithRange(node)) break;
      at = node.range[0];
    } else break;
  }
  return at === undefined ? undefined : parsed.positionOf(at);
}

function isNodeWithRange(n: unknown): n is Node & { range: [number, number, number] } {
  return typeof n === 'object' && n !== null && Array.isArray((n as { range?: unknown }).range);
}
