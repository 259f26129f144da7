/**
 * Config deltas: a list of resources (or Kubernetes objects) sent as a change against a list the
 * receiver already holds. An item whose content did not change travels as the index of the same
 * item in that base list, so the receiver keeps its old object: nothing is deserialized or allocated
 * for it, and the incremental snapshot build (`snapshot-builder.ts`) recognises it by identity.
 *
 * Used between the validate worker and the serving thread, and between the `--concurrency` primary
 * and its workers. Plain data only (survives a structured clone).
 */
import type { Provenance } from './resources.js';

/** What a delta can carry: anything with a provenance (a `Resource`, a `KubeObject`). */
export interface DeltaItem {
  readonly source: Provenance;
}

/**
 * One entry of a delta: the item itself (new or changed); the index of an equal item of the base
 * list; or that index with a new provenance (the same document moved to another line or document
 * index of the same file, e.g. a document inserted above it).
 */
export type DeltaEntry<T> = T | number | { readonly ref: number; readonly source: Provenance };

/**
 * Content identity of an item: everything but its line and document index. Two items with equal
 * keys compile to the same thing (the file stays in: relative TLS paths resolve against it).
 */
export function contentKey(item: DeltaItem): string {
  const { source, ...rest } = item as DeltaItem & Record<string, unknown>;
  return JSON.stringify([rest, source.file]);
}

/** The sender's memory of a list it sent: content key → index, and each item's provenance. */
export interface DeltaBase {
  readonly keys: ReadonlyMap<string, number>;
  readonly sources: readonly Provenance[];
}

/**
 * Encodes `items` against `base` (the list the receiver holds; undefined: everything is sent).
 * @returns the entries (same length and order as `items`) and the base describing `items`, for the
 * next delta.
 */
export function encodeDelta<T extends DeltaItem>(
  items: readonly T[],
  base: DeltaBase | undefined,
  keyOf: (item: T) => string = contentKey,
): { entries: DeltaEntry<T>[]; next: DeltaBase } {
  const keys = new Map<string, number>();
  const entries: DeltaEntry<T>[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const key = keyOf(item);
    if (!keys.has(key)) keys.set(key, i);
    const at = base?.keys.get(key);
    if (at === undefined) entries.push(item);
    else if (sameSource(base!.sources[at]!, item.source)) entries.push(at);
    else entries.push({ ref: at, source: item.source });
  }
  return { entries, next: { keys, sources: items.map((r) => r.source) } };
}

/**
 * Decodes entries against the list they were encoded against.
 * @throws Error when an entry names an index `base` does not have (sender and receiver disagree on
 * the base: a protocol bug; the caller rejects that config).
 */
export function decodeDelta<T extends DeltaItem>(entries: readonly DeltaEntry<T>[], base: readonly T[]): T[] {
  const out: T[] = new Array<T>(entries.length);
  for (let i = 0; i < entries.length; i++) out[i] = decodeEntry(entries[i]!, base);
  return out;
}

/** Decodes one entry (see {@link decodeDelta}). */
export function decodeEntry<T extends DeltaItem>(e: DeltaEntry<T>, base: readonly T[]): T {
  if (typeof e === 'number') return baseItem(base, e);
  if (isMoved(e)) return Object.freeze({ ...baseItem(base, e.ref), source: e.source });
  return e;
}

/**
 * Encodes `items` against `base` by object identity (the sender holds both lists as objects, as
 * the `--concurrency` primary does): an item present in `base` travels as its index there.
 */
export function encodeByIdentity<T extends DeltaItem>(
  items: readonly T[],
  base: readonly T[] | undefined,
): DeltaEntry<T>[] {
  if (!base) return items.slice();
  const at = new Map<T, number>();
  for (let i = 0; i < base.length; i++) if (!at.has(base[i]!)) at.set(base[i]!, i);
  return items.map((item) => at.get(item) ?? item);
}

function baseItem<T>(base: readonly T[], i: number): T {
  const item = base[i];
  if (item === undefined) throw new Error(`config delta names item ${i} of a base of ${base.length}`);
  return item;
}

function isMoved(e: object): e is { readonly ref: number; readonly source: Provenance } {
  return 'ref' in e && typeof (e as { ref: unknown }).ref === 'number' && !('kind' in e);
}

function sameSource(a: Provenance, b: Provenance): boolean {
  return a.file === b.file && a.docIndex === b.docIndex && a.line === b.line && a.column === b.column;
}
