/**
 * The `kubernetes` source: Istio networking resources and the core objects behind services
 * (Services, Pods, EndpointSlices) listed and watched from the API server with
 * `@kubernetes/client-node` informers, plus the gateway's TLS Secrets.
 *
 * How it differs from the `files` source, following Istio:
 * - **One bad object is rejected alone.** Istio's validating webhook refuses an invalid object at
 *   admission and everything else stays served. Objects reach this source without a webhook, so
 *   each Istio document is marked for admission on its own, with its last valid version as the
 *   fallback (`config/admission.ts`); the one validation of the config, in the validate worker,
 *   replaces a failing one by that fallback (what the cluster would still hold had the webhook
 *   refused the update), or leaves it out when it never was valid; the rest applies. The verdicts
 *   come back through {@link KubernetesSource.admitted}, which logs each rejection once. (The files
 *   source rejects the whole config instead: a file is one change.)
 * - **credentialName Secrets come only from the gateway's own namespace** (as Istio's gateway
 *   SDS does), and never as documents: their data is written to a Secret-volume-like folder
 *   ({@link SecretVolumes}) read by the certificate store, so a rotation reaches new handshakes
 *   without touching open connections, and key material never reaches a snapshot or a log.
 *   Folders of Secrets deleted while no gateway ran are withdrawn after the first Secret list.
 * - **The first read waits for the first complete list of every informer** (a 403 counts as done:
 *   RBAC will not let that kind sync, and the gateway serves without it). The gateway's readiness
 *   stays 503 until then.
 * - **API server unreachable:** reads return the informer caches (the last known state), and the
 *   informers resume by resourceVersion or relist after a 410 (see `kubernetes-informer.ts`).
 *
 * Change events are raw; the reader debounces them (istiod: 100 ms quiet, at most 10 s).
 */
import { EventEmitter } from 'node:events';
import { ApisApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  apiProvenance,
  type AdmissionVerdict,
  type ConfigSource,
  type ConfigSourceEvents,
  type RawDocument,
  type SourceSnapshot,
} from './source.js';
import { KindInformer } from './kubernetes-informer.js';
import { Backoff, type BackoffDeps, type BackoffOptions } from './backoff.js';
import {
  ENDPOINT_SLICE,
  ISTIO_GROUP,
  ISTIO_KINDS,
  POD,
  SECRET,
  SERVICE,
  listFunction,
  type WatchedKind,
} from './kubernetes-kinds.js';
import { SecretVolumes, type SecretObject } from './kubernetes-secrets.js';

/** Options of {@link KubernetesSource}. */
interface KubernetesSourceOptions {
  readonly kubeConfig: KubeConfig;
  /** `--watch-namespace` values; undefined or empty watches all namespaces. */
  readonly namespaces?: readonly string[];
  /** The gateway's namespace: `credentialName` Secrets are read there and nowhere else. */
  readonly gatewayNamespace: string;
  /** Folder the Secrets are written to (`--credentials-dir`); a private temporary folder when undefined. */
  readonly credentialsDir?: string;
  readonly log: Logger;
  /** Retry back-off of lists, watches and discovery (default 0.5 s doubling to 30 s). */
  readonly backoff?: BackoffOptions;
  /** Timers of the back-offs (tests inject a fake clock). */
  readonly backoffDeps?: BackoffDeps;
}

/** An Istio object refused by validation (what the webhook would have refused). */
interface RejectedObject {
  /** `Kind/namespace/name`. */
  readonly resource: string;
  readonly resourceVersion: string;
  /** The blocking diagnostics, formatted. */
  readonly errors: readonly string[];
}

