/**
 * Line and column of a field inside the YAML it was read from, so a diagnostic can point at
 * `spec.http[0].timeout` itself rather than at the start of its document.
 *
 * The loader records, per resource provenance, the file text and where the resource sits in it; a
 * position is found only when asked (diagnostics are rare), by parsing again the text of the
 * resource's document only (its {@link DocumentSpan}; the whole file when it has none). Nothing but
 * the text is kept alive: no syntax tree per resource. Parsing the one document keeps the first
 * diagnostic of a 10,000-resource file from costing a second parse of the whole file.
 */
import { isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { Provenance } from './resources.js';
import { parseYaml, type DocumentSpan, type ParsedYaml, type TextPosition } from './yaml-parse.js';

interface Origin {
  readonly text: string;
  /** Steps from the document root to the resource: `[]`, or `['items', 3]` inside a `kind: List`. */
  readonly prefix: readonly (string | number)[];
  /** Where the resource's document is in {@link text}. */
  readonly span?: DocumentSpan;
}

const origins = new WeakMap<Provenance, Origin>();

/**
 * Records where the resource with provenance `source` was read from (its file text, List item, and
 * the span of its document when known).
 */
export function rememberOrigin(
  source: Provenance,
  text: string,
  prefix: readonly (string | number)[],
  span?: DocumentSpan,
): void {
  origins.set(source, span ? { text, prefix, span } : { text, prefix });
}

/** Records `item` as the element `steps` below the resource read with provenance `parent` (List items). */
export function rememberNestedOrigin(
  item: Provenance,
  parent: Provenance,
  steps: readonly (string | number)[],
): void {
  const origin = origins.get(parent);
  if (origin) origins.set(item, { ...origin, prefix: [...origin.prefix, ...steps] });
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

/** One parsed text at a time (a document, or a whole file): the diagnostics of one resource, then of the next. */
let cache: { text: string; start: number; end: number; parsed: ParsedYaml } | undefined;

/** `text` from `start` to `end`, parsed; the last one asked for is kept. */
function parsed(text: string, start: number, end: number): ParsedYaml {
  if (cache?.text !== text || cache.start !== start || cache.end !== end)
    cache = {
      text,
      start,
      end,
      parsed: parseYaml(start === 0 && end === text.length ? text : text.slice(start, end)),
    };
  return cache.parsed;
}

/** The syntax tree of the document the resource was read from, and positions in its file. */
function documentOf(
  origin: Origin,
  docIndex: number,
): { node: Document.Parsed; positionOf: (offset: number) => TextPosition } | undefined {
  const { text, span } = origin;
  if (span) {
    const one = parsed(text, span.start, span.end);
    const node = one.documents.length === 1 ? one.documents[0]!.node : undefined;
    if (node) {
      // The span starts at the start of a line: only lines move.
      const positionOf = (offset: number): TextPosition => {
        const p = one.positionOf(offset);
        return { line: span.line + p.line - 1, column: p.column };
      };
      return { node, positionOf };
    }
  }
  const all = parsed(text, 0, text.length);
  const node = all.documents[docIndex]?.node;
  return node ? { node, positionOf: all.positionOf } : undefined;
}

/**
 * Where `path` is in the resource read with provenance `source`: the key of the deepest field of the
 * path that exists (the field itself, or the parent of a missing one).
 * @returns undefined for resources not read from YAML text (built in memory).
 */
export function fieldPosition(source: Provenance, path: string): TextPosition | undefined {
  const origin = origins.get(source);
  const steps = pathSteps(path);
  if (!origin || !steps) return undefined;
  const found = documentOf(origin, source.docIndex);
  if (!found) return undefined;
  let node: unknown = found.node.contents;
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
  return at === undefined ? undefined : found.positionOf(at);
}

function isNodeWithRange(n: unknown): n is Node & { range: [number, number, number] } {
  return typeof n === 'object' && n !== null && Array.isArray((n as { range?: unknown }).range);
}
