/**
 * Runs a sample "stack": local workload processes plus the meshgate gateway in front of them, the
 * way `npm start` runs Bookinfo. Shared by the `start` scripts of every sample.
 *
 * Lifecycle: check the ports are free → spawn the workloads → wait until each accepts a TCP
 * connection → spawn `node dist/cli/main.js <gatewayArgs>` → wait for the gateway port → print
 * how to try it. SIGINT/SIGTERM stop every child and exit 0; if the gateway exits, everything stops
 * and its exit code is returned; a workload that dies is only reported (so a user can watch the
 * gateway answer 503). Every child gets an IPC channel and exits by itself if this process dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { probePort, waitForPort } from './process-util.js';

/** One workload process: a compiled sample program run with `node`. */
export interface WorkloadSpec {
  /** Label used in logs and the PID table, e.g. `reviews-v2`. */
  readonly name: string;
  /** Absolute path of the compiled script. */
  readonly script: string;
  readonly args: readonly string[];
  /** The port it listens on; start-up waits for it. */
  readonly port: number;
  /** Environment for this workload (already merged with whatever it should inherit). */
  readonly env: NodeJS.ProcessEnv;
}

/** What {@link runStack} runs. */
interface StackSpec {
  /** Human name, e.g. `Bookinfo`; prefixes this script's own log lines. */
  readonly title: string;
  /** Repository root (cwd of the gateway, base of `dist/cli/main.js`). */
  readonly repoRoot: string;
  readonly workloads: readonly WorkloadSpec[];
  /** Arguments after `node dist/cli/main.js`, e.g. `['run', '-f', ..., '--port-map', '80=8080']`. */
  readonly gatewayArgs: readonly string[];
  /** Local port the gateway binds (what start-up waits for). */
  readonly gatewayPort: number;
  /** Extra local ports the gateway will bind (checked to be free first), e.g. the mesh port. */
  readonly otherGatewayPorts?: readonly number[];
  /**
   * The environment variable that sets each gateway port (`GATEWAY_PORT`, `ADMIN_PORT`, ...), so a
   * port found taken is reported with the variable to change.
   */
  readonly portEnv?: Readonly<Record<number, string>>;
  /** Lines printed once everything is up (how to try it). */
  readonly readyLines: readonly string[];
}

interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
  readonly isGateway: boolean;
  alive: boolean;
  /** Resolves with a description once the process has exited. */
  readonly exited: Promise<string>;
}

/** Gateway entry point relative to the repository root (compiled by `npm run build`). */
const GATEWAY_MAIN = path.join('dist', 'cli', 'main.js');

/**
 * Node flags the gateway starts with, as the image entrypoint and the `meshgate` command give them
 * (`GATEWAY_NODE_FLAGS` in cli/gc-threads.ts says why; samples may not import cli/).
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

/** Grace period between SIGTERM and SIGKILL when stopping children, in milliseconds. */
const STOP_GRACE_MS = 5000;

/**
 * Runs the stack until a signal or the gateway's exit.
 * @returns the exit code for this process: 0 after SIGINT/SIGTERM, the gateway's code when it
 *   exited by itself (128+n for a signal), 1 when start-up failed.
 */
