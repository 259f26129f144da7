/**
 * Where the key material of a TLS-terminating Gateway server lives on disk.
 *
 * Istio reads it either from file paths in the server (`serverCertificate`, `privateKey`,
 * `caCertificates`) or from a Kubernetes Secret named by `credentialName`. Without Kubernetes,
 * meshgate maps a credential name to a folder of `--credentials-dir`, laid out the way kubelet mounts
 * a Secret: `<dir>/<name>/tls.crt`, `tls.key`, `ca.crt` (a `kubernetes.io/tls` Secret), or the generic
 * keys `cert`, `key`, `cacert`. The client CA may also come from a separate `<name>-cacert` folder,
 * Istio's convention for keeping the CA out of the server's own Secret. Which keys count is decided
 * once, here ({@link certKeyPair}, {@link caKeyOf}), for folders and Secrets alike.
 *
 * Kubernetes Secrets in the input (`kubectl apply -f` with the Gateway) are a second credentials
 * source with the same key rules: a Secret named by `credentialName` in the gateway workload's
 * namespace (Istio resolves it in the proxy's namespace, not the Gateway resource's) is used before
 * `--credentials-dir`. Its bytes travel in `TlsFiles.inline`.
 *
 * Otherwise only paths are handled here; the bytes are read by the cert store, and never logged.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
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
  /**
   * The namespace of the gateway workload (Istio's proxy namespace): a `credentialName` resolves
   * there, and a `namespace/name` form naming another namespace is refused, as istiod's SDS does.
   */
  readonly namespace: string;
  /** The Secret's decoded data (`data` base64-decoded, `stringData` over it), or undefined. */
  get(namespace: string, name: string): ReadonlyMap<string, Buffer> | undefined;
}

/**
 * Indexes Secrets of the input for {@link resolveServerCredentials}. Malformed values are left out.
 * @param proxyNamespace the gateway workload's namespace (see {@link SecretLookup.namespace}).
 */
export function secretLookup(secrets: readonly KubeSecret[], proxyNamespace: string): SecretLookup {
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
  return { namespace: proxyNamespace, get: (namespace, name) => byKey.get(`${namespace}/${name}`) };
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
  /** Secrets of the input, looked up before `credentialsDir`; also carries the proxy namespace (default `default`). */
  readonly secrets?: SecretLookup;
}

/** A credential's keys and their sizes in bytes: the data of a Secret, or the files of a folder. */
type KeySizes = ReadonlyMap<string, number>;

function sizesOf(data: ReadonlyMap<string, Buffer>): KeySizes {
  return new Map([...data].map(([k, v]) => [k, v.length]));
}

/** The files of a Secret-like folder (kubelet's `..data` bookkeeping left out), with their sizes. */
function folderSizes(dir: string): KeySizes | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  const sizes = new Map<string, number>();
  for (const n of names) {
    if (n.startsWith('..')) continue;
    try {
      const st = statSync(path.join(dir, n));
      if (st.isFile()) sizes.set(n, st.size);
    } catch {
      // a dangling link: absent
    }
  }
  return sizes;
}

/** Istio's listing of the keys found, sorted, at most three then a count. */
function foundKeys(keys: KeySizes): string {
  const sorted = [...keys.keys()].sort();
  return sorted.length < 3
    ? sorted.join(', ')
    : `${sorted.slice(0, 3).join(', ')}, and ${sorted.length - 3} more...`;
}

/**
 * Which keys of a Secret (or credential folder) hold the server certificate and key, by Istio's rule
 * (`ExtractCertInfo`, pilot/pkg/credentials/kube/secrets.go): the generic `cert` + `key` when both are
 * non-empty, else the `kubernetes.io/tls` `tls.crt` + `tls.key`; a mixed pair (`tls.crt` + `key`) is
 * neither. The one rule for Secrets of the input, `--credentials-dir` folders and the folders the
 * Kubernetes source writes.
 * @returns the two key names, or Istio's error text.
 */
