/**
 * The image: the Dockerfile agrees with the Deployment (command, user, ports); .ci/image-build
 * replays a build stage honouring .dockerignore and fails when a RUN or a folder is missing; and
 * node as PID 1 (what the exec-form ENTRYPOINT makes it) ends on SIGTERM with exit 0, which is why
 * the image has no init process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { request } from 'undici';
import { readManifestDir } from './kube-objects.js';
import { argValue, gatewayDeployment } from './gateway-essentials.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Dockerfile instructions as [keyword, rest], continuation lines joined, comments dropped. */
function dockerfile(text: string): [string, string][] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const sp = l.indexOf(' ');
      return [l.slice(0, sp).toUpperCase(), l.slice(sp + 1).trim()];
    });
}

const instructions = dockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = instructions.slice(instructions.map(([k]) => k).lastIndexOf('FROM'));
const last = (kw: string) => runtime.filter(([k]) => k === kw).at(-1)?.[1];
const deployment = gatewayDeployment(readManifestDir(join(ROOT, 'deploy/kubernetes')));
const podSpec = deployment.spec!.template.spec!;

describe('Dockerfile', () => {
  it('runs node directly (exec form) with `run --kubernetes`, credentials dir and port map by default', () => {
    expect(JSON.parse(last('ENTRYPOINT')!)).toEqual(['node', '--single-threaded-gc', 'dist/cli/main.js']);
    const cmd = JSON.parse(last('CMD')!) as string[];
    expect(cmd.slice(0, 2)).toEqual(['run', '--kubernetes']);
    expect(argValue(cmd, '--credentials-dir')).toBe('/etc/meshgate/credentials');
    expect(argValue(cmd, '--port-map')).toBe(argValue(podSpec.containers[0]!.args!, '--port-map'));
  });

  it('runs as the numeric non-root user the Deployment asks for, exposing its container ports', () => {
    const [uid, gid] = last('USER')!.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect([uid, gid]).toEqual([podSpec.securityContext?.runAsUser, podSpec.securityContext?.runAsGroup]);
    const exposed = last('EXPOSE')!.split(/\s+/).map(Number).sort();
    const ports = podSpec.containers[0]!.ports!.map((p) => p.containerPort).sort();
    expect(exposed).toEqual(ports);
  });
});

describe('.ci/image-build on a small context', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  /** A context with the project's .dockerignore, sample YAML, generated keys and a node_modules. */
  function context(buildRuns: string[], includes = ['samples']): string {
    dir = mkdtempSync(join(tmpdir(), 'image-build-test-'));
    const put = (rel: string, text: string) => {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), text);
    };
    mkdirSync(join(dir, '.ci'));
    copyFileSync(join(ROOT, '.ci/image-build'), join(dir, '.ci/image-build'));
    copyFileSync(join(ROOT, '.dockerignore'), join(dir, '.dockerignore'));
    put('tsconfig.build.json', JSON.stringify({ include: includes }));
    put('main.js', "process.exit(process.argv[2] === 'validate' ? 0 : 3);\n");
    put('samples/https/gateway.yaml', 'kind: Gateway\n');
    put('samples/https/certs/httpbin.example.com.key', 'PRIVATE KEY\n');
    put('samples/https/certs/credentials/httpbin-credential/tls.key', 'PRIVATE KEY\n');
    put('samples/stray.pem', 'PRIVATE KEY\n');
    put('samples/node_modules/x/index.js', '\n');
    put('samples/debug.log', 'log\n');
    put(
      'Dockerfile',
      [
        'FROM node:20-bookworm-slim AS build',
        'WORKDIR /src',
        'COPY main.js \\',
        '  ./',
        'COPY samples ./samples',
        ...buildRuns.map((r) => `RUN ${r}`),
        'FROM node:20-bookworm-slim',
        'WORKDIR /app',
        'COPY --from=build /src/main.js ./main.js',
        'COPY --from=build /src/samples ./samples',
        'ENTRYPOINT ["node", "main.js"]',
        '',
      ].join('\n'),
    );
    return dir;
  }

  function imageBuild(ctx: string) {
    const r = spawnSync('bash', [join(ctx, '.ci/image-build')], {
      encoding: 'utf8',
      env: { ...process.env, TMPDIR: ctx },
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  }

  it('copies what .dockerignore lets through (no keys, certs, node_modules or logs) and runs RUN there', () => {
    const ctx = context([
      'test -f samples/https/gateway.yaml && test -f main.js',
      'test ! -e samples/https/certs && test ! -e samples/stray.pem',
      'test ! -e samples/node_modules && test ! -e samples/debug.log',
      'echo built > built.txt',
    ]);
    const r = imageBuild(ctx);
    expect(r.out).toContain('stage build: 2 COPY, 4 RUN, cwd /src');
    expect(r.out).toContain('all 1 folders of tsconfig.build.json were copied (2 files from the context)');
    expect(r.out).toContain('image-build: OK');
    expect(r.status).toBe(0);
  });

  it('fails when a RUN fails', () => {
    const r = imageBuild(context(['test -e samples/https/certs/httpbin.example.com.key']));
    expect(r.out).toContain('image-build: RUN failed: test -e samples/https/certs/httpbin.example.com.key');
    expect(r.status).toBe(1);
  });

  it('fails when tsconfig.build.json compiles a folder the build stage does not copy', () => {
    const r = imageBuild(context([], ['samples', 'admin']));
    expect(r.out).toContain("tsconfig.build.json includes 'admin' but the build stage does not COPY it");
    expect(r.status).toBe(1);
  });
});

