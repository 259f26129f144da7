/**
 * The serving thread's handle on the validate worker (`validate-worker.ts`): sends a read plan,
 * collects resources and diagnostics, and turns a worker that dies (a crash, an exhausted heap) into
 * a rejected read with a diagnostic. The next request starts a fresh worker.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { Codes, type Diagnostic } from './diagnostics.js';
import type { KubeObject } from './kube-resources.js';
import type { Resource } from './resources.js';
import { decodeEntry } from './resource-delta.js';
import type { AdmissionVerdict } from './sources/source.js';
import type {
  ReadSlot,
  ValidateMessage,
  ValidateReply,
  ValidateRequest,
} from './validate-worker-protocol.js';

/** What the worker found: the same fields `validateDocuments` returns. */
interface WorkerValidation {
  readonly diagnostics: readonly Diagnostic[];
  readonly blocked: boolean;
  readonly resources: readonly Resource[];
  readonly objects: readonly KubeObject[];
  /** Set when the worker failed (died, or could not be sent the config): nothing was validated. */
  readonly workerFailed?: true;
  readonly admissions?: readonly AdmissionVerdict[];
}

/**
 * The worker script. Under a TypeScript runner (tests) this module is `.ts` and cannot be started as
 * a worker, so the compiled `dist/` copy is used (built by `npm run build`, which `npm test` runs first).
 */
function defaultWorkerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../dist/config/validate-worker.js', import.meta.url)
    : new URL('./validate-worker.js', import.meta.url);
}

/**
 * Heap bound of the worker, MB: a config that would exhaust it kills the worker
 * (`ERR_WORKER_OUT_OF_MEMORY`), never the gateway. A 10,000-host config (30,000 resources) peaks
 * at a few hundred MB.
 */
const WORKER_HEAP_MB = 2048;

interface Pending {
  readonly id: number;
  readonly worker: Worker;
  readonly resources: Resource[];
  readonly objects: KubeObject[];
  readonly resolve: (v: WorkerValidation) => void;
}

/** One worker thread, started on first use, one request at a time (reloads are serialized). */
export class ValidateWorker {
  private worker: Worker | undefined;
  private pending: Pending | undefined;
  private nextId = 1;
  /**
   * The last complete result received, by request id: the worker sends the next one as a delta
   * against it, so its unchanged resources stay the same objects here (the incremental snapshot
   * build recognises them) and cost no deserialization.
   */
  private held:
    { readonly id: number; readonly resources: Resource[]; readonly objects: KubeObject[] } | undefined;

  /**
   * @param url worker script (default {@link defaultWorkerUrl}; tests inject one that crashes)
   * @param limits V8 limits of the worker thread
   */
  constructor(
    private readonly url: URL = defaultWorkerUrl(),
    private readonly limits: ResourceLimits = { maxOldGenerationSizeMb: WORKER_HEAP_MB },
  ) {}

  /**
   * Reads and validates `slots` in the worker. Never rejects: a worker that fails or dies yields a
   * blocking diagnostic (and the next call starts a new worker).
   */
  validate(
    slots: readonly ReadSlot[],
    opts: { defaultNamespace: string; strict?: boolean; proxyNamespace?: string },
  ): Promise<WorkerValidation> {
    // One request at a time: a call made while one runs waits for it (reloads are serialized anyway).
    if (this.queue) return this.queue.then(() => this.validate(slots, opts));
    const done = this.run(slots, opts);
    this.queue = done.then(() => {
      this.queue = undefined;
    });
    return done;
  }

  private queue: Promise<void> | undefined;

  private run(
    slots: readonly ReadSlot[],
    opts: { defaultNamespace: string; strict?: boolean; proxyNamespace?: string },
  ): Promise<WorkerValidation> {
    const worker = this.start();
    const id = this.nextId++;
    const req: ValidateRequest = {
      id,
      type: 'validate',
      slots,
      defaultNamespace: opts.defaultNamespace,
      strict: opts.strict === true,
      base: this.held?.id ?? 0,
      proxyNamespace: opts.proxyNamespace,
    };
    return new Promise((resolve) => {
      this.pending = { id, worker, resources: [], objects: [], resolve };
      try {
        worker.postMessage(req);
      } catch (err) {
        // A document that cannot be cloned (an embedder's StaticSource holding a function).
        this.finish(failed(`config could not be sent to the validate worker: ${(err as Error).message}`));
      }
    });
  }

  /** Stops the worker (idempotent); a pending request is answered with a failure. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.held = undefined;
    if (w) await w.terminate();
    this.finish(failed('validate worker closed'));
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.url, { resourceLimits: this.limits });
    // The worker must not keep a gateway that is shutting down alive.
    w.unref();
    w.on('message', (m: ValidateReply) => this.onMessage(m));
    w.on('error', (err) => this.onExit(w, `validate worker failed: ${err.message}`));
    w.on('exit', (code) => this.onExit(w, `validate worker exited with code ${code}`));
    this.worker = w;
    return w;
  }

  private onMessage(m: ValidateReply): void {
    const p = this.pending;
    if (!p || m.id !== p.id) return;
    if (m.type === 'part') {
      try {
        const base = m.base === 0 ? undefined : this.held?.id === m.base ? this.held : undefined;
        if (m.base !== 0 && !base)
          throw new Error(`the validate worker sent a delta against unknown result ${m.base}`);
        for (const r of m.resources) p.resources.push(decodeEntry(r, base?.resources ?? []));
        for (const o of m.objects) p.objects.push(decodeEntry(o, base?.objects ?? []));
      } catch (err) {
        this.held = undefined;
        this.finish(failed((err as Error).message));
        return;
      }
      // Ask for the next part only after requests waiting behind this one had their turn.
      setImmediate(() => {
        if (this.pending === p) p.worker.postMessage({ id: p.id, type: 'more' } satisfies ValidateMessage);
      });
    } else if (m.type === 'done') {
      this.held = { id: p.id, resources: p.resources, objects: p.objects };
      this.finish({
        diagnostics: m.diagnostics,
        blocked: m.blocked,
        resources: p.resources,
        objects: p.objects,
        ...(m.admissions ? { admissions: m.admissions } : {}),
      });
    } else {
      this.finish(failed(`config could not be validated: ${m.message}`));
    }
  }

  private onExit(w: Worker, reason: string): void {
    if (this.worker === w) {
      this.worker = undefined;
      // A new worker knows no earlier result.
      this.held = undefined;
    }
    if (this.pending?.worker === w) this.finish(failed(reason));
  }

  private finish(v: WorkerValidation): void {
    const p = this.pending;
    this.pending = undefined;
    p?.resolve(v);
  }
}

function failed(message: string): WorkerValidation {
  const d: Diagnostic = { severity: 'error', code: Codes.SchemaValidationError, layer: 'schema', message };
  return { diagnostics: [d], blocked: true, resources: [], objects: [], workerFailed: true };
}
