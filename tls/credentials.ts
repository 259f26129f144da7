/**
 * Where the key material of a TLS-terminating Gateway server lives on disk.
 *
 * Istio reads it either from file paths in the server (`serverCertificate`, `privateKey`,
 * `caCertificates`) or from a Kubernetes Secret named by `credentialName`. Without Kubernetes,
 * meshgate maps a credential name to a folder of `--credentials-dir`, laid out the way kubelet mounts
 * a Secret: `<dir>/<name>/tls.crt`, `tls.key`, `ca.crt` (a `kubernetes.io/tls` Secret), or the generic
 * keys `cert`, `key`, `cacert`. The client CA may also come from a separate `<name>-cacert` folder,
 * Istio's convention for keeping the CA out of the server's own Secret.
 *
 * Only paths are handled here; the bytes are read by the cert store, and never logged.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ServerTLSSettings } from '../config/resources.js';

/** The files of one server credential: PEM certificate chain, PEM private key, optional client CA bundle. */
export interface TlsFiles {
  /** Absolute path of the PEM certificate chain (leaf first). */
  readonly certFile: string;
  /** Absolute path of the PEM private key. */
  readonly keyFile: string;
  /** Absolute path of the PEM CA bundle that verifies client certificates; undefined when not needed. */
  readonly caFile: string | undefined;
  /** Where they came from, for logs: `credentialName httpbin-credential` or `serverCertificate /etc/...`. */
  readonly origin: string;
}

/** Result of {@link resolveServerCredentials}: the files, or why they cannot be used. */
export type CredentialResolution = { readonly files: TlsFiles } | { readonly error: string };

/** Where to look, and what is needed. */
export interface CredentialLookup {
  /** Folder that relative `serverCertificate`/`privateKey`/`caCertificates` paths are resolved against (the YAML file's folder). */
  readonly baseDir: string;
  /** `--credentials-dir`: the folder holding one sub-folder per `credentialName`; undefined when not given. */
  readonly credentialsDir: string | undefined;
  /** Whether a client CA is required (`MUTUAL`, `OPTIONAL_MUTUAL`). */
  readonly needCa: boolean;
}

/** Kubernetes Secret keys, typed Secret first (`kubernetes.io/tls`), then Istio's generic keys. */
const CERT_KEYS = ['tls.crt', 'cert'] as const;
const KEY_KEYS = ['tls.key', 'key'] as const;
const CA_KEYS = ['ca.crt', 'cacert'] as const;
/** Istio looks for the client CA in a Secret named `<credentialName>-cacert` when the Secret itself has none. */
const CA_SECRET_SUFFIX = '-cacert';

function firstExisting(dir: string, names: readonly string[]): string | undefined {
  for (const n of names) {
    const p = path.join(dir, n);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Turns a server's `tls` settings into the files to load.
 *
 * - `credentialName: name` (optionally `kubernetes://name`; a `namespace/` prefix is ignored since the
 *   credentials folder is flat): `<credentialsDir>/<name>/{tls.crt|cert, tls.key|key}`; the client CA
 *   from `<name>/{ca.crt|cacert}`, else `<name>-cacert/{ca.crt|cacert}`.
 * - otherwise `serverCertificate` + `privateKey` (+ `caCertificates`), relative paths resolved against
 *   `baseDir`.
 *
 * Never throws: a missing folder, file or setting is returned as `error`, phrased for a diagnostic.
 */
export function resolveServerCredentials(
  tls: ServerTLSSettings,
  lookup: CredentialLookup,
): CredentialResolution {
  if (tls.credentialName) {
    let name = tls.credentialName.replace(/^kubernetes:\/\//, '');
    const slash = name.lastIndexOf('/');
    if (slash >= 0) name = name.slice(slash + 1);
    if (!lookup.credentialsDir) {
      return {
        error: `credentialName "${tls.credentialName}" needs --credentials-dir <dir> holding ${name}/tls.crt and ${name}/tls.key`,
      };
    }
    const dir = path.resolve(lookup.credentialsDir, name);
    if (!existsSync(dir)) return { error: `credential "${name}" not found: no folder ${dir}` };
    const certFile = firstExisting(dir, CERT_KEYS);
    const keyFile = firstExisting(dir, KEY_KEYS);
    if (!certFile || !keyFile) {
      return { error: `credential "${name}" in ${dir} needs tls.crt and tls.key (or cert and key)` };
    }
    let caFile: string | undefined;
    if (lookup.needCa) {
      caFile =
        firstExisting(dir, CA_KEYS) ??
        firstExisting(path.resolve(lookup.credentialsDir, name + CA_SECRET_SUFFIX), CA_KEYS);
      if (!caFile) {
        return {
          error: `credential "${name}" has no client CA: expected ${name}/ca.crt or ${name}${CA_SECRET_SUFFIX}/ca.crt`,
        };
      }
    }
    return { files: { certFile, keyFile, caFile, origin: `credentialName ${name}` } };
  }
  if (!tls.serverCertificate || !tls.privateKey) {
    return { error: 'needs credentialName, or both serverCertificate and privateKey' };
  }
  const certFile = path.resolve(lookup.baseDir, tls.serverCertificate);
  const keyFile = path.resolve(lookup.baseDir, tls.privateKey);
  for (const [field, p] of [
    ['serverCertificate', certFile],
    ['privateKey', keyFile],
  ] as const) {
    if (!existsSync(p)) return { error: `${field} ${p} does not exist` };
  }
  let caFile: string | undefined;
  if (lookup.needCa) {
    if (!tls.caCertificates)
      return { error: 'caCertificates is required for MUTUAL and OPTIONAL_MUTUAL without credentialName' };
    caFile = path.resolve(lookup.baseDir, tls.caCertificates);
    if (!existsSync(caFile)) return { error: `caCertificates ${caFile} does not exist` };
  }
  return { files: { certFile, keyFile, caFile, origin: `serverCertificate ${certFile}` } };
}
