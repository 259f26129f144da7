/**
 * YAML text → plain values, read the way Kubernetes reads a manifest (`kubectl apply`, through
 * sigs.k8s.io/yaml and go-yaml v2), with hard bounds so that no input can exhaust the stack or
 * the heap.
 *
 * Bounds: the `yaml` package composes nodes recursively (one set of frames per nesting level). At
 * about 2,000 levels (a 4 KB line of `[`) the stack runs out; V8 then has to compile a regular
 * expression with no stack left, and that fails as a fatal "RegExpCompiler Allocation failed"
 * abort (exit 134) instead of a catchable `RangeError`. The CST parser is iterative, so the text is
 * parsed to tokens first, measured with an explicit stack, and composed only when it is within
 * {@link YAML_LIMITS}.
 *
 * Scalars follow go-yaml v2's resolver: YAML 1.1 booleans (`yes`/`no`/`on`/`off`/`y`/`n`), octal
 * `0755`, `_` in numbers; no timestamps and no sexagesimal numbers (both stay strings); a float
 * needs a digit (so `exportTo: [.]` is the string `"."`). In flow collections a `:` ends a plain
 * scalar only before a space or line end, as in go-yaml (`[1.2.3.4, 001:db8::]` is two strings).
 */
import {
  Composer,
  isMap,
  isNode,
  isSeq,
  LineCounter,
  Parser,
  type CST,
  type Document,
  type Tags,
} from 'yaml';

/** Bounds on one file. */
interface YamlLimits {
  /** Largest file read, in bytes of UTF-8 text. */
  readonly maxBytes: number;
  /** Deepest nesting of mappings and sequences, counted from the document root (1 = `a: 1`). */
  readonly maxDepth: number;
}

/**
 * 64 MiB covers tens of thousands of resources in one file. 100 levels is ten times the deepest
 * Istio resource (a List of DestinationRules with port-level consistent-hash cookies is about 10)
 * and far below the ~2,000 levels at which composing overflows the stack.
 */
export const YAML_LIMITS: YamlLimits = { maxBytes: 64 * 1024 * 1024, maxDepth: 100 };

/** A place in the text: 1-based line and column. */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

/** Why a file or a document could not be read, with where. */
interface YamlProblem extends TextPosition {
  readonly message: string;
}

/** One `---` document of a file. */
interface YamlDocument {
  /** Zero-based index in the file. */
  readonly index: number;
  /** Line where the document's content starts. */
  readonly line: number;
  /** The decoded value (`null` for an empty document); absent when {@link problem} is set. */
  readonly value?: unknown;
  readonly problem?: YamlProblem;
  /** The composed document, for positions of nodes (`List` items, fields); see {@link ParseOptions.keepNodes}. */
  readonly node?: Document.Parsed;
  /**
   * Without {@link node}: the line of each `items[i]` when the document is a mapping with an `items`
   * sequence (a `kind: List`).
   */
  readonly itemLines?: readonly number[];
  /** Without {@link node}: where the document's text is in the file (see {@link DocumentSpan}). */
  readonly span?: DocumentSpan;
}

/**
 * The text of one document within its file: from the start of the line where the document begins
 * (its `---`, or its first token) to where the next document begins (or the end). Parsed alone it
 * yields the same nodes, so positions inside one document can be found without parsing the whole
 * file again. Absent when the file has directives (`%YAML`, `%TAG`), which the slice would lose.
 */
export interface DocumentSpan {
  /** Offset of the first character, at the start of a line. */
  readonly start: number;
  /** Offset just past the last character. */
  readonly end: number;
  /** Line (1-based) of {@link start} in the file. */
  readonly line: number;
}

/** What {@link parseYaml} returns: the documents, or one problem for the whole file. */
export interface ParsedYaml {
  readonly documents: readonly YamlDocument[];
  /** Set when the file as a whole is refused (too large, nested too deep); then no documents. */
  readonly problem?: YamlProblem;
  /** Converts an offset in the text to a line and column. */
  readonly positionOf: (offset: number) => TextPosition;
}

/** go-yaml v2 floats: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)`, `_` allowed between digits. */
const GO_FLOAT = /^[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*\.[0-9_]*)$/;

/** YAML 1.1 tags as go-yaml v2 resolves plain scalars. */
function kubernetesTags(tags: Tags): Tags {
  return tags
    .filter((t) => typeof t === 'string' || (t.tag !== 'tag:yaml.org,2002:timestamp' && t.format !== 'TIME'))
    .map((t) =>
      typeof t !== 'string' &&
      t.tag === 'tag:yaml.org,2002:float' &&
      !t.format &&
      t.test?.source.includes('\\.[0-9_]*$')
        ? { ...t, test: GO_FLOAT }
        : t,
    );
}

const FLOW_END = new Set([',', ']', '}']);

