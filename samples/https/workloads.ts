/**
 * Workloads of the HTTPS samples, on node:http/node:https:
 *
 * - `nginx`: the upstream of Istio's TLS-passthrough task. It terminates TLS itself with the
 *   `nginx.example.com` certificate and answers every path with nginx's welcome page, so a client
 *   that reads "Welcome to nginx!" and sees CN=nginx.example.com proves the gateway did not terminate.
 * - `helloworld`: the second host of the secure-ingress task: `GET /hello` → `Hello version: v1, ...`.
 *
 *   node dist/samples/https/workloads.js --app nginx --port 18443 --cert certs/nginx.example.com.crt --key certs/nginx.example.com.key
 *   node dist/samples/https/workloads.js --app helloworld --port 18500
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { parsePort, type RunningServer } from '../common/http-util.js';
import { exitWithParent, isMainModule } from '../common/process-util.js';

/** Ports the sample's ServiceEntries point at (services.yaml). */
export const HTTPS_LAYOUT = { httpbin: 18000, helloworld: 18500, nginx: 18443 } as const;

/** The page nginx serves by default (abridged). */
const NGINX_WELCOME = `<!DOCTYPE html>
<html>
<head><title>Welcome to nginx!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and working.</p>
</body>
</html>
`;

/** Options of {@link startNginx}. */
interface NginxOptions {
  /** Port to bind; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** PEM certificate and key (the `nginx.example.com` pair of make-certs.sh). */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** Receives one line per request (default: silent). */
  readonly log?: (line: string) => void;
}

function serve(server: http.Server | https.Server, port: number, host: string): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      let closing: Promise<void> | undefined;
      resolve({
        port: (server.address() as AddressInfo).port,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}

/**
 * Starts the TLS-terminating nginx stand-in.
 * @throws Error from `listen` or from an unusable certificate/key.
 */
export function startNginx(options: NginxOptions): Promise<RunningServer> {
  const server = https.createServer({ cert: options.cert, key: options.key }, (req, res) => {
    options.log?.(
      `nginx ${req.method} ${req.url} sni=${(req.socket as import('node:tls').TLSSocket).servername || '-'}`,
    );
    res.writeHead(200, {
      'content-type': 'text/html',
      server: 'nginx',
      'content-length': Buffer.byteLength(NGINX_WELCOME),
    });
    res.end(NGINX_WELCOME);
  });
  return serve(server, options.port ?? 0, options.host ?? '127.0.0.1');
}

/** Starts helloworld: `GET /hello` answers `Hello version: <version>, instance: helloworld-<version>`; other paths 404. */
function startHelloworld(
  options: { port?: number; host?: string; version?: string } = {},
): Promise<RunningServer> {
  const version = options.version ?? 'v1';
  const server = http.createServer((req, res) => {
    if (req.url === '/hello') {
      const body = `Hello version: ${version}, instance: helloworld-${version}\n`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
    }
  });
  return serve(server, options.port ?? 0, options.host ?? '127.0.0.1');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      app: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      cert: { type: 'string' },
      key: { type: 'string' },
      version: { type: 'string', default: 'v1' },
    },
  });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  let running: RunningServer;
  if (values.app === 'nginx') {
    if (!values.cert || !values.key) throw new Error('--app nginx needs --cert and --key');
    running = await startNginx({
      port: parsePort(values.port, HTTPS_LAYOUT.nginx),
      host: values.host,
      cert: readFileSync(values.cert),
      key: readFileSync(values.key),
      log,
    });
  } else if (values.app === 'helloworld') {
    running = await startHelloworld({
      port: parsePort(values.port, HTTPS_LAYOUT.helloworld),
      host: values.host,
      version: values.version,
    });
  } else {
    throw new Error('usage: workloads.js --app nginx|helloworld [--port N] [--cert file --key file]');
  }
  log(`${values.app} listening on ${values.host}:${running.port}`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  exitWithParent();
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`https workloads: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
