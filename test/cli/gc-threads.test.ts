/**
 * The gateway's node flags (`--single-threaded-gc`, cli/gc-threads.ts): every launcher passes the
 * same ones, workers get them from the primary even when it was started without, an operator's own
 * choice is kept, and a single process started without them says so once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MESHGATE_NODE_FLAGS } from '../../bench/meshgate.js';
import { GATEWAY_NODE_FLAGS, gatewayExecArgv, gcThreadsLeftToV8 } from '../../cli/gc-threads.js';
import { GATEWAY_NODE_FLAGS as SAMPLE_NODE_FLAGS } from '../../samples/common/run-stack.js';
import { logLine, servingPort } from '../helpers/cli-process.js';

const MAIN = join(process.cwd(), 'dist', 'cli', 'main.js');

const CONFIG = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ['*']
`;

/** Pids whose parent is `ppid` (from /proc). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, …
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

/** node's own flags of process `pid` (the arguments before the script). */
function nodeFlagsOf(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1);
  return argv.slice(
    0,
    argv.findIndex((a) => !a.startsWith('-')),
  );
}

describe('gateway node flags', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  it('adds --single-threaded-gc to a worker’s flags unless the operator chose', () => {
    expect(gatewayExecArgv([])).toEqual(['--single-threaded-gc']);
    expect(gatewayExecArgv(['--max-old-space-size=512'])).toEqual([
      '--max-old-space-size=512',
      '--single-threaded-gc',
    ]);
    expect(gatewayExecArgv(['--single-threaded-gc'])).toEqual(['--single-threaded-gc']);
    expect(gatewayExecArgv(['--no-single-threaded-gc'])).toEqual(['--no-single-threaded-gc']);
    expect(gcThreadsLeftToV8(['--inspect'])).toBe(true);
    expect(gcThreadsLeftToV8(['--no-single-threaded-gc'])).toBe(false);
  });

  it('is what the image, the meshgate command, the samples and the bench start node with', () => {
    expect(MESHGATE_NODE_FLAGS).toEqual(GATEWAY_NODE_FLAGS);
    expect(SAMPLE_NODE_FLAGS).toEqual(GATEWAY_NODE_FLAGS);
    const flags = GATEWAY_NODE_FLAGS.map((f) => JSON.stringify(f)).join(', ');
    expect(readFileSync('Dockerfile', 'utf8')).toContain(`ENTRYPOINT ["node", ${flags}, "dist/cli/main.js"]`);
    const shebang = readFileSync('cli/main.ts', 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${GATEWAY_NODE_FLAGS.join(' ')}`);
  });

  it('gives workers the flags when the primary was started without them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-gc-'));
    writeFileSync(join(dir, 'gw.yaml'), CONFIG);
    const args = [MAIN, 'run', '-f', join(dir, 'gw.yaml'), '--port-map', '80=0', '--concurrency', '2'];
    for (const p of ['admin', 'prometheus', 'status', 'health']) args.push(`--${p}-port`, '0');
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    await servingPort(c);
    const workers = childrenOf(c.pid!).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker.js');
      } catch {
        return false;
      }
    });
    expect(workers).toHaveLength(2);
    for (const pid of workers) expect(nodeFlagsOf(pid)).toContain('--single-threaded-gc');
    expect(nodeFlagsOf(c.pid!)).not.toContain('--single-threaded-gc');
  });

  it('notes once when a single process runs without them, and not when started with them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-gc-'));
    writeFileSync(join(dir, 'gw.yaml'), CONFIG);
    const run = (nodeFlags: string[]): ChildProcess => {
      const args = [...nodeFlags, MAIN, 'run', '-f', join(dir, 'gw.yaml'), '--port-map', '80=0'];
      args.push('--concurrency', '1');
      for (const p of ['admin', 'prometheus', 'status', 'health']) args.push(`--${p}-port`, '0');
      return spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    };
    const hint = 'node was started without --single-threaded-gc';
    const collect = (c: ChildProcess): string[] => {
      const lines: string[] = [];
      c.stderr!.setEncoding('utf8').on('data', (s: string) => lines.push(s));
      return lines;
    };

    const without = run([]);
    child = without;
    const seenWithout = collect(without);
    await logLine(without, 'listener bound');
    expect(seenWithout.join('').split(hint).length - 1).toBe(1);
    without.kill('SIGKILL');

    const withFlags = run([...GATEWAY_NODE_FLAGS]);
    child = withFlags;
    const seenWith = collect(withFlags);
    await logLine(withFlags, 'listener bound');
    expect(seenWith.join('')).not.toContain(hint);
  });
});
