/**
 * The tcp-echo workload of Istio's TCP traffic-shifting task, on node:net:
 *
 *   node dist/samples/tcp-echo/tcp-echo-server.js --port 19090 --prefix one
 *
 * For every line received it writes `<prefix> <line>\n`. When the client half-closes (e.g.
 * `echo hello | nc -q1 host port`), a last unterminated line is answered too, then the server ends
 * its side, so both directions close cleanly.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { parsePort } from '../common/http-util.js';
import { exitWithParent, isMainModule } from '../common/process-util.js';

/** The local echo workloads (match `tcp-echo-services.yaml`). */
export const TCP_ECHO_LAYOUT = [
  { version: 'v1', prefix: 'one', port: 19090 },
  { version: 'v2', prefix: 'two', port: 19091 },
] as const;

/** Options of {@link startTcpEcho}. */
interface TcpEchoOptions {
  /** Port to bind; 0 (the default) picks a free one, reported in the result. */
  readonly port?: number;
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Word put before each echoed line (Istio's sample: `one` for v1, `two` for v2). Default `one`. */
  readonly prefix?: string;
  /** Receives one line per connection opened and closed (default: silent). */
  readonly log?: (line: string) => void;
}

/** A started tcp-echo server. */
export interface RunningTcpEcho {
  /** The TCP port actually bound. */
  readonly port: number;
  /** Stops accepting, destroys open connections and resolves once closed. */
  close(): Promise<void>;
}

/** Longest line kept in memory, in characters; longer input is echoed in pieces of this size. */
const MAX_LINE = 64 * 1024;

/**
 * Starts a tcp-echo server and resolves once it is listening.
 * @throws Error from `listen` (EADDRINUSE...).
 */
export async function startTcpEcho(options: TcpEchoOptions = {}): Promise<RunningTcpEcho> {
  const prefix = options.prefix ?? 'one';
  const log = options.log;
  const sockets = new Set<net.Socket>();
  // allowHalfOpen: after the client's FIN we still owe it the answers to what it sent.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    log?.(`${prefix}: connection from ${peer}`);
    socket.setEncoding('utf8');
    let pending = '';
    const echo = (line: string) =>
      socket.write(`${prefix} ${line.endsWith('\r') ? line.slice(0, -1) : line}\n`);
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        echo(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      while (pending.length > MAX_LINE) {
        echo(pending.slice(0, MAX_LINE));
        pending = pending.slice(MAX_LINE);
      }
    });
    socket.on('end', () => {
      if (pending.length > 0) echo(pending);
      pending = '';
      socket.end();
    });
    // A reset by the client is normal for an echo server; never let it crash the process.
    socket.on('error', (err) => log?.(`${prefix}: ${peer}: ${err.message}`));
    socket.on('close', () => {
      sockets.delete(socket);
      log?.(`${prefix}: connection from ${peer} closed`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      prefix: { type: 'string', default: 'one' },
      host: { type: 'string', default: '127.0.0.1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write('usage: tcp-echo-server.js [--port 9000] [--prefix one] [--host 127.0.0.1]\n');
    return;
  }
  const running = await startTcpEcho({
    port: parsePort(values.port, 9000),
    host: values.host,
    prefix: values.prefix,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`tcp-echo (${values.prefix}) listening on ${values.host}:${running.port}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  exitWithParent();
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`tcp-echo-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
