/**
 * A Kubernetes API server stand-in for tests: a real HTTP(S) server on 127.0.0.1 that speaks the
 * wire protocol of kube-apiserver for the kinds meshgate reads, so the product is driven through
 * `@kubernetes/client-node` exactly as in a cluster.
 *
 * What it implements, as the real server does:
 * - discovery: `/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}` (APIResourceList);
 * - lists: `GET /api/v1/{plural}`, `/api/v1/namespaces/{ns}/{plural}`, `/apis/{g}/{v}/...` the same,
 *   JSON `{kind: XList, metadata: {resourceVersion}, items}` (core items without kind/apiVersion,
 *   custom resources with them, as the apiserver serialises typed and unstructured lists);
 * - `GET .../{plural}/{name}` and `/api/v1/namespaces/{name}`;
 * - watches: `?watch=true&resourceVersion=N`, a chunked stream of one JSON event per line
 *   (`ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK`); events after N are replayed from history; N older than
 *   the compacted revision gets `200` and one `ERROR` event carrying a `Status` with code 410
 *   (reason `Expired`), then the stream ends; no N (or `0`) starts with synthetic `ADDED`s;
 * - `labelSelector` with equality terms (`a=b,c=d`); bearer-token authentication (401 otherwise);
 * - `Status` bodies for 401, 403 (a resource made forbidden, as RBAC would) and 404 (an API
 *   version not served).
 *
 * Controls for tests: {@link FakeKubeApiServer.upsert} / {@link FakeKubeApiServer.remove} (each bumps
 * the global resourceVersion), {@link FakeKubeApiServer.stop} / {@link FakeKubeApiServer.restart} on
 * the same port, {@link FakeKubeApiServer.cutNextEvent} (a watch cut half-way through an event),
 * {@link FakeKubeApiServer.compact} and {@link FakeKubeApiServer.expireWatches} (force 410),
 * {@link FakeKubeApiServer.forbid}, {@link FakeKubeApiServer.bookmark}.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { createTestPki } from './certs.js';

/** A Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** One resource type the stand-in serves. */
interface ResourceType {
  readonly group: string;
  readonly versions: readonly string[];
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Custom resources: list items carry apiVersion and kind (unstructured lists). */
  readonly custom: boolean;
}

const ISTIO = 'networking.istio.io';
const TYPES: readonly ResourceType[] = [
  { group: '', versions: ['v1'], plural: 'services', kind: 'Service', namespaced: true, custom: false },
  { group: '', versions: ['v1'], plural: 'pods', kind: 'Pod', namespaced: true, custom: false },
  { group: '', versions: ['v1'], plural: 'secrets', kind: 'Secret', namespaced: true, custom: false },
  { group: '', versions: ['v1'], plural: 'namespaces', kind: 'Namespace', namespaced: false, custom: false },
  {
    group: 'discovery.k8s.io',
    versions: ['v1'],
    plural: 'endpointslices',
    kind: 'EndpointSlice',
    namespaced: true,
    custom: false,
  },
  ...(
    [
      ['gateways', 'Gateway'],
      ['virtualservices', 'VirtualService'],
      ['destinationrules', 'DestinationRule'],
      ['serviceentries', 'ServiceEntry'],
      ['workloadentries', 'WorkloadEntry'],
    ] as const
  ).map(([plural, kind]) => ({
    group: ISTIO,
    versions: ['v1', 'v1beta1', 'v1alpha3'],
    plural,
    kind,
    namespaced: true,
    custom: true,
  })),
];

