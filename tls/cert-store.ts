/**
 * The certificate store: loads the PEM files of server credentials, shares one copy per set of files
 * between every filter chain that uses it, and reloads when the files change, the job Envoy's SDS
 * file watcher does for a mounted Secret.
 *
 * A reload only replaces the material for *new* handshakes (the owner swaps its `SecureContext`);
 * connections already established keep the session they negotiated. A reload that cannot be used
 * (half-written file, key not matching the certificate) is refused and the previous material stays
 * in force until the files become consistent, so a rotation done in two writes never takes a
 * listener down.
 *
 * Reloads are published on the `node:diagnostics_channel` channel {@link CERT_RELOAD_CHANNEL}
 * (free when nobody subscribes; tests await it instead of sleeping).
 */
import { channel } from 'node:diagnostics_channel';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { inspect } from 'node:util';
import type { Logger } from 'pino';
import type { TlsFiles } from './credentials.js';

/** Channel name of reload notifications; messages are {@link CertReloadMessage}. */
export const CERT_RELOAD_CHANNEL = 'meshgate:tls:cert-reload';

/** What is published on {@link CERT_RELOAD_CHANNEL}. */
export interface CertReloadMessage {
  readonly certFile: string;
  /** Generation now in force (1 = first load). */
  readonly generation: number;
  /** Set when the changed files were refused; the previous generation stays in force. */
  readonly error: string | undefined;
}

const reloadChannel = channel(CERT_RELOAD_CHANNEL);

/**
 * PEM bytes of one credential. The private key never reaches logs: `JSON.stringify` and
 * `util.inspect` print `[redacted]` for it.
 */
export class CertMaterial {
  constructor(
    readonly files: TlsFiles,
    readonly cert: Buffer,
    readonly key: Buffer,
    readonly ca: Buffer | undefined,
    /** 1 for the first load, +1 per accepted reload. */
    readonly generation: number,
  ) {}

  toJSON(): Record<string, unknown> {
    return {
      origin: this.files.origin,
      certFile: this.files.certFile,
      generation: this.generation,
      key: '[redacted]',
    };
  }

  [inspect.custom](): string {
    return `CertMaterial(${this.files.origin}, generation ${this.generation}, key [redacted])`;
  }
}

/** Error thrown by {@link CertStore.acquire} when the files cannot be read or do not form a usable credential. */
export class CertLoadError extends Error {
  constructor(
    readonly files: TlsFiles,
    override readonly cause: Error,
  ) {
    super(`cannot load TLS credential (${files.origin}): ${cause.message}`);
    this.name = 'CertLoadError';
  }
}

/** A hold on a credential: current material, and a subscription to its reloads. Release it when done. */
export interface CertLease {
  /** The material in force now (follows reloads). */
  readonly material: CertMaterial;
  /** Stops notifications; the files stop being watched when the last lease goes. Idempotent. */
  release(): void;
}

type Subscriber = (material: CertMaterial) => void;

interface Entry {
  readonly files: TlsFiles;
  material: CertMaterial;
  readonly subscribers: Set<Subscriber>;
  readonly watchers: FSWatcher[];
  timer: NodeJS.Timeout | undefined;
}

/** Options of {@link CertStore}. */
interface CertStoreOptions {
  /** Quiet period after the last file event before reloading, ms (editors and kubelet write in steps). Default 100. */
  readonly debounceMs?: number;
}

function entryKey(f: TlsFiles): string {
  return `${f.certFile}\n${f.keyFile}\n${f.caFile ?? ''}`;
}

function readMaterial(files: TlsFiles, generation: number): CertMaterial {
  const cert = files.inline?.cert ?? readFileSync(files.certFile);
  const key = files.inline?.key ?? readFileSync(files.keyFile);
  const ca = files.inline ? files.inline.ca : files.caFile ? readFileSync(files.caFile) : undefined;
  // Parses the PEMs and checks the key against the certificate (throws otherwise).
  createSecureContext({ cert, key, ca });
  return new CertMaterial(files, cert, key, ca, generation);
}

function sameBytes(a: CertMaterial, b: CertMaterial): boolean {
  return (
    a.cert.equals(b.cert) &&
    a.key.equals(b.key) &&
    (a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca))
  );
}

/** Shared, watched TLS credentials, keyed by their file paths. One per gateway process. */
export class CertStore {
  private readonly entries = new Map<string, Entry>();
  private readonly debounceMs: number;

  constructor(
    private readonly log: Logger,
    opts: CertStoreOptions = {},
  ) {
    this.debounceMs = opts.debounceMs ?? 100;
  }

