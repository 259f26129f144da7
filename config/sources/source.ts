/**
 * The configuration source seam: where raw Kubernetes-shaped objects come from (files given with
 * `-f`, the Kubernetes API server, …), kept apart from what is done with them. A source delivers a
 * complete set of decoded documents with their provenance each time it is read, and says when that
 * set may have changed; the pipeline translates, validates and compiles them without knowing which
 * source they came from (Traefik's providers, Istio's config controllers).
 */
import type { Diagnostic } from '../diagnostics.js';
import type { Provenance } from '../resources.js';

/**
 * One decoded object as a source delivers it: the same JSON shape whether it was a YAML document
 * in a file or an object listed from the API server (`apiVersion`, `kind`, `metadata`, `spec`…).
 * Not yet checked: translation reports values that are not Kubernetes objects.
 */
export interface RawDocument {
  /** The decoded value (a YAML document, a JSON object from the API server). */
  readonly object: unknown;
  /** Where it came from; copied into every diagnostic and resource made from it. */
  readonly source: Provenance;
  /**
   * One-based start line of each `items[i]` when `object` is a `kind: List` (files only; items
   * without a line take the document's).
   */
  readonly itemLines?: () => readonly number[];
  /**
   * Set by a source whose objects are admitted one by one (the Kubernetes source): this document,
   * when invalid, is rejected alone (see `config/admission.ts`).
   */
  readonly admission?: Admission;
}

/** Marks a document admitted on its own (`config/admission.ts`); plain data (it crosses to the validate worker). */
export interface Admission {
  /** `Kind/namespace/name` of the object. */
  readonly key: string;
  /** Its resourceVersion. */
  readonly resourceVersion: string;
  /** The last version of the same object found valid, served when this one is not. */
  readonly fallback?: { readonly object: unknown; readonly source: Provenance };
}

/** The outcome for one admitted document. */
export interface AdmissionVerdict {
  readonly key: string;
  readonly resourceVersion: string;
  /** The blocking diagnostics, formatted; undefined when the document was admitted. */
  readonly errors: readonly string[] | undefined;
}

/** Everything one source holds at one moment. */
export interface SourceSnapshot {
  /** In the source's order ("creation order" for files: file order, then document order). */
  readonly documents: readonly RawDocument[];
  /** Problems met while reading: unreadable files, YAML that does not parse, a failed API list. */
  readonly diagnostics: readonly Diagnostic[];
}

/** Events of a {@link ConfigSource}. */
export interface ConfigSourceEvents {
  /** The source's documents may have changed: read it again (bursts are debounced by the reader). */
  change: [];
  /** A problem that is not about one document (a watch that failed and is being retried). */
  error: [Error];
}

/**
 * A place configuration comes from. Implementations: `files` (`-f` paths, see `files.ts`) and
 * `kubernetes` (list + watch of the API server).
 *
 * Contract:
 * - {@link read} returns the complete current set of documents; it never rejects (problems become
 *   diagnostics) and may be called at any time, also concurrently with events.
 * - After {@link start}, the source emits `change` whenever a later `read()` could differ. It may
 *   emit spuriously; it must not miss a change.
 * - {@link close} stops watching and releases every handle (watchers, sockets, timers).
 */
export interface ConfigSource {
  /** Short name for logs: `files`, `kubernetes`. */
  readonly name: string;
  /** The current complete set of documents. Never rejects. */
  read(): Promise<SourceSnapshot>;
  /** Starts watching for changes (idempotent). Resolves once watching is set up. */
  start(): Promise<void>;
  /** Stops watching. Idempotent. */
  close(): Promise<void>;
  /**
   * The verdicts on the documents this source marked with an `admission`, after each validation
   * (optional: only sources that mark documents need it). Must not throw.
   */
  admitted?(verdicts: readonly AdmissionVerdict[]): void;
  on<E extends keyof ConfigSourceEvents>(event: E, listener: (...args: ConfigSourceEvents[E]) => void): this;
  off<E extends keyof ConfigSourceEvents>(event: E, listener: (...args: ConfigSourceEvents[E]) => void): this;
}

/**
 * Reads every source and concatenates their documents and diagnostics, in the order given (files
 * first, then the API server: a later definition of the same object replaces an earlier one, as
 * `kubectl apply` would).
 */
export async function readSources(sources: readonly ConfigSource[]): Promise<SourceSnapshot> {
  const snapshots = await Promise.all(sources.map((s) => s.read()));
  return {
    documents: snapshots.flatMap((s) => s.documents),
    diagnostics: snapshots.flatMap((s) => s.diagnostics),
  };
}

/**
 * Provenance of an object read from the Kubernetes API server: `file` is
 * `kubernetes:<Kind>/<namespace>/<name>@<resourceVersion>` (no namespace segment for cluster-scoped
 * kinds), document index and line 0.
 */
export function apiProvenance(
  kind: string,
  namespace: string | undefined,
  name: string,
  resourceVersion: string | undefined,
): Provenance {
  const key = namespace ? `${kind}/${namespace}/${name}` : `${kind}/${name}`;
  return { file: `kubernetes:${key}@${resourceVersion ?? ''}`, docIndex: 0, line: 0 };
}
