/**
 * `x-forwarded-client-cert` (XFCC) as Envoy writes it for an Istio gateway: the HTTP connection
 * manager runs with `forward_client_cert_details: SANITIZE_SET` and
 * `set_current_client_cert_details { subject, cert, uri, dns }` (pilot `buildGatewayConnectionManager`),
 * so a client-supplied XFCC is dropped and, when the client presented a certificate, replaced by
 *
 *   By=<server URI SAN>;Hash=<sha256 of the client DER, hex>;Cert="<URL-encoded PEM>";Subject="<RFC 2253>";URI=<uri SAN>;DNS=<dns SAN>
 *
 * in Envoy's key order (By, Hash, Cert, Chain, Subject, URI, DNS); `By`, `URI` and `DNS` repeat once per
 * SAN and are left out when there is none; `Subject` is always present, quoted.
 */
import { createHash } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';

/** SAN lists of a certificate, from Node's `subjectaltname` text (`DNS:a, URI:spiffe://x, IP Address:1.2.3.4`). */
interface SubjectAltNames {
  readonly dns: readonly string[];
  readonly uri: readonly string[];
  /** Every SAN value of any type (DNS, URI, IP, email), for `subjectAltNames` checks. */
  readonly all: readonly string[];
}

/** Parses Node's `subjectaltname` string; quoted values (Node ≥ 17 quotes values with commas) are unquoted. */
export function parseSubjectAltNames(text: string | undefined): SubjectAltNames {
  const dns: string[] = [];
  const uri: string[] = [];
  const all: string[] = [];
  if (!text) return { dns, uri, all };
  // Entries are `Type:value` joined by ", "; a quoted value is a JSON string.
  const re = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (let m = re.exec(text); m !== null && m[0] !== ''; m = re.exec(text)) {
    const type = m[1]!.trim();
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        value = value.slice(1, -1);
      }
    }
    all.push(value);
    if (type === 'DNS') dns.push(value);
    else if (type === 'URI') uri.push(value);
  }
  return { dns, uri, all };
}

/** RFC 2253 escaping as OpenSSL's `XN_FLAG_RFC2253` prints it: specials backslash-escaped, non-ASCII and control bytes as `\XX`. */
function escapeRfc2253(value: string): string {
  let out = '';
  const bytes = Buffer.from(value, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const ch = String.fromCharCode(b);
    const first = i === 0;
    const last = i === bytes.length - 1;
    if (b < 0x20 || b >= 0x7f) out += `\\${b.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (',+"\\<>;'.includes(ch) || (first && (ch === '#' || ch === ' ')) || (last && ch === ' '))
      out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

/**
 * A certificate subject in RFC 2253 form (`CN=client,O=example Inc.,C=US`): the RDNs of Node's
 * subject object (certificate order) reversed, as Envoy's `subjectPeerCertificate()` prints them.
 * Repeated attributes (Node groups them in an array) keep their relative order.
 */
function rfc2253Subject(
  subject: Readonly<Record<string, string | readonly string[] | undefined>> | undefined,
): string {
  if (!subject) return '';
  const rdns: string[] = [];
  for (const [k, v] of Object.entries(subject)) {
    if (v === undefined) continue;
    for (const one of typeof v === 'string' ? [v] : v) rdns.push(`${k}=${escapeRfc2253(one)}`);
  }
  return rdns.reverse().join(',');
}

/**
 * Formats the XFCC value for a verified client certificate.
 * @param peer `tlsSocket.getPeerCertificate()` of the downstream connection (non-empty).
 * @param localUris URI SANs of the gateway's own certificate (Envoy's `By`).
 */
export function formatXfcc(peer: PeerCertificate, localUris: readonly string[]): string {
  const parts: string[] = [];
  for (const u of localUris) parts.push(`By=${u}`);
  parts.push(`Hash=${createHash('sha256').update(peer.raw).digest('hex')}`);
  const pem = `-----BEGIN CERTIFICATE-----\n${peer.raw.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  // Envoy percent-encodes everything but unreserved characters; on a PEM that is what encodeURIComponent does.
  parts.push(`Cert="${encodeURIComponent(pem)}"`);
  parts.push(`Subject="${rfc2253Subject(peer.subject as unknown as Record<string, string | string[]>)}"`);
  const sans = parseSubjectAltNames(peer.subjectaltname);
  for (const u of sans.uri) parts.push(`URI=${u}`);
  for (const d of sans.dns) parts.push(`DNS=${d}`);
  return parts.join(';');
}
