/**
 * Shared setup for the TLS integration tests (SIMPLE, MUTUAL, PASSTHROUGH): Istio YAML builders for
 * the Gateway, VirtualService and ServiceEntry documents they start the gateway with, a credentials
 * folder, real CLI clients (curl, openssl s_client) and access-log lookups.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StreamRecord } from '../../telemetry/access-log.js';
import type { TestGateway } from './gateway.js';

/** How a CLI client ended: its exit code (0 on success), and what it printed. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd` with `args`, writes `input` to its stdin and closes it (so `openssl s_client` exits),
 * and never rejects. Killed after 15 s.
 * @returns the exit code (1 when the process failed without one), stdout and stderr as text.
 */
export function runCommand(cmd: string, args: string[], input = ''): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

/**
 * curl options that send `host` to the gateway on 127.0.0.1:`port` (so SNI and Host are `host`) and
 * trust only the CA in `caFile`.
 * @returns the arguments `--resolve host:port:127.0.0.1 --cacert caFile`.
 */
export function curlResolveArgs(host: string, port: number, caFile: string): string[] {
  return ['--resolve', `${host}:${port}:127.0.0.1`, '--cacert', caFile];
}

/** curl options that discard the body and print only the HTTP status code (e.g. `418`) on stdout. */
export const CURL_STATUS_ONLY: readonly string[] = ['-o', '/dev/null', '-w', '%{http_code}'];

/**
 * One `openssl s_client` handshake with the gateway on 127.0.0.1:`port`, sending SNI `servername`
 * and verifying against the CA in `caFile`; stdin is closed so it exits after the handshake.
 * @returns the outcome; stdout holds the `subject=` line and `Verify return code`.
 */
export function opensslSClient(port: number, servername: string, caFile: string): Promise<CommandResult> {
  return runCommand('openssl', [
    's_client',
    '-connect',
    `127.0.0.1:${port}`,
    '-servername',
    servername,
    '-CAfile',
    caFile,
  ]);
}

/**
 * The first access-log record (already written or coming) that satisfies `pred`; waits on records,
 * never sleeps.
 * @returns that record.
 */
export async function recordWhere(
  gw: TestGateway,
  pred: (r: StreamRecord) => boolean,
): Promise<StreamRecord> {
  for (;;) {
    const found = gw.records.find(pred);
    if (found) return found;
    await gw.nextRecord();
  }
}

/**
 * Creates an empty folder under the OS temp folder to pass as the gateway's `credentialsDir` (fill it
 * with `writeCredential`); remove it with `removeCredentialsDir`.
 * @returns its absolute path.
 */
export function makeCredentialsDir(): string {
  return mkdtempSync(join(tmpdir(), 'meshgate-creds-'));
}

/** Deletes a folder made by `makeCredentialsDir` and all in it; does nothing for `undefined`. */
export function removeCredentialsDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/**
 * A YAML flow mapping of plain scalars, e.g. `{ version: v1 }`.
 * @returns the mapping as one line of YAML.
 */

/** Joins YAML documents (one implementation for every test helper). */
export { yamlDocuments } from './resources.js';
export {
  istioResourceYaml,
  localServiceEntryYaml,
  type LocalEndpoint,
  type ServicePort,
} from './resources.js';
import { flowMap, istioResourceYaml } from './resources.js';

/** One server of a Gateway resource. */
export interface GatewayServer {
  /** The server port number (`startGateway` binds an ephemeral local port for it). */
  port: number;
  name: string;
  protocol: 'HTTP' | 'HTTPS' | 'TLS';
  /** The server's `tls` settings as a YAML flow mapping, e.g. `{ mode: SIMPLE, credentialName: x }`. */
  tls?: string;
  hosts: string[];
}

/**
 * The two servers most HTTPS tests bind: plain HTTP on 80 for every host, and HTTPS on 443
 * terminating TLS (`SIMPLE`) with `credentialName` for `httpsHosts`.
 */
export function httpAndSimpleHttpsServers(credentialName: string, httpsHosts: string[]): GatewayServer[] {
  return [
    { port: 80, name: 'http', protocol: 'HTTP', hosts: ['*'] },
    {
      port: 443,
      name: 'https',
      protocol: 'HTTPS',
      tls: `{ mode: SIMPLE, credentialName: ${credentialName} }`,
      hosts: httpsHosts,
    },
  ];
}

/**
 * A Gateway resource `name` with these servers, and `selector` labels when given.
 * @returns one YAML document.
 */
export function gatewayYaml(
  name: string,
  servers: readonly GatewayServer[],
  selector?: Record<string, string>,
): string {
  return istioResourceYaml('Gateway', name, [
    ...(selector ? [`selector: ${flowMap(selector)}`] : []),
    'servers:',
    ...servers.flatMap((s) => [
      `- port: ${flowMap({ number: s.port, name: s.name, protocol: s.protocol })}`,
      ...(s.tls ? [`  tls: ${s.tls}`] : []),
      `  hosts: ${JSON.stringify(s.hosts)}`,
    ]),
  ]);
}

/**
 * A VirtualService `name` for `hosts`, bound to `gateways`.
 * @param routeLines the route sections under `spec:` (`http:`, `tls:` or `tcp:` and their items),
 *   without their two-space indent.
 * @returns one YAML document.
 */
export function virtualServiceYaml(
  name: string,
  hosts: string[],
  gateways: string[],
  routeLines: readonly string[],
): string {
  return istioResourceYaml('VirtualService', name, [
    `hosts: ${JSON.stringify(hosts)}`,
    `gateways: ${JSON.stringify(gateways)}`,
    ...routeLines,
  ]);
}
