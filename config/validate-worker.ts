/**
 * The validate worker (a `node:worker_threads` thread): reads `-f` files, parses their YAML,
 * translates, validates and analyzes, and sends back resources and diagnostics as plain data. It
 * runs everything of a reload that builds no live object, so the serving thread only compiles and
 * swaps. Started and restarted by `validate-worker-client.ts`.
 */
import { parentPort } from 'node:worker_threads';
import { readConfigFiles, ParsedFileCache } from './load.js';
import { validateDocuments } from './pipeline.js';
import type { RawDocument, SourceSnapshot } from './sources/source.js';
import type { Diagnostic } from './diagnostics.js';
import { encodeDelta, type DeltaBase } from './resource-delta.js';
import {
  PART_SIZE,
  type ReadSlot,
  type ValidateMessage,
  type ValidateReply,
  type ValidateRequest,
} from './validate-worker-protocol.js';

/** Parsed files of earlier reads: an unchanged file is not parsed again. */
const cache = new ParsedFileCache();

async function readSlots(slots: readonly ReadSlot[]): Promise<SourceSnapshot> {
  const documents: RawDocument[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const slot of slots) {
    if (slot.kind === 'files') {
      const read = await readConfigFiles(slot.paths, cache);
      for (const d of read.documents) documents.push(d);
      for (const d of read.diagnostics) diagnostics.push(d);
    } else {
      for (const d of slot.documents) {
        const lines = d.itemLines;
        documents.push({
          object: d.object,
          source: d.source,
          ...(lines ? { itemLines: () => lines } : {}),
          ...(d.admission ? { admission: d.admission } : {}),
        });
      }
      for (const d of slot.diagnostics) diagnostics.push(d);
    }
  }
  return { documents, diagnostics };
}

/**
 * The last result sent, by request id: the next result goes as a delta against it when the serving
 * thread names it as its base (it holds those objects), so unchanged resources are not sent again.
 */
let last: { readonly id: number; readonly resources: DeltaBase; readonly objects: DeltaBase } | undefined;

/** Parts of a result not yet asked for, by request id (one at a time in practice). */
const queued = new Map<number, ValidateReply[]>();

async function handle(req: ValidateRequest): Promise<void> {
  const replies: ValidateReply[] = [];
  try {
    const input = await readSlots(req.slots);
    const v = validateDocuments(input, {
      defaultNamespace: req.defaultNamespace,
      strict: req.strict,
      proxyNamespace: req.proxyNamespace,
    });
    const base = req.base !== 0 && last?.id === req.base ? last : undefined;
    const resources = encodeDelta(v.resources, base?.resources);
    const objects = encodeDelta(v.objects, base?.objects);
    last = { id: req.id, resources: resources.next, objects: objects.next };
    for (let i = 0; i < Math.max(v.resources.length, v.objects.length); i += PART_SIZE) {
      replies.push({
        id: req.id,
        type: 'part',
        resources: resources.entries.slice(i, i + PART_SIZE),
        objects: objects.entries.slice(i, i + PART_SIZE),
        base: base ? req.base : 0,
      });
    }
    replies.push({
      id: req.id,
      type: 'done',
      diagnostics: v.diagnostics,
      blocked: v.blocked,
      admissions: v.admissions,
    });
  } catch (err) {
    // A bug: the reload is rejected, the worker lives on.
    if (last?.id === req.id) last = undefined;
    replies.push({ id: req.id, type: 'failed', message: err instanceof Error ? err.message : String(err) });
  }
  queued.set(req.id, replies);
  sendNext(req.id);
}

function sendNext(id: number): void {
  const replies = queued.get(id);
  const next = replies?.shift();
  if (!next) return;
  if (replies!.length === 0) queued.delete(id);
  try {
    parentPort!.postMessage(next);
  } catch (err) {
    // A value that cannot be cloned: the reload is rejected, and no later delta may refer to it.
    queued.delete(id);
    if (last?.id === id) last = undefined;
    const failed: ValidateReply = {
      id,
      type: 'failed',
      message: err instanceof Error ? err.message : String(err),
    };
    parentPort!.postMessage(failed);
  }
}

parentPort?.on('message', (m: ValidateMessage) => {
  if (m.type === 'more') sendNext(m.id);
  else void handle(m);
});
