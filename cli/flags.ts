/**
 * The flags of `meshgate run` and `meshgate validate` (one table: `validate` accepts every flag of
 * `run`) and the usage text. Imports only flag tables and usage text, never the gateway, its admin
 * server or the trace exporters: `meshgate validate` loads this module, and what it imports is paid
 * by every validation before it reads a byte of config.
 */
import { parseArgs } from 'node:util';
import { TELEMETRY_ARG_OPTIONS, TELEMETRY_USAGE } from '../admin/telemetry-flags.js';

/** `node:util` parseArgs option definitions of the downstream flags. */
const DOWNSTREAM_ARG_OPTIONS = {
  'drain-duration': { type: 'string' },
  'drain-timeout': { type: 'string' },
  'max-connections-per-listener': { type: 'string' },
} as const;

/** Usage lines of the downstream flags. */
const DOWNSTREAM_USAGE = `      --max-connections-per-listener <n>
                               refuse connections past n open on one listener, counted as
                               downstream_cx_overflow (default: unlimited, as Envoy)
      --drain-duration <dur>   on SIGTERM: readiness 503 at once, listeners keep accepting this long while
                               every response closes its connection (default: 5s, Istio's
                               terminationDrainDuration)
      --drain-timeout <dur>    then in-flight requests get this long before connections are closed and
                               the process exits 0 (default: 20s)
`;

/** Usage of the `meshgate` command (printed by `--help` and after a usage error). */
export const USAGE = `Usage:
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

/** The flags of `run` and `validate`; "did you mean" suggestions come from this table too. */
export const CLI_OPTIONS = {
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

/**
 * Parses the flags after the command (`node:util` parseArgs, strict: no positionals).
 * @throws TypeError for an unknown flag or a missing value (parseArgs' own message).
 */
export function parseFlags(args: string[]) {
  return parseArgs({ args, allowPositionals: false, options: CLI_OPTIONS });
}

/** The parsed flag values of {@link parseFlags}. */
export type FlagValues = ReturnType<typeof parseFlags>['values'];