/** Options of {@link parseYaml}. */
interface ParseOptions {
  /**
   * Keep each document's syntax tree ({@link YamlDocument.node}) for positions of its nodes
   * (default true). Without it a tree is dropped as soon as its value is decoded, and only
   * {@link YamlDocument.itemLines} of `kind: List` documents is kept: a 10,000-resource file's trees
   * are hundreds of MB that the garbage collector would otherwise carry through the whole load.
   */
  readonly keepNodes?: boolean;
}

/**
 * Parses every document of `text`. Never throws: syntax errors, alias bombs and exceeded bounds
 * become problems with a line and column. Documents are composed one at a time as the parser
 * yields them; a bound exceeded anywhere in the file still refuses the whole file.
 */
export function parseYaml(
  text: string,
  limits: YamlLimits = YAML_LIMITS,
  options: ParseOptions = {},
): ParsedYaml {
  const lines = new LineCounter();
  const positionOf = (offset: number): TextPosition => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) {
    return {
      documents: [],
      positionOf,
      problem: { line: 1, column: 1, message: `file is ${bytes} bytes; the limit is ${limits.maxBytes}` },
    };
  }
  return withPlainEnv(() => parseDocuments(text, limits, options.keepNodes ?? true, lines, positionOf));
}

/**
 * Runs `fn` (synchronous) with `process.env` replaced by a plain copy of it. The `yaml` parser
 * reads `process.env.LOG_TOKENS` once per lexical token (and the composer `LOG_STREAM` once per
 * document), and every read of the real `process.env` goes through Node's environment interceptor
 * into C++: ~0.3-0.5 µs a read measured on Node 20, against ~0.01 µs for a plain object. A
 * 10,000-host config is 3.3 million tokens, so the reads alone cost ~1 s of a 4 s parse. No other
 * code runs while `fn` does, and the real object is back before it returns or throws.
 */
function withPlainEnv<T>(fn: () => T): T {
  const env = process.env;
  process.env = { ...env };
  try {
    return fn();
  } finally {
    process.env = env;
  }
}

/** {@link parseYaml} of a text within the size bound. */
function parseDocuments(
  text: string,
  limits: YamlLimits,
  keepNodes: boolean,
  lines: LineCounter,
  positionOf: (offset: number) => TextPosition,
): ParsedYaml {
  const documents: YamlDocument[] = [];
  const composer = new Composer({ version: '1.1', customTags: kubernetesTags });
  const add = (doc: Document.Parsed): void => {
    documents.push(decode(doc, documents.length, positionOf, keepNodes));
  };
  /** Offsets of the `document` tokens, one per composed document; undefined once a directive is seen. */
  let starts: number[] | undefined = keepNodes ? undefined : [];
  const tokens = new Parser(lines.addNewLine).parse(text);
  for (;;) {
    let next: IteratorResult<CST.Token>;
    try {
      next = tokens.next();
    } catch (err) {
      return { documents: [], positionOf, problem: { line: 1, column: 1, message: errorText(err) } };
    }
    if (next.done) break;
    const token = next.value;
    if (token.type === 'document') starts?.push(token.offset);
    else if (token.type === 'directive') starts = undefined;
    const deep = prepareDocument(token, limits.maxDepth, text);
    if (deep !== undefined) {
      return {
        documents: [],
        positionOf,
        problem: {
          ...positionOf(deep),
          message: `nesting deeper than ${limits.maxDepth} levels (mappings and sequences inside each other)`,
        },
      };
    }
    try {
      for (const doc of composer.next(token)) add(doc);
    } catch (err) {
      // The composer reports problems per document; this guards only against the unexpected.
      return { documents: [], positionOf, problem: { line: 1, column: 1, message: errorText(err) } };
    }
  }
  try {
    for (const doc of composer.end()) add(doc);
  } catch (err) {
    return { documents: [], positionOf, problem: { line: 1, column: 1, message: errorText(err) } };
  }
  if (starts?.length !== documents.length) return { documents, positionOf };
  return { documents: withSpans(documents, starts, text, positionOf), positionOf };
}

/** The documents with their {@link DocumentSpan}s, from the offsets where their tokens start. */
function withSpans(
  documents: readonly YamlDocument[],
  starts: readonly number[],
  text: string,
  positionOf: (offset: number) => TextPosition,
): YamlDocument[] {
  return documents.map((doc, i) => {
    const at = starts[i]!;
    const start = at === 0 ? 0 : text.lastIndexOf('\n', at - 1) + 1;
    const end = starts[i + 1] ?? text.length;
    return { ...doc, span: { start, end, line: positionOf(start).line } };
  });
}

