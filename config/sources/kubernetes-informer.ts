/**
 * One list+watch of one kind (in one namespace or all), built on `@kubernetes/client-node`'s
 * `ListWatch` informer, with what that informer leaves to its user:
 *
 * - **Restart after errors.** `ListWatch` reports a failed list or watch (API server unreachable,
 *   a stream cut half-way through an event, 403) on its `error` callback and then stops for good.
 *   Here it is restarted with exponential back-off and jitter (client-go's reflector does the same);
 *   the cache is kept meanwhile, and since `ListWatch` keeps its last resourceVersion, the restart
 *   resumes the watch from it instead of relisting.
 * - **410 Gone.** `ListWatch` clears its resourceVersion on a 410 (an `ERROR` event with a Status
 *   410, or an HTTP 410), so the next start relists; the relist replaces the cache and reports the
 *   objects that disappeared. That path is only logged here.
 * - **Bounded watches and bookmarks.** `ListWatch` asks for neither, so a watch could hang forever
 *   on a half-open connection and a resume after a quiet spell is more likely to be too old. The
 *   watch requests here add `timeoutSeconds` (5-10 min, randomised as client-go does) and
 *   `allowWatchBookmarks=true`.
 * - **Sync.** {@link KindInformer.synced} resolves after the first complete list is in the cache,
 *   or when the kind is forbidden (403) or not served (404): waiting will not make it sync, and the
 *   rest must not wait for it.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { collectionPath, type ListFn, type WatchedKind } from './kubernetes-kinds.js';
import { Backoff, type BackoffDeps, type BackoffOptions } from './backoff.js';

/** What an informer needs besides its kind. */
interface KindInformerOptions {
  readonly kubeConfig: KubeConfig;
  readonly kind: WatchedKind;
  readonly version: string;
  /** Watch one namespace; undefined watches all. */
  readonly namespace: string | undefined;
  readonly list: ListFn;
  readonly log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /** Any object added, updated or deleted (also on relist). */
  readonly onChange: (obj: KubernetesObject, event: 'add' | 'update' | 'delete') => void;
  readonly backoff?: BackoffOptions;
  /** Timers of the back-off (tests inject a fake clock). */
  readonly backoffDeps?: BackoffDeps;
}

/** Why the last attempt failed, as logged. */
interface Failure {
  readonly status: number | undefined;
  /** What stays the same while the same trouble lasts (`ECONNREFUSED`, `403`): repeats are logged at debug. */
  readonly reason: string;
  readonly message: string;
}

/**
 * A client-node `Watch` that bounds every watch request and asks for bookmarks, and reports each
 * stream's end (`onDone`, with the error if any), each stream that opened (`onOpen`) and each
 * bookmark once the informer has taken its resourceVersion (`onBookmark`).
 */
class BoundedWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly events: {
      onDone: (err: unknown) => void;
      onOpen: () => void;
      onBookmark: () => void;
    },
  ) {
    super(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    let failed = false;
    const controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds },
      (phase, apiObj, watchObj) => {
        callback(phase, apiObj, watchObj);
        if (phase === 'BOOKMARK') this.events.onBookmark();
      },
      (err: unknown) => {
        if (err) failed = true;
        this.events.onDone(err);
        done(err);
      },
    );
    // Watch.watch resolves after the response headers, or after reporting a failure to `done`.
    if (!failed) this.events.onOpen();
    return controller;
  }
}

/** One kind × namespace scope; see the file comment. */
export class KindInformer {
  readonly name: string;
  readonly kind: WatchedKind;
  private readonly informer: ListWatch<KubernetesObject>;
  private readonly backoff: Backoff;
  private stopped = false;
  private lastFailure: Failure | undefined;
  private isSynced = false;
  private hasListed = false;
  private unavailable = false;
  private resolveSynced!: () => void;
  /** Resolves once the first complete list is cached (or the kind is forbidden or not served). */
  readonly synced: Promise<void>;

  constructor(private readonly opts: KindInformerOptions) {
    const { kind, namespace } = opts;
    this.kind = kind;
    this.name = namespace ? `${kind.kind} in ${namespace}` : kind.kind;
    this.backoff = new Backoff(opts.backoff, opts.backoffDeps);
    this.synced = new Promise((r) => (this.resolveSynced = r));
    const list: ListFn = async () => {
      const result = await opts.list();
      // ListWatch fills its cache right after this promise settles, in the same task; the
      // immediate runs after that.
      setImmediate(() => this.onListed());
      return result;
    };
    const watch = new BoundedWatch(opts.kubeConfig, {
      onDone: (err) => this.onWatchDone(err),
      onOpen: () => this.recovered('watch'),
      onBookmark: () =>
        opts.log.debug(
          { kind: this.name, resourceVersion: this.resourceVersion },
          'Kubernetes watch bookmark',
        ),
    });
    this.informer = new ListWatch(collectionPath(kind, opts.version, namespace), watch, list, false);
    this.informer.on('add', (o) => this.changed(o, 'add'));
    this.informer.on('update', (o) => this.changed(o, 'update'));
    this.informer.on('delete', (o) => this.changed(o, 'delete'));
    this.informer.on('error', (err) => this.onError(err));
  }

