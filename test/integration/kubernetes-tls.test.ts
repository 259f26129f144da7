/**
 * TLS credentials from the API server: a Gateway's `credentialName` Secret, read only in the
 * gateway's own namespace (as Istio), rotated by a Secret update: new handshakes get the new
 * certificate while a connection opened before keeps working on its session.
 */
import { X509Certificate } from 'node:crypto';
import diagnostics_channel from 'node:diagnostics_channel';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestPki, type IssuedCert, type TestPki } from '../helpers/certs.js';
import { ingressGateway, KubeTestBed, tlsSecret } from '../helpers/kube-fixtures.js';
import { CERT_RELOAD_CHANNEL, type CertReloadMessage } from '../../tls/cert-store.js';

const bed = new KubeTestBed();
let pki: TestPki | undefined;
const sockets: tls.TLSSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await bed.close();
  pki?.close();
  pki = undefined;
});

/** Opens a TLS connection to the HTTPS listener; resolves once the handshake is done. */
function handshake(port: number, ca: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'bookinfo.example', ca }, () => resolve(s));
    sockets.push(s);
    s.once('error', reject);
  });
}

/**
 * One keep-alive HTTP/1.1 GET /productpage on an open TLS socket (the socket stays open).
 * @returns status and the answering upstream.
 */
function getOn(s: tls.TLSSocket): Promise<{ status: number; upstream: string | undefined }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      s.off('data', onData);
      s.off('error', reject);
      resolve({
        status: Number(head.split(' ')[1]),
        upstream: /x-upstream: *([^\r]+)/i.exec(head)?.[1],
      });
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write('GET /productpage HTTP/1.1\r\nhost: bookinfo.example\r\n\r\n');
  });
}

const fingerprint = (c: IssuedCert) => new X509Certificate(c.cert).fingerprint256;

describe('kubernetes source: credentialName Secrets', () => {
  it('serves the Secret of the gateway namespace; a rotation reaches new handshakes, an open connection keeps working', async () => {
    pki = createTestPki();
    const first = pki.issue('first', { cn: 'bookinfo.example', dns: ['bookinfo.example'] });
    const second = pki.issue('second', { cn: 'bookinfo.example', dns: ['bookinfo.example'] });
    const elsewhere = pki.issue('elsewhere', { cn: 'bookinfo.example', dns: ['bookinfo.example'] });
    await bed.setUp();
    const api = bed.api;
    api.upsert(ingressGateway({ credentialName: 'bookinfo-credential' }));
    api.upsert(tlsSecret('bookinfo-credential', first.cert, first.key, 'istio-system'));
    // Same name in the Gateway resource's namespace: not the gateway's, so never read.
    api.upsert(tlsSecret('bookinfo-credential', elsewhere.cert, elsewhere.key, 'default'));
    const port = (await bed.startGateway({ gatewayNamespace: 'istio-system' })).port(443);

    // A keep-alive connection made before the rotation, used through undici on that one socket.
    const old = await handshake(port, pki.ca);
    expect(old.getPeerX509Certificate()?.fingerprint256).toBe(fingerprint(first));
    const get = () => getOn(old);
    expect(await get()).toMatchObject({ status: 200, upstream: 'productpage-v1' });

    // The certificate store publishes each reload: wait for the one the rotation causes.
    const reloaded = new Promise<void>((resolve) => {
      const onReload = (m: unknown) => {
        const msg = m as CertReloadMessage;
        if (!msg.certFile.includes('bookinfo-credential') || msg.error !== undefined) return;
        diagnostics_channel.unsubscribe(CERT_RELOAD_CHANNEL, onReload);
        resolve();
      };
      diagnostics_channel.subscribe(CERT_RELOAD_CHANNEL, onReload);
    });
    api.upsert(tlsSecret('bookinfo-credential', second.cert, second.key, 'istio-system'));
    await reloaded;
    const fresh = await handshake(port, pki.ca);
    expect(fresh.getPeerX509Certificate()?.fingerprint256).toBe(fingerprint(second));

    // The connection from before the rotation still answers, on its original session.
    expect(await get()).toMatchObject({ status: 200, upstream: 'productpage-v1' });
    expect(old.destroyed).toBe(false);

    // Secrets are only ever listed and watched in the gateway's namespace.
    const secretPaths = new Set(api.requests.filter((q) => q.path.includes('secrets')).map((q) => q.path));
    expect([...secretPaths]).toEqual(['/api/v1/namespaces/istio-system/secrets']);
  });
});
