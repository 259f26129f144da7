#!/usr/bin/env node
/**
 * `meshgate`: the command line.
 *   meshgate run -f <file|dir> [-f ...] [options]       serve the Gateways in the config
 *   meshgate validate -f <file|dir> [-f ...] [options]  print diagnostics; exit 1 on any error
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { validateConfig } from '../config/pipeline.js';
import { FileSource } from '../config/sources/files.js';
import { formatDiagnostic, hasErrors } from '../config/diagnostics.js';
import { Gateway, type GatewayOptions } from '../gateway/gateway.js';
import type { AccessLogFormat } from '../telemetry/access-log.js';
import { parseDnsServer } from '../upstream/dns.js';
import { parseTelemetryOptions, TELEMETRY_ARG_OPTIONS, TELEMETRY_USAGE } from '../admin/cli-options.js';
import {
  DOWNSTREAM_ARG_OPTIONS,
  DOWNSTREAM_USAGE,
  parseDrainOptions,
  parseMaxConnections,
} from './downstream-options.js';
import { MESHGATE_VERSION } from '../telemetry/metrics.js';
import { suggestFlag } from './flag-suggestion.js';
import { parseConcurrency } from './concurrency.js';
import { runPrimary } from './primary.js';
import { setHeapGrowth } from './heap-growth.js';
import { raiseMallocTrimThreshold } from './malloc-trim.js';

/** `--log-level` values (pino's levels). */
const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
// Type only: the module and the Kubernetes client are imported when `--kubernetes` is given.
import type { KubernetesSetup } from '../config/sources/kubernetes-setup.js';

