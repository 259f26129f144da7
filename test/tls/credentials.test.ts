/**
 * Which Secret keys make a `credentialName` credential, and where it is looked up: one rule
 * (`tls/credentials.ts`) for Secrets of the input and for `--credentials-dir` folders (the layout the
 * Kubernetes source writes Secrets in), so both modes must give the same answer for every case.
 *
 * Cases ported from Istio pilot/pkg/credentials/kube/secrets_test.go, TestSecretsController (Secret
 * data and the expected certificate, key, CA or error text). Istio's gateway asks for the CA as the
 * SDS resource `<credentialName>-cacert`, so a `MUTUAL` credential `X` gets the CA of
 * `GetCaCert("X-cacert")`: the `X-cacert` Secret when it exists, else `X` itself. Namespace facts from
 * pilot/pkg/model/credentials/resource_test.go, TestParseResourceName ("simple", "with namespace"),
 * and the same-namespace rule of pilot/pkg/xds/sds.go filterAuthorizedResources.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveServerCredentials, secretLookup, type CredentialResolution } from '../../tls/credentials.js';
import type { KubeSecret } from '../../config/kube-resources.js';
import type { ServerTLSSettings } from '../../config/resources.js';
import { compileDocuments } from '../../config/pipeline.js';
import { parseConfigText } from '../../config/load.js';

/** Istio's fixture Secrets (name → data), all in namespace `default`. */
const SECRETS: Record<string, Record<string, string>> = {
  generic: { cert: 'generic-cert', key: 'generic-key' },
  'generic-mtls': { cert: 'generic-mtls-cert', key: 'generic-mtls-key', cacert: 'generic-mtls-ca' },
  'generic-mtls-split': { cert: 'generic-mtls-split-cert', key: 'generic-mtls-split-key' },
  'generic-mtls-split-cacert': { cacert: 'generic-mtls-split-ca' },
  overlap: { cert: 'cert', key: 'key', cacert: 'main-ca' },
  'overlap-cacert': { cacert: 'split-ca' },
  tls: { 'tls.crt': 'tls-cert', 'tls.key': 'tls-key', 'tls.ocsp-staple': 'tls-ocsp-staple' },
  'tls-mtls': { 'tls.crt': 'tls-mtls-cert', 'tls.key': 'tls-mtls-key', 'ca.crt': 'tls-mtls-ca' },
  'tls-mtls-split': { 'tls.crt': 'tls-mtls-split-cert', 'tls.key': 'tls-mtls-split-key' },
  'tls-mtls-split-cacert': { 'ca.crt': 'tls-mtls-split-ca' },
  'tls-mtls-split-crl-cacert': { 'ca.crt': 'tls-mtls-split-ca', 'ca.crl': 'tls-mtls-split-crl' },
  'empty-cert': { 'tls.crt': '', 'tls.key': 'tls-key' },
  'wrong-keys': { 'foo-bar': 'my-cert', 'tls.key': 'tls-key' },
  // The review's case: a kubernetes.io/tls certificate with a generic key is neither pair.
  mixed: { 'tls.crt': 'mixed-cert', key: 'mixed-key' },
};

interface Case {
  readonly name: string;
  readonly cert?: string;
  readonly key?: string;
  readonly error?: string;
  /** CA of a MUTUAL server with this credentialName. */
  readonly caCert?: string;
  readonly caError?: string;
}