/** Serving certificate of the stand-in: a CA and a leaf for IP 127.0.0.1, made with the openssl CLI. */
export interface ApiServerCert {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Makes a throw-away CA and a serving certificate for `127.0.0.1` (client-node refuses plain HTTP). */
export function makeApiServerCert(): ApiServerCert {
  const pki = createTestPki({ cn: 'kubernetes-ca', org: 'meshgate tests' });
  try {
    const leaf = pki.issue('kube-apiserver', {
      cn: 'kube-apiserver',
      dns: ['localhost'],
      ips: ['127.0.0.1'],
    });
    return { ca: pki.ca, cert: leaf.cert, key: leaf.key };
  } finally {
    pki.close();
  }
}

/** Options of {@link FakeKubeApiServer.start}. */
export interface FakeKubeApiServerOptions {
  /** Serve HTTPS with this certificate; plain HTTP when absent (client-node needs HTTPS unless told to skip TLS verification). */
  readonly tls?: ApiServerCert;
  /** networking.istio.io versions served (default v1, v1beta1, v1alpha3); a missing one answers 404. */
  readonly istioVersions?: readonly string[];
  /** Bearer token required on every request (default `meshgate-test-token`). */
  readonly token?: string;
}

/** A request seen by the stand-in (for assertions on what the client asked). */
export interface SeenApiRequest {
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
}

interface HistoryEvent {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly rt: ResourceType;
  readonly object: KubeObject;
}

interface OpenWatch {
  readonly rt: ResourceType;
  readonly version: string;
  readonly namespace: string | undefined;
  readonly selector: ReadonlyMap<string, string>;
  /** `allowWatchBookmarks=true` was asked. */
  readonly bookmarks: boolean;
  readonly res: http.ServerResponse;
}

/** Events of the stand-in: `watch` when a watch stream opens (plural, resourceVersion asked), `request` for each request. */
type Events = {
  watch: [plural: string, resourceVersion: string];
  request: [SeenApiRequest];
};

/** The stand-in; see the file comment. */
export class FakeKubeApiServer extends EventEmitter<Events> {
  /** Requests in arrival order. */
  readonly requests: SeenApiRequest[] = [];
  readonly token: string;
  private server: http.Server | https.Server;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<OpenWatch>();
  /** kind → `ns/name` → object (stored at the group's first version). */
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly history: HistoryEvent[] = [];
  private rv = 1000;
  private compactedRv = 0;
  private readonly forbidden = new Set<string>();
  private readonly cutNext = new Set<string>();
  /** plural → lists waiting for {@link release}. */
  private readonly held = new Map<string, (() => void)[]>();
  private readonly istioVersions: ReadonlySet<string>;
  private portNumber = 0;

  private constructor(private readonly opts: FakeKubeApiServerOptions) {
    super();
    this.token = opts.token ?? 'meshgate-test-token';
    this.istioVersions = new Set(opts.istioVersions ?? ['v1', 'v1beta1', 'v1alpha3']);
    this.server = this.createServer();
  }

  /** Starts on 127.0.0.1 with an ephemeral port. */
  static async start(opts: FakeKubeApiServerOptions = {}): Promise<FakeKubeApiServer> {
    const s = new FakeKubeApiServer(opts);
    await s.listen(0);
    return s;
  }

  /** `https://127.0.0.1:<port>` (or http). */
  get url(): string {
    return `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${this.portNumber}`;
  }

  get port(): number {
    return this.portNumber;
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): number {
    return this.rv;
  }

  /** Number of watch streams open now. */
  get openWatches(): number {
    return this.watches.size;
  }

