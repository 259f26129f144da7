/**
 * Small helpers shared by the benchmark's child processes (upstream, minimal proxy, TCP pipe):
 * how they announce their port and how they make sure they never outlive the runner.
 */
import type net from 'node:net';

/** The upstream's fixed response body: exactly 50 bytes. The runner checks proxies return it unchanged. */
export const UPSTREAM_BODY = Buffer.from('meshgate bench upstream: hello from 127.0.0.1 ok!\n', 'latin1');

/**
 * Prints the bound port as one JSON line (`{"port":N}`) on stdout; the runner reads it to find the child.
 * @param server - a listening server bound to a TCP address.
 */
export function printPort(server: net.Server): void {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server is not bound to a TCP port');
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
}

/**
 * Makes the process exit when its parent goes away, so no benchmark child is ever orphaned, even when
 * the runner is killed with SIGKILL. The runner spawns children with an IPC channel; its `disconnect`
 * fires when the parent dies. SIGTERM/SIGINT also run `close` and exit.
 * @param close - best-effort cleanup before exiting (e.g. `server.close()`).
 */
export function exitWithParent(close: () => void): void {
  const stop = (): void => {
    try {
      close();
    } finally {
      process.exit(0);
    }
  };
  if (process.connected) process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
