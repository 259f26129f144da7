/**
 * `meshgate run`: serves the Gateways of the config, in one process or (with `--concurrency` N > 1) a
 * primary and N worker processes. Loaded by `main.ts` only for `run`, so that `meshgate validate`
 * does not load the data path, the admin server, the trace exporters and their libraries.
 */
import pino from 'pino';
import { Gateway, type GatewayOptions } from '../gateway/gateway.js';
import type { AccessLogFormat } from '../telemetry/access-log.js';
import { parseTelemetryOptions } from '../admin/cli-options.js';
import { parseDrainOptions, parseMaxConnections } from './downstream-options.js';
import { parseConcurrency } from './concurrency.js';
import { runPrimary } from './primary.js';
import { GATEWAY_NODE_FLAGS, gcThreadsLeftToV8 } from './gc-threads.js';
import { setHeapGrowth } from './heap-growth.js';
import { raiseMallocTrimThreshold } from './malloc-trim.js';
import type { FlagValues } from './flags.js';
import type { WorkerSettings } from './worker-protocol.js';
// Type only: the module and the Kubernetes client are imported when `--kubernetes` is given.
import type { KubernetesSetup } from '../config/sources/kubernetes-setup.js';

/** `--log-level` values (pino's levels). */
const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * Runs the gateway until SIGTERM/SIGINT and its drain end.
 * @param values the parsed flags; `paths` their `-f` paths; `pipeline` the config options `main.ts`
 * parsed from them (shared with `validate`).
 * @returns the exit code: 0 after a drain, 1 when the config is rejected or a listener cannot bind,
 * 2 for a bad flag or a failed `--kubernetes` set-up.
 */
export async function runCommand(
  values: FlagValues,
  paths: readonly string[],
  pipeline: WorkerSettings['pipeline'],
): Promise<number> {
  const kubernetes = values.kubernetes === true;
  const gatewayLabels = pipeline.gatewayLabels;
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
    process.stderr.write(`meshgate: --log-level: "${level}" must be one of ${LOG_LEVEL_NAMES.join(', ')}\n`);
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
  if (gcThreadsLeftToV8()) {
    log.info(
      { flag: GATEWAY_NODE_FLAGS.join(' ') },
      'node was started without --single-threaded-gc: V8 GC helper threads share the serving core ' +
        '(about 3-5% more CPU per request); the image and the meshgate command pass it',
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
