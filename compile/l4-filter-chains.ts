/**
 * Compiles the non-HTTP side of a Gateway port into Envoy-style filter chains, following Istio's
 * `buildGatewayTCPBasedFilterChains` (pilot `networking/core/gateway.go`):
 *
 * | server                                   | chain                                   | VS section |
 * |------------------------------------------|-----------------------------------------|------------|
 * | HTTPS + SIMPLE / MUTUAL / OPTIONAL_MUTUAL | terminate TLS, then HTTP on its own route table `https.<port>.<portName>.<gw>.<ns>` | `http` |
 * | HTTPS or TLS + PASSTHROUGH               | one chain per matching `tls` match, selected by its `sniHosts`; bytes spliced untouched | `tls` |
 * | TLS + SIMPLE / MUTUAL                    | terminate TLS, then TCP proxy           | `tcp`      |
 * | TCP (no tls)                             | TCP proxy                               | `tcp`      |
 *
 * Pure: no sockets, no timers. Conflicts Istio tolerates become warnings and the offending server or
 * rule is skipped (first wins), as pilot does. The only I/O is the existence check of credential files,
 * so a missing certificate is reported when the config is built rather than at the first handshake.
 */
import path from 'node:path';
import { BlockList, isIP } from 'node:net';
import type { ClusterResolver } from '../config/cluster.js';
import { Codes, type Diagnostic } from '../config/diagnostics.js';
import { parseDurationMs } from '../config/duration.js';
import type { BoundServer } from '../config/bound-server.js';
import {
  resourceKey,
  type L4MatchAttributes,
  type Resource,
  type RouteDestination,
} from '../config/resources.js';
import { compileServerTls, type TerminatingMode } from '../tls/server-tls.js';
import type { SecretLookup } from '../tls/credentials.js';
import {
  FilterChainTable,
  type FilterChain,
  type SourceSubnets,
  type TcpFilterChain,
  type TcpProxyRoute,
  type WeightedL4Cluster,
} from '../routes/filter-chains.js';
import {
  intersectHosts,
  resolveGatewayRef,
  resolveShortName,
  splitServerHost,
} from '../routes/host-names.js';
import { buildHttpRouteConfiguration } from './http-route-configuration.js';
import type { RouteMemo } from './route-memo.js';

/**
 * meshgate diagnostic codes for L4 compilation (proposed for `config/diagnostics.ts` `Codes`).
 * `IST0101` (missing credential) and `MG0005` (duplicate TLS host) reuse the shared codes.
 */
export const L4Codes = {
  /** A TLS/TCP port where no server produced a filter chain: Istio omits the listener, nothing listens. */
  ListenerWithoutChains: 'MG0301',
  /** A TLS mode meshgate does not serve (ISTIO_MUTUAL, AUTO_PASSTHROUGH); the server is skipped. */
  UnsupportedTlsMode: 'MG0302',
  /** A TLS setting that was adjusted or ignored (unknown cipher, inverted protocol range). */
  TlsSettingAdjusted: 'MG0303',
} as const;

/** Istio's default TCP idle timeout (Envoy tcp_proxy `idle_timeout`, 1 h). */
const DEFAULT_TCP_IDLE_TIMEOUT_MS = 3_600_000;

/** What {@link buildL4FilterChains} needs from the gateway listener builder. */
interface L4CompileInput {
  /** Listener kind decided by the first server on the port. */
  readonly kind: 'TLS' | 'TCP';
  /** Gateway server port number (what `match.port` compares with). */
  readonly port: number;
  /** The port's servers in merge order. */
  readonly servers: readonly BoundServer[];
  /** All served Gateways, to name them in diagnostics and resolve relative certificate paths. */
  readonly gateways: readonly Resource<'Gateway'>[];
  /** VirtualServices in creation (document) order. */
  readonly virtualServices: readonly Resource<'VirtualService'>[];
  readonly resolver: ClusterResolver;
  /** `--credentials-dir` for `credentialName`. */
  readonly credentialsDir: string | undefined;
  /** Secrets of the input for `credentialName` (looked up before `credentialsDir`). */
  readonly secrets?: SecretLookup;
  /** What earlier builds compiled for terminating HTTPS servers (see `route-memo.ts`); default: none. */
  readonly memo?: RouteMemo;
}

/** Chains of one listener plus what was found on the way. `table` is undefined when no chain was produced. */
interface L4CompileResult {
  readonly table: FilterChainTable | undefined;
  readonly diagnostics: Diagnostic[];
}

