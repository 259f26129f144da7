/**
 * Pure parts of the `kubernetes` source: the downward-API labels file, the gateway's identity
 * (namespace, labels read from its Pod through the API), and Secrets laid out as kubelet mounts
 * them (atomic `..data` swap, only credential keys, nothing outside the folder).
 */
import {
  existsSync,
  mkdirSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  gatewayNamespace,
  loadKubeConfig,
  parseDownwardApiLabels,
  podLabels,
} from '../../config/sources/kubernetes-config.js';
import { SecretVolumes } from '../../config/sources/kubernetes-secrets.js';
import { KubernetesSource } from '../../config/sources/kubernetes.js';
import { setUpKubernetes } from '../../config/sources/kubernetes-setup.js';
import { pino } from 'pino';
import { FakeKubeApiServer, makeApiServerCert } from '../helpers/kube-apiserver.js';
import { pod, tlsSecret } from '../helpers/kube-fixtures.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'meshgate-kube-unit-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('parseDownwardApiLabels', () => {
  it('reads key="value" lines with JSON-quoted values', () => {
    expect(
      parseDownwardApiLabels('app="istio-ingressgateway"\nistio="ingressgateway"\nnote="a \\"b\\" = c"\n\n'),
    ).toEqual({ app: 'istio-ingressgateway', istio: 'ingressgateway', note: 'a "b" = c' });
  });
});

