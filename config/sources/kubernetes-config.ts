/**
 * Where the `kubernetes` source connects and who the gateway is: the kubeconfig (`--kubeconfig`,
 * `$KUBECONFIG`, `~/.kube/config`, the in-cluster service account, in that order, as kubectl and
 * client-go look), the gateway's namespace (where its `credentialName` Secrets live, as Istio
 * requires) and its labels (which Gateways select it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

/** Where Istio's gateway injection mounts the pod's labels (downward API). */
const DOWNWARD_API_LABELS_FILE = '/etc/istio/pod/labels';

/**
 * Loads the kubeconfig. `file` (`--kubeconfig`) wins; then client-node's default search:
 * `$KUBECONFIG` (colon-separated, merged), `~/.kube/config`, the in-cluster service account.
 * @throws Error when nothing is found (client-node would fall back to http://localhost:8080,
 * which is never what a gateway wants) or the file does not parse.
 */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) {
    kc.loadFromFile(file);
  } else {
    kc.loadFromDefault();
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster || (!file && !process.env.KUBECONFIG && cluster.server === 'http://localhost:8080')) {
    throw new Error(
      'no Kubernetes configuration: give --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
    );
  }
  return kc;
}

/** The namespace the gateway runs in: `POD_NAMESPACE` (downward API), the kubeconfig context's, else `default`. */
export function gatewayNamespace(kc: KubeConfig, env: NodeJS.ProcessEnv = process.env): string {
  return env.POD_NAMESPACE || kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
}

/** What {@link podLabels} found. */
interface PodLabels {
  /** The labels; undefined when none could be found. */
  readonly labels: Record<string, string> | undefined;
  /** Where they came from: `pod ns/name`, the labels file, or `none`. */
  readonly from: string;
  /** Why the pod could not be read, when it could not. */
  readonly error?: string;
  /** The API server could not be reached (no answer at all): ask again rather than fall back. */
  readonly transient?: boolean;
}

/**
 * The gateway pod's labels, which Gateways must select (`spec.selector`) to be served, as Istio
 * matches Gateways to the gateway workload:
 * 1. `POD_NAME` and `POD_NAMESPACE` set: the pod read from the API server;
 * 2. the downward-API labels file (`key="value"` per line), when present;
 * 3. undefined: every Gateway is served (a warning is the caller's to log).
 * A pod read the API server answers with an error (403, 404) falls through to the file; one that
 * gets no answer is `transient` and returns no labels. Never throws.
 */
export async function podLabels(
  kc: KubeConfig,
  env: NodeJS.ProcessEnv = process.env,
  labelsFile = DOWNWARD_API_LABELS_FILE,
): Promise<PodLabels> {
  let error: string | undefined;
  if (env.POD_NAME && env.POD_NAMESPACE) {
    try {
      const pod = await kc
        .makeApiClient(CoreV1Api)
        .readNamespacedPod({ name: env.POD_NAME, namespace: env.POD_NAMESPACE });
      return {
        labels: { ...(pod.metadata?.labels ?? {}) },
        from: `pod ${env.POD_NAMESPACE}/${env.POD_NAME}`,
      };
    } catch (err) {
      error = `cannot read pod ${env.POD_NAMESPACE}/${env.POD_NAME}: ${(err as Error).message.split('\n')[0]}`;
      // No HTTP status: the API server was not reached. Asking again may work; falling back now
      // could serve Gateways meant for other workloads.
      if (typeof (err as { code?: unknown }).code !== 'number') {
        return { labels: undefined, from: 'none', error, transient: true };
      }
    }
  }
  if (existsSync(labelsFile)) {
    return { labels: parseDownwardApiLabels(readFileSync(labelsFile, 'utf8')), from: labelsFile, error };
  }
  return { labels: undefined, from: 'none', error };
}

/** Parses the downward API's `metadata.labels` file: one `key="value"` per line (value JSON-quoted). */
export function parseDownwardApiLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const raw = line.slice(eq + 1).trim();
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        value = raw.slice(1, -1);
      }
    }
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}
