/**
 * TLS Secrets from the API server, laid out on disk the way kubelet mounts a Secret volume, so
 * the gateway's certificate store (which already follows mounted Secrets) serves them unchanged:
 *
 *     <dir>/<name>/..2026_12_03_16_10_00.123456789/tls.crt   the data of one version
 *     <dir>/<name>/..data -> ..2026_12_03_16_10_00.123456789
 *     <dir>/<name>/tls.crt -> ..data/tls.crt
 *
 * An update writes a new version folder and swaps the `..data` link with one rename, so a reader
 * never sees a new certificate beside an old key; the store reloads on the `..data` event and only
 * new handshakes get the new certificate (open connections keep their session), as Envoy does on
 * an SDS update.
 *
 * Only the keys a gateway credential may use are written (`CREDENTIAL_SECRET_KEYS` of
 * `tls/credentials.ts`, which also decides which of them make a credential when the folder is read),
 * with mode 0600 in a 0700 folder; nothing here logs key material.
 *
 * A `--credentials-dir` may hold the user's own folders beside meshgate's, and outlives the process:
 * the names written here are kept in a manifest (`.meshgate-secrets.json`), so that a Secret deleted
 * while the gateway was down can be withdrawn on the next start ({@link SecretVolumes.prune}) and
 * nothing meshgate did not write is ever deleted.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CREDENTIAL_SECRET_KEYS } from '../../tls/credentials.js';

/** The manifest of the Secret folders this class wrote, in the credentials folder itself. */
const MANIFEST = '.meshgate-secrets.json';
/** A Secret name (DNS subdomain): never `..`, never a path. */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The parts of a Secret read here. */
export interface SecretObject {
  readonly metadata?: { readonly name?: string };
  /** Base64 values, as the API server returns them. */
  readonly data?: Readonly<Record<string, string>>;
}

/** A folder of Secret "volumes", one sub-folder per Secret name (a `--credentials-dir`). */
export class SecretVolumes {
  readonly dir: string;
  private readonly owned: boolean;
  private seq = 0;
  /** Names of the Secret folders written here (by this process or an earlier one): the manifest. */
  private readonly written: Set<string>;

  /** @param dir folder to write into (created when missing); a private temporary folder when undefined. */
  constructor(dir?: string) {
    if (dir) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      this.dir = dir;
      this.owned = false;
    } else {
      this.dir = mkdtempSync(join(tmpdir(), 'meshgate-secrets-'));
      this.owned = true;
    }
    this.written = new Set(readManifest(join(this.dir, MANIFEST)));
  }

  /** Names of the Secrets whose folders this class wrote (and has not removed), sorted. */
  get names(): string[] {
    return [...this.written].sort();
  }

  /**
   * Withdraws the folders of written Secrets not in `current` (deleted while no gateway watched);
   * folders meshgate did not write are never touched.
   * @param current names of the Secrets that exist now (a complete list of the gateway namespace).
   * @returns the names removed.
   */
  prune(current: ReadonlySet<string>): string[] {
    const gone = this.names.filter((n) => !current.has(n));
    for (const n of gone) this.remove(n);
    return gone;
  }

  /**
   * Writes (or atomically replaces) the credential keys of `secret` under `<dir>/<name>/`.
   * @returns `'created'` when the folder is new, `'updated'` when it existed, `'skipped'` when the
   * Secret has no credential key or an unusable name.
   */
  write(secret: SecretObject): 'created' | 'updated' | 'skipped' {
    const name = secret.metadata?.name ?? '';
    const entries = Object.entries(secret.data ?? {}).filter(([k]) => CREDENTIAL_SECRET_KEYS.has(k));
    if (!SECRET_NAME.test(name) || entries.length === 0) return 'skipped';
    const root = join(this.dir, name);
    let previous: string | undefined;
    try {
      previous = readlinkSync(join(root, '..data'));
    } catch {
      previous = undefined;
    }
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const version = `..${new Date().toISOString().replace(/[-:T]/g, '_').replace('Z', '')}.${process.pid}.${++this.seq}`;
    mkdirSync(join(root, version), { mode: 0o700 });
    for (const [k, v] of entries) {
      writeFileSync(join(root, version, k), Buffer.from(v, 'base64'), { mode: 0o600 });
    }
    rmSync(join(root, '..data_tmp'), { force: true }); // left by an interrupted update
    symlinkSync(version, join(root, '..data_tmp'));
    renameSync(join(root, '..data_tmp'), join(root, '..data'));
    const keys = new Set(entries.map(([k]) => k));
    for (const n of readdirSync(root)) {
      if (n.startsWith('..') || keys.has(n)) continue;
      rmSync(join(root, n), { force: true }); // a key the new version no longer has
    }
    for (const k of keys) {
      try {
        symlinkSync(join('..data', k), join(root, k));
      } catch {
        // already linked through ..data
      }
    }
    if (previous) rmSync(join(root, previous), { recursive: true, force: true });
    if (!this.written.has(name)) {
      this.written.add(name);
      this.saveManifest();
    }
    return previous ? 'updated' : 'created';
  }

  /** Removes `<dir>/<name>` when this class wrote it. @returns false when there was none of ours. */
  remove(name: string): boolean {
    // Not in the manifest: not ours (or absent); never delete what this class did not write.
    if (!SECRET_NAME.test(name) || !this.written.has(name)) return false;
    const root = join(this.dir, name);
    const existed = existsSync(root);
    rmSync(root, { recursive: true, force: true });
    this.written.delete(name);
    this.saveManifest();
    return existed;
  }

  /** Writes the manifest atomically (a temporary file renamed over it). */
  private saveManifest(): void {
    const file = join(this.dir, MANIFEST);
    writeFileSync(`${file}.tmp`, JSON.stringify({ secrets: this.names }), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** Deletes the folder when it is a private temporary one. */
  close(): void {
    if (this.owned) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The names in a manifest; none when it is absent or unreadable (then nothing is ever pruned). */
function readManifest(file: string): string[] {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { secrets?: unknown };
    return Array.isArray(parsed.secrets)
      ? parsed.secrets.filter((n): n is string => typeof n === 'string' && SECRET_NAME.test(n))
      : [];
  } catch {
    return [];
  }
}