const TERMINATING = new Set<string>(['SIMPLE', 'MUTUAL', 'OPTIONAL_MUTUAL']);

/**
 * Builds the filter chains of a TLS or TCP listener.
 *
 * Steps (pilot order):
 * 1. TLS ports: a server whose host repeats a host of an earlier TLS server on the port is skipped
 *    (Istio `mergeGateways`, first wins).
 * 2. Per server: terminating HTTPS → its own route table; PASSTHROUGH → one chain per `tls` match of a
 *    bound VirtualService whose hosts meet the server's, SNI from `sniHosts` (duplicates skipped);
 *    TCP and terminating TLS → the `tcp` rules of bound VirtualServices, first match wins.
 * 3. An SNI value already claimed by an earlier chain is not claimed again.
 *
 * Never throws for configuration problems.
 */
export function buildL4FilterChains(input: L4CompileInput): L4CompileResult {
  const diagnostics: Diagnostic[] = [];
  const chains: FilterChain[] = [];
  const claimed = new Set<string>();
  const tlsHosts = new Map<string, string>();
  const gwByKey = new Map<string, Resource<'Gateway'>>(
    input.gateways.map((g) => [`${g.metadata.namespace}/${g.metadata.name}`, g]),
  );

  const warn = (
    bs: BoundServer,
    code: string,
    field: string,
    message: string,
    vs?: Resource<'VirtualService'>,
  ): void => {
    const gw = gwByKey.get(bs.gateway);
    const idx = gw ? gw.spec.servers.indexOf(bs.server) : -1;
    diagnostics.push({
      severity: 'warning',
      code,
      layer: 'reference',
      resource: vs ? resourceKey(vs) : gw ? resourceKey(gw) : `Gateway/${bs.gateway}`,
      source: vs?.source ?? gw?.source,
      path: vs ? field : `spec.servers[${idx}]${field ? `.${field}` : ''}`,
      message,
    });
  };

  for (const bs of input.servers) {
    const { server } = bs;
    const tls = server.tls;
    const gwNs = bs.gateway.slice(0, bs.gateway.indexOf('/'));
    const gwName = bs.gateway.slice(bs.gateway.indexOf('/') + 1);
    const protocol = server.port.protocol.toUpperCase();

    if (input.kind === 'TCP') {
      if (chains.length > 0) {
        // One opaque TCP chain per port: a second server could never be selected (no SNI to tell them apart).
        warn(
          bs,
          Codes.PortProtocolConflict,
          'port',
          `port ${input.port} already has a TCP server (${chains[0]!.server.gateway}); this one is ignored`,
        );
        continue;
      }
      const routes = compileTcpRules(bs, input);
      if (routes.length > 0)
        chains.push(
          Object.freeze({
            kind: 'tcp',
            name: `tcp.${input.port}`,
            serverNames: [],
            server: bs,
            tls: undefined,
            routes,
          }),
        );
      continue;
    }

    // TLS listener.
    const mode = tls?.mode ?? 'PASSTHROUGH';
    const hosts = server.hosts.map((h) => splitServerHost(h, gwNs).host);
    const dup = hosts.find((h) => tlsHosts.has(h));
    if (dup !== undefined) {
      warn(
        bs,
        Codes.DuplicateServerHost,
        'hosts',
        `host ${dup} is already served on port ${input.port} by ${tlsHosts.get(dup)}; this server is skipped (first wins)`,
      );
      continue;
    }
    for (const h of hosts) tlsHosts.set(h, bs.gateway);

    if (mode === 'ISTIO_MUTUAL' || mode === 'AUTO_PASSTHROUGH') {
      warn(
        bs,
        L4Codes.UnsupportedTlsMode,
        'tls.mode',
        `tls.mode ${mode} needs the Istio mesh CA / multi-cluster SNI and is not served by meshgate; server skipped`,
      );
      continue;
    }

    if (mode === 'PASSTHROUGH') {
      for (const c of compilePassthrough(bs, input, claimed, warn)) chains.push(c);
      continue;
    }

    if (!TERMINATING.has(mode)) continue;
    const gw = gwByKey.get(bs.gateway);
    const baseDir = gw ? path.dirname(path.resolve(gw.source.file)) : process.cwd();
    const compiled = compileServerTls(tls!, mode as TerminatingMode, {
      baseDir,
      credentialsDir: input.credentialsDir,
      secrets: input.secrets,
    });
    for (const w of compiled.warnings) warn(bs, L4Codes.TlsSettingAdjusted, 'tls', w);
    if (!compiled.context) {
      warn(
        bs,
        Codes.ReferencedResourceNotFound,
        'tls',
        `${compiled.error}; server skipped (its SNI gets no filter chain)`,
      );
      continue;
    }
    const serverNames = sniFromHosts(hosts);
    const fresh = serverNames.filter((n) => !claimed.has(n));
    if (serverNames.length > 0 ? fresh.length === 0 : claimed.has('*')) {
      warn(
        bs,
        Codes.DuplicateServerHost,
        'hosts',
        `every host of this server already has a filter chain on port ${input.port}; server skipped`,
      );
      continue;
    }
    for (const n of serverNames.length === 0 ? ['*'] : fresh) claimed.add(n);

    if (protocol === 'HTTPS') {
      const name = `https.${input.port}.${server.port.name}.${gwName}.${gwNs}`;
      chains.push(
        Object.freeze({
          kind: 'https',
          name,
          serverNames: fresh,
          server: bs,
          tls: compiled.context,
          routeConfig: buildHttpRouteConfiguration(
            input.port,
            [bs],
            input.virtualServices,
            input.resolver,
            true,
            name,
            input.memo,
          ),
        }),
      );
    } else {
      const routes = compileTcpRules(bs, input);
      if (routes.length === 0) continue;
      chains.push(
        Object.freeze({
          kind: 'tcp',
          name: `tls.${input.port}.${server.port.name}.${gwName}.${gwNs}`,
          serverNames: fresh,
          server: bs,
          tls: compiled.context,
          routes,
        }),
      );
    }
  }

  if (chains.length === 0) {
    const first = input.servers[0];
    if (first) {
      warn(
        first,
        L4Codes.ListenerWithoutChains,
        '',
        `no VirtualService ${input.kind === 'TCP' ? 'tcp' : 'tls'} route matches port ${input.port}: the listener is omitted as Istio does (nothing listens on it)`,
      );
    }
    return { table: undefined, diagnostics };
  }
  return { table: new FilterChainTable(Object.freeze(chains)), diagnostics };
}

