#!/usr/bin/env -S node --single-threaded-gc
/**
 * `meshgate`: the command line.
 *   meshgate run -f <file|dir> [-f ...] [options]       serve the Gateways in the config
 *   meshgate validate -f <file|dir> [-f ...] [options]  print diagnostics; exit 1 on any error
 */
import { validateConfig } from '../config/pipeline.js';
import { FileSource } from '../config/sources/files.js';
import { formatDiagnostic, hasErrors } from '../config/diagnostics.js';
import type { GatewayOptions } from '../gateway/gateway.js';
import { parseDnsServer } from '../upstream/dns.js';
import { CLI_OPTIONS, parseFlags, USAGE, type FlagValues } from './flags.js';
import { suggestFlag } from './flag-suggestion.js';

/** Parses `k=v,k2=v2`. @throws Error naming the bad entry. */
function parsePairs(text: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`${what}: "${part}" is not of the form key=value`);
    out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

/** Parses `--port-map 80=8080,443=8443`. @throws Error for a non-numeric or out-of-range port. */
function parsePortMap(text: string | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (!text) return out;
  for (const [k, v] of parsePairs(text, '--port-map')) {
    const from = Number(k);
    const to = Number(v);
    if (
      !Number.isInteger(from) ||
      from < 1 ||
      from > 65535 ||
      !Number.isInteger(to) ||
      to < 0 ||
      to > 65535
    ) {
      throw new Error(`--port-map: "${k}=${v}" must map a port 1-65535 to a port 0-65535`);
    }
    out.set(from, to);
  }
  return out;
}

/**
 * Parses the egress options (issue 4): `--mesh-port` (0-65535), `--outbound-traffic-policy`
 * (`ALLOW_ANY` | `REGISTRY_ONLY`, case-insensitive), `--dns-server` (see `parseDnsServer`).
 * @throws Error naming the bad value.
 */
function parseEgressOptions(
  meshPort: string | undefined,
  policy: string | undefined,
  dnsServer: string | undefined,
): Pick<GatewayOptions, 'meshPort' | 'outboundTrafficPolicy' | 'dnsServer'> {
  let port: number | undefined;
  if (meshPort !== undefined) {
    port = Number(meshPort);
    if (!/^\d+$/.test(meshPort) || port > 65535)
      throw new Error(`--mesh-port: "${meshPort}" must be a port 0-65535`);
  }
  const p = policy?.toUpperCase();
  if (p !== undefined && p !== 'ALLOW_ANY' && p !== 'REGISTRY_ONLY') {
    throw new Error(`--outbound-traffic-policy: "${policy}" must be ALLOW_ANY or REGISTRY_ONLY`);
  }
  return {
    meshPort: port,
    outboundTrafficPolicy: p,
    dnsServer: dnsServer === undefined ? undefined : parseDnsServer(dnsServer),
  };
}

/** The meshgate version (read from package.json with the metrics module, loaded only when asked). */
async function version(): Promise<string> {
  return (await import('../telemetry/metrics.js')).MESHGATE_VERSION;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(`meshgate ${await version()}\n`);
    return 0;
  }
  let values: FlagValues;
  try {
    values = parseFlags(rest).values;
  } catch (err) {
    const unknown = /^Unknown option '-{1,2}([^']+)'/.exec((err as Error).message)?.[1];
    const hint = unknown !== undefined ? suggestFlag(unknown, Object.keys(CLI_OPTIONS)) : undefined;
    const mean = hint !== undefined ? ` (did you mean --${hint}?)` : '';
    process.stderr.write(`meshgate: ${(err as Error).message}${mean}\n\n${USAGE}`);
    return 2;
  }
  if (values.version) {
    process.stdout.write(`meshgate ${await version()}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const paths = values.filename ?? [];
  const kubernetes = command === 'run' && values.kubernetes === true;
  if (paths.length === 0 && !kubernetes) {
    process.stderr.write(`meshgate ${command}: at least one -f <file|dir> is required\n\n${USAGE}`);
    return 2;
  }
  let portMap: Map<number, number>;
  let gatewayLabels: Record<string, string> | undefined;
  let egress: Pick<GatewayOptions, 'meshPort' | 'outboundTrafficPolicy' | 'dnsServer'>;
  try {
    portMap = parsePortMap(values['port-map']);
    egress = parseEgressOptions(values['mesh-port'], values['outbound-traffic-policy'], values['dns-server']);
    gatewayLabels = values['gateway-labels']
      ? Object.fromEntries(parsePairs(values['gateway-labels'], '--gateway-labels'))
      : undefined;
  } catch (err) {
    process.stderr.write(`meshgate: ${(err as Error).message}\n`);
    return 2;
  }
  const pipeline = {
    defaultNamespace: values.namespace ?? 'default',
    strict: values.strict ?? false,
    portMap,
    gatewayLabels,
    credentialsDir: values['credentials-dir'],
    // Istio resolves credentialName in the gateway pod's namespace; without a pod, the default one.
    proxyNamespace: process.env.POD_NAMESPACE || (values.namespace ?? 'default'),
    ...egress,
  };

  if (command === 'validate') {
    const result = await validateConfig([new FileSource(paths)], pipeline);
    for (const d of result.diagnostics) process.stdout.write(`${formatDiagnostic(d)}\n`);
    const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = result.diagnostics.filter((d) => d.severity === 'warning').length;
    process.stdout.write(
      `${result.resources.length} resources, ${result.objects.length} Kubernetes objects, ${errors} error(s), ${warnings} warning(s)\n`,
    );
    return hasErrors(result.diagnostics) ? 1 : 0;
  }

  if (command === 'run') {
    // The gateway (data path, admin server, trace exporters and their libraries) is loaded only to
    // serve: `validate` does not pay for it.
    const { runCommand } = await import('./run-command.js');
    return runCommand(values, paths, pipeline);
  }

  process.stderr.write(`meshgate: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Normally nothing is left and the process ends by itself. A write stuck on a stalled stdout
    // pipe would keep it alive: the access log had its chance in close(), so end anyway.
    setTimeout(() => process.exit(code), code === 0 ? 1000 : 100).unref();
  },
  (err: unknown) => {
    process.stderr.write(`meshgate: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(70);
  },
);