function decode(
  doc: Document.Parsed,
  index: number,
  positionOf: (offset: number) => TextPosition,
  keepNode: boolean,
): YamlDocument {
  const line = positionOf(doc.contents?.range[0] ?? doc.range[0]).line;
  const error = doc.errors[0];
  if (error) {
    // The composer alone leaves `linePos` unset; the offset is always there.
    const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return { index, line, problem: { ...positionOf(error.pos[0]), message } };
  }
  try {
    // Only a resolved alias can make a value contain itself, and an alias resolves to an anchored
    // node, which toJS reports to onAnchor: a document without anchors needs no cycle walk.
    let anchored = false;
    const value = doc.toJS({ maxAliasCount: 100, onAnchor: () => (anchored = true) }) as unknown;
    if (anchored && isCyclic(value))
      return {
        index,
        line,
        problem: { line, column: 1, message: 'a YAML alias refers to its own ancestor' },
      };
    return keepNode
      ? { index, line, value, node: doc }
      : { index, line, value, itemLines: listItemLines(doc, line, positionOf) };
  } catch (err) {
    return { index, line, problem: { line, column: 1, message: errorText(err) } };
  }
}

function listItemLines(
  doc: Document.Parsed,
  line: number,
  positionOf: (offset: number) => TextPosition,
): readonly number[] | undefined {
  const items = isMap(doc.contents) ? doc.contents.get('items', true) : undefined;
  return isSeq(items)
    ? items.items.map((n) => (isNode(n) && n.range ? positionOf(n.range[0]).line : line))
    : undefined;
}

type Collection = CST.BlockMap | CST.BlockSequence | CST.FlowCollection;

function isCollection(t: CST.Token | null | undefined): t is Collection {
  return t?.type === 'block-map' || t?.type === 'block-seq' || t?.type === 'flow-collection';
}

/** Children of a token that can hold collections: a document's value, a collection's keys and values. */
function children(t: CST.Token): CST.Token[] {
  if (t.type === 'document') return t.value ? [t.value] : [];
  if (!isCollection(t)) return [];
  const out: CST.Token[] = [];
  for (const item of t.items) {
    if ('key' in item && item.key) out.push(item.key);
    if (item.value) out.push(item.value);
  }
  return out;
}

/**
 * One walk over a document's tokens, without recursion: finds the first collection nested deeper
 * than `max` and returns its offset (the walk stops there), and reads the colons of each flow
 * collection as go-yaml does ({@link relaxFlowColons}). Depths are those of the tokens as parsed: a
 * flow collection's children are taken before its items are rewritten (a rewrite only merges
 * scalars, so no collection is skipped).
 */
function prepareDocument(root: CST.Token, max: number, text: string): number | undefined {
  const stack: [CST.Token, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [token, depth] = stack.pop()!;
    const d = isCollection(token) ? depth + 1 : depth;
    if (d > max) return token.offset;
    for (const c of children(token)) stack.push([c, d]);
    if (token.type === 'flow-collection') relaxFlowColons(token, text);
  }
  return undefined;
}

/**
 * go-yaml v2 ends a plain scalar at `:` only when a space or line break follows, also inside `[...]`
 * and `{...}`; YAML 1.2 (and the `yaml` package) also end it before `,`, `]` and `}`. Rewrites the
 * `key:` pairs of one flow collection that exist only because of that difference back into one
 * plain scalar.
 */
function relaxFlowColons(token: CST.FlowCollection, text: string): void {
  token.items = token.items.map((item) => {
    const merged = mergedScalar(item, text);
    return merged ? { start: item.start, value: merged } : item;
  });
  for (const item of token.items) {
    // `{a: b:}`: the value `b:` is read as a one-pair block map.
    const v = item.value;
    if (v?.type === 'block-map' && v.items.length === 1) {
      const merged = mergedScalar(v.items[0]!, text);
      if (merged) item.value = merged;
    }
  }
}

/** The plain scalar `key:` an item stands for in go-yaml, or undefined when it is a real pair. */
function mergedScalar(item: CST.CollectionItem, text: string): CST.FlowScalar | undefined {
  const key = 'key' in item ? item.key : undefined;
  const sep = 'sep' in item ? item.sep : undefined;
  if (key?.type !== 'scalar' || !sep || sep.length !== 1 || sep[0]!.type !== 'map-value-ind')
    return undefined;
  const colon = sep[0]!.offset;
  if (colon !== key.offset + key.source.length) return undefined;
  const value = item.value;
  if (value && !(value.type === 'scalar' && value.source === '')) return undefined;
  if (!FLOW_END.has(text[colon + 1] ?? '')) return undefined;
  return { type: 'scalar', offset: key.offset, indent: key.indent, source: `${key.source}:`, end: [] };
}

/** True when a decoded value contains itself (possible with YAML anchors and aliases). */
function isCyclic(value: unknown): boolean {
  // Depth is bounded by YAML_LIMITS.maxDepth, so recursion is safe here.
  const walk = (v: unknown, ancestors: Set<object>): boolean => {
    if (typeof v !== 'object' || v === null) return false;
    if (ancestors.has(v)) return true;
    ancestors.add(v);
    const cyclic = (Array.isArray(v) ? v : Object.values(v)).some((c) => walk(c, ancestors));
    ancestors.delete(v);
    return cyclic;
  };
  return walk(value, new Set());
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}
