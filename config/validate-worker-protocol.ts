/**
 * Messages between the serving thread and the validate worker (`validate-worker.ts`). Everything
 * here is plain data that survives a structured clone: no functions, no class instances.
 */
import type { Diagnostic } from './diagnostics.js';
import type { KubeObject } from './kube-resources.js';
import type { Provenance, Resource } from './resources.js';
import type { DeltaEntry } from './resource-delta.js';
import type { Admission, AdmissionVerdict } from './sources/source.js';

/**
 * One source's part of a read, in source order: `-f` paths the worker reads and parses itself, or
 * documents a source already holds in memory (the API server's objects).
 */
export type ReadSlot =
  | { readonly kind: 'files'; readonly paths: readonly string[] }
  | {
      readonly kind: 'documents';
      readonly documents: readonly ClonedDocument[];
      readonly diagnostics: readonly Diagnostic[];
    };

/** A `RawDocument` with its `itemLines` evaluated (a function does not survive a clone). */
interface ClonedDocument {
  readonly object: unknown;
  readonly source: Provenance;
  readonly itemLines?: readonly number[];
  readonly admission?: Admission;
}

/**
 * Serving thread → worker: read, translate, validate and analyze these slots; or (`more`) send the
 * next part of request `id`'s result.
 */
export type ValidateMessage = ValidateRequest | { readonly id: number; readonly type: 'more' };

/** Read, translate, validate and analyze these slots. */
export interface ValidateRequest {
  readonly id: number;
  readonly type: 'validate';
  readonly slots: readonly ReadSlot[];
  readonly defaultNamespace: string;
  readonly strict: boolean;
  /**
   * Id of the request whose result the serving thread still holds (0: none). When it is the worker's
   * last result too, the new result is sent as a delta against it (`resource-delta.ts`).
   */
  readonly base: number;
  /** The gateway workload's namespace, where `credentialName` Secrets resolve (undefined: `default`). */
  readonly proxyNamespace: string | undefined;
}

/**
 * Worker → serving thread. A result travels in several `part` messages, then `done`. The worker
 * sends a part only when asked (`more`): messages already queued on a port are all deserialized in
 * one turn of the receiving event loop, so sending every part at once would stall it just the same.
 */
export type ValidateReply =
  | {
      readonly id: number;
      readonly type: 'part';
      /** Entries against the result of request {@link ValidateRequest.base} (or whole items when it is 0). */
      readonly resources: readonly DeltaEntry<Resource>[];
      readonly objects: readonly DeltaEntry<KubeObject>[];
      /** The request id the entries refer to (0: every entry is a whole item). */
      readonly base: number;
    }
  | {
      readonly id: number;
      readonly type: 'done';
      readonly diagnostics: readonly Diagnostic[];
      readonly blocked: boolean;
      readonly admissions: readonly AdmissionVerdict[] | undefined;
    }
  | { readonly id: number; readonly type: 'failed'; readonly message: string };

/** Resources (or objects) per `part` message: about 1–3 ms of deserialization each (unchanged ones, sent as an index, cost nothing). */
export const PART_SIZE = 500;