describe('loadKubeConfig', () => {
  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  const kubeconfig = (dir: string, server: string) => {
    const file = join(dir, 'config');
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Config\nclusters: [{ name: c, cluster: { server: '${server}' } }]\nusers: [{ name: u, user: { token: t } }]\ncontexts: [{ name: x, context: { cluster: c, user: u, namespace: team-a } }]\ncurrent-context: x\n`,
    );
    return file;
  };

  it('--kubeconfig, else $KUBECONFIG, else ~/.kube/config; nothing found is an error', () => {
    const home = tempDir();
    process.env.HOME = home;
    delete process.env.KUBECONFIG;
    expect(() => loadKubeConfig()).toThrow(/no Kubernetes configuration/);
    mkdirSync(join(home, '.kube'));
    kubeconfig(join(home, '.kube'), 'https://home.example:6443');
    expect(loadKubeConfig().getCurrentCluster()?.server).toBe('https://home.example:6443');
    process.env.KUBECONFIG = kubeconfig(tempDir(), 'https://env.example:6443');
    expect(loadKubeConfig().getCurrentCluster()?.server).toBe('https://env.example:6443');
    const flag = kubeconfig(tempDir(), 'https://flag.example:6443');
    const kc = loadKubeConfig(flag);
    expect(kc.getCurrentCluster()?.server).toBe('https://flag.example:6443');
    // The context's namespace is the gateway's when POD_NAMESPACE is not set.
    expect(gatewayNamespace(kc, {})).toBe('team-a');
  });
});

describe('gateway identity', () => {
  it('namespace: POD_NAMESPACE, else the kubeconfig context, else default; labels from the gateway Pod', async () => {
    const api = await FakeKubeApiServer.start({ tls: makeApiServerCert() });
    try {
      const kc = loadKubeConfig(api.writeKubeconfig(tempDir()));
      expect(gatewayNamespace(kc, {})).toBe('default');
      expect(gatewayNamespace(kc, { POD_NAMESPACE: 'istio-system' })).toBe('istio-system');
      const gwPod = pod('istio-ingressgateway', 'v1', 'istio-system');
      gwPod.metadata.labels = { app: 'istio-ingressgateway', istio: 'ingressgateway' };
      api.upsert(gwPod);
      const env = { POD_NAME: gwPod.metadata.name, POD_NAMESPACE: 'istio-system' };
      expect(await podLabels(kc, env, '/nonexistent')).toEqual({
        labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
        from: `pod istio-system/${gwPod.metadata.name}`,
      });
      // Pod unreadable: the downward-API file; neither: undefined (serve every Gateway).
      const file = join(tempDir(), 'labels');
      writeFileSync(file, 'istio="eastwest"\n');
      const fallback = await podLabels(kc, { ...env, POD_NAME: 'gone' }, file);
      expect(fallback.labels).toEqual({ istio: 'eastwest' });
      expect(fallback.error).toContain('istio-system/gone');
      expect((await podLabels(kc, {}, '/nonexistent')).labels).toBeUndefined();
      // No answer at all (API server down): transient, no fallback to the file.
      await api.stop();
      const down = await podLabels(kc, env, file);
      expect(down.transient).toBe(true);
      expect(down.labels).toBeUndefined();
    } finally {
      await api.close();
    }
  });
});

describe('the stand-in over plain HTTP', () => {
  it('is reachable through client-node with insecure-skip-tls-verify (client-node refuses http:// otherwise)', async () => {
    const api = await FakeKubeApiServer.start();
    try {
      expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const kc = loadKubeConfig(api.writeKubeconfig(tempDir()));
      api.upsert(pod('gw', 'v1', 'istio-system'));
      const found = await podLabels(
        kc,
        { POD_NAME: 'gw-v1-0', POD_NAMESPACE: 'istio-system' },
        '/nonexistent',
      );
      expect(found.labels).toEqual({ app: 'gw', version: 'v1' });
    } finally {
      await api.close();
    }
  });
});

describe('SecretVolumes', () => {
  it('lays a Secret out as kubelet does and swaps versions atomically through ..data', () => {
    const v = new SecretVolumes(tempDir());
    const secret = (crt: string) => ({
      metadata: { name: 'gw-cred' },
      data: { 'tls.crt': b64(crt), 'tls.key': b64('KEY'), 'unrelated.txt': b64('x') },
    });
    expect(v.write(secret('ONE'))).toBe('created');
    const root = join(v.dir, 'gw-cred');
    expect(readFileSync(join(root, 'tls.crt'), 'utf8')).toBe('ONE');
    expect(lstatSync(join(root, 'tls.crt')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(root, 'tls.crt'))).toBe(join('..data', 'tls.crt'));
    expect(existsSync(join(root, 'unrelated.txt'))).toBe(false);
    const first = readlinkSync(join(root, '..data'));
    expect(statSync(join(root, first, 'tls.key')).mode & 0o777).toBe(0o600);

    expect(v.write(secret('TWO'))).toBe('updated');
    expect(readFileSync(join(root, 'tls.crt'), 'utf8')).toBe('TWO');
    expect(readlinkSync(join(root, '..data'))).not.toBe(first);
    // The old version is gone; only ..data, one version folder and the key links remain.
    expect(readdirSync(root).sort()).toEqual(
      ['..data', readlinkSync(join(root, '..data')), 'tls.crt', 'tls.key'].sort(),
    );

    expect(v.remove('gw-cred')).toBe(true);
    expect(existsSync(root)).toBe(false);
    v.close();
  });

  it('skips Secrets without credential keys and names that are not DNS names; never removes folders it did not write', () => {
    const dir = tempDir();
    const v = new SecretVolumes(dir);
    expect(v.write({ metadata: { name: 'config' }, data: { 'app.yaml': b64('x') } })).toBe('skipped');
    expect(v.write({ metadata: { name: '../escape' }, data: { 'tls.crt': b64('x') } })).toBe('skipped');
    expect(v.write({ metadata: { name: '..' }, data: { 'tls.crt': b64('x') } })).toBe('skipped');
    expect(readdirSync(dir)).toEqual([]);
    writeFileSync(join(dir, 'mounted'), 'not a folder of ours');
    expect(v.remove('mounted')).toBe(false);
    expect(existsSync(join(dir, 'mounted'))).toBe(true);
  });

  it('a private temporary folder is removed on close', () => {
    const v = new SecretVolumes();
    v.write({ metadata: { name: 'a' }, data: { 'tls.crt': b64('c'), 'tls.key': b64('k') } });
    expect(existsSync(join(v.dir, 'a', 'tls.crt'))).toBe(true);
    v.close();
    expect(existsSync(v.dir)).toBe(false);
  });
});

describe('credentials folder across restarts', () => {
  it('withdraws the files of Secrets deleted while the gateway was down; never touches folders it did not write', async () => {
    const dir = tempDir();
    // The user's own credential in the same folder, laid out as kubelet mounts one (..data link).
    mkdirSync(join(dir, 'mine', '..2026_01_01'), { recursive: true });
    writeFileSync(join(dir, 'mine', '..2026_01_01', 'tls.crt'), 'USER');
    symlinkSync('..2026_01_01', join(dir, 'mine', '..data'));
    symlinkSync(join('..data', 'tls.crt'), join(dir, 'mine', 'tls.crt'));
    writeFileSync(join(dir, 'notes.txt'), 'user file');
    const api = await FakeKubeApiServer.start({ tls: makeApiServerCert() });
    const log = pino({ level: 'silent' });
    const source = () =>
      new KubernetesSource({
        kubeConfig: loadKubeConfig(api.writeKubeconfig(tempDir())),
        gatewayNamespace: 'istio-system',
        credentialsDir: dir,
        log,
        backoff: { initialMs: 50, maxMs: 400 },
      });
    try {
      api.upsert(tlsSecret('kept', 'C1', 'K1'));
      api.upsert(tlsSecret('revoked', 'C2', 'K2'));
      // A user folder named like a Secret that then disappears: not ours, stays.
      mkdirSync(join(dir, 'also-mine'));
      writeFileSync(join(dir, 'also-mine', 'tls.crt'), 'USER2');
      const first = source();
      await first.read();
      expect(readFileSync(join(dir, 'revoked', 'tls.crt'), 'utf8')).toBe('C2');
      await first.close();

      // Deleted while no gateway ran.
      api.remove('Secret', 'istio-system', 'revoked');
      const second = source();
      await second.read();
      expect(existsSync(join(dir, 'revoked'))).toBe(false);
      expect(readFileSync(join(dir, 'kept', 'tls.crt'), 'utf8')).toBe('C1');
      expect(readFileSync(join(dir, 'mine', 'tls.crt'), 'utf8')).toBe('USER');
      expect(readFileSync(join(dir, 'also-mine', 'tls.crt'), 'utf8')).toBe('USER2');
      expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('user file');
      expect(second.secrets.names).toEqual(['kept']);
      await second.close();
    } finally {
      await api.close();
    }
  });

  it('prune removes only names of its manifest', () => {
    const dir = tempDir();
    const v = new SecretVolumes(dir);
    v.write({ metadata: { name: 'a' }, data: { 'tls.crt': b64('c'), 'tls.key': b64('k') } });
    v.write({ metadata: { name: 'b' }, data: { 'tls.crt': b64('c'), 'tls.key': b64('k') } });
    mkdirSync(join(dir, 'c'));
    const restarted = new SecretVolumes(dir);
    expect(restarted.prune(new Set(['a']))).toEqual(['b']);
    expect(readdirSync(dir).sort()).toEqual(['.meshgate-secrets.json', 'a', 'c']);
    expect(restarted.remove('c')).toBe(false);
  });
});

describe('setUpKubernetes', () => {
  it('the wait for an unreadable gateway pod can be cancelled (its back-off timer cleared)', async () => {
    const saved = { POD_NAME: process.env.POD_NAME, POD_NAMESPACE: process.env.POD_NAMESPACE };
    // A port nothing listens on: every pod read is refused (no HTTP status, so retried).
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const file = join(tempDir(), 'config');
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Config\nclusters: [{ name: c, cluster: { server: 'http://127.0.0.1:${port}', insecure-skip-tls-verify: true } }]\nusers: [{ name: u, user: { token: t } }]\ncontexts: [{ name: x, context: { cluster: c, user: u } }]\ncurrent-context: x\n`,
    );
    const cleared: unknown[] = [];
    const timers = {
      setTimeout: () => 'never-fires',
      clearTimeout: (h: unknown) => void cleared.push(h),
    };
    const retrying = new EventEmitter();
    const log = pino(
      { level: 'warn' },
      {
        write: (line: string) => {
          if (line.includes('retrying in')) retrying.emit('retry');
        },
      },
    );
    process.env.POD_NAME = 'gw-0';
    process.env.POD_NAMESPACE = 'istio-system';
    try {
      const stop = new AbortController();
      const setUp = setUpKubernetes({ kubeconfig: file }, log, {
        signal: stop.signal,
        backoffDeps: { timers },
      });
      await once(retrying, 'retry');
      stop.abort();
      await expect(setUp).rejects.toThrow(/stopped while waiting for the gateway pod/);
      expect(cleared).toEqual(['never-fires']);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
