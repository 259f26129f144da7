/**
 * Kubernetes objects for the `kubernetes` source tests, shaped as a cluster holds them: Istio
 * networking objects as `kubectl apply` stores them, Services, Pods as the kubelet reports them
 * (IP, ready condition) and EndpointSlices as the endpoint-slice controller writes them. Upstreams
 * are 127.0.0.1 servers on ephemeral ports, so the slice's port is the upstream's port.
 * Written for meshgate (Bookinfo names and labels are facts from Istio's sample, not its files).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { Gateway } from '../../gateway/gateway.js';
import { KubernetesSource } from '../../config/sources/kubernetes.js';
import { loadKubeConfig } from '../../config/sources/kubernetes-config.js';
import type { ObservabilityOptions } from '../../admin/observability.js';
import { ConfigCompiler, compileConfig, type PipelineResult } from '../../config/pipeline.js';
import {
  FakeKubeApiServer,
  makeApiServerCert,
  type ApiServerCert,
  type FakeKubeApiServerOptions,
  type KubeObject,
} from './kube-apiserver.js';
import { startUpstream, type TestUpstream } from './upstream.js';
import { httpGet } from './clients.js';

const ISTIO_V1 = 'networking.istio.io/v1';

/** An Istio networking object. */
export function istio(
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  namespace = 'default',
): KubeObject {
  return { apiVersion: ISTIO_V1, kind, metadata: { name, namespace }, spec };
}

/** A VirtualService on `bookinfo-gateway` with one route: requests whose URI matches `uri` go to `destination`. */
export function gatewayRoute(
  name: string,
  uri: Record<string, string>,
  destination: Record<string, unknown>,
): KubeObject {
  return istio('VirtualService', name, {
    hosts: ['*'],
    gateways: ['bookinfo-gateway'],
    http: [{ match: [{ uri }], route: [{ destination }] }],
  });
}