const USAGE = `Usage:
  meshgate run -f <file|dir> [-f ...] [options]
  meshgate validate -f <file|dir> [-f ...] [options]

  meshgate run --kubernetes [--kubeconfig FILE] [--watch-namespace NS]... [options]

Options:
  -f, --filename <path>        Istio YAML file or directory (repeatable), as kubectl apply -f; also
                               reads Service, EndpointSlice, Endpoints, Pod, Secret, Namespace
  -n, --namespace <ns>         namespace for resources that name none (default: default)
      --gateway-labels k=v,..  serve only Gateways whose selector matches these labels (default: all)
      --port-map 80=8080,...   bind a Gateway server port on another local port
      --credentials-dir <dir>  TLS credentials for credentialName: <dir>/<name>/tls.crt, tls.key[, ca.crt]
                               (and <dir>/<name>-cacert/ca.crt), as a mounted Kubernetes Secret;
                               a Secret <name> given with -f is used first
      --strict                 refuse dangling references (missing Gateway, subset, host) as errors
      --access-log json|text|off   access log format on stdout (default: json)
      --log-level <level>      trace|debug|info|warn|error, system log on stderr (default: info)
      --no-watch               do not reload when config files change
      --mesh-port <port>       also serve the mesh (sidecar outbound) listener on 127.0.0.1:<port>:
                               HTTP proxy / Host / CONNECT, applying VirtualServices bound to mesh
      --outbound-traffic-policy ALLOW_ANY|REGISTRY_ONLY
                               mesh listener, unknown hosts: pass through (default) or refuse (502)
      --dns-server <ip[:port]> resolve DNS ServiceEntry endpoints there, honouring TTLs
                               (default: the system resolver, answers kept 5 s)
      --concurrency <n>        worker processes sharing the listeners (default: the CPUs available,
                               cgroup CPU limit honoured; 0 = the same; 1 = one process)
      --kubernetes             read Istio resources, Services, Pods, EndpointSlices and the gateway
                               namespace's TLS Secrets from the Kubernetes API server (list + watch)
      --kubeconfig <file>      with --kubernetes: kubeconfig (default: $KUBECONFIG, ~/.kube/config,
                               then the in-cluster service account)
      --watch-namespace <ns>   with --kubernetes: watch only this namespace (repeatable; default all)
${TELEMETRY_USAGE}${DOWNSTREAM_USAGE}      --version                print the version and exit
  -h, --help
`;

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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(`meshgate ${MESHGATE_VERSION}\n`);
    return 0;
  }
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(rest).values;
  } catch (err) {
    const unknown = /^Unknown option '-{1,2}([^']+)'/.exec((err as Error).message)?.[1];
    const hint = unknown !== undefined ? suggestFlag(unknown, Object.keys(CLI_OPTIONS)) : undefined;
    const mean = hint !== undefined ? ` (did you mean --${hint}?)` : '';
    process.stderr.write(`meshgate: ${(err as Error).message}${mean}\n\n${USAGE}`);
    return 2;
  }
  if (values.version) {
    process.stdout.write(`meshgate ${MESHGATE_VERSION}\n`);
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
    // Process-wide memory settings that keep TCP bulk forwarding as cheap as a bare pipe: see
    // heap-growth.ts and malloc-trim.ts.
    setHeapGrowth();
    raiseMallocTrimThreshold();
    const accessLog = (values['access-log'] ?? 'json') as AccessLogFormat;
    if (!['json', 'text', 'off'].includes(accessLog)) {
      process.stderr.write(`meshgate: --access-log must be json, text or off\n`);
      return 2;
    }
    const level = values['log-level'] ?? 'info';
    if (!(LOG_LEVEL_NAMES as readonly string[]).includes(level)) {
      process.stderr.write(
        `meshgate: --log-level: "${level}" must be one of ${LOG_LEVEL_NAMES.join(', ')}\n`,
      );
      return 2;
    }
    let telemetry: GatewayOptions['telemetry'];
    let drain: ReturnType<typeof parseDrainOptions>;
    let maxConnectionsPerListener: number | undefined;
    let concurrency: number;
    try {
      telemetry = parseTelemetryOptions(values);
      drain = parseDrainOptions(values);
      maxConnectionsPerListener = parseMaxConnections(values);
      concurrency = parseConcurrency(values.concurrency);
    } catch (err) {
      process.stderr.write(`meshgate: ${(err as Error).message}\n`);
      return 2;
    }
    // The system log goes to stderr and the access log to stdout, as Envoy in Istio does: the two
    // streams never interleave, and `kubectl logs`-style readers can tell them apart.
    const log = pino({ level, base: { component: 'meshgate' } }, pino.destination(2));
    let kube: KubernetesSetup | undefined;
    if (kubernetes) {
      // SIGTERM/SIGINT while the gateway pod cannot be read yet ends the wait instead of being ignored.
      const stopSetUp = new AbortController();
      const abort = (): void => stopSetUp.abort();
      process.once('SIGTERM', abort).once('SIGINT', abort);
      try {
        // Loaded only with --kubernetes: the client library alone holds ~28 MB of heap, which every
        // full garbage collection of a file-configured gateway would otherwise walk (TCP bulk pays
        // one per ~64 MB forwarded, see gateway/tcp-proxy.ts).
        const { setUpKubernetes } = await import('../config/sources/kubernetes-setup.js');
        kube = await setUpKubernetes(
          {
            kubeconfig: values.kubeconfig,
            watchNamespaces: values['watch-namespace'],
            credentialsDir: values['credentials-dir'],
            gatewayLabels,
          },
          log,
          { signal: stopSetUp.signal },
        );
      } catch (err) {
        process.stderr.write(`meshgate: ${(err as Error).message}\n`);
        return 2;
      } finally {
        process.off('SIGTERM', abort).off('SIGINT', abort);
      }
    }
    if (concurrency > 1) {
      process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
      process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
      const kubePipeline = kube && {
        gatewayLabels: kube.gatewayLabels,
        credentialsDir: kube.credentialsDir,
        proxyNamespace: kube.proxyNamespace,
      };
      const worker = {
        pipeline: { ...pipeline, ...kubePipeline },
        gateway: { drain, maxConnectionsPerListener },
        accessLog,
        logLevel: level,
        telemetry: telemetry ?? {},
      };
      const sources = kube ? [kube.source] : [];
      const watch = !values['no-watch'];
      return runPrimary(
        { concurrency, paths, sources, worker, watch, reloadDebounce: kube?.reloadDebounce },
        log,
      );
    }
    const started = await Gateway.start(
      {
        ...pipeline,
        paths,
        accessLog,
        watch: !values['no-watch'],
        telemetry,
        maxConnectionsPerListener,
        ...(kube && {
          sources: [kube.source],
          gatewayLabels: kube.gatewayLabels,
          credentialsDir: kube.credentialsDir,
          proxyNamespace: kube.proxyNamespace,
          reloadDebounce: kube.reloadDebounce,
        }),
      },
      log,
    );
    if (!started.ok) {
      for (const e of started.bindErrors) log.error(e.message);
      for (const e of started.portErrors ?? []) log.error(e.message);
      if (started.bindErrors.length === 0 && !started.portErrors?.length)
        log.error('configuration rejected; not starting (see the errors above)');
      return 1;
    }
    const gw = started.gateway;
    // Last line of defence: a bug in one request or connection is logged, never fatal.
    process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
    process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
    process.on('SIGHUP', () => void gw.reload());
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        log.info({ drainMs: drain.drainMs, timeoutMs: drain.timeoutMs, signal: sig }, 'shutting down');
        resolve();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    // Readiness 503 now; listeners accept for the drain duration with Connection: close, then open
    // connections get the drain timeout and are closed: exit is bounded whatever the clients do.
    // The sources (the Kubernetes informers) are closed too.
    await gw.shutdown(drain);
    log.info('drained; exiting');
    return 0;
  }

  process.stderr.write(`meshgate: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

/** The flags of `run` and `validate`; "did you mean" suggestions come from this table too. */
const CLI_OPTIONS = {
  filename: { type: 'string', short: 'f', multiple: true },
  namespace: { type: 'string', short: 'n' },
  'gateway-labels': { type: 'string' },
  'port-map': { type: 'string' },
  'credentials-dir': { type: 'string' },
  strict: { type: 'boolean' },
  'access-log': { type: 'string' },
  'log-level': { type: 'string' },
  'no-watch': { type: 'boolean' },
  'mesh-port': { type: 'string' },
  'outbound-traffic-policy': { type: 'string' },
  'dns-server': { type: 'string' },
  kubernetes: { type: 'boolean' },
  kubeconfig: { type: 'string' },
  'watch-namespace': { type: 'string', multiple: true },
  concurrency: { type: 'string' },
  ...TELEMETRY_ARG_OPTIONS,
  ...DOWNSTREAM_ARG_OPTIONS,
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

function parse(args: string[]) {
  return parseArgs({ args, allowPositionals: false, options: CLI_OPTIONS });
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