/** See the file comment. */
export class KubernetesSource extends EventEmitter<ConfigSourceEvents> implements ConfigSource {
  readonly name = 'kubernetes';
  readonly secrets: SecretVolumes;
  private informers: KindInformer[] = [];
  private initializing: Promise<void> | undefined;
  /** Aborted by {@link close}: ends a discovery retry still waiting. */
  private readonly closing = new AbortController();
  private emitting = false;
  /** A change arrived before {@link start}: reported when it is called. */
  private dirty = false;
  private closed = false;
  /** `Kind/ns/name` → the latest verdict, and the last version found valid. */
  private readonly verdicts = new Map<
    string,
    { rv: string; rejected: RejectedObject | undefined; lastGood: RawDocument | undefined }
  >();
  /** `Kind/ns/name` → the document of the last read, to remember it when found valid. */
  private readonly lastRead = new Map<string, RawDocument>();
  /** `ns/name` → what of a Pod the registry reads, to skip status-only updates. */
  private readonly podFacts = new Map<string, string>();

  constructor(private readonly opts: KubernetesSourceOptions) {
    super();
    this.secrets = new SecretVolumes(opts.credentialsDir);
  }

  /** Where the gateway's TLS Secrets are laid out (pass it as the pipeline's `credentialsDir`). */
  get credentialsDir(): string {
    return this.secrets.dir;
  }

  /** True once every informer has completed its first list. */
  get synced(): boolean {
    return this.informers.length > 0 && this.informers.every((i) => i.hasSynced);
  }

  /** Each informer's state, for logs and tests: `Kind[ in ns]`, synced, the resourceVersion a resumed watch starts from. */
  informerStates(): { name: string; synced: boolean; resourceVersion: string }[] {
    return this.informers.map((i) => ({
      name: i.name,
      synced: i.hasSynced,
      resourceVersion: i.resourceVersion,
    }));
  }

  /** Istio objects whose current version fails validation (their last valid version, if any, is served instead). */
  get rejected(): RejectedObject[] {
    return [...this.verdicts.values()].flatMap((v) => (v.rejected ? [v.rejected] : []));
  }

  /**
   * Everything the informers hold now. The first call starts them and resolves after every one has
   * synced (it waits, retrying, while the API server cannot be reached). Never rejects.
   */
  async read(): Promise<SourceSnapshot> {
    await this.init();
    // This read sees every change so far; only later ones need to be reported on start().
    this.dirty = false;
    const istio: { doc: RawDocument; created: string; key: string }[] = [];
    const others: RawDocument[] = [];
    this.lastRead.clear();
    for (const informer of this.informers) {
      if (informer.kind === SECRET) continue;
      for (const obj of informer.list()) {
        const meta = obj.metadata ?? {};
        const kind = obj.kind ?? informer.kind.kind;
        const doc: RawDocument = {
          object: obj,
          source: apiProvenance(kind, meta.namespace, meta.name ?? '', meta.resourceVersion),
        };
        if (informer.kind.group !== ISTIO_GROUP) {
          others.push(doc);
          continue;
        }
        const key = `${kind}/${meta.namespace ?? ''}/${meta.name ?? ''}`;
        const resourceVersion = meta.resourceVersion ?? '';
        this.lastRead.set(key, doc);
        const lastGood = this.verdicts.get(key)?.lastGood;
        const fallback = lastGood && lastGood.source.file !== doc.source.file ? lastGood : undefined;
        const admission = {
          key,
          resourceVersion,
          ...(fallback ? { fallback: { object: fallback.object, source: fallback.source } } : {}),
        };
        istio.push({ doc: { ...doc, admission }, key, created: String(meta.creationTimestamp ?? '') });
      }
    }
    for (const key of this.verdicts.keys()) if (!this.lastRead.has(key)) this.verdicts.delete(key);
    // Istio orders configs by creation time, then namespace/name: the oldest wins a conflict.
    istio.sort((a, b) =>
      a.created === b.created ? (a.key < b.key ? -1 : 1) : a.created < b.created ? -1 : 1,
    );
    return { documents: [...istio.map((i) => i.doc), ...others], diagnostics: [] };
  }