const CASES: readonly Case[] = [
  {
    name: 'generic',
    cert: 'generic-cert',
    key: 'generic-key',
    caError: "found secret, but didn't have expected keys cacert or ca.crt; found: cert, key",
  },
  { name: 'generic-mtls', cert: 'generic-mtls-cert', key: 'generic-mtls-key', caCert: 'generic-mtls-ca' },
  // The CA comes from generic-mtls-split-cacert (Istio's "generic-mtls-split-cacert" case).
  {
    name: 'generic-mtls-split',
    cert: 'generic-mtls-split-cert',
    key: 'generic-mtls-split-key',
    caCert: 'generic-mtls-split-ca',
  },
  {
    name: 'generic-mtls-split-cacert',
    error:
      "found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: cacert",
  },
  // "The -cacert secret has precedence" (Istio's "overlap-cacert" case).
  { name: 'overlap', cert: 'cert', key: 'key', caCert: 'split-ca' },
  {
    name: 'tls',
    cert: 'tls-cert',
    key: 'tls-key',
    caError:
      "found secret, but didn't have expected keys cacert or ca.crt; found: tls.crt, tls.key, tls.ocsp-staple, and 0 more...",
  },
  { name: 'tls-mtls', cert: 'tls-mtls-cert', key: 'tls-mtls-key', caCert: 'tls-mtls-ca' },
  {
    name: 'tls-mtls-split',
    cert: 'tls-mtls-split-cert',
    key: 'tls-mtls-split-key',
    caCert: 'tls-mtls-split-ca',
  },
  {
    name: 'tls-mtls-split-cacert',
    error:
      "found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: ca.crt",
  },
  {
    name: 'tls-mtls-split-crl-cacert',
    error:
      "found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: ca.crl, ca.crt",
  },
  { name: 'empty-cert', error: 'found keys "tls.crt" and "tls.key", but they were empty' },
  {
    name: 'wrong-keys',
    error:
      "found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: foo-bar, tls.key",
  },
  {
    name: 'mixed',
    error:
      "found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: key, tls.crt",
  },
];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Istio's Secrets as Secrets of the input. */
function inputSecrets(namespace = 'default'): KubeSecret[] {
  return Object.entries(SECRETS).map(
    ([name, data]) =>
      ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace },
        data: Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
      }) as unknown as KubeSecret,
  );
}

/** Istio's Secrets as a `--credentials-dir` (one folder per Secret, one file per key). */
function credentialsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-creds-'));
  dirs.push(dir);
  for (const [name, data] of Object.entries(SECRETS)) {
    mkdirSync(join(dir, name));
    for (const [k, v] of Object.entries(data)) writeFileSync(join(dir, name, k), v);
  }
  return dir;
}

/** The bytes a resolution points at, whichever mode produced it. */
function material(r: CredentialResolution): { cert: string; key: string; ca: string | undefined } | string {
  if ('error' in r) return r.error;
  const f = r.files;
  if (f.inline)
    return { cert: String(f.inline.cert), key: String(f.inline.key), ca: f.inline.ca && String(f.inline.ca) };
  return {
    cert: readFileSync(f.certFile, 'utf8'),
    key: readFileSync(f.keyFile, 'utf8'),
    ca: f.caFile && readFileSync(f.caFile, 'utf8'),
  };
}

const MODES = [
  {
    mode: 'Secrets of the input',
    lookup: () => ({
      baseDir: '.',
      credentialsDir: undefined,
      secrets: secretLookup(inputSecrets(), 'default'),
    }),
  },
  {
    mode: '--credentials-dir folders',
    lookup: () => ({ baseDir: '.', credentialsDir: credentialsDir(), secrets: secretLookup([], 'default') }),
  },
] as const;

describe.each(MODES)('credentialName key rules (Istio TestSecretsController): $mode', ({ lookup }) => {
  const where = lookup();
  const resolve = (name: string, needCa: boolean) =>
    material(
      resolveServerCredentials(
        { mode: needCa ? 'MUTUAL' : 'SIMPLE', credentialName: name },
        { ...where, needCa },
      ),
    );

  it.each(CASES)('$name', (c) => {
    const simple = resolve(c.name, false);
    if (c.error !== undefined) {
      expect(typeof simple).toBe('string');
      expect(simple).toContain(c.error);
      return;
    }
    expect(simple).toEqual({ cert: c.cert, key: c.key, ca: undefined });
    const mutual = resolve(c.name, true);
    if (c.caError !== undefined) {
      expect(typeof mutual).toBe('string');
      expect(mutual).toContain(c.caError);
    } else {
      expect(mutual).toEqual({ cert: c.cert, key: c.key, ca: c.caCert });
    }
  });
});