/** Server hosts → SNI match list; `*` (any host) means no SNI constraint. */
function sniFromHosts(hosts: readonly string[]): string[] {
  if (hosts.includes('*')) return [];
  return [...new Set(hosts)];
}

/** VirtualServices bound to the server's Gateway whose hosts meet the server's (Istio `pickMatchingGatewayHosts`). */
function* boundVirtualServices(
  bs: BoundServer,
  vss: readonly Resource<'VirtualService'>[],
): Generator<Resource<'VirtualService'>> {
  const gwNs = bs.gateway.slice(0, bs.gateway.indexOf('/'));
  const serverHosts = bs.server.hosts.map((h) => splitServerHost(h, gwNs));
  for (const vs of vss) {
    const ns = vs.metadata.namespace;
    if (!(vs.spec.gateways ?? []).some((g) => resolveGatewayRef(g, ns) === bs.gateway)) continue;
    const hosts = vs.spec.hosts ?? [];
    const meets = serverHosts.some(
      (sh) =>
        (sh.namespace === '*' || sh.namespace === ns) &&
        hosts.some((h) => intersectHosts(sh.host, resolveShortName(h, ns)) !== undefined),
    );
    if (meets) yield vs;
  }
}

/** Istio `l4SingleMatch` at a gateway: `port` and `gateways` only. */
function l4StaticMatch(m: L4MatchAttributes, port: number, gateway: string, vsNamespace: string): boolean {
  if (m.port !== undefined && m.port !== 0 && m.port !== port) return false;
  if (
    m.gateways &&
    m.gateways.length > 0 &&
    !m.gateways.some((g) => resolveGatewayRef(g, vsNamespace) === gateway)
  )
    return false;
  return true;
}

/**
 * The `tcp` rules that apply to a server, in order. Istio takes the first rule whose match passes for
 * the whole listener; `sourceSubnet` (which Istio's gateway ignores) is honoured per connection, so a
 * rule limited to subnets lets later rules serve the other clients, and the list ends at the first
 * rule open to every client. Without `sourceSubnet` the list is exactly Istio's single rule.
 */
