/** Helpers for tests that run the real meshgate CLI as a child process. */
import type { ChildProcess } from 'node:child_process';

/**
 * Resolves with the first JSON line on the child's stderr (the system log) whose `msg` is `msg`.
 * Rejects when the process exits first, with the stderr seen so far.
 */
export function logLine(child: ChildProcess, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString();
      // Complete lines only: a chunk may end mid-line (JSON.parse would throw on half a line).
      for (const line of buf.split('\n').slice(0, -1)) {
        if (!line.includes(`"msg":"${msg}"`)) continue;
        child.stderr!.off('data', onData);
        resolve(JSON.parse(line) as Record<string, unknown>);
        return;
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`meshgate exited with ${code} before "${msg}": ${buf}`)));
  });
}

/** The `port` field of the first `msg` log line (e.g. `listener bound`, `admin port bound`). */
export async function portFromLog(child: ChildProcess, msg: string): Promise<number> {
  return (await logLine(child, msg)).port as number;
}

/**
 * The listener port once the CLI serves with all its processes: one process after its
 * `listener bound`; with `--concurrency` workers (the default on a multi-core machine) once the
 * primary logs `all workers ready` (readiness is 503 until then).
 */
export function servingPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let port: number | undefined;
    const onData = (c: Buffer): void => {
      buf += c.toString();
      for (const line of buf.split('\n').slice(0, -1)) {
        if (!line.startsWith('{')) continue;
        const rec = JSON.parse(line) as Record<string, unknown>;
        if (rec['msg'] === 'listener bound') port ??= rec['port'] as number;
        const done =
          rec['msg'] === 'all workers ready' ||
          (rec['msg'] === 'listener bound' && rec['worker'] === undefined);
        if (done && port !== undefined) {
          child.stderr!.off('data', onData);
          resolve(port);
          return;
        }
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`meshgate exited with ${code} before serving: ${buf}`)));
  });
}