function certKeyPair(keys: KeySizes): { cert: string; key: string } | { error: string } {
  const nonEmpty = (a: string, b: string): boolean => (keys.get(a) ?? 0) > 0 && (keys.get(b) ?? 0) > 0;
  const present = (a: string, b: string): boolean => keys.has(a) && keys.has(b);
  for (const [cert, key] of KEY_PAIRS) if (nonEmpty(cert, key)) return { cert, key };
  for (const [cert, key] of KEY_PAIRS) {
    if (present(cert, key)) return { error: `found keys "${cert}" and "${key}", but they were empty` };
  }
  return {
    error: `found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: ${foundKeys(keys)}`,
  };
}

/**
 * Which key holds the client CA bundle, by Istio's rule (`ExtractRoot`): `cacert`, else `ca.crt`.
 * @returns the key name, or Istio's error text.
 */
function caKeyOf(keys: KeySizes): { ca: string } | { error: string } {
  for (const ca of CA_KEYS) if ((keys.get(ca) ?? 0) > 0) return { ca };
  for (const ca of CA_KEYS) if (keys.has(ca)) return { error: `found key "${ca}", but it was empty` };
  return { error: `found secret, but didn't have expected keys cacert or ca.crt; found: ${foundKeys(keys)}` };
}

/** Server certificate/key pairs in Istio's order of preference. */
const KEY_PAIRS = [
  ['cert', 'key'],
  ['tls.crt', 'tls.key'],
] as const;
/** Client CA keys in Istio's order of preference. */
const CA_KEYS = ['cacert', 'ca.crt'] as const;

/**
 * Every Secret key a gateway credential may use (certificate, key, CA, CRL, OCSP staple): what the
 * Kubernetes source writes to the credentials folder.
 */
export const CREDENTIAL_SECRET_KEYS: ReadonlySet<string> = new Set([
  'cert',
  'key',
  'cacert',
  'crl',
  'tls.crt',
  'tls.key',
  'ca.crt',
  'ca.crl',
  'tls.ocsp-staple',
]);

/** Istio's SDS name suffix for a credential's client CA: the Secret `<name>-cacert`, when present, is used first. */
const CA_SECRET_SUFFIX = '-cacert';

/**
 * Splits a `credentialName` (`name`, `kubernetes://name`, `namespace/name`) into namespace and name,
 * as Istio's `ParseResourceName` does (the first `/` separates; no namespace means the proxy's).
 * @returns the parts, or an error for a namespace other than the proxy's (istiod refuses a
 * cross-namespace `kubernetes://` Secret).
 */
