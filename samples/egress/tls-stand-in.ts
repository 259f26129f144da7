/**
 * An HTTPS server standing in for an external TLS site (www.google.com in the egress sample). It
 * makes itself a self-signed certificate for the given names with the `openssl` CLI at start-up
 * (never a real key), prints where that certificate is so clients can trust it
 * (`curl --cacert <file>`), and answers every request with the SNI and Host it saw:
 *
 *   node dist/samples/egress/tls-stand-in.js --port 18443 --name www.google.com
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { listen, parsePort, sendJson, type RunningServer } from '../common/http-util.js';
import { exitWithParent, isMainModule } from '../common/process-util.js';

/** Options of {@link startTlsStandIn}. */
interface TlsStandInOptions {
  /** DNS names in the certificate (the first is also its CN). */
  readonly names: readonly string[];
  /** Port to bind; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Receives one line per request (default: silent). */
  readonly log?: (line: string) => void;
}

/** A running stand-in: the server plus the path of its certificate (to trust it). */
interface RunningTlsStandIn extends RunningServer {
  readonly certFile: string;
}

/**
 * Starts the stand-in.
 * @throws Error when `openssl` is missing or the port cannot be bound.
 */
async function startTlsStandIn(options: TlsStandInOptions): Promise<RunningTlsStandIn> {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-tls-stand-in-'));
  const names = options.names.length > 0 ? options.names : ['localhost'];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
      '-days',
      '7',
      '-subj',
      `/CN=${names[0]}`,
      '-addext',
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const certFile = join(dir, 'cert.pem');
  const server = https.createServer(
    { cert: readFileSync(certFile), key: readFileSync(join(dir, 'key.pem')) },
    (req, res) => {
      const sni = (req.socket as TLSSocket).servername || null;
      options.log?.(
        `tls stand-in ${req.method} ${req.url} sni=${sni ?? '-'} host=${req.headers.host ?? '-'}`,
      );
      sendJson(res, 200, { servedBy: 'tls-stand-in', sni, host: req.headers.host ?? null, url: req.url });
    },
  );
  const running = await listen(
    server as unknown as import('node:http').Server,
    options.port ?? 0,
    options.host ?? '127.0.0.1',
  );
  return {
    port: running.port,
    certFile,
    close: async () => {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      name: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: tls-stand-in.js [--port 18443] [--host 127.0.0.1] --name www.google.com [--name ...]\n',
    );
    return;
  }
  const running = await startTlsStandIn({
    names: values.name ?? ['www.google.com'],
    port: parsePort(values.port, 18443),
    host: values.host,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(
    `tls stand-in on https://${values.host}:${running.port}, certificate ${running.certFile}\n`,
  );
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  exitWithParent();
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`tls-stand-in: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
