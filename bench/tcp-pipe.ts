/**
 * The TCP yardstick: a bare node:net proxy. Accept, connect to the upstream, `pipe` both ways.
 *
 * Half-close is forwarded: when one side sends FIN, the other side gets a FIN once the buffered bytes
 * are flushed, while the opposite direction keeps flowing. Errors on either side destroy both.
 *
 * Usage: `node dist/bench/tcp-pipe.js --upstream 127.0.0.1:PORT [--port 0]`. Prints `{"port":N}`.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { exitWithParent, printPort } from './child-io.js';

/**
 * Starts the pipe proxy on 127.0.0.1.
 * @param upstreamHost - upstream address.
 * @param upstreamPort - upstream TCP port.
 * @param port - port to listen on; 0 picks a free one.
 */
export async function startTcpPipe(
  upstreamHost: string,
  upstreamPort: number,
  port: number,
): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.connect({
      host: upstreamHost,
      port: upstreamPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    const destroyBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    // A side that closes without having ended cleanly (reset, destroy) takes the other one with it.
    client.on('close', (hadError) => {
      if (hadError) upstream.destroy();
    });
    upstream.on('close', (hadError) => {
      if (hadError) client.destroy();
    });
    // pipe() ends the destination when the source ends: that forwards the FIN (half-close).
    // Writes issued before upstream connects are buffered by net.Socket.
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' } },
  });
  const match = /^(.+):(\d+)$/.exec(values.upstream ?? '');
  if (match === null) throw new Error('--upstream HOST:PORT is required');
  const server = await startTcpPipe(match[1]!, Number(match[2]), Number(values.port));
  printPort(server);
  exitWithParent(() => server.close());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
