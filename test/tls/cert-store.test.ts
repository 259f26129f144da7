/**
 * The certificate store on real files: sharing, reload on change (in place and by Kubernetes'
 * `..data` symlink swap), refusal of inconsistent files, redaction. Waits on the reload channel,
 * never sleeps.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { X509Certificate } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CERT_RELOAD_CHANNEL,
  CertLoadError,
  CertStore,
  type CertReloadMessage,
} from '../../tls/cert-store.js';
import type { TlsFiles } from '../../tls/credentials.js';
import { createTestPki, writeCredential, type IssuedCert, type TestPki } from '../helpers/certs.js';

const log = pino({ level: 'silent' });
let pki: TestPki;
let dir: string;
let first: IssuedCert;
let second: IssuedCert;

beforeAll(() => {
  pki = createTestPki();
  dir = mkdtempSync(join(tmpdir(), 'meshgate-certstore-'));
  first = pki.issue('first', { cn: 'first.example.com' });
  second = pki.issue('second', { cn: 'second.example.com' });
});

afterAll(() => {
  pki?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Resolves with the next reload message about `certFile` that satisfies `pred`. */
function nextReload(
  certFile: string,
  pred: (m: CertReloadMessage) => boolean = () => true,
): Promise<CertReloadMessage> {
  return new Promise((resolve) => {
    const onMessage = (msg: unknown) => {
      const m = msg as CertReloadMessage;
      if (m.certFile !== certFile || !pred(m)) return;
      unsubscribe(CERT_RELOAD_CHANNEL, onMessage);
      resolve(m);
    };
    subscribe(CERT_RELOAD_CHANNEL, onMessage);
  });
}

const cn = (pem: Buffer) => new X509Certificate(pem).subject;

describe('CertStore', () => {
  it('shares one load between leases and stops watching when the last lease goes', () => {
    const d = writeCredential(dir, 'shared', first);
    const files: TlsFiles = {
      certFile: join(d, 'tls.crt'),
      keyFile: join(d, 'tls.key'),
      caFile: undefined,
      origin: 'test',
    };
    const store = new CertStore(log);
    const a = store.acquire(files, () => undefined);
    const b = store.acquire(files, () => undefined);
    expect(store.size).toBe(1);
    expect(a.material).toBe(b.material);
    expect(cn(a.material.cert)).toBe('CN=first.example.com');
    a.release();
    a.release();
    expect(store.size).toBe(1);
    b.release();
    expect(store.size).toBe(0);
  });

  it('reloads when the files are rewritten in place, refusing an inconsistent intermediate state', async () => {
    const d = writeCredential(dir, 'rotate', first);
    const files: TlsFiles = {
      certFile: join(d, 'tls.crt'),
      keyFile: join(d, 'tls.key'),
      caFile: undefined,
      origin: 'test',
    };
    const store = new CertStore(log, { debounceMs: 20 });
    const seen: string[] = [];
    const lease = store.acquire(files, (m) => seen.push(cn(m.cert)));
    try {
      // Certificate of `second` with the key of `first`: refused, `first` stays in force.
      const refused = nextReload(files.certFile, (m) => m.error !== undefined);
      writeFileSync(files.certFile, second.cert);
      const r = await refused;
      expect(r.generation).toBe(1);
      expect(cn(lease.material.cert)).toBe('CN=first.example.com');
      const accepted = nextReload(files.certFile, (m) => m.error === undefined);
      writeFileSync(files.keyFile, second.key);
      expect((await accepted).generation).toBe(2);
      expect(cn(lease.material.cert)).toBe('CN=second.example.com');
      expect(seen).toEqual(['CN=second.example.com']);
    } finally {
      lease.release();
    }
  });

  it('reloads on a Kubernetes-style `..data` symlink swap', async () => {
    const secret = join(dir, 'k8s');
    mkdirSync(join(secret, '..v1'), { recursive: true });
    writeFileSync(join(secret, '..v1', 'tls.crt'), first.cert);
    writeFileSync(join(secret, '..v1', 'tls.key'), first.key);
    symlinkSync('..v1', join(secret, '..data'));
    symlinkSync('..data/tls.crt', join(secret, 'tls.crt'));
    symlinkSync('..data/tls.key', join(secret, 'tls.key'));
    const files: TlsFiles = {
      certFile: join(secret, 'tls.crt'),
      keyFile: join(secret, 'tls.key'),
      caFile: undefined,
      origin: 'k8s',
    };
    const store = new CertStore(log, { debounceMs: 20 });
    const lease = store.acquire(files, () => undefined);
    try {
      const accepted = nextReload(files.certFile, (m) => m.error === undefined);
      // kubelet's atomic writer: new folder, new symlink, rename over `..data`.
      mkdirSync(join(secret, '..v2'));
      writeFileSync(join(secret, '..v2', 'tls.crt'), second.cert);
      writeFileSync(join(secret, '..v2', 'tls.key'), second.key);
      symlinkSync('..v2', join(secret, '..data_tmp'));
      renameSync(join(secret, '..data_tmp'), join(secret, '..data'));
      expect((await accepted).generation).toBe(2);
      expect(cn(lease.material.cert)).toBe('CN=second.example.com');
    } finally {
      lease.release();
    }
  });

  it('throws CertLoadError for unreadable or mismatched files and never prints the key', () => {
    const store = new CertStore(log);
    const missing: TlsFiles = {
      certFile: join(dir, 'nope.crt'),
      keyFile: join(dir, 'nope.key'),
      caFile: undefined,
      origin: 'missing',
    };
    expect(() => store.acquire(missing, () => undefined)).toThrow(CertLoadError);
    const mismatched: TlsFiles = {
      certFile: first.certFile,
      keyFile: second.keyFile,
      caFile: undefined,
      origin: 'mismatch',
    };
    expect(() => store.acquire(mismatched, () => undefined)).toThrow(
      /cannot load TLS credential \(mismatch\)/,
    );
    const ok: TlsFiles = {
      certFile: first.certFile,
      keyFile: first.keyFile,
      caFile: pki.caFile,
      origin: 'ok',
    };
    const lease = store.acquire(ok, () => undefined);
    const keyText = first.key.split('\n')[1]!;
    expect(JSON.stringify(lease.material)).not.toContain(keyText);
    expect(JSON.stringify(lease.material)).toContain('[redacted]');
    expect(inspect(lease.material)).toContain('key [redacted]');
    expect(lease.material.ca?.toString()).toBe(pki.ca);
    lease.release();
    store.close();
  });
});