function parseCredentialName(
  credentialName: string,
  proxyNamespace: string,
): { namespace: string; name: string } | { error: string } {
  const ref = credentialName.replace(/^kubernetes:\/\//, '');
  const [first, second] = ref.split('/');
  const namespace = second === undefined ? proxyNamespace : first!;
  const name = second ?? first!;
  if (namespace !== proxyNamespace) {
    return {
      error: `credentialName "${credentialName}" names namespace ${namespace}, but a gateway reads Secrets only from its own namespace ${proxyNamespace}`,
    };
  }
  return { namespace, name };
}

/**
 * A credential from a Secret of the input: certificate and key by {@link certKeyPair}; the client
 * CA by {@link caKeyOf} from the Secret `<name>-cacert` when it exists, else from the Secret itself
 * (Istio's `GetCaCert`).
 */
function fromSecret(
  data: ReadonlyMap<string, Buffer>,
  namespace: string,
  name: string,
  lookup: CredentialLookup,
): CredentialResolution {
  const secret = `Secret/${namespace}/${name}`;
  const pair = certKeyPair(sizesOf(data));
  if ('error' in pair) return { secret, error: `${secret} (credentialName "${name}"): ${pair.error}` };
  const cert = data.get(pair.cert)!;
  const key = data.get(pair.key)!;
  let ca: { key: string; bytes: Buffer; where: string } | undefined;
  if (lookup.needCa) {
    const caSecret = lookup.secrets?.get(namespace, name + CA_SECRET_SUFFIX);
    const [caData, where] = caSecret ? [caSecret, secret + CA_SECRET_SUFFIX] : [data, secret];
    const found = caKeyOf(sizesOf(caData));
    if ('error' in found) {
      return { secret, error: `credentialName "${name}" has no client CA in ${where}: ${found.error}` };
    }
    ca = { key: found.ca, bytes: caData.get(found.ca)!, where };
  }
  const digest = createHash('sha256')
    .update(cert)
    .update(key)
    .update(ca?.bytes ?? '')
    .digest('hex')
    .slice(0, 16);
  const keyOf = (k: string, where = secret): string => `kubernetes://${where}/${k}#${digest}`;
  return {
    files: {
      certFile: keyOf(pair.cert),
      keyFile: keyOf(pair.key),
      caFile: ca ? keyOf(ca.key, ca.where) : undefined,
      origin: `credentialName ${name} (${secret})`,
      inline: { cert, key, ca: ca?.bytes },
    },
  };
}

/** A credential from `<credentialsDir>/<name>/`, by the same key rules as {@link fromSecret}. */
function fromFolder(credentialsDir: string, name: string, needCa: boolean): CredentialResolution {
  const dir = path.resolve(credentialsDir, name);
  const keys = folderSizes(dir);
  if (!keys) return { error: `credential "${name}" not found: no folder ${dir}` };
  const pair = certKeyPair(keys);
  if ('error' in pair) return { error: `credential "${name}" in ${dir}: ${pair.error}` };
  let caFile: string | undefined;
  if (needCa) {
    const caDir = path.resolve(credentialsDir, name + CA_SECRET_SUFFIX);
    const caKeys = folderSizes(caDir);
    const [where, whereKeys] = caKeys ? [caDir, caKeys] : [dir, keys];
    const found = caKeyOf(whereKeys);
    if ('error' in found)
      return { error: `credential "${name}" has no client CA in ${where}: ${found.error}` };
    caFile = path.join(where, found.ca);
  }
  return {
    files: {
      certFile: path.join(dir, pair.cert),
      keyFile: path.join(dir, pair.key),
      caFile,
      origin: `credentialName ${name}`,
    },
  };
}

/**
 * Turns a server's `tls` settings into the files to load.
 *
 * - `credentialName: name` (optionally `kubernetes://name`, optionally `namespace/name`): resolved in
 *   the gateway workload's namespace ({@link SecretLookup.namespace}; another namespace is an error,
 *   as istiod refuses it). The Secret `name` of the input, else the folder `<credentialsDir>/<name>/`;
 *   either way certificate and key by {@link certKeyPair}, client CA by {@link caKeyOf} from
 *   `<name>-cacert` when that exists, else from the credential itself.
 * - otherwise `serverCertificate` + `privateKey` (+ `caCertificates`), relative paths resolved against
 *   `baseDir`.
 *
 * Never throws: a missing folder, file, key or setting is returned as `error`, phrased for a diagnostic.
 */
export function resolveServerCredentials(
  tls: ServerTLSSettings,
  lookup: CredentialLookup,
): CredentialResolution {
  if (tls.credentialName) {
    const ref = parseCredentialName(tls.credentialName, lookup.secrets?.namespace ?? 'default');
    if ('error' in ref) return ref;
    const secret = lookup.secrets?.get(ref.namespace, ref.name);
    if (secret) return fromSecret(secret, ref.namespace, ref.name, lookup);
    if (!lookup.credentialsDir) {
      return {
        error: `credentialName "${tls.credentialName}" needs --credentials-dir <dir> holding ${ref.name}/tls.crt and ${ref.name}/tls.key`,
      };
    }
    return fromFolder(lookup.credentialsDir, ref.name, lookup.needCa);
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