/** A bookinfo-gateway-like Gateway on port 80 (selector `istio: ingressgateway`), optionally with an HTTPS server on 443. */
export function ingressGateway(
  opts: { name?: string; credentialName?: string; namespace?: string } = {},
): KubeObject {
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
    spec: {
      containers: [{ name: app, image: `example/${app}:${version}`, ports: [{ containerPort: 9080 }] }],
    },
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
      labels: {
        'kubernetes.io/service-name': app,
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
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

/** Upstreams and objects of a Bookinfo-like app: productpage v1 and reviews v1/v2, each a real server. */
export interface BookinfoApp {
  readonly upstreams: ReadonlyMap<string, TestUpstream>;
  close(): Promise<void>;
}

/**
 * Starts `productpage-v1`, `reviews-v1`, `reviews-v2` upstreams and stores in the stand-in what a
 * cluster running Bookinfo holds: Services, Pods (kubelet status), one EndpointSlice per pod, a
 * DestinationRule with version subsets, the ingress Gateway and a VirtualService sending
 * `/productpage` to productpage and `/reviews` to `reviewsRoute` (default: all to v1).
 */
export async function startBookinfo(
  api: FakeKubeApiServer,
  reviewsRoute: readonly RouteTo[] = [{ host: 'reviews', subset: 'v1', weight: 100 }],
): Promise<BookinfoApp> {
  const upstreams = new Map<string, TestUpstream>();
  for (const [app, version] of [
    ['productpage', 'v1'],
    ['reviews', 'v1'],
    ['reviews', 'v2'],
  ] as const) {
    const u = await startUpstream(`${app}-${version}`);
    upstreams.set(`${app}-${version}`, u);
    api.upsert(pod(app, version));
    api.upsert(endpointSlice(app, { version, port: u.port }));
  }
  api.upsert(service('productpage'));
  api.upsert(service('reviews'));
  api.upsert(
    istio('DestinationRule', 'reviews', {
      host: 'reviews',
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    }),
  );
  api.upsert(ingressGateway());
  api.upsert(bookinfoVirtualService(reviewsRoute));
  return {
    upstreams,
    async close() {
      for (const u of upstreams.values()) await u.close();
    },
  };
}

/** One weighted destination of a route. */
export interface RouteTo {
  readonly host: string;
  readonly subset?: string;
  readonly weight?: number;
}

/** The `bookinfo` VirtualService: `/productpage` → productpage, `/reviews` → `reviews`. */
export function bookinfoVirtualService(reviews: readonly RouteTo[]): KubeObject {
  const dest = (r: RouteTo) => ({
    destination: { host: r.host, ...(r.subset ? { subset: r.subset } : {}), port: { number: 9080 } },
    ...(r.weight !== undefined ? { weight: r.weight } : {}),
  });
  return istio('VirtualService', 'bookinfo', {
    hosts: ['*'],
    gateways: ['bookinfo-gateway'],
    http: [
      { match: [{ uri: { exact: '/productpage' } }], route: [dest({ host: 'productpage' })] },
      { match: [{ uri: { prefix: '/reviews' } }], route: reviews.map(dest) },
    ],
  });
}

/** A gateway reading from the stand-in, with its source and a temp folder for the kubeconfig. */
export interface KubeGateway {
  readonly gateway: Gateway;
  readonly source: KubernetesSource;
  /** Local port bound for a Gateway server port. */
  port(serverPort: number): number;
  /** Resolves with the next installed snapshot version for which `pred` holds (checked now, then on each swap). */
  until(pred: () => boolean): Promise<void>;
  /**
   * Resolves once the installed snapshot was compiled from `obj` at its resourceVersion or a later
   * one (pass what `api.upsert` returned); checked now, then on each swap. No time limit: the
   * test's own timeout bounds it.
   */
  applied(obj: {
    kind?: string;
    metadata: { name: string; namespace?: string; resourceVersion?: string };
  }): Promise<void>;
  /** Resolves once the installed snapshot was compiled without the object `kind/namespace/name`. */
  removed(kind: string, namespace: string, name: string): Promise<void>;
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
export async function startKubeGateway(
  api: FakeKubeApiServer,
  o: KubeGatewayOptions = {},
): Promise<KubeGateway> {
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
  // Each compile's input is remembered; the one installed is what the helpers below inspect.
  const compiler = new ConfigCompiler();
  let compiled: PipelineResult | undefined;
  let installed = new Map<string, number>();
  let first = true;
  const result = await Gateway.start(
    {
      compile: async (sources, opts) => {
        const r = await (first ? compileConfig(sources, opts) : compiler.compile(sources, opts));
        first = false;
        compiled = r;
        return r;
      },
      paths: [],
      sources: [source],
      credentialsDir: source.credentialsDir,
      proxyNamespace: o.gatewayNamespace ?? 'istio-system',
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
  /** `Kind/ns/name` → resourceVersion of the API objects behind a compile. */
  const versions = (r: PipelineResult | undefined): Map<string, number> => {
    const out = new Map<string, number>();
    for (const x of [...(r?.resources ?? []), ...(r?.objects ?? [])]) {
      const m = /^kubernetes:(.*)@(\d+)$/.exec(x.source?.file ?? '');
      if (m) out.set(m[1]!, Number(m[2]));
    }
    return out;
  };
  installed = versions(compiled);
  gw.store.on('snapshot', () => (installed = versions(compiled)));
  const until = (pred: () => boolean): Promise<void> => {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!pred()) return;
        gw.store.off('snapshot', check);
        resolve();
      };
      gw.store.on('snapshot', check);
    });
  };
  return {
    gateway: gw,
    source,
    port(serverPort) {
      const l = gw.snapshot.listeners.find((x) => x.port === serverPort);
      const a = l && gw.listeners.addressOf(l.name);
      if (!a) throw new Error(`no listener for server port ${serverPort}`);
      return a.port;
    },
    until,
    applied(obj) {
      const key = `${obj.kind}/${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
      const rv = Number(obj.metadata.resourceVersion ?? 0);
      return until(() => (installed.get(key) ?? -1) >= rv);
    },
    removed(kind, namespace, name) {
      return until(() => !installed.has(`${kind}/${namespace}/${name}`));
    },
    async close() {
      await gw.close();
      await compiler.close();
      await source.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A system-log record as pino writes it. */
export type LogRecord = Record<string, unknown> & { msg: string; level: number };

/** A pino logger whose records tests can await (also echoed to stderr with MESHGATE_TEST_LOG). */
export interface CapturedLog {
  readonly log: Logger;
  readonly records: LogRecord[];
  /** Resolves with the first record (already logged or coming) for which `pred` holds. */
  waitFor(pred: (r: LogRecord) => boolean): Promise<LogRecord>;
}

export function captureLog(): CapturedLog {
  const records: LogRecord[] = [];
  const waiters: { pred: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];
  const echo = process.env.MESHGATE_TEST_LOG !== undefined;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        if (echo) process.stderr.write(`${line}\n`);
        const r = JSON.parse(line) as LogRecord;
        records.push(r);
        for (const w of [...waiters]) {
          if (w.pred(r)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(r);
          }
        }
      }
      done();
    },
  });
  return {
    log: pino({ level: 'debug' }, sink),
    records,
    waitFor(pred) {
      const found = records.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

/** One test's stand-in, Bookinfo app and gateway, closed together after each test. */
export class KubeTestBed {
  private cert: ApiServerCert | undefined;
  private parts: { api?: FakeKubeApiServer; app?: BookinfoApp; gw?: KubeGateway } = {};

  get api(): FakeKubeApiServer {
    if (!this.parts.api) throw new Error('setUp() first');
    return this.parts.api;
  }

  get app(): BookinfoApp {
    if (!this.parts.app) throw new Error('setUp() first');
    return this.parts.app;
  }

  get gw(): KubeGateway {
    if (!this.parts.gw) throw new Error('startGateway() first');
    return this.parts.gw;
  }

  /** Whether {@link startGateway} has resolved. */
  get started(): boolean {
    return this.parts.gw !== undefined;
  }

  /**
   * Starts the stand-in over HTTPS (one certificate per bed) and stores Bookinfo in it; `forbid`
   * makes that plural answer 403 first.
   */
  async setUp(
    o: Omit<FakeKubeApiServerOptions, 'tls'> & { reviews?: readonly RouteTo[]; forbid?: string } = {},
  ): Promise<void> {
    this.cert ??= makeApiServerCert();
    this.parts.api = await FakeKubeApiServer.start({ ...o, tls: this.cert });
    if (o.forbid) this.parts.api.forbid(o.forbid);
    this.parts.app = await startBookinfo(this.parts.api, o.reviews);
  }

  async startGateway(o: KubeGatewayOptions = {}): Promise<KubeGateway> {
    this.parts.gw = await startKubeGateway(this.api, o);
    return this.parts.gw;
  }

  /** Which upstream answered a GET through port 80 (`-<status>` for a local reply). */
  async upstreamOf(path: string): Promise<{ status: number; upstream: string }> {
    const r = await httpGet(this.gw.port(80), path);
    const u = r.headers['x-upstream'];
    return { status: r.status, upstream: typeof u === 'string' ? u : `-${r.status}` };
  }

  async close(): Promise<void> {
    const { gw, api, app } = this.parts;
    this.parts = {};
    await gw?.close();
    await api?.close();
    await app?.close();
  }
}
