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
 * Kubernetes Secrets in the input (`kubectl apply -f` with the Gateway, or from the API server) are
 * a second credentials source with the same key rules: a Secret named by `credentialName` in the
 * Gateway's namespace is used before `--credentials-dir`. Its bytes travel in `TlsFiles.inline`.
 *
 * Otherwise only paths are handled here; the bytes are read by the cert store, and never logged.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ServerTLSSettings } from '../config/resources.js';
import type { KubeSecret } from '../config/kube-resources.js';

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
  /**
   * The PEM bytes themselves, when the credential is a Secret of the input rather than files; the
   * `*File` fields then name the Secret keys (`kubernetes://ns/name/tls.crt#<digest>`, unique per
   * content) and nothing is read from disk or watched (a changed Secret arrives as a new config).
   */
  readonly inline?: { readonly cert: Buffer; readonly key: Buffer; readonly ca: Buffer | undefined };
}

/** Secrets by namespace and name: the Kubernetes credentials source. */
export interface SecretLookup {
  /** The Secret's decoded data (`data` base64-decoded, `stringData` over it), or undefined. */
  get(namespace: string, name: string): ReadonlyMap<string, Buffer> | undefined;
}

/** Indexes Secrets of the input for {@link resolveServerCredentials}. Malformed values are left out. */
export function secretLookup(secrets: readonly KubeSecret[]): SecretLookup {
  const byKey = new Map<string, Map<string, Buffer>>();
  for (const s of secrets) {
    const data = new Map<string, Buffer>();
    for (const [k, v] of Object.entries(isPlainObject(s.data) ? s.data : {})) {
      if (typeof v === 'string') data.set(k, Buffer.from(v, 'base64'));
    }
    // The API server merges stringData into data, stringData winning.
    for (const [k, v] of Object.entries(isPlainObject(s.stringData) ? s.stringData : {})) {
      if (typeof v === 'string') data.set(k, Buffer.from(v, 'utf8'));
    }
    byKey.set(`${s.metadata.namespace}/${s.metadata.name}`, data);
  }
  return { get: (namespace, name) => byKey.get(`${namespace}/${name}`) };
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Result of {@link resolveServerCredentials}: the files, or why they cannot be used. */
export type CredentialResolution =
  | { readonly files: TlsFiles }
  | {
      readonly error: string;
      /** `Secret/ns/name` when the credential is a Secret of the input that lacks keys. */
      readonly secret?: string;
    };

/** Where to look, and what is needed. */
export interface CredentialLookup {
  /** Folder that relative `serverCertificate`/`privateKey`/`caCertificates` paths are resolved against (the YAML file's folder). */
  readonly baseDir: string;
  /** `--credentials-dir`: the folder holding one sub-folder per `credentialName`; undefined when not given. */
  readonly credentialsDir: string | undefined;
  /** Whether a client CA is required (`MUTUAL`, `OPTIONAL_MUTUAL`). */
  readonly needCa: boolean;
  /** Secrets of the input, looked up before `credentialsDir`. */
  readonly secrets?: SecretLookup;
  /** Namespace a `credentialName` without `namespace/` prefix is looked up in (the Gateway's). */
  readonly namespace?: string;
}

/** Kubernetes Secret keys, typed Secret first (`kubernetes.io/tls`), then Istio's generic keys. */
const CERT_KEYS = ['tls.crt', 'cert'] as const;
const KEY_KEYS = ['tls.key', 'key'] as const;
const CA_KEYS = ['ca.crt', 'cacert'] as const;
/** Istio looks for the client CA in a Secret named `<credentialName>-cacert` when the Secret itself has none. */
const CA_SECRET_SUFFIX = '-cacert';

/** The first of `keys` the Secret has, with its bytes. */
function firstKey(data: ReadonlyMap<string, Buffer>, keys: readonly string[]): [string, Buffer] | undefined {
  for (const k of keys) {
    const v = data.get(k);
    if (v) return [k, v];
  }
  return undefined;
}

/**
 * A credential from a Secret of the input, by Istio's key rules: `tls.crt` + `tls.key` (+ `ca.crt`),
 * or `cert` + `key` (+ `cacert`); the client CA else from the Secret `<name>-cacert`.
 */
function fromSecret(
  data: ReadonlyMap<string, Buffer>,
  namespace: string,
  name: string,
  lookup: CredentialLookup,
): CredentialResolution {
  const secret = `Secret/${namespace}/${name}`;
  const pair =
    data.has('tls.crt') && data.has('tls.key')
      ? (['tls.crt', 'tls.key'] as const)
      : (['cert', 'key'] as const);
  const cert = data.get(pair[0]);
  const key = data.get(pair[1]);
  if (!cert || !key) {
    return {
      secret,
      error: `${secret} (credentialName "${name}") has neither tls.crt and tls.key nor cert and key (keys: ${[...data.keys()].join(', ') || 'none'})`,
    };
  }
  let ca: [string, Buffer, string] | undefined;
  if (lookup.needCa) {
    const own = firstKey(data, CA_KEYS);
    const caSecretData = lookup.secrets?.get(namespace, name + CA_SECRET_SUFFIX);
    const separate = caSecretData ? firstKey(caSecretData, CA_KEYS) : undefined;
    ca = own
      ? [own[0], own[1], secret]
      : separate
        ? [separate[0], separate[1], `${secret}${CA_SECRET_SUFFIX}`]
        : undefined;
    if (!ca) {
      return {
        secret,
        error: `${secret} (credentialName "${name}") has no client CA: expected key ca.crt or cacert, or a Secret ${name}${CA_SECRET_SUFFIX}`,
      };
    }
  }
  const digest = createHash('sha256')
    .update(cert)
    .update(key)
    .update(ca?.[1] ?? '')
    .digest('hex')
    .slice(0, 16);
  const keyOf = (k: string, where = secret): string => `kubernetes://${where}/${k}#${digest}`;
  return {
    files: {
      certFile: keyOf(pair[0]),
      keyFile: keyOf(pair[1]),
      caFile: ca ? keyOf(ca[0], ca[2]) : undefined,
      origin: `credentialName ${name} (${secret})`,
      inline: { cert, key, ca: ca?.[1] },
    },
  };
}

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
 * - `credentialName: name` (optionally `kubernetes://name`, optionally `namespace/name`): the Secret
 *   `name` of the input in that namespace (default the Gateway's), keys `tls.crt`/`tls.key` (a
 *   `kubernetes.io/tls` Secret) or `cert`/`key`, client CA from `ca.crt`/`cacert` or the Secret
 *   `<name>-cacert`; without such a Secret, `<credentialsDir>/<name>/` with the same file names (a
 *   `namespace/` prefix is ignored there since the credentials folder is flat).
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
    const namespace = slash >= 0 ? name.slice(0, slash) : (lookup.namespace ?? 'default');
    if (slash >= 0) name = name.slice(slash + 1);
    const secret = lookup.secrets?.get(namespace, name);
    if (secret) return fromSecret(secret, namespace, name, lookup);
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