  /**
   * Loads (or shares) the credential in `files` and subscribes `onChange` to its reloads.
   * @throws CertLoadError when a file is unreadable, a PEM does not parse, or the key does not match.
   */
  acquire(files: TlsFiles, onChange: Subscriber): CertLease {
    const key = entryKey(files);
    let entry = this.entries.get(key);
    if (!entry) {
      let material: CertMaterial;
      try {
        material = readMaterial(files, 1);
      } catch (err) {
        throw new CertLoadError(files, err as Error);
      }
      entry = { files, material, subscribers: new Set(), watchers: [], timer: undefined };
      this.entries.set(key, entry);
      this.watch(key, entry);
    }
    const e = entry;
    // A distinct function per lease, so one owner subscribing twice still releases cleanly.
    const sub: Subscriber = (m) => onChange(m);
    e.subscribers.add(sub);
    let released = false;
    return {
      get material() {
        return e.material;
      },
      release: () => {
        if (released) return;
        released = true;
        e.subscribers.delete(sub);
        if (e.subscribers.size === 0) this.drop(key, e);
      },
    };
  }

  /** Number of credentials currently loaded (for tests and the admin dump). */
  get size(): number {
    return this.entries.size;
  }

  /** Re-reads one credential now (also what a file event triggers after the debounce). */
  reload(files: TlsFiles): void {
    const e = this.entries.get(entryKey(files));
    if (e) this.reloadEntry(e);
  }

  /** Stops every watcher (shutdown); leases become inert. */
  close(): void {
    for (const [key, e] of this.entries) this.drop(key, e);
  }

  private watch(key: string, e: Entry): void {
    const f = e.files;
    // Secret bytes come with the config; a changed Secret is a new config with new keys.
    if (f.inline) return;
    const byDir = new Map<string, Set<string>>();
    for (const p of [f.certFile, f.keyFile, f.caFile]) {
      if (!p) continue;
      const dir = path.dirname(p);
      let names = byDir.get(dir);
      if (!names) byDir.set(dir, (names = new Set()));
      names.add(path.basename(p));
    }
    for (const [dir, names] of byDir) {
      try {
        // Watch the folder, not the file: kubelet updates a mounted Secret by swapping the `..data`
        // symlink, and editors replace files by rename; a file watch would miss both.
        const w = watch(dir, { persistent: false }, (_event, filename) => {
          const n = filename?.toString();
          if (n === undefined || names.has(n) || n.startsWith('..')) this.schedule(e);
        });
        w.on('error', (err) =>
          this.log.warn({ dir, err: err.message, key }, 'certificate folder watch failed; reloads stop'),
        );
        e.watchers.push(w);
      } catch (err) {
        this.log.warn(
          { dir, err: (err as Error).message },
          'cannot watch certificate folder; certificates will not reload',
        );
      }
    }
  }

  private schedule(e: Entry): void {
    if (e.timer) clearTimeout(e.timer);
    e.timer = setTimeout(() => {
      e.timer = undefined;
      this.reloadEntry(e);
    }, this.debounceMs);
    e.timer.unref();
  }

  private reloadEntry(e: Entry): void {
    let next: CertMaterial;
    try {
      next = readMaterial(e.files, e.material.generation + 1);
    } catch (err) {
      const message = (err as Error).message;
      this.log.error(
        { origin: e.files.origin, err: message },
        'changed TLS credential refused; the previous one stays in force',
      );
      if (reloadChannel.hasSubscribers) {
        reloadChannel.publish({
          certFile: e.files.certFile,
          generation: e.material.generation,
          error: message,
        } satisfies CertReloadMessage);
      }
      return;
    }
    if (sameBytes(e.material, next)) return;
    e.material = next;
    this.log.info({ origin: e.files.origin, generation: next.generation }, 'TLS credential reloaded');
    for (const s of e.subscribers) {
      try {
        s(next);
      } catch (err) {
        this.log.error(
          { origin: e.files.origin, err: (err as Error).message },
          'applying a reloaded TLS credential failed',
        );
      }
    }
    if (reloadChannel.hasSubscribers) {
      reloadChannel.publish({
        certFile: e.files.certFile,
        generation: next.generation,
        error: undefined,
      } satisfies CertReloadMessage);
    }
  }

  private drop(key: string, e: Entry): void {
    if (this.entries.get(key) === e) this.entries.delete(key);
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    for (const w of e.watchers) w.close();
    e.watchers.length = 0;
    e.subscribers.clear();
  }
}