  /** True after the first complete list (or a 403 / 404). */
  get hasSynced(): boolean {
    return this.isSynced;
  }

  /** True once a list has succeeded (not merely given up on: a 403 or 404 syncs without one). */
  get listed(): boolean {
    return this.hasListed;
  }

  /** The cached objects (the last good state while the API server is away). */
  list(): readonly KubernetesObject[] {
    return this.informer.list();
  }

  /** The resourceVersion a resumed watch starts from ('' after a 410: the next start relists). */
  get resourceVersion(): string {
    return this.informer.latestResourceVersion();
  }

  start(): void {
    this.stopped = false;
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // A source closed before its first list (API server unreachable) must not leave `synced` pending.
    this.markSynced();
    this.backoff.cancel();
    await this.informer.stop();
  }

  private run(): void {
    this.informer.start().catch((err: unknown) => this.onError(err));
  }

  private changed(obj: KubernetesObject, event: 'add' | 'update' | 'delete'): void {
    // Data flowing again: the next failure starts the back-off from the beginning.
    this.backoff.reset();
    this.opts.onChange(obj, event);
  }

  private onListed(): void {
    this.hasListed = true;
    this.recovered('list');
    this.markSynced();
  }

  /** A list answered or a watch opened: the back-off starts over, and a past failure is over. */
  private recovered(what: 'list' | 'watch'): void {
    this.backoff.reset();
    if (this.lastFailure || this.unavailable) {
      this.opts.log.info(
        { kind: this.name, resourceVersion: this.resourceVersion },
        what === 'list' ? 'Kubernetes list succeeded again' : 'Kubernetes watch resumed',
      );
    }
    this.lastFailure = undefined;
    this.unavailable = false;
  }

  private markSynced(): void {
    if (this.isSynced) return;
    this.isSynced = true;
    this.resolveSynced();
  }

  /** Every end of a watch stream: a clean end (server timeout, 410 event) or a failure. */
  private onWatchDone(err: unknown): void {
    if (this.stopped) return;
    if (err) return; // reported (once) by onError, which ListWatch calls next
    if (this.resourceVersion) {
      this.opts.log.debug(
        { kind: this.name, resourceVersion: this.resourceVersion },
        'Kubernetes watch ended; resuming from its resourceVersion',
      );
    } else {
      this.opts.log.warn({ kind: this.name }, 'resourceVersion too old (410 Gone); relisting');
    }
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    const failure = describe(err);
    const fields = {
      kind: this.name,
      status: failure.status,
      err: failure.message,
      resumeFrom: this.resourceVersion || 'relist',
    };
    const unavailable = failure.status === 403 || failure.status === 404;
    if (unavailable) {
      // RBAC does not allow this kind (403), or its CRD is not installed (404): it will not sync
      // by waiting, so serve without it and keep asking, slowly.
      if (!this.unavailable) {
        this.opts.log.error(
          fields,
          failure.status === 403
            ? 'Kubernetes API forbids this kind (403); serving without it'
            : 'Kubernetes API does not serve this kind (404); serving without it',
        );
      }
      this.unavailable = true;
      this.markSynced();
    } else if (failure.reason !== this.lastFailure?.reason) {
      this.opts.log.warn(fields, 'Kubernetes list/watch failed; serving the last known state and retrying');
    } else {
      this.opts.log.debug(fields, 'Kubernetes list/watch still failing');
    }
    this.lastFailure = failure;
    this.scheduleRetry(unavailable);
  }

  private scheduleRetry(slow: boolean): void {
    if (this.stopped || this.backoff.scheduled) return;
    const delay = slow ? this.backoff.maxMs : this.backoff.next(true);
    this.backoff.schedule(() => this.stopped || this.run(), delay, { unref: true });
  }
}

/** Status and one-line reason of a client-node error (ApiException, fetch error, watch status). */
function describe(err: unknown): Failure {
  if (typeof err !== 'object' || err === null)
    return { status: undefined, reason: String(err), message: String(err) };
  const e = err as {
    code?: unknown;
    statusCode?: unknown;
    body?: unknown;
    message?: unknown;
  };
  const status =
    typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  let message = typeof e.message === 'string' ? e.message.split('\n')[0]! : String(err);
  // ApiException: the Status body says why ("secrets is forbidden: User ... cannot list ...").
  const body = typeof e.body === 'string' ? safeParse(e.body) : e.body;
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    message = (body as { message: string }).message;
  } else if (typeof e.code === 'string') {
    message = `${e.code}: ${message}`;
  }
  const reason = status !== undefined ? String(status) : typeof e.code === 'string' ? e.code : message;
  return { status, reason, message };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
