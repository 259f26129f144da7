/**
 * Gateway `server.tls` (Istio `ServerTLSSettings`) compiled into what a terminating filter chain
 * needs: credential files, protocol range, cipher list and client-certificate policy. This is the
 * meshgate side of Istio's `BuildListenerTLSContext` → Envoy `DownstreamTlsContext`.
 */
import { getCiphers, type SecureVersion } from 'node:tls';
import type { ServerTLSSettings } from '../config/resources.js';
import { resolveServerCredentials, type CredentialLookup, type TlsFiles } from './credentials.js';

/** The modes in which the gateway terminates TLS itself. */
export type TerminatingMode = 'SIMPLE' | 'MUTUAL' | 'OPTIONAL_MUTUAL';

/** A compiled server TLS context (Envoy `DownstreamTlsContext`). Immutable. */
export interface ServerTlsContext {
  readonly mode: TerminatingMode;
  readonly files: TlsFiles;
  /** Lowest protocol accepted (`minProtocolVersion`; TLS_AUTO = TLS 1.2, Envoy's server default). */
  readonly minVersion: SecureVersion;
  /** Highest protocol accepted (`maxProtocolVersion`; TLS_AUTO = TLS 1.3). */
  readonly maxVersion: SecureVersion;
  /** OpenSSL cipher list for TLS ≤ 1.2 (`cipherSuites`, else Envoy's default list). TLS 1.3 suites are not configurable, as in Envoy. */
  readonly ciphers: string;
  /** Ask the client for a certificate (MUTUAL, OPTIONAL_MUTUAL). */
  readonly requestCert: boolean;
  /** Fail the handshake without a valid client certificate (MUTUAL). */
  readonly requireClientCert: boolean;
  /** `subjectAltNames`: when non-empty, a client certificate must carry one of them (Envoy `match_subject_alt_names`, exact). */
  readonly subjectAltNames: readonly string[];
  /** Equal keys mean identical settings and files: chains can share a server and its secure context across reloads. */
  readonly key: string;
}

/** What {@link compileServerTls} found: a context, or an error; warnings either way. */
interface ServerTlsCompileResult {
  readonly context: ServerTlsContext | undefined;
  readonly error: string | undefined;
  readonly warnings: readonly string[];
}

const VERSIONS: Readonly<Record<string, SecureVersion | undefined>> = {
  TLS_AUTO: undefined,
  TLSV1_0: 'TLSv1',
  TLSV1_1: 'TLSv1.1',
  TLSV1_2: 'TLSv1.2',
  TLSV1_3: 'TLSv1.3',
};
const ORDER: readonly SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/**
 * Envoy's default server cipher list for TLS 1.2 (ECDHE with AEAD only); Node's own default also
 * allows DHE and CBC suites that an Istio gateway would refuse.
 */
export const ENVOY_DEFAULT_SERVER_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

let supportedCiphers: ReadonlySet<string> | undefined;

/**
 * Filters `cipherSuites` as Istio's `FilterCipherSuites` does: unknown and duplicate names are
 * dropped with a warning. Names are OpenSSL's (`ECDHE-RSA-AES256-GCM-SHA384`).
 */
function filterCipherSuites(names: readonly string[]): { ciphers: string[]; warnings: string[] } {
  supportedCiphers ??= new Set(getCiphers());
  const seen = new Set<string>();
  const ciphers: string[] = [];
  const warnings: string[] = [];
  for (const raw of names) {
    const name = raw.trim();
    if (seen.has(name)) {
      warnings.push(`cipher suite ${name} is listed twice; the duplicate is ignored`);
      continue;
    }
    seen.add(name);
    if (!supportedCiphers.has(name.toLowerCase())) {
      warnings.push(`cipher suite ${name} is not supported; ignored`);
      continue;
    }
    ciphers.push(name);
  }
  return { ciphers, warnings };
}

/**
 * Compiles a terminating server's TLS settings.
 *
 * Behaviour (Istio `ServerTLSSettings`, Envoy `DownstreamTlsContext`):
 * - `SIMPLE`: server certificate only. `MUTUAL`: client certificate required and verified against the
 *   CA (`caCertificates` or the credential's CA). `OPTIONAL_MUTUAL`: requested, verified when presented.
 * - `min/maxProtocolVersion`: `TLS_AUTO` means TLS 1.2 … 1.3. A range below TLS 1.2 also lowers
 *   OpenSSL's security level so that TLS 1.0/1.1 handshakes can actually complete, as BoringSSL allows.
 * - `cipherSuites`: filtered (unknown/duplicate names warned and dropped); an empty result falls back to
 *   the default list.
 *
 * @param settings the server's `tls`; `mode` must be a terminating mode.
 * @param lookup where credential files are resolved (see {@link resolveServerCredentials}).
 * @returns never throws; an unusable configuration is returned as `error`.
 */
export function compileServerTls(
  settings: ServerTLSSettings,
  mode: TerminatingMode,
  lookup: Omit<CredentialLookup, 'needCa'>,
): ServerTlsCompileResult {
  const warnings: string[] = [];
  const requestCert = mode !== 'SIMPLE';
  const creds = resolveServerCredentials(settings, { ...lookup, needCa: requestCert });
  if ('error' in creds) return { context: undefined, error: creds.error, warnings };

  let minVersion = VERSIONS[settings.minProtocolVersion ?? 'TLS_AUTO'] ?? 'TLSv1.2';
  let maxVersion = VERSIONS[settings.maxProtocolVersion ?? 'TLS_AUTO'] ?? 'TLSv1.3';
  if (ORDER.indexOf(minVersion) > ORDER.indexOf(maxVersion)) {
    warnings.push(
      `minProtocolVersion ${settings.minProtocolVersion} is above maxProtocolVersion ${settings.maxProtocolVersion}; using TLS_AUTO (1.2 to 1.3)`,
    );
    minVersion = 'TLSv1.2';
    maxVersion = 'TLSv1.3';
  }
  let ciphers = ENVOY_DEFAULT_SERVER_CIPHERS;
  if (settings.cipherSuites && settings.cipherSuites.length > 0) {
    const filtered = filterCipherSuites(settings.cipherSuites);
    warnings.push(...filtered.warnings);
    if (filtered.ciphers.length > 0) ciphers = filtered.ciphers.join(':');
    else warnings.push('no usable cipherSuites left; using the default list');
  }
  const legacy = ORDER.indexOf(minVersion) < ORDER.indexOf('TLSv1.2');
  if (legacy) {
    // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level (SHA-1 signatures in the handshake).
    ciphers += ':@SECLEVEL=0';
    if (!settings.cipherSuites || settings.cipherSuites.length === 0) {
      warnings.push(
        `minProtocolVersion ${settings.minProtocolVersion} without cipherSuites: TLS below 1.2 uses the default cipher list`,
      );
    }
  }
  const subjectAltNames = settings.subjectAltNames ?? [];
  const files = creds.files;
  const key = [
    mode,
    files.certFile,
    files.keyFile,
    files.caFile ?? '',
    minVersion,
    maxVersion,
    ciphers,
    subjectAltNames.join(','),
  ].join('|');
  return {
    context: Object.freeze({
      mode,
      files,
      minVersion,
      maxVersion,
      ciphers,
      requestCert,
      requireClientCert: mode === 'MUTUAL',
      subjectAltNames,
      key,
    }),
    error: undefined,
    warnings,
  };
}
