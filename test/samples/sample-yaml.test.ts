/**
 * Static checks of the sample YAML: it parses, uses the Istio kinds, and agrees with the local
 * port layout the start scripts use (so the gateway sends traffic where the workloads listen).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { BOOKINFO_LAYOUT } from '../../samples/bookinfo/workloads.js';
import { HTTPBIN_LAYOUT } from '../../samples/httpbin/httpbin-server.js';
import { TCP_ECHO_LAYOUT } from '../../samples/tcp-echo/tcp-echo-server.js';

const samples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../samples');

interface Destination {
  host: string;
  subset?: string;
  port?: { number: number };
}

interface RouteRule {
  match?: unknown[];
  route: { destination: Destination; weight?: number }[];
  mirror?: Destination;
  mirrorPercentage?: { value: number };
  fault?: unknown;
}

interface Endpoint {
  address: string;
  ports: Record<string, number>;
  labels?: Record<string, string>;
}

/** The fields of the four kinds these tests read (the YAML is free-form; the assertions narrow it). */
interface Spec {
  servers?: unknown[];
  hosts?: string[];
  gateways?: string[];
  http?: RouteRule[];
  tcp?: RouteRule[];
  host?: string;
  subsets?: { name: string }[];
  endpoints?: Endpoint[];
  ports?: unknown[];
  trafficPolicy?: unknown;
}

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Spec;
  file: string;
}

function load(file: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  return docs.map((d) => {
    expect(d.errors, file).toEqual([]);
    return { ...(d.toJS() as Omit<Doc, 'file'>), file: path.relative(samples, file) };
  });
}

function yamlFiles(dir: string, recursive = true): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return recursive ? yamlFiles(full) : [];
    return /\.(ya?ml|json)$/.test(e.name) ? [full] : [];
  });
}

const all = yamlFiles(samples).flatMap(load);
const inDir = (dir: string) => all.filter((d) => d.file.startsWith(`${dir}/`));
const byKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);

