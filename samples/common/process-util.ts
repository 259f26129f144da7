/**
 * Process helpers for the sample programs: "am I the entry point", "exit when my parent is gone",
 * repository root lookup, and waiting for a TCP port to accept connections.
 */
import cluster from 'node:cluster';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * True when the module at `importMetaUrl` is the script Node was started with (not imported by a
 * test or another module). Symlinks are resolved on both sides.
 */
export function isMainModule(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(fileURLToPath(importMetaUrl)) === realpathSync(entry);
  } catch {
    return false;
  }
}

/**
 * When this process was spawned with an IPC channel (as the `start` scripts do), exits once the
 * channel closes, i.e. when the parent is gone, even if it was SIGKILLed. Sends SIGTERM to itself so
 * the program's own graceful shutdown runs; a 5 s fallback forces the exit. No-op without a channel,
 * and in a node:cluster worker: its channel is the cluster primary's (which owns the worker's life),
 * and unref'ing it would let a worker waiting for its first config exit at once.
 */
export function exitWithParent(): void {
  if (!process.channel || cluster.isWorker) return;
  process.once('disconnect', () => {
    setTimeout(() => process.exit(1), 5000).unref();
    process.kill(process.pid, 'SIGTERM');
  });
  // A 'disconnect' listener refs the channel; unref it so it never keeps the process alive by itself.
  process.channel.unref();
}

/**
 * Finds the meshgate repository root by walking up from `importMetaUrl` to the first directory with
 * a package.json named "meshgate". Works from the TypeScript sources and from `dist/`.
 * @throws Error when no such directory exists.
 */
export function findRepoRoot(importMetaUrl: string): string {
  let dir = path.dirname(fileURLToPath(importMetaUrl));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const parsed = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown };
        if (parsed.name === 'meshgate') return dir;
      } catch {
        // Unreadable package.json: keep walking up.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the meshgate repository root above ${importMetaUrl}`);
    dir = parent;
  }
}

/**
 * Tries one TCP connection to `host:port`. Resolves true when it is accepted (then closes it),
 * false on refusal, error or after `timeoutMs` milliseconds.
 */
export function probePort(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Options of {@link waitForPort}. */
interface WaitForPortOptions {
  readonly host?: string;
  /** Give up after this many milliseconds (default 10 000). */
  readonly deadlineMs?: number;
  /** Pause between attempts in milliseconds (default 100). */
  readonly intervalMs?: number;
  /** Stop early when this rejects or resolves (e.g. the process that should listen has exited). */
  readonly abort?: Promise<unknown>;
}

/**
 * Polls TCP connects to `port` until one is accepted.
 * @throws Error when the deadline passes or `abort` settles first (its reason in the message).
 */
export async function waitForPort(port: number, options: WaitForPortOptions = {}): Promise<void> {
  const { host = '127.0.0.1', deadlineMs = 10_000, intervalMs = 100 } = options;
  const deadline = Date.now() + deadlineMs;
  let aborted: string | undefined;
  options.abort?.then(
    (v) => (aborted = String(v)),
    (e: unknown) => (aborted = e instanceof Error ? e.message : String(e)),
  );
  for (;;) {
    if (aborted !== undefined) throw new Error(`gave up waiting for ${host}:${port}: ${aborted}`);
    if (await probePort(port, host, Math.min(500, Math.max(50, deadline - Date.now())))) return;
    if (aborted !== undefined) throw new Error(`gave up waiting for ${host}:${port}: ${aborted}`);
    if (Date.now() >= deadline)
      throw new Error(`${host}:${port} did not accept a connection within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
