/**
 * `meshgate run --kubernetes` as a process: the built CLI with `--kubeconfig`, `--watch-namespace`,
 * `--gateway-labels` and `--port-map`, against the API-server stand-in; and the errors it reports
 * before starting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeKubeApiServer, makeApiServerCert } from '../helpers/kube-apiserver.js';
import { startBookinfo, type BookinfoApp } from '../helpers/kube-fixtures.js';
import { httpGet } from '../helpers/clients.js';

let api: FakeKubeApiServer | undefined;
let app: BookinfoApp | undefined;
let child: ChildProcess | undefined;
let dir: string | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await api?.close();
  await app?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  api = app = child = dir = undefined;
});

/** Collects the child's stderr as pino records; resolves with the first whose `msg` is `msg`. */
function record(c: ChildProcess, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString();
      for (const line of buf.split('\n')) {
        if (!line.includes(`"msg":"${msg}"`)) continue;
        c.stderr!.off('data', onData);
        resolve(JSON.parse(line) as Record<string, unknown>);
        return;
      }
    };
    c.stderr!.on('data', onData);
    c.once('exit', (code) => reject(new Error(`meshgate exited with ${code}: ${buf}`)));
  });
}

function run(args: string[]): ChildProcess {
  return spawn(process.execPath, ['dist/cli/main.js', 'run', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, KUBECONFIG: '', POD_NAME: '', POD_NAMESPACE: '' },
  });
}

describe('meshgate run --kubernetes (CLI)', () => {
  it('serves Bookinfo from the API server, watching one namespace; exits 0 on SIGTERM', async () => {
    api = await FakeKubeApiServer.start({ tls: makeApiServerCert() });
    app = await startBookinfo(api);
    dir = mkdtempSync(join(tmpdir(), 'meshgate-kube-cli-'));
    const kubeconfig = api.writeKubeconfig(dir);
    child = run([
      '--kubernetes',
      '--kubeconfig',
      kubeconfig,
      '--watch-namespace',
      'default',
      '--gateway-labels',
      'istio=ingressgateway',
      '--port-map',
      '80=0',
      '--access-log',
      'off',
      '--admin-port',
      'off',
      '--prometheus-port',
      'off',
      '--status-port',
      'off',
      '--health-port',
      'off',
    ]);
    const bound = await record(child, 'listener bound');
    const r = await httpGet(bound.port as number, '/productpage');
    expect(r.status).toBe(200);
    expect(r.headers['x-upstream']).toBe('productpage-v1');
    // --watch-namespace: every collection is read in that namespace only (Secrets: the gateway's,
    // here the kubeconfig context's default).
    const paths = new Set(api.requests.map((q) => q.path));
    expect(paths).toContain('/apis/networking.istio.io/v1/namespaces/default/virtualservices');
    expect(paths).toContain('/api/v1/namespaces/default/services');
    expect(paths).toContain('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices');
    expect([...paths].filter((p) => !p.includes('/namespaces/') && p !== '/apis')).toEqual([]);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);

  it('refuses to start without a usable kubeconfig (exit 2, says why)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshgate-kube-cli-'));
    child = run(['--kubernetes', '--kubeconfig', join(dir, 'missing.yaml')]);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(err).toContain('missing.yaml');
  });
});