function compileTcpRules(bs: BoundServer, input: L4CompileInput): TcpProxyRoute[] {
  const out: TcpProxyRoute[] = [];
  for (const vs of boundVirtualServices(bs, input.virtualServices)) {
    const ns = vs.metadata.namespace;
    const rules = vs.spec.tcp ?? [];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (!rule.route || rule.route.length === 0) continue;
      const matches = rule.match ?? [];
      const passing = matches.filter((m) => l4StaticMatch(m, input.port, bs.gateway, ns));
      if (matches.length > 0 && passing.length === 0) continue;
      const open = matches.length === 0 || passing.some((m) => !m.sourceSubnet);
      const subnets = open ? undefined : compileSubnets(passing.map((m) => m.sourceSubnet!));
      const route = compileRoute(`${ns}/${vs.metadata.name}.tcp.${i}`, vs, rule.route, input, subnets);
      if (route) out.push(route);
      if (open) return out;
    }
  }
  return out;
}

/** One chain per `tls` match of a bound VirtualService (Istio `buildGatewayNetworkFiltersFromTLSRoutes`). */
function compilePassthrough(
  bs: BoundServer,
  input: L4CompileInput,
  claimed: Set<string>,
  warn: (
    bs: BoundServer,
    code: string,
    field: string,
    message: string,
    vs?: Resource<'VirtualService'>,
  ) => void,
): TcpFilterChain[] {
  const out: TcpFilterChain[] = [];
  for (const vs of boundVirtualServices(bs, input.virtualServices)) {
    const ns = vs.metadata.namespace;
    const rules = vs.spec.tls ?? [];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (!rule.route || rule.route.length === 0) continue;
      (rule.match ?? []).forEach((m, j) => {
        if (!l4StaticMatch(m, input.port, bs.gateway, ns)) return;
        const sni = (m.sniHosts ?? []).map((h) => h.toLowerCase());
        const serverNames = sni.includes('*') ? [] : sni;
        const keys = serverNames.length === 0 ? ['*'] : serverNames;
        const dup = keys.filter((k) => claimed.has(k));
        if (dup.length > 0) {
          warn(
            bs,
            Codes.DuplicateServerHost,
            `spec.tls[${i}].match[${j}].sniHosts`,
            `duplicate SNI host names on port ${input.port}: ${dup.join(', ')}; this match is skipped (first wins)`,
            vs,
          );
          return;
        }
        const route = compileRoute(`${ns}/${vs.metadata.name}.tls.${i}`, vs, rule.route!, input, undefined);
        if (!route) return;
        for (const k of keys) claimed.add(k);
        out.push(
          Object.freeze({
            kind: 'tcp',
            name: `passthrough ${keys.join(',')}`,
            serverNames,
            server: bs,
            tls: undefined,
            routes: [route],
          }),
        );
      });
    }
  }
  return out;
}

function compileRoute(
  name: string,
  vs: Resource<'VirtualService'>,
  dests: readonly RouteDestination[],
  input: L4CompileInput,
  sourceSubnets: SourceSubnets | undefined,
): TcpProxyRoute | undefined {
  const ns = vs.metadata.namespace;
  const clusters: WeightedL4Cluster[] = [];
  for (const d of dests) {
    // One destination takes all traffic whatever its weight; with several, zero weights are dropped.
    const weight = dests.length === 1 ? 1 : (d.weight ?? 0);
    if (weight <= 0) continue;
    const destination = input.resolver.resolve(d.destination, ns, input.port);
    const idle = parseDurationMs(destination.cluster?.policy.connectionPool?.tcp?.idleTimeout);
    clusters.push(Object.freeze({ destination, weight, idleTimeoutMs: idle ?? DEFAULT_TCP_IDLE_TIMEOUT_MS }));
  }
  if (clusters.length === 0) return undefined;
  const statPrefix = clusters.length === 1 ? clusters[0]!.destination.name : `${vs.metadata.name}.${ns}`;
  return Object.freeze({
    name,
    virtualService: `${ns}/${vs.metadata.name}`,
    statPrefix,
    sourceSubnets,
    clusters: Object.freeze(clusters),
    totalWeight: clusters.reduce((s, c) => s + c.weight, 0),
  });
}

/**
 * Compiles `sourceSubnet` values (`10.0.0.0/8`, `2001:db8::/32`, or a bare address) into a matcher.
 * An unparsable entry matches nothing (schema validation reports it).
 */
export function compileSubnets(cidrs: readonly string[]): SourceSubnets {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr = '', bits] = c.trim().split('/');
    const family = isIP(addr);
    if (family === 0) continue;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) continue;
    list.addSubnet(addr, prefix, type);
  }
  return {
    cidrs: Object.freeze([...cidrs]),
    test(address: string): boolean {
      const a = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
      const family = isIP(a);
      if (family === 0) return false;
      return list.check(a, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}