export async function runStack(spec: StackSpec): Promise<number> {
  const tag = `[${spec.title.toLowerCase()}]`;
  const say = (line: string) => process.stdout.write(`${tag} ${line}\n`);
  const complain = (line: string) => process.stderr.write(`${tag} ${line}\n`);
  const children: Managed[] = [];
  let stopping = false;
  let running = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let requestStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));

  const shutdown = (code: number, reason: string) => {
    if (stopping) return;
    stopping = true;
    requestStop(reason);
    say(`${reason}; stopping ${children.filter((c) => c.alive).length} process(es)`);
    void stopAll(children).then(() => finish(code));
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // Second Ctrl-C: do not wait for graceful shutdowns any more.
      for (const c of children) if (c.alive) c.child.kill('SIGKILL');
      return;
    }
    shutdown(0, `received ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Last resort if this process exits some other way: never leave children behind.
  const killLeftovers = () => {
    for (const c of children) if (c.alive) c.child.kill('SIGKILL');
  };
  process.on('exit', killLeftovers);

  const gatewayMain = path.join(spec.repoRoot, GATEWAY_MAIN);
  const preload = fileURLToPath(new URL('./exit-with-parent.js', import.meta.url));

  const startup = async (): Promise<void> => {
    if (!existsSync(gatewayMain)) {
      throw new Error(`${gatewayMain} not found: build first (npm run build)`);
    }
    for (const w of spec.workloads) {
      if (!existsSync(w.script)) throw new Error(`${w.script} not found: build first (npm run build)`);
    }
    // A port that already answers would fool the readiness checks below.
    const ports = [
      ...spec.workloads.map((w) => ({ port: w.port, who: w.name })),
      { port: spec.gatewayPort, who: 'gateway' },
      ...(spec.otherGatewayPorts ?? []).map((port) => ({ port, who: 'gateway' })),
    ];
    const busy = await Promise.all(ports.map(async (p) => ((await probePort(p.port)) ? p : undefined)));
    const taken = busy.filter((p) => p !== undefined);
    if (taken.length > 0) {
      const env = spec.portEnv ?? {};
      throw new Error(
        taken
          .map((p) => {
            const name = p.who === 'gateway' ? env[p.port] : undefined;
            const fix =
              name !== undefined
                ? `set ${name} to a free port`
                : p.who === 'gateway'
                  ? 'choose another port (GATEWAY_PORT=...)'
                  : 'stop what uses it';
            return `port ${p.port} (${p.who}) is already in use: ${fix}`;
          })
          .join('\n') + '\n(is another copy running?)',
      );
    }

    for (const w of spec.workloads) {
      const child = spawn(process.execPath, [w.script, ...w.args], {
        cwd: spec.repoRoot,
        env: w.env,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      prefixLines(child, w.name);
      children.push(track(child, w.name, w.port, false));
    }
    for (const m of children) {
      await waitForPort(m.port, {
        abort: Promise.race([m.exited.then((how) => `${m.name} ${how}`), stopRequested]),
      });
      say(`${m.name} is listening on 127.0.0.1:${m.port} (pid ${m.child.pid})`);
    }

    const nodeArgs = [...GATEWAY_NODE_FLAGS, '--import', preload];
    const gateway = spawn(process.execPath, [...nodeArgs, gatewayMain, ...spec.gatewayArgs], {
      cwd: spec.repoRoot,
      env: process.env,
      // The gateway's JSON log lines go straight to our stdout/stderr.
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    say(
      `gateway: node ${[...GATEWAY_NODE_FLAGS, GATEWAY_MAIN, ...spec.gatewayArgs].join(' ')} (pid ${gateway.pid})`,
    );
    const gw = track(gateway, 'gateway', spec.gatewayPort, true);
    children.push(gw);
    await waitForPort(spec.gatewayPort, {
      abort: Promise.race([gw.exited.then((how) => `the gateway ${how}`), stopRequested]),
    });
  };

  const track = (child: ChildProcess, name: string, port: number, isGateway: boolean): Managed => {
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => {
        m.alive = false;
        complain(`${name}: ${err.message}`);
        resolve(`failed to start (${err.message})`);
      });
      child.once('exit', (code, signal) => {
        m.alive = false;
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        resolve(how);
        if (stopping) return;
        if (isGateway) {
          shutdown(exitCodeOf(code, signal), `the gateway ${how}`);
        } else if (running) {
          complain(`${name} (pid ${child.pid}) ${how}; the gateway keeps running (requests to it now fail)`);
        }
      });
    });
    const m: Managed = { name, child, port, isGateway, alive: true, exited };
    return m;
  };

  startup().then(
    () => {
      if (stopping) return;
      running = true;
      const width = Math.max(...children.map((c) => c.name.length));
      process.stdout.write(
        [
          '',
          `${spec.title} is up.`,
          ...spec.readyLines.map((l) => `  ${l}`),
          '',
          'Processes (kill one to watch the gateway react; Ctrl-C stops everything):',
          ...children.map((c) => `  ${c.name.padEnd(width)}  pid ${c.child.pid}  port ${c.port}`),
          '',
        ].join('\n') + '\n',
      );
    },
    (err: unknown) => {
      if (stopping) return;
      complain(`start-up failed: ${err instanceof Error ? err.message : String(err)}`);
      shutdown(1, 'start-up failed');
    },
  );

  const code = await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', killLeftovers);
  return code;
}

/** SIGTERM every live child, then SIGKILL whatever is still running after the grace period. */
async function stopAll(children: readonly Managed[]): Promise<void> {
  const live = children.filter((c) => c.alive);
  // Gateway first, so clients see it go rather than a burst of 503s from dead workloads.
  for (const c of [...live].sort((a, b) => Number(b.isGateway) - Number(a.isGateway)))
    c.child.kill('SIGTERM');
  await Promise.all(
    live.map(async (c) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (c.alive) c.child.kill('SIGKILL');
          resolve();
        }, STOP_GRACE_MS);
      });
      await Promise.race([c.exited, late]);
      clearTimeout(timer);
      await c.exited;
    }),
  );
}

/** Copies a child's stdout/stderr line by line, each line prefixed with `[name]`. */
function prefixLines(child: ChildProcess, name: string): void {
  const pipeTo = (input: NodeJS.ReadableStream | null, out: NodeJS.WritableStream) => {
    if (!input) return;
    readline
      .createInterface({ input, crlfDelay: Infinity })
      .on('line', (line) => out.write(`[${name}] ${line}\n`));
  };
  pipeTo(child.stdout, process.stdout);
  pipeTo(child.stderr, process.stderr);
}

/** Shell-style exit code: the code itself, or 128 + signal number. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? osConstants.signals[signal] : undefined;
  return n ? 128 + n : 1;
}

/**
 * Reads an optional port from environment variable `name`.
 * @throws Error when it is set but not an integer 1-65535.
 */
export function envPort(name: string, fallback: number): number;
export function envPort(name: string, fallback: undefined): number | undefined;
export function envPort(name: string, fallback: number | undefined): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name}="${raw}" is not a port (1-65535)`);
  return n;
}

/**
 * Turns `EXTRA_CONFIG` (comma-separated paths) into `-f` arguments. Each path is taken relative to
 * the current directory, or to the repository root when it does not exist there.
 * @throws Error naming a path found in neither place.
 */
export function extraConfigArgs(raw: string | undefined, repoRoot: string): string[] {
  const out: string[] = [];
  for (const p of (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const fromCwd = path.resolve(process.cwd(), p);
    const fromRoot = path.resolve(repoRoot, p);
    const found = existsSync(fromCwd) ? fromCwd : existsSync(fromRoot) ? fromRoot : undefined;
    if (!found) throw new Error(`EXTRA_CONFIG: ${p} not found (relative to ${process.cwd()} or ${repoRoot})`);
    out.push('-f', found);
  }
  return out;
}

/** The process environment without HTTP proxy variables (a user's corporate proxy must not capture sample traffic). */
export function envWithoutProxy(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.HTTP_PROXY;
  delete env.http_proxy;
  return env;
}
