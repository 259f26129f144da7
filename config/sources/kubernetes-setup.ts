/**
 * `meshgate run --kubernetes`: from the command-line values to a {@link KubernetesSource} and the
 * pipeline options it implies (which Gateways to serve, where its TLS Secrets are laid out, how
 * changes are debounced).
 */
import type { Logger } from 'pino';
import { gatewayNamespace, loadKubeConfig, podLabels } from './kubernetes-config.js';
import { KubernetesSource } from './kubernetes.js';
import { Backoff, type BackoffDeps } from './backoff.js';

/** The `--kubernetes` flags. */
interface KubernetesFlags {
  /** `--kubeconfig`. */
  readonly kubeconfig?: string;
  /** `--watch-namespace` (repeatable); none watches all namespaces. */
  readonly watchNamespaces?: readonly string[];
  /** `--credentials-dir`: where the gateway's TLS Secrets are written (a private temporary folder when absent). */
  readonly credentialsDir?: string;
  /** `--gateway-labels`; when absent the gateway pod's own labels are looked up. */
  readonly gatewayLabels?: Readonly<Record<string, string>>;
}

/** What {@link setUpKubernetes} returns: the source and the options the gateway must run with. */
export interface KubernetesSetup {
  readonly source: KubernetesSource;
  readonly gatewayLabels: Readonly<Record<string, string>> | undefined;
  readonly credentialsDir: string;
  /** The gateway's namespace (`POD_NAMESPACE`, else the kubeconfig context's): `credentialName` Secrets resolve there. */
  readonly proxyNamespace: string;
  /** istiod's debounce: 100 ms quiet (PILOT_DEBOUNCE_AFTER), at most 10 s (PILOT_DEBOUNCE_MAX). */
  readonly reloadDebounce: { readonly quietMs: number; readonly maxMs: number };
}

/** What {@link setUpKubernetes} may be given besides the flags. */
interface KubernetesSetupControl {
  /** Aborting it ends the wait for the gateway pod (the set-up then throws). */
  readonly signal?: AbortSignal;
  /** Timers of the retry back-off (tests inject a fake clock). */
  readonly backoffDeps?: BackoffDeps;
}

/**
 * Loads the kubeconfig, finds the gateway's namespace and labels, and creates the source (not yet
 * started: the gateway's first read starts it).
 * @throws Error when no kubeconfig can be found or it does not parse, or when `control.signal`
 * aborts while the gateway pod cannot be read yet.
 */
export async function setUpKubernetes(
  flags: KubernetesFlags,
  log: Logger,
  control: KubernetesSetupControl = {},
): Promise<KubernetesSetup> {
  const kubeConfig = loadKubeConfig(flags.kubeconfig);
  const namespace = gatewayNamespace(kubeConfig);
  let labels = flags.gatewayLabels;
  if (!labels) {
    let found = await podLabels(kubeConfig);
    // The gateway cannot serve before the API server answers anyway: wait for it rather than
    // guess the labels (back-off 0.5 s doubling to 30 s).
    const backoff = new Backoff(undefined, control.backoffDeps);
    while (found.transient) {
      const delay = backoff.next();
      log.warn(`${found.error ?? 'cannot read the gateway pod'}; retrying in ${delay} ms`);
      if (!(await backoff.wait(delay, control.signal))) {
        throw new Error('stopped while waiting for the gateway pod to be readable');
      }
      found = await podLabels(kubeConfig);
    }
    if (found.error) log.warn(found.error);
    labels = found.labels;
    if (labels) log.info({ labels, from: found.from }, 'serving Gateways that select these labels');
    else log.warn('no --gateway-labels, POD_NAME/POD_NAMESPACE or labels file: serving every Gateway');
  }
  const source = new KubernetesSource({
    kubeConfig,
    namespaces: flags.watchNamespaces,
    gatewayNamespace: namespace,
    credentialsDir: flags.credentialsDir,
    log,
  });
  log.info(
    {
      server: kubeConfig.getCurrentCluster()?.server,
      gatewayNamespace: namespace,
      watchNamespaces: flags.watchNamespaces?.length ? flags.watchNamespaces : 'all',
    },
    'reading configuration from the Kubernetes API server',
  );
  return {
    source,
    gatewayLabels: labels,
    credentialsDir: source.credentialsDir,
    proxyNamespace: namespace,
    reloadDebounce: { quietMs: 100, maxMs: 10_000 },
  };
}