/** `value`, failing the test with `what` when it is missing. */
function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing: ${what}`);
  return value;
}

/** `{service, version, address, ports}` of every STATIC endpoint in the ServiceEntries of `docs`. */
function endpoints(docs: Doc[]) {
  return byKind(docs, 'ServiceEntry').flatMap((se) =>
    (se.spec.endpoints ?? []).map((e) => ({
      service: must(se.spec.hosts?.[0], `${se.file} hosts`),
      version: e.labels?.version,
      address: e.address,
      ports: Object.values(e.ports),
    })),
  );
}

/** Checks every VS destination's subset exists in a DestinationRule among `docs`, and weights sum to 100. */
function expectSubsetsDefined(vsDocs: Doc[], docs: Doc[]) {
  const subsets = new Map<string, Set<string>>();
  for (const dr of byKind(docs, 'DestinationRule')) {
    const host = must(dr.spec.host, `${dr.file} host`);
    const set = subsets.get(host) ?? new Set<string>();
    for (const sub of dr.spec.subsets ?? []) set.add(sub.name);
    subsets.set(host, set);
  }
  for (const vs of byKind(vsDocs, 'VirtualService')) {
    for (const rule of [...(vs.spec.http ?? []), ...(vs.spec.tcp ?? [])]) {
      const dests = [...rule.route.map((r) => r.destination), ...(rule.mirror ? [rule.mirror] : [])];
      for (const d of dests) {
        if (d.subset)
          expect(subsets.get(d.host)?.has(d.subset), `${vs.file}: ${d.host}/${d.subset}`).toBe(true);
      }
      const weights = rule.route.flatMap((r) => (r.weight === undefined ? [] : [r.weight]));
      if (weights.length > 0)
        expect(
          weights.reduce((a, b) => a + b, 0),
          vs.file,
        ).toBe(100);
    }
  }
}

/** The first http (or tcp) rule of the VirtualService in `file`. */
function firstRule(docs: Doc[], file: string, kind: 'http' | 'tcp' = 'http'): RouteRule {
  const vs = must(
    docs.find((d) => d.file.endsWith(file) && d.kind === 'VirtualService'),
    file,
  );
  return must(vs.spec[kind]?.[0], `${file} ${kind}[0]`);
}

/** Checks every VS `gateways` entry names a Gateway among `docs` (or `mesh`). */
function expectGatewaysDefined(docs: Doc[]) {
  const names = new Set(byKind(docs, 'Gateway').map((g) => g.metadata.name));
  for (const vs of byKind(docs, 'VirtualService')) {
    for (const g of vs.spec.gateways ?? [])
      expect(g === 'mesh' || names.has(g), `${vs.file}: gateway ${g}`).toBe(true);
  }
}

describe('sample YAML', () => {
  it('is Istio networking config, v1alpha3, one of the four kinds, every document named', () => {
    expect(all.length).toBeGreaterThan(20);
    for (const d of all) {
      expect(d.apiVersion, d.file).toBe('networking.istio.io/v1alpha3');
      expect(['Gateway', 'VirtualService', 'DestinationRule', 'ServiceEntry'], d.file).toContain(d.kind);
      expect(d.metadata.name, d.file).toMatch(/^[a-z0-9-]+$/);
    }
  });

  it('bookinfo: only the four base files at the top level (loaded with -f samples/bookinfo)', () => {
    const top = yamlFiles(path.join(samples, 'bookinfo'), false).map((f) => path.basename(f));
    expect(top.sort()).toEqual([
      'bookinfo-gateway.yaml',
      'destination-rule-all.yaml',
      'service-entries.yaml',
      'virtual-service-all-v1.yaml',
    ]);
  });

  it('bookinfo: gateway on port 80 routing the five Bookinfo URLs to productpage:9080', () => {
    const [gw] = byKind(inDir('bookinfo'), 'Gateway');
    expect(gw?.metadata.name).toBe('bookinfo-gateway');
    expect(gw?.spec.servers).toEqual([
      { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] },
    ]);
    const vs = inDir('bookinfo').find((d) => d.metadata.name === 'bookinfo');
    expect(vs?.spec.gateways).toEqual(['bookinfo-gateway']);
    expect(firstRule(inDir('bookinfo'), 'bookinfo-gateway.yaml').match).toEqual([
      { uri: { exact: '/productpage' } },
      { uri: { prefix: '/static' } },
      { uri: { exact: '/login' } },
      { uri: { exact: '/logout' } },
      { uri: { prefix: '/api/v1/products' } },
    ]);
    expect(firstRule(inDir('bookinfo'), 'bookinfo-gateway.yaml').route).toEqual([
      { destination: { host: 'productpage', port: { number: 9080 } } },
    ]);
  });

  it('bookinfo: ServiceEntry endpoints are the ports start.ts runs the workloads on', () => {
    const base = inDir('bookinfo').filter((d) => !d.file.includes('/tasks/'));
    const got = endpoints(base).map((e) => `${e.service}-${e.version}@${e.address}:${e.ports.join()}`);
    const want = BOOKINFO_LAYOUT.map((w) => `${w.service}-${w.version}@127.0.0.1:${w.port}`);
    expect(got.sort()).toEqual(want.sort());
    for (const se of byKind(base, 'ServiceEntry')) {
      expect(se.spec).toMatchObject({
        location: 'MESH_INTERNAL',
        resolution: 'STATIC',
        ports: [{ number: 9080, name: 'http', protocol: 'HTTP' }],
      });
    }
  });

  it('bookinfo: every subset a route or task uses exists, weights add up to 100', () => {
    const bookinfo = inDir('bookinfo');
    expectSubsetsDefined(bookinfo, bookinfo);
    expectGatewaysDefined(bookinfo);
  });

  it('bookinfo tasks: Istio file names, jason-only faults with 100% and the task values', () => {
    const tasks = inDir('bookinfo').filter((d) => d.file.includes('/tasks/'));
    const files = [...new Set(tasks.map((d) => path.basename(d.file)))].sort();
    expect(files).toEqual([
      'gateway-reviews-canary-80-20.yaml',
      'gateway-reviews-canary-jason-v2.yaml',
      'virtual-service-ratings-test-abort.yaml',
      'virtual-service-ratings-test-delay.yaml',
      'virtual-service-reviews-50-v3.yaml',
      'virtual-service-reviews-80-20.yaml',
      'virtual-service-reviews-jason-v2-v3.yaml',
      'virtual-service-reviews-test-v2.yaml',
    ]);
    const byFile = (name: string) => tasks.find((d) => d.file.endsWith(name));
    const delay = firstRule(tasks, 'virtual-service-ratings-test-delay.yaml');
    expect(delay.match).toEqual([{ headers: { 'end-user': { exact: 'jason' } } }]);
    expect(delay.fault).toEqual({ delay: { percentage: { value: 100 }, fixedDelay: '7s' } });
    const abort = firstRule(tasks, 'virtual-service-ratings-test-abort.yaml');
    expect(abort.fault).toEqual({ abort: { percentage: { value: 100 }, httpStatus: 500 } });
    for (const canary of ['gateway-reviews-canary-80-20.yaml', 'gateway-reviews-canary-jason-v2.yaml']) {
      expect(byFile(canary)?.spec).toMatchObject({
        hosts: ['reviews.default.svc.cluster.local'],
        gateways: ['bookinfo-gateway'],
      });
    }
  });

  it('tcp-echo: TCP gateway 31400, endpoints as start.ts runs them, both routes consistent', () => {
    const docs = inDir('tcp-echo');
    const [gw] = byKind(docs, 'Gateway');
    expect(gw?.spec.servers).toEqual([
      { port: { number: 31400, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] },
    ]);
    const got = endpoints(docs).map((e) => `${e.version}@${e.address}:${e.ports.join()}`);
    expect(got).toEqual(TCP_ECHO_LAYOUT.map((w) => `${w.version}@127.0.0.1:${w.port}`));
    expectSubsetsDefined(docs, docs);
    expectGatewaysDefined(docs);
    for (const file of ['tcp-echo-all-v1.yaml', 'tcp-echo-20-v2.yaml']) {
      const rule = firstRule(docs, file, 'tcp');
      expect(rule.match).toEqual([{ port: 31400 }]);
      for (const r of rule.route)
        expect(r.destination).toMatchObject({ host: 'tcp-echo', port: { number: 9000 } });
    }
  });

  it('httpbin: endpoints as start.ts runs them; circuit breaker exactly as the notes set it', () => {
    const docs = inDir('httpbin');
    const se = docs.find((d) => d.file === 'httpbin/service-entry.yaml');
    expect(se?.spec.ports).toEqual([{ number: 8000, name: 'http', protocol: 'HTTP' }]);
    const got = endpoints(se ? [se] : []).map((e) => `${e.version}@${e.address}:${e.ports.join()}`);
    expect(got).toEqual(HTTPBIN_LAYOUT.map((w) => `${w.version}@127.0.0.1:${w.port}`));
    const cb = docs.find((d) => d.file === 'httpbin/destination-rule-circuit-breaker.yaml');
    expect(cb?.spec).toEqual({
      host: 'httpbin',
      trafficPolicy: {
        connectionPool: {
          tcp: { maxConnections: 1 },
          http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 },
        },
        outlierDetection: {
          consecutiveGatewayErrors: 1,
          interval: '1s',
          baseEjectionTime: '3m',
          maxEjectionPercent: 100,
        },
      },
    });
    const mirrorSet = docs.filter((d) =>
      /(destination-rule-subsets|mirror|httpbin-gateway)\.yaml$/.test(d.file),
    );
    expectSubsetsDefined(mirrorSet, mirrorSet);
    expectGatewaysDefined(docs);
    const mirror = firstRule(docs, 'httpbin/mirror.yaml');
    expect(mirror.mirror).toMatchObject({ host: 'httpbin', subset: 'v2' });
    expect(mirror.mirrorPercentage).toEqual({ value: 100 });
  });
});
