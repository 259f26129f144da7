/**
 * Shared steps of the routing conformance tests: YAML text in, the pipeline's verdict and the
 * compiled snapshot out (load → validate → analyze → compile, as `meshgate run` does), and one
 * route lookup on a listener's table. Pure: no sockets.
 */
import { loadText } from '../../config/load.js';
import { validateResources } from '../../config/validate.js';
import { analyzeResources } from '../../config/analyze.js';
import { hasBlocking, type Diagnostic } from '../../config/diagnostics.js';
import { buildSnapshot, type Snapshot, type SnapshotOptions } from '../../config/snapshot.js';
import type { RequestView, RouteMatch } from '../../routes/route-table.js';

/** What the pipeline made of a config: whether `run` would refuse it, and the snapshot if not. */
export interface Compiled {
  readonly blocked: boolean;
  readonly diagnostics: readonly Diagnostic[];
  readonly snapshot: Snapshot | undefined;
}

/**
 * Compiles YAML text as `meshgate run` would (namespace `default`).
 * @param opts snapshot options, e.g. `{ meshPort: 0 }` for the mesh listener.
 */
export function compileYaml(yaml: string, opts: SnapshotOptions = {}): Compiled {
  const loaded = loadText(yaml, 'conformance.yaml', { defaultNamespace: 'default' });
  const diagnostics = [
    ...loaded.diagnostics,
    ...validateResources(loaded.resources),
    ...analyzeResources(loaded.resources),
  ];
  if (hasBlocking(diagnostics)) return { blocked: true, diagnostics, snapshot: undefined };
  const built = buildSnapshot(loaded.resources, opts);
  return { blocked: false, diagnostics: [...diagnostics, ...built.diagnostics], snapshot: built.snapshot };
}

/** A request as the route table sees it. */
export interface RouteRequest {
  readonly authority: string;
  readonly url?: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly scheme?: 'http' | 'https';
}

/**
 * Routes one request on the listener for a Gateway server port, or on the mesh listener (`'mesh'`).
 * @throws Error when the snapshot has no such HTTP listener.
 */
export function routeOn(snapshot: Snapshot, listener: number | 'mesh', req: RouteRequest): RouteMatch {
  const l = snapshot.listeners.find((x) =>
    listener === 'mesh' ? x.name === 'virtualOutbound' : x.port === listener,
  );
  if (!l?.routeConfig) throw new Error(`no HTTP listener ${String(listener)}`);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
  const view: RequestView = {
    method: req.method ?? 'GET',
    url,
    pathEnd: q < 0 ? url.length : q,
    authority: req.authority,
    scheme: req.scheme ?? 'http',
    headers,
  };
  return l.routeConfig.route(view);
}

/**
 * ServiceEntry `b.default.svc.cluster.local` with the two HTTP ports of Istio's echo app `b` (80
 * `http`, 85 `http2`), as in routing.go's "redirect request port" case.
 * @param upstreamPort local port both service ports reach; undefined gives an endpoint without ports.
 */
export function serviceBYaml(upstreamPort?: number): string {
  const ports =
    upstreamPort === undefined ? '' : `, ports: { http: ${upstreamPort}, http2: ${upstreamPort} }`;
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: b }
spec:
  hosts: [b.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }, { number: 85, name: http2, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1${ports} }]
`;
}