  /**
   * Writes a kubeconfig for this server into `dir` (`kubeconfig.yaml`): one cluster (with the CA of
   * its certificate), one token user, one current context. @returns the file path.
   */
  writeKubeconfig(dir: string): string {
    const file = join(dir, 'kubeconfig.yaml');
    const caPem = this.opts.tls?.ca;
    const ca = caPem
      ? `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}\n`
      : '    insecure-skip-tls-verify: true\n';
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters:
- name: stand-in
  cluster:
    server: ${this.url}
${ca}users:
- name: meshgate
  user:
    token: ${this.token}
contexts:
- name: stand-in
  context:
    cluster: stand-in
    user: meshgate
current-context: stand-in
`,
    );
    return file;
  }

  /**
   * Creates or replaces an object (kind from `obj.kind`), bumping the resourceVersion and sending
   * `ADDED` or `MODIFIED` to matching watches. @returns the stored object.
   */
  upsert(obj: KubeObject): KubeObject {
    const rt = typeOfKind(obj.kind);
    const ns = rt.namespaced ? (obj.metadata.namespace ?? 'default') : undefined;
    const key = `${ns ?? ''}/${obj.metadata.name}`;
    const byKey = this.mapOf(rt);
    const prev = byKey.get(key);
    const rv = ++this.rv;
    const stored: KubeObject = {
      ...structuredClone(obj),
      apiVersion: apiVersionOf(rt, rt.versions[0]!),
      kind: rt.kind,
      metadata: {
        ...structuredClone(obj.metadata),
        ...(ns !== undefined ? { namespace: ns } : {}),
        uid: prev?.metadata.uid ?? randomUUID(),
        creationTimestamp:
          prev?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        resourceVersion: String(rv),
      },
    };
    byKey.set(key, stored);
    this.record({ rv, type: prev ? 'MODIFIED' : 'ADDED', rt, object: stored });
    return stored;
  }

  /** Deletes an object; sends `DELETED` (with a new resourceVersion). @returns false when absent. */
  remove(kind: string, namespace: string | undefined, name: string): boolean {
    const rt = typeOfKind(kind);
    const key = `${rt.namespaced ? (namespace ?? 'default') : ''}/${name}`;
    const byKey = this.mapOf(rt);
    const prev = byKey.get(key);
    if (!prev) return false;
    byKey.delete(key);
    const rv = ++this.rv;
    const object = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(rv) } };
    this.record({ rv, type: 'DELETED', rt, object });
    return true;
  }

  /** The stored object, or undefined. */
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const rt = typeOfKind(kind);
    return this.mapOf(rt).get(`${rt.namespaced ? (namespace ?? 'default') : ''}/${name}`);
  }

  /** Answers 403 Forbidden for every request on `plural` (e.g. `secrets`), as RBAC without a grant does; `allow` undoes it. */
  forbid(plural: string): void {
    this.forbidden.add(plural);
  }

  allow(plural: string): void {
    this.forbidden.delete(plural);
  }

  /** Resolves with the first request (already seen or coming) for which `pred` holds. */
  waitForRequest(pred: (r: SeenApiRequest) => boolean): Promise<SeenApiRequest> {
    const seen = this.requests.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const on = (r: SeenApiRequest) => {
        if (!pred(r)) return;
        this.off('request', on);
        resolve(r);
      };
      this.on('request', on);
    });
  }

  /** Holds every list of `plural` (not watches) until {@link release}: an API server slow to answer. */
  hold(plural: string): void {
    if (!this.held.has(plural)) this.held.set(plural, []);
  }

  /** Answers the lists held for `plural` and stops holding. */
  release(plural: string): void {
    const waiting = this.held.get(plural) ?? [];
    this.held.delete(plural);
    for (const answer of waiting) answer();
  }

  /** The next event for a watch of `plural` is written half-way and the connection is then cut. */
  cutNextEvent(plural: string): void {
    this.cutNext.add(plural);
  }

  /**
   * Forgets history up to now, as etcd compaction does: a later watch from an older
   * resourceVersion gets a 410 Gone `ERROR` event.
   */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  /**
   * Ends every open watch with an `ERROR` event carrying Status 410 (the watch cache fell behind),
   * after compacting history, so the client must relist.
   */
  expireWatches(): void {
    this.compact();
    for (const w of [...this.watches]) {
      writeEvent(w.res, 'ERROR', expiredStatus(0, this.rv));
      w.res.end();
      this.watches.delete(w);
    }
  }

  /** Sends a `BOOKMARK` carrying the current resourceVersion to the watches that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      writeEvent(w.res, 'BOOKMARK', {
        apiVersion: apiVersionOf(w.rt, w.version),
        kind: w.rt.kind,
        metadata: { name: '', resourceVersion: String(this.rv) },
      });
    }
  }

  /** Stops listening and cuts every connection (the API server went away); objects and history stay. */
  async stop(): Promise<void> {
    for (const w of this.watches) w.res.destroy();
    this.watches.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (!this.server.listening) return;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port after {@link stop}. */
  async restart(): Promise<void> {
    this.server = this.createServer();
    await this.listen(this.portNumber);
  }

  /** Stops for good. */
  close(): Promise<void> {
    return this.stop();
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.portNumber = (this.server.address() as AddressInfo).port;
  }

  private createServer(): http.Server | https.Server {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    const server = this.opts.tls
      ? https.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, handler)
      : http.createServer(handler);
    // The raw TCP socket (for TLS too): destroying it also ends a connection still in its handshake.
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return server;
  }

  private mapOf(rt: ResourceType): Map<string, KubeObject> {
    let m = this.objects.get(rt.kind);
    if (!m) this.objects.set(rt.kind, (m = new Map()));
    return m;
  }

  private record(e: HistoryEvent): void {
    this.history.push(e);
    for (const w of [...this.watches]) {
      if (w.rt !== e.rt || !visible(e.object, w.namespace, w.selector)) continue;
      if (this.cutNext.delete(e.rt.plural)) {
        // Half an event, then the connection drops: the client sees a truncated line.
        const line = JSON.stringify({ type: e.type, object: present(e.object, w.rt, w.version) });
        w.res.write(line.slice(0, Math.floor(line.length / 2)));
        this.watches.delete(w);
        w.res.socket?.destroy();
        continue;
      }
      writeEvent(w.res, e.type, present(e.object, w.rt, w.version));
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const send = (status: number, body: unknown) => {
      this.note(url.pathname, query, status);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      send(401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    const parts = url.pathname.split('/').filter(Boolean);
    // Discovery.
    if (url.pathname === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'] });
    if (url.pathname === '/apis') return send(200, this.groupList());
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1] === 'v1') {
      [group, version, rest] = ['', 'v1', parts.slice(2)];
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
    } else {
      return send(404, notFound());
    }
    const types = TYPES.filter((t) => t.group === group && t.versions.includes(version));
    if (types.length === 0 || (group === ISTIO && !this.istioVersions.has(version))) {
      return send(404, notFound());
    }
    if (rest.length === 0) {
      return send(200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: group ? `${group}/${version}` : 'v1',
        resources: types.map((t) => ({
          name: t.plural,
          singularName: t.kind.toLowerCase(),
          namespaced: t.namespaced,
          kind: t.kind,
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
        })),
      });
    }
    // namespaces/{ns}/{plural}[/{name}] | {plural}[/{name}] | namespaces/{name}
    let namespace: string | undefined;
    let plural: string;
    let name: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      [namespace, plural, name] = [rest[1], rest[2]!, rest[3]];
    } else {
      [plural, name] = [rest[0]!, rest[1]];
    }
    const rt = types.find((t) => t.plural === plural);
    if (!rt || (namespace !== undefined && !rt.namespaced)) return send(404, notFound());
    if (req.method !== 'GET') return send(405, status(405, 'MethodNotAllowed', 'the stand-in is read-only'));
    if (this.forbidden.has(plural)) {
      const verb = name ? 'get' : query.watch === 'true' || query.watch === '1' ? 'watch' : 'list';
      const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
      return send(
        403,
        status(
          403,
          'Forbidden',
          `${plural} is forbidden: User "system:serviceaccount:istio-system:meshgate" cannot ${verb} resource "${plural}" in API group "${group}" ${scope}`,
        ),
      );
    }
    if (name !== undefined) {
      const obj = this.mapOf(rt).get(`${rt.namespaced ? (namespace ?? '') : ''}/${name}`);
      if (!obj) return send(404, status(404, 'NotFound', `${plural} "${name}" not found`));
      return send(200, present(obj, rt, version));
    }
    const selector = parseSelector(query.labelSelector);
    if (query.watch === 'true' || query.watch === '1') {
      this.note(url.pathname, query, 200);
      this.openWatch(
        res,
        rt,
        version,
        namespace,
        selector,
        query.resourceVersion ?? '',
        query.allowWatchBookmarks === 'true',
      );
      const timeout = Number(query.timeoutSeconds ?? 0);
      // The server ends a watch after timeoutSeconds; the client resumes from its last resourceVersion.
      if (timeout > 0) {
        const t = setTimeout(() => res.end(), timeout * 1000);
        t.unref();
        res.on('close', () => clearTimeout(t));
      }
      return;
    }
    const waiting = this.held.get(plural);
    if (waiting) {
      this.note(url.pathname, { ...query, held: 'true' }, 0);
      waiting.push(() => this.handle(req, res));
      return;
    }
    const items = [...this.mapOf(rt).values()]
      .filter((o) => visible(o, namespace, selector))
      .map((o) => {
        const p = present(o, rt, version);
        if (rt.custom) return p;
        const { apiVersion: _a, kind: _k, ...item } = p;
        return item;
      });
    send(200, {
      apiVersion: apiVersionOf(rt, version),
      kind: `${rt.kind}List`,
      metadata: { resourceVersion: String(this.rv) },
      items,
    });
  }

  private openWatch(
    res: http.ServerResponse,
    rt: ResourceType,
    version: string,
    namespace: string | undefined,
    selector: ReadonlyMap<string, string>,
    from: string,
    bookmarks: boolean,
  ): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: OpenWatch = { rt, version, namespace, selector, bookmarks, res };
    const fromRv = Number(from || '0');
    if (from && from !== '0' && fromRv < this.compactedRv) {
      // The real server answers 200 and then one ERROR event: "too old resource version".
      writeEvent(res, 'ERROR', expiredStatus(fromRv, this.compactedRv));
      res.end();
      this.emit('watch', rt.plural, from);
      return;
    }
    if (!from || from === '0') {
      for (const o of this.mapOf(rt).values()) {
        if (visible(o, namespace, selector)) writeEvent(res, 'ADDED', present(o, rt, version));
      }
    } else {
      for (const e of this.history) {
        if (e.rv > fromRv && e.rt === rt && visible(e.object, namespace, selector)) {
          writeEvent(res, e.type, present(e.object, rt, version));
        }
      }
    }
    this.watches.add(w);
    res.on('close', () => this.watches.delete(w));
    this.emit('watch', rt.plural, from);
  }

  private note(path: string, query: Record<string, string>, code: number): void {
    const r = { path, query, status: code };
    this.requests.push(r);
    this.emit('request', r);
  }

  private groupList(): unknown {
    const groups = [...new Set(TYPES.filter((t) => t.group !== '').map((t) => t.group))];
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: groups.map((g) => {
        const versions = TYPES.find((t) => t.group === g)!.versions.filter(
          (v) => g !== ISTIO || this.istioVersions.has(v),
        );
        const gv = (v: string) => ({ groupVersion: `${g}/${v}`, version: v });
        return { name: g, versions: versions.map(gv), preferredVersion: gv(versions[0]!) };
      }),
    };
  }
}

function typeOfKind(kind: string | undefined): ResourceType {
  const rt = TYPES.find((t) => t.kind === kind);
  if (!rt) throw new Error(`the stand-in does not serve kind ${String(kind)}`);
  return rt;
}

function apiVersionOf(rt: ResourceType, version: string): string {
  return rt.group ? `${rt.group}/${version}` : version;
}

/** The object as served at `version` (the apiserver converts between served versions). */
function present(o: KubeObject, rt: ResourceType, version: string): KubeObject {
  return { ...o, apiVersion: apiVersionOf(rt, version) };
}

function visible(
  o: KubeObject,
  namespace: string | undefined,
  selector: ReadonlyMap<string, string>,
): boolean {
  if (namespace !== undefined && o.metadata.namespace !== namespace) return false;
  for (const [k, v] of selector) if (o.metadata.labels?.[k] !== v) return false;
  return true;
}

function parseSelector(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const term of (text ?? '').split(',').filter(Boolean)) {
    const [k, v] = term.split(/==?/);
    if (k) out.set(k, v ?? '');
  }
  return out;
}

function writeEvent(res: http.ServerResponse, type: string, object: unknown): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function notFound(): Record<string, unknown> {
  return status(404, 'NotFound', 'the server could not find the requested resource');
}

function expiredStatus(asked: number, oldest: number): Record<string, unknown> {
  return status(410, 'Expired', `too old resource version: ${asked} (${oldest})`);
}
