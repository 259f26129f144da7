/**
 * Test PKI made at test time with the openssl CLI (never real keys): a CA and leaf certificates
 * (EC P-256, 2 days) in a temporary folder, plus helpers to lay them out as a `--credentials-dir`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and key on disk, with their PEM text. */
export interface IssuedCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

/** What to put in a leaf certificate. */
export interface IssueOptions {
  readonly cn: string;
  readonly org?: string;
  readonly dns?: readonly string[];
  readonly uris?: readonly string[];
  /** IP address subject alternative names (`127.0.0.1` for a server reached by address). */
  readonly ips?: readonly string[];
  /** Client certificate (extendedKeyUsage clientAuth) instead of a server one. */
  readonly client?: boolean;
}

/** A CA able to issue leaves. */
export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: string;
  /** Issues `<dir>/<name>.crt|.key` signed by this CA. */
  issue(name: string, opts: IssueOptions): IssuedCert;
  /** Deletes the folder. */
  close(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Creates a CA (`/O=<org>/CN=<cn>`, default `example Inc.` / `example.com`, as Istio's secure-ingress task). */
export function createTestPki(opts: { cn?: string; org?: string } = {}): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-pki-'));
  const subj = `/O=${opts.org ?? 'example Inc.'}/CN=${opts.cn ?? 'example.com'}`;
  openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      subj,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const caFile = join(dir, 'ca.crt');
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    issue(name, o) {
      const san = [
        ...(o.dns ?? []).map((d) => `DNS:${d}`),
        ...(o.uris ?? []).map((u) => `URI:${u}`),
        ...(o.ips ?? []).map((ip) => `IP:${ip}`),
      ];
      const ext = [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature',
        `extendedKeyUsage=${o.client ? 'clientAuth' : 'serverAuth'}`,
        ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : []),
      ].join('\n');
      writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
      const leafSubj = `/CN=${o.cn}${o.org ? `/O=${o.org}` : ''}`;
      openssl(
        ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', leafSubj],
        dir,
      );
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-set_serial',
          `0x${randomBytes(8).toString('hex')}`,
          '-days',
          '2',
          '-out',
          `${name}.crt`,
          '-extfile',
          `${name}.ext`,
        ],
        dir,
      );
      const certFile = join(dir, `${name}.crt`);
      const keyFile = join(dir, `${name}.key`);
      return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Writes a credential the way a mounted Kubernetes TLS Secret looks: `<credentialsDir>/<name>/tls.crt`,
 * `tls.key` and, when given, `ca.crt`. Overwrites in place (also used to rotate).
 * @returns the credential folder.
 */
export function writeCredential(
  credentialsDir: string,
  name: string,
  cert: IssuedCert,
  caPem?: string,
): string {
  const d = join(credentialsDir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'tls.crt'), cert.cert);
  writeFileSync(join(d, 'tls.key'), cert.key);
  if (caPem !== undefined) writeFileSync(join(d, 'ca.crt'), caPem);
  return d;
}