  /** Starts reporting changes (informers start on the first {@link read}, or here). */
  async start(): Promise<void> {
    this.emitting = true;
    void this.init();
    if (this.dirty) {
      this.dirty = false;
      this.emit('change');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.emitting = false;
    this.closing.abort(); // a discovery retry still waiting ends now
    await Promise.all(this.informers.map((i) => i.stop()));
    this.secrets.close();
  }

  private init(): Promise<void> {
    this.initializing ??= (async () => {
      const istioVersion = await this.discoverIstioVersion();
      if (this.closed) return;
      const scopes = this.opts.namespaces?.length ? [...new Set(this.opts.namespaces)] : [undefined];
      const make = (kind: WatchedKind, version: string, namespace: string | undefined) =>
        new KindInformer({
          kubeConfig: this.opts.kubeConfig,
          kind,
          version,
          namespace,
          list: listFunction(this.opts.kubeConfig, kind, version, namespace),
          log: this.opts.log,
          backoff: this.opts.backoff,
          backoffDeps: this.opts.backoffDeps,
          onChange: (obj, event) => this.onObject(kind, obj, event),
        });
      for (const ns of scopes) {
        for (const k of ISTIO_KINDS) this.informers.push(make(k, istioVersion, ns));
        for (const k of [SERVICE, POD, ENDPOINT_SLICE]) this.informers.push(make(k, 'v1', ns));
      }
      const secrets = make(SECRET, 'v1', this.opts.gatewayNamespace);
      this.informers.push(secrets);
      for (const i of this.informers) i.start();
      await Promise.all(this.informers.map((i) => i.synced));
      this.pruneSecrets(secrets);
      this.opts.log.info(
        { informers: this.informers.length, istioVersion, namespaces: scopes[0] ? scopes : 'all' },
        'Kubernetes informers synced',
      );
    })();
    return this.initializing;
  }

  /**
   * After the first complete Secret list: withdraws the folders of Secrets deleted while no gateway
   * watched (they would otherwise keep serving a revoked certificate). Not after a 403: without a
   * list nothing is known to be gone.
   */
  private pruneSecrets(informer: KindInformer): void {
    if (!informer.listed) return;
    const current = new Set(informer.list().map((o) => o.metadata?.name ?? ''));
    try {
      const gone = this.secrets.prune(current);
      for (const name of gone) {
        this.opts.log.info(
          { secret: `${this.opts.gatewayNamespace}/${name}` },
          'TLS Secret deleted while the gateway was down; its files are withdrawn',
        );
      }
    } catch (err) {
      this.opts.log.error(
        { dir: this.secrets.dir, err: (err as Error).message },
        'cannot withdraw deleted TLS Secrets from the credentials folder',
      );
    }
  }

  /**
   * The networking.istio.io version to watch: `v1` when the API server serves it, else `v1beta1`
   * (clusters with Istio before 1.22). Retries with back-off until discovery answers.
   */
  private async discoverIstioVersion(): Promise<string> {
    const backoff = new Backoff(this.opts.backoff, this.opts.backoffDeps);
    const preferred = ISTIO_KINDS[0]!.versions;
    while (!this.closed) {
      try {
        const list = await this.opts.kubeConfig.makeApiClient(ApisApi).getAPIVersions();
        const group = list.groups.find((g) => g.name === ISTIO_GROUP);
        const served = new Set(group?.versions.map((v) => v.version) ?? []);
        const version = preferred.find((v) => served.has(v));
        if (version) {
          if (version !== preferred[0]) {
            this.opts.log.info(
              { version },
              `${ISTIO_GROUP}/${preferred[0]} is not served; watching ${version}`,
            );
          }
          return version;
        }
        this.opts.log.error(
          { served: [...served] },
          `the API server serves no ${ISTIO_GROUP} version among ${preferred.join(', ')} (are Istio's CRDs installed?); retrying`,
        );
      } catch (err) {
        this.opts.log.warn(
          { err: (err as Error).message.split('\n')[0] },
          'Kubernetes API discovery failed; retrying',
        );
      }
      await backoff.wait(backoff.next(), this.closing.signal);
    }
    return preferred[0]!;
  }

  /**
   * The verdicts of a validation on the documents of a read: a valid version becomes the one a
   * later invalid update falls back to; a rejection is logged once per resourceVersion, saying
   * which version stays served.
   */
  admitted(verdicts: readonly AdmissionVerdict[]): void {
    for (const v of verdicts) {
      const doc = this.lastRead.get(v.key);
      if (!doc || doc.source.file.split('@').pop() !== v.resourceVersion) continue; // read again since
      const cached = this.verdicts.get(v.key);
      if (!v.errors) {
        if (cached?.rejected) {
          this.opts.log.info(
            { resource: v.key, resourceVersion: v.resourceVersion },
            `${v.key} is valid again`,
          );
        }
        this.verdicts.set(v.key, { rv: v.resourceVersion, rejected: undefined, lastGood: doc });
        continue;
      }
      if (cached?.rv === v.resourceVersion && cached.rejected) continue; // logged already
      const lastGood = cached?.lastGood;
      const kept = lastGood?.source.file.split('@').pop();
      this.opts.log.error(
        {
          resource: v.key,
          resourceVersion: v.resourceVersion,
          diagnostics: v.errors,
          serving: kept ?? 'none',
        },
        `${v.key} rejected (as Istio's validating webhook would); ${
          kept ? `its last valid version (resourceVersion ${kept}) stays` : 'it is not served'
        }; the rest of the configuration applies`,
      );
      this.verdicts.set(v.key, {
        rv: v.resourceVersion,
        rejected: { resource: v.key, resourceVersion: v.resourceVersion, errors: v.errors },
        lastGood,
      });
    }
  }

  private onObject(kind: WatchedKind, obj: KubernetesObject, event: 'add' | 'update' | 'delete'): void {
    if (kind === POD && !this.podChanged(obj, event)) return;
    if (kind === SECRET) {
      const name = obj.metadata?.name ?? '';
      const secret = `${this.opts.gatewayNamespace}/${name}`;
      let outcome: ReturnType<SecretVolumes['write']> | boolean;
      try {
        outcome = event === 'delete' ? this.secrets.remove(name) : this.secrets.write(obj as SecretObject);
        // An update that leaves no credential key withdraws the old files too (as a deletion would).
        if (outcome === 'skipped' && event !== 'add')
          outcome = this.secrets.remove(name) ? 'updated' : 'skipped';
      } catch (err) {
        // A read-only or full folder: the informer must go on (client-node would swallow or
        // stall on a throw here); the previous files, if any, stay in force.
        this.opts.log.error(
          { secret, dir: this.secrets.dir, err: (err as Error).message },
          'cannot write TLS Secret to the credentials folder',
        );
        return;
      }
      if (outcome === 'skipped' || outcome === false) return;
      this.opts.log.info({ secret, event }, 'TLS Secret updated');
    }
    if (this.emitting) this.emit('change');
    else this.dirty = true;
  }

  /**
   * Whether a Pod event changes what the registry reads of it (labels, IP, readiness, ports,
   * deletion). Pods are updated often for status the gateway ignores (container restarts counted,
   * probe times); istiod's pod controller likewise pushes only on changes that matter.
   */
  private podChanged(obj: KubernetesObject, event: 'add' | 'update' | 'delete'): boolean {
    const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    if (event === 'delete') {
      this.podFacts.delete(key);
      return true;
    }
    const p = obj as KubernetesObject & {
      spec?: { containers?: { ports?: unknown }[] };
      status?: {
        phase?: string;
        podIP?: string;
        podIPs?: unknown;
        conditions?: { type?: string; status?: string }[];
      };
    };
    const facts = JSON.stringify([
      p.metadata?.labels,
      p.metadata?.deletionTimestamp,
      p.status?.phase,
      p.status?.podIP,
      p.status?.podIPs,
      p.status?.conditions?.find((c) => c.type === 'Ready')?.status,
      p.spec?.containers?.map((c) => c.ports),
    ]);
    if (this.podFacts.get(key) === facts) return false;
    this.podFacts.set(key, facts);
    return true;
  }
}
