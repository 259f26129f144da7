/**
 * Kubernetes objects for the `kubernetes` source tests, shaped as a cluster holds them: Istio
 * networking objects as `kubectl apply` stores them, Services, Pods as the kubelet reports them
 * (IP, ready condition) and EndpointSlices as the endpoint-slice controller writes them. Upstreams
 * are 127.0.0.1 servers on ephemeral ports, so the slice's port is the upstream's port.
 * Written for meshgate (Bookinfo names and labels are facts from Istio's sample, not its files).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { Gateway } from '../../gateway/gateway.js';
import { KubernetesSource } from '../../config/sources/kubernetes.js';
import { loadKubeConfig } from '../../config/sources/kubernetes-config.js';
import type { ObservabilityOptions } from '../../admin/observability.js';
import type { FakeKubeApiServer, KubeObject } from './kube-apiserver.js';

const ISTIO_V1 = 'networking.istio.io/v1';

/** An Istio networking object. */
export function istio(kind: string, name: string, spec: Record<string, unknown>, namespace = 'default'): KubeObject {
  return { apiVersion: ISTIO_V1, kind, metadata: { name, namespace }, spec };
}

/** A bookinfo-gateway-like Gateway on port 80 (selector `istio: ingressgateway`), optionally with an HTTPS server on 443. */
export function ingressGateway(opts: { name?: string; credentialName?: string; namespace?: string } = {}): KubeObject {
  const servers: unknown[] = [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }];
  if (opts.credentialName) {
    servers.push({
      port: { number: 443, name: 'https', protocol: 'HTTPS' },
      hosts: ['*'],
      tls: { mode: 'SIMPLE', credentialName: opts.credentialName },
    });
  }
  return istio(
    'Gateway',
    opts.name ?? 'bookinfo-gateway',
    { selector: { istio: 'ingressgateway' }, servers },
    opts.namespace,
  );
}

/** A VirtualService bound to `gateway`: `/productpage`-style prefix routes split by weight over subsets or hosts. */
export function routeVirtualService(
  name: string,
  prefix: string,
  route: readonly { host: string; subset?: string; port?: number; weight?: number }[],
  gateway = 'bookinfo-gateway',
): KubeObject {
  return istio('VirtualService', name, {
    hosts: ['*'],
    gateways: [gateway],
    http: [
      {
        match: [{ uri: { prefix } }],
        route: route.map((r) => ({
          destination: {
            host: r.host,
            ...(r.subset ? { subset: r.subset } : {}),
            port: { number: r.port ?? 9080 },
          },
          ...(r.weight !== undefined ? { weight: r.weight } : {}),
        })),
      },
    ],
  });
}

/** A Service `name` on port 9080 (`http`), selecting `app: name`. */
export function service(name: string, namespace = 'default'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels: { app: name, service: name } },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      selector: { app: name },
      ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'TCP' }],
    },
  };
}

/** A running, ready Pod of `app` `version` at 127.0.0.1. */
export function pod(app: string, version: string, namespace = 'default'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${app}-${version}-0`, namespace, labels: { app, version } },
    spec: { containers: [{ name: app, image: `example/${app}:${version}`, ports: [{ containerPort: 9080 }] }] },
    status: {
      phase: 'Running',
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

/** One endpoint of an EndpointSlice: a Pod of `app`/`version` whose server listens on 127.0.0.1:`port`. */
export interface SliceEndpoint {
  readonly version: string;
  readonly port: number;
  readonly ready?: boolean;
}

/**
 * The EndpointSlice the controller writes for Service `app`. A real slice has one port for all its
 * endpoints; here each upstream has its own ephemeral port, so each endpoint gets its own slice
 * (`<app>-<version>`), as a controller does for endpoints with different ports.
 */
export function endpointSlice(app: string, ep: SliceEndpoint, namespace = 'default'): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${app}-${ep.version}`,
      namespace,
      labels: { 'kubernetes.io/service-name': app, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    endpoints: [
      {
        addresses: ['127.0.0.1'],
        conditions: { ready: ep.ready ?? true, serving: ep.ready ?? true, terminating: false },
        targetRef: { kind: 'Pod', namespace, name: `${app}-${ep.version}-0` },
      },
    ],
    ports: [{ name: 'http', port: ep.port, protocol: 'TCP' }],
  };
}

/** A `kubernetes.io/tls` Secret. */
export function tlsSecret(name: string, cert: string, key: string, namespace = 'istio-system'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(cert).toString('base64'), 'tls.key': Buffer.from(key).toString('base64') },
  };
}

/** A gateway reading from the stand-in, with its source and a temp folder for the kubeconfig. */
export interface KubeGateway {
  readonly gateway: Gateway;
  readonly source: KubernetesSource;
  /** Local port bound for a Gateway server port. */
  port(serverPort: number): number;
  /** Resolves with the next installed snapshot version for which `pred` holds (checked now, then on each swap). */
  until(pred: () => boolean): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startKubeGateway}. */
export interface KubeGatewayOptions {
  readonly namespaces?: readonly string[];
  readonly gatewayNamespace?: string;
  readonly telemetry?: ObservabilityOptions;
  readonly log?: Logger;
  readonly beforeListen?: (gw: Gateway) => void | Promise<void>;
}

/**
 * Starts a gateway whose only source is the stand-in, through a kubeconfig file written to a temp
 * folder and loaded by client-node, serving Gateways selected by `istio: ingressgateway`.
 * Server ports 80 and 443 are bound on ephemeral ports. Resolves once the first sync is served.
 */
export async function startKubeGateway(api: FakeKubeApiServer, o: KubeGatewayOptions = {}): Promise<KubeGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-kube-'));
  const kubeConfig = loadKubeConfig(api.writeKubeconfig(dir));
  const log = o.log ?? pino({ level: process.env.MESHGATE_TEST_LOG ?? 'silent' });
  const source = new KubernetesSource({
    kubeConfig,
    namespaces: o.namespaces,
    gatewayNamespace: o.gatewayNamespace ?? 'istio-system',
    log,
    backoff: { initialMs: 50, maxMs: 400 },
  });
  const result = await Gateway.start(
    {
      paths: [],
      sources: [source],
      credentialsDir: source.credentialsDir,
      defaultNamespace: 'default',
      gatewayLabels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
      accessLog: 'off',
      portMap: new Map([
        [80, 0],
        [443, 0],
      ]),
      watch: true,
      reloadDebounce: { quietMs: 100, maxMs: 10_000 },
      telemetry: o.telemetry,
      beforeListen: o.beforeListen,
    },
    log,
  );
  if (!result.ok) {
    await source.close();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`gateway did not start: ${result.diagnostics.map((d) => d.message).join('; ')}`);
  }
  const gw = result.gateway;
  return {
    gateway: gw,
    source,
    port(serverPort) {
      const l = gw.snapshot.listeners.find((x) => x.port === serverPort);
      const a = l && gw.listeners.addressOf(l.name);
      if (!a) throw new Error(`no listener for server port ${serverPort}`);
      return a.port;
    },
    until(pred) {
      if (pred()) return Promise.resolve();
      return new Promise((resolve) => {
        const check = () => {
          if (!pred()) return;
          gw.store.off('snapshot', check);
          resolve();
        };
        gw.store.on('snapshot', check);
      });
    },
    async close() {
      await gw.close();
      await source.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
