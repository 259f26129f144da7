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
 */
import {
  mkdirSync,
  mkdtempSync,
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
    return previous ? 'updated' : 'created';
  }

  /** Removes `<dir>/<name>`. @returns false when there was none. */
  remove(name: string): boolean {
    if (!SECRET_NAME.test(name)) return false;
    const root = join(this.dir, name);
    try {
      readlinkSync(join(root, '..data'));
    } catch {
      return false; // not ours (or absent): never delete what this class did not write
    }
    rmSync(root, { recursive: true, force: true });
    return true;
  }

  /** Deletes the folder when it is a private temporary one. */
  close(): void {
    if (this.owned) rmSync(this.dir, { recursive: true, force: true });
  }
}
