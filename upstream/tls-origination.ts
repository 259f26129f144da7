/**
 * TLS origination: DestinationRule `trafficPolicy.tls` (or its `portLevelSettings`) with mode
 * `SIMPLE` or `MUTUAL` makes the gateway speak TLS to the upstream, so a plain `http://` call leaves
 * as HTTPS (Istio's egress TLS-origination task). Compiled once per cluster into `tls.connect`
 * options, which the endpoint's pool (h1-pool.ts, h2-pool.ts) uses for every connection.
 *
 * | field | effect |
 * |---|---|
 * | `sni` | fixed SNI for every connection; unset ⇒ Envoy's auto-SNI: the request's Host (both pools keep connections per SNI: the HTTP/1.1 pool reuses an idle one only for a request with its SNI) |
 * | `caCertificates` | PEM file of trusted roots; unset ⇒ Node's bundled roots (Envoy: system roots) |
 * | `clientCertificate`, `privateKey` | client certificate for `MUTUAL` |
 * | `insecureSkipVerify` | no chain and no name verification |
 * | `subjectAltNames` | the server certificate must carry one of these SANs (instead of the SNI check) |
 *
 * Relative file paths resolve against the directory of the DestinationRule's YAML file.
 * `ISTIO_MUTUAL` needs the mesh CA and is not originated (plaintext, with a warning); `DISABLE` is plaintext.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { ClientTLSSettings } from '../config/resources.js';

/** Compiled origination settings of one cluster. */
export interface OriginationTls {
  readonly mode: 'SIMPLE' | 'MUTUAL';
  /** DR `sni`; undefined = auto-SNI from the request Host. */
  readonly sni: string | undefined;
  /** Options handed to `tls.connect` (CA, client cert, verification); the pool adds host, SNI, ALPN. */
  readonly connect: tls.ConnectionOptions;
  /** Identity of these settings, part of the pool key (`SIMPLE|sni|files...`). */
  readonly key: string;
}

/** Result of {@link compileOriginationTls}: settings, or why there are none. */
interface OriginationTlsResult {
  /** Undefined when the cluster stays plaintext (no `tls`, `DISABLE`, `ISTIO_MUTUAL`, or an error). */
  readonly tls: OriginationTls | undefined;
  /** Why origination was not set up although asked for (unreadable file, ISTIO_MUTUAL). */
  readonly problem?: string;
}

function readPem(file: string, baseDir: string): Buffer {
  return readFileSync(path.isAbsolute(file) ? file : path.resolve(baseDir, file));
}

/** The SAN entries of a peer certificate, without their `DNS:`/`URI:`/`IP Address:` prefixes. */
function sansOf(cert: tls.PeerCertificate): string[] {
  return (cert.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => s.slice(s.indexOf(':') + 1));
}

/**
 * Compiles DR `tls` for one cluster. Reads certificate files now so a missing file is reported once,
 * at config time, not at every connection.
 * @param baseDir directory of the DestinationRule's file (relative paths resolve against it).
 */
export function compileOriginationTls(
  settings: ClientTLSSettings | undefined,
  baseDir: string,
): OriginationTlsResult {
  const mode = settings?.mode;
  if (!settings || mode === undefined || mode === 'DISABLE') return { tls: undefined };
  if (mode === 'ISTIO_MUTUAL') {
    return {
      tls: undefined,
      problem: 'tls.mode ISTIO_MUTUAL needs the Istio mesh CA; the cluster stays plaintext',
    };
  }
  if (settings.credentialName) {
    return {
      tls: undefined,
      problem: `tls.credentialName ${settings.credentialName} is not supported for origination; use file paths`,
    };
  }
  const connect: tls.ConnectionOptions = {};
  const keyParts: string[] = [mode, settings.sni ?? '', settings.insecureSkipVerify ? 'insecure' : ''];
  try {
    if (settings.caCertificates) {
      connect.ca = readPem(settings.caCertificates, baseDir);
      keyParts.push(`ca=${path.resolve(baseDir, settings.caCertificates)}`);
    }
    if (mode === 'MUTUAL') {
      if (!settings.clientCertificate || !settings.privateKey) {
        return { tls: undefined, problem: 'tls.mode MUTUAL needs clientCertificate and privateKey' };
      }
      connect.cert = readPem(settings.clientCertificate, baseDir);
      connect.key = readPem(settings.privateKey, baseDir);
      keyParts.push(`cert=${path.resolve(baseDir, settings.clientCertificate)}`);
    }
  } catch (err) {
    return { tls: undefined, problem: `cannot read a tls file: ${(err as Error).message}` };
  }
  const sans = settings.subjectAltNames ?? [];
  if (settings.insecureSkipVerify) {
    connect.rejectUnauthorized = false;
    connect.checkServerIdentity = () => undefined;
  } else if (sans.length > 0) {
    keyParts.push(`san=${sans.join(',')}`);
    connect.checkServerIdentity = (host, cert) => {
      const have = sansOf(cert);
      if (sans.some((s) => have.includes(s))) return undefined;
      const err: NodeJS.ErrnoException = new Error(
        `server certificate SANs [${have.join(', ')}] match none of subjectAltNames [${sans.join(', ')}] (host ${host})`,
      );
      err.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
      return err;
    };
  }
  return { tls: Object.freeze({ mode, sni: settings.sni, connect, key: keyParts.join('|') }) };
}
