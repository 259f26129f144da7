/**
 * Child-process plumbing for the benchmark runner: CPU pinning, tracked spawning, port hand-off and a
 * guaranteed teardown (normal end, error, SIGINT/SIGTERM), so no load generator or server is orphaned.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import net from 'node:net';

/** Every child still running; torn down by {@link stopAll} and, as a last resort, on process exit. */
const live = new Set<ChildProcess>();

/**
 * Prefixes a command with `taskset -c CORE` so it runs on one core.
 * @returns the command and arguments to spawn.
 */
export function pinned(core: number, cmd: string, args: readonly string[]): [string, string[]] {
  return ['taskset', ['-c', String(core), cmd, ...args]];
}

/** Shell-quoted rendering of a command line, for logs. */
export function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

/**
 * Whether an executable is on PATH.
 * @param name - executable name, e.g. `wrk`.
 */
export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

let setprivAvailable: boolean | null = null;

/**
 * Spawns a child that is tracked for teardown.
 *
 * Where util-linux's `setpriv` exists the command runs as `setpriv --pdeathsig KILL CMD…`: the kernel then
 * kills the child if the runner dies without cleaning up (even by SIGKILL). setpriv and taskset both exec,
 * so the pid is the real program's. (The death signal follows the spawning thread: node spawns from the
 * main thread, which lives as long as the runner.)
 * @param name - label for messages.
 */
export function spawnTracked(
  name: string,
  cmd: string,
  args: readonly string[],
  stdio: StdioOptions,
): ChildProcess {
  setprivAvailable ??= hasCommand('setpriv');
  const child = setprivAvailable
    ? spawn('setpriv', ['--pdeathsig', 'KILL', cmd, ...args], { stdio })
    : spawn(cmd, args, { stdio });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', (err) => {
    live.delete(child);
    process.stderr.write(`bench: ${name}: ${err.message}\n`);
  });
  return child;
}

/**
 * Stops one child: SIGTERM, then SIGKILL after `graceMs`.
 * @param graceMs - how long to wait for a clean exit, in ms.
 */
export async function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    live.delete(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  live.delete(child);
}

/** pids of the children still running. */
export function livePids(): number[] {
  return [...live].flatMap((c) => (c.pid === undefined || c.exitCode !== null ? [] : [c.pid]));
}

/** Stops every tracked child (in parallel). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c, 1500)));
}

/**
 * Installs the teardown: SIGINT/SIGTERM stop all children and exit (130/143); on any exit, whatever is
 * still alive gets SIGKILL synchronously.
 */
export function installCleanup(): void {
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    process.stderr.write(`\nbench: ${signal}, stopping ${live.size} child process(es)\n`);
    void stopAll().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
}

/** A spawned helper that reported its port. */
export interface PortChild {
  child: ChildProcess;
  port: number;
}

/**
 * Starts one of the benchmark's own node scripts pinned to `core` and waits for its `{"port":N}` line.
 * The IPC channel lets the child notice if the runner dies (it exits on `disconnect`).
 * @param script - absolute path of the compiled script.
 * @param timeoutMs - deadline for the port line, in ms.
 */
export async function startNodeChild(
  name: string,
  core: number,
  script: string,
  args: readonly string[],
  timeoutMs = 10_000,
): Promise<PortChild> {
  const [cmd, argv] = pinned(core, process.execPath, [script, ...args]);
  const child = spawnTracked(name, cmd, argv, ['ignore', 'pipe', 'inherit', 'ipc']);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(
        () => reject(new Error(`${name}: no port reported within ${timeoutMs} ms`)),
        timeoutMs,
      );
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        buf += chunk;
        const m = /\{"port":(\d+)\}/.exec(buf);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited early (${signal ?? `code ${code}`})`));
      });
    });
    // Keep draining stdout so the child never blocks on a full pipe.
    child.stdout!.resume();
    return { child, port };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

/** Exit status and captured output of a finished command. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion (tracked, killed after `timeoutMs`), capturing stdout and stderr.
 * @param timeoutMs - hard deadline, in ms.
 */
export function runTracked(
  name: string,
  cmd: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<RunResult> {
  const child = spawnTracked(name, cmd, args, ['ignore', 'pipe', 'pipe']);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stderr += `\n${name}: killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}${err.message}` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Finds a free TCP port on 127.0.0.1 by binding port 0 and releasing it.
 * (Racy in theory; on a quiet benchmark machine the kernel does not hand the same port out again soon.)
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Whether something accepts TCP connections on 127.0.0.1:`port`.
 * @param timeoutMs - connect timeout, in ms.
 */
export function canConnect(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Spawns a load generator pinned to `core`, collecting its stdout (stderr is drained).
 * @returns the child and a promise of its whole stdout once it exited.
 */
export function startCollecting(
  name: string,
  core: number,
  cmd: string,
  args: readonly string[],
): { child: ChildProcess; done: Promise<string> } {
  const [c, argv] = pinned(core, cmd, args);
  const child = spawnTracked(name, c, argv, ['ignore', 'pipe', 'pipe']);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.resume();
  const done = new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve(out));
  });
  // Awaited only at the end: a failure meanwhile must not surface as an unhandled rejection.
  done.catch(() => undefined);
  return { child, done };
}