// PID 1 ignores every signal it has no handler for; a new PID namespace shows what the container sees.
const CAN_UNSHARE = spawnSync('unshare', ['--pid', '--fork', 'true'], { stdio: 'ignore' }).status === 0;
const UNSHARE_SKIP = 'unshare --pid needs root (CI runs as root)';

describe.skipIf(!CAN_UNSHARE)('the image command as PID 1', () => {
  let proc: ChildProcess | undefined;
  let child = 0;
  let dir = '';
  afterEach(() => {
    try {
      if (child) process.kill(child, 'SIGKILL');
    } catch {
      // already gone
    }
    child = 0;
    proc?.kill('SIGKILL');
    proc = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('drains and exits 0 on SIGTERM', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pid1-'));
    writeFileSync(
      join(dir, 'gateway.yaml'),
      [
        'apiVersion: networking.istio.io/v1',
        'kind: Gateway',
        'metadata: { name: gw, namespace: default }',
        'spec:',
        '  selector: { istio: ingressgateway }',
        '  servers:',
        "  - { port: { number: 80, name: http, protocol: HTTP }, hosts: ['*'] }",
        '',
      ].join('\n'),
    );
    const entrypoint = JSON.parse(last('ENTRYPOINT')!) as string[];
    const ports = ['--health-port', '0', '--status-port', '0', '--prometheus-port', '0', '--admin-port', '0'];
    const drain = ['--drain-duration', '1s'];
    const args = ['run', '-f', dir, '--port-map', '80=0', '--access-log', 'off', ...ports, ...drain];
    // --kill-child: node (PID 1 of the namespace) dies with unshare, even when a failed test SIGKILLs it.
    proc = spawn('unshare', ['--pid', '--fork', '--kill-child', ...entrypoint, ...args], { cwd: ROOT });
    let stderr = '';
    const healthPort = new Promise<number>((resolve, reject) => {
      proc!.once('exit', (code) => reject(new Error(`meshgate exited ${code} before listening: ${stderr}`)));
      proc!.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
        const m = /"server":"health","address":"[^"]+","port":(\d+)/.exec(stderr);
        // One process: its listener is bound; workers (`--concurrency`, default one per CPU): all bound.
        const bound = stderr.includes('"worker":')
          ? stderr.includes('all workers ready')
          : stderr.includes('listener bound');
        if (m && bound) resolve(Number(m[1]));
      });
    });
    const port = await healthPort;
    expect((await request(`http://127.0.0.1:${port}/healthz/ready`)).statusCode).toBe(200);

    // unshare --fork's only child is node, PID 1 in its namespace.
    child = Number(readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim());
    expect(readFileSync(`/proc/${child}/status`, 'utf8')).toMatch(/^NSpid:\s+\d+\s+1$/m);
    const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    process.kill(child, 'SIGTERM');
    const [code, signal] = await exited;
    child = 0;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(stderr).toMatch(/"signal":"SIGTERM","msg":"shutting down"/);
    proc = undefined;
  });
});

describe.skipIf(CAN_UNSHARE)('the image command as PID 1 (skipped)', () => {
  it.skip(UNSHARE_SKIP, () => undefined);
});