describe('credentialName namespace (Istio ParseResourceName, sds.go same-namespace rule)', () => {
  const tls = (credentialName: string): ServerTLSSettings => ({ mode: 'SIMPLE', credentialName });
  // The Secrets live in the gateway workload's namespace, istio-system, as in Istio's secure-ingress task.
  const secrets = secretLookup(inputSecrets('istio-system'), 'istio-system');
  const lookup = { baseDir: '.', credentialsDir: undefined, needCa: false, secrets };

  it('"simple": a bare name, or kubernetes://name, resolves in the proxy namespace', () => {
    expect(material(resolveServerCredentials(tls('tls'), lookup))).toMatchObject({ cert: 'tls-cert' });
    expect(material(resolveServerCredentials(tls('kubernetes://tls'), lookup))).toMatchObject({
      cert: 'tls-cert',
    });
  });

  it('"with namespace": namespace/name in the proxy namespace resolves', () => {
    const r = resolveServerCredentials(tls('kubernetes://istio-system/tls'), lookup);
    expect(material(r)).toMatchObject({ cert: 'tls-cert' });
  });

  it('another namespace is refused, even when a Secret of that name exists there', () => {
    const both = secretLookup([...inputSecrets('istio-system'), ...inputSecrets('bookinfo')], 'istio-system');
    const r = resolveServerCredentials(tls('bookinfo/tls'), { ...lookup, secrets: both });
    expect(material(r)).toContain('reads Secrets only from its own namespace istio-system');
  });

  it('a Secret in another namespace (the Gateway resource’s) is not found', () => {
    const r = resolveServerCredentials(tls('tls'), {
      ...lookup,
      secrets: secretLookup(inputSecrets('bookinfo'), 'istio-system'),
    });
    expect('error' in r).toBe(true);
  });

  it('folder mode refuses another namespace too', () => {
    const r = resolveServerCredentials(tls('bookinfo/tls'), {
      baseDir: '.',
      credentialsDir: credentialsDir(),
      needCa: false,
      secrets: secretLookup([], 'istio-system'),
    });
    expect(material(r)).toContain('own namespace istio-system');
    const ok = resolveServerCredentials(tls('istio-system/tls'), {
      baseDir: '.',
      credentialsDir: credentialsDir(),
      needCa: false,
      secrets: secretLookup([], 'istio-system'),
    });
    expect(material(ok)).toMatchObject({ cert: 'tls-cert' });
  });
});

describe('credentialName namespace through the pipeline (file mode, Secrets of the input)', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  /** A Gateway in `bookinfo` whose HTTPS server names `credential`; the Secret lives in `istio-system`. */
  const yaml = (credential: string) => `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: secure, namespace: bookinfo }
spec:
  servers:
  - port: { number: 443, name: https, protocol: HTTPS }
    hosts: ['*']
    tls: { mode: SIMPLE, credentialName: ${credential} }
---
apiVersion: v1
kind: Secret
metadata: { name: bookinfo-credential, namespace: istio-system }
type: kubernetes.io/tls
data: { tls.crt: ${b64('CERT')}, tls.key: ${b64('KEY')} }
`;
  const chainOf = (credential: string, proxyNamespace: string | undefined) => {
    const r = compileDocuments(parseConfigText(yaml(credential), 'secure.yaml'), {
      defaultNamespace: 'default',
      portMap: new Map([[443, 0]]),
      ...(proxyNamespace ? { proxyNamespace } : {}),
    });
    const listener = r.snapshot?.listeners.find((l) => l.port === 443);
    return { chains: listener?.filterChains?.chains ?? [], diagnostics: r.diagnostics };
  };

  it('resolves in the gateway workload namespace, not the Gateway resource one', () => {
    expect(chainOf('bookinfo-credential', 'istio-system').chains).toHaveLength(1);
    // Proxy namespace `default`: the Secret of istio-system is not the gateway's.
    const elsewhere = chainOf('bookinfo-credential', undefined);
    expect(elsewhere.chains).toHaveLength(0);
    // Naming the Gateway's namespace explicitly is refused (istiod denies cross-namespace Secrets).
    const crossNs = chainOf('bookinfo/bookinfo-credential', 'istio-system');
    expect(crossNs.chains).toHaveLength(0);
    expect(crossNs.diagnostics.map((d) => d.message).join('\n')).toContain(
      'a gateway reads Secrets only from its own namespace istio-system',
    );
  });
});
