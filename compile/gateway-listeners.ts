/**
 * Compiles the gateway listeners (pilot `buildGatewayListeners`): Gateway servers merged per (bind
 * address, port), the first server deciding the listener kind; HTTP ports get their route
 * configuration, TLS and TCP ports their filter chains.
 */
import type { ClusterResolver } from '../config/cluster.js';
import { Codes, type Diagnostic } from '../config/diagnostics.js';
import type { BoundServer } from '../config/bound-server.js';
import { listenerKindOf, type Listener, type ListenerKind } from '../config/listener.js';
import { resourceKey, type Resource } from '../config/resources.js';
import type { SecretLookup } from '../tls/credentials.js';
import type { FilterChainTable } from '../routes/filter-chains.js';
import { httpRouteConfigurationSteps } from './http-route-configuration.js';
import { runSteps, type Steps } from './steps.js';
import { buildL4FilterChains } from './l4-filter-chains.js';
import type { RouteMemo } from './route-memo.js';

/** Default ClientHello deadline of TLS listeners (shorter than Envoy's 15 s: real clients send it in their first flight). */
const DEFAULT_LISTENER_FILTER_TIMEOUT_MS = 5_000;

/** Input of {@link buildGatewayListeners}. */
interface GatewayListenersInput {
  /** The Gateways served (already filtered by `--gateway-labels`), in creation order. */
  readonly gateways: readonly Resource<'Gateway'>[];
  /** All VirtualServices in creation order. */
  readonly virtualServices: readonly Resource<'VirtualService'>[];
  readonly resolver: ClusterResolver;
  /** Secrets of the input for `credentialName`. */
  readonly secrets: SecretLookup;
  /** `--credentials-dir`. */
  readonly credentialsDir: string | undefined;
  /** Server port → local port (`--port-map 80=8080`). */
  readonly portMap: ReadonlyMap<number, number> | undefined;
  /** TLS listeners: ClientHello deadline in ms (default {@link DEFAULT_LISTENER_FILTER_TIMEOUT_MS}). */
  readonly listenerFilterTimeoutMs: number | undefined;
  /** Routes, virtual hosts and route configurations of earlier builds, reused where unchanged; default: none. */
  readonly memo?: RouteMemo;
}

/**
 * Builds one listener per (bind, port) of the served Gateways. Pure; never throws for configuration
 * problems: a server whose kind conflicts with the port's is skipped with a warning, and a TLS/TCP
 * port without any filter chain is omitted (as Istio omits the listener).
 */
export function buildGatewayListeners(input: GatewayListenersInput): {
  listeners: Listener[];
  diagnostics: Diagnostic[];
} {
  return runSteps(gatewayListenerSteps(input));
}

/** {@link buildGatewayListeners} in steps (see `steps.ts`). */
export function* gatewayListenerSteps(
  input: GatewayListenersInput,
): Steps<{ listeners: Listener[]; diagnostics: Diagnostic[] }> {
  const { gateways, virtualServices, resolver } = input;
  const diagnostics: Diagnostic[] = [];
  // 1. Group servers per (bind, port); the first server decides the listener kind.
  const groups = new Map<
    string,
    { address: string; port: number; kind: ListenerKind; protocol: string; servers: BoundServer[] }
  >();
  for (const gw of gateways) {
    const gwKey = `${gw.metadata.namespace}/${gw.metadata.name}`;
    (gw.spec.servers ?? []).forEach((server, i) => {
      const address = server.bind ?? '0.0.0.0';
      const key = `${address}_${server.port.number}`;
      const kind = listenerKindOf(server);
      const group = groups.get(key);
      if (!group) {
        groups.set(key, {
          address,
          port: server.port.number,
          kind,
          protocol: server.port.protocol.toUpperCase(),
          servers: [{ gateway: gwKey, server }],
        });
      } else if (group.kind !== kind) {
        diagnostics.push({
          severity: 'warning',
          code: Codes.PortProtocolConflict,
          layer: 'reference',
          resource: resourceKey(gw),
          source: gw.source,
          path: `spec.servers[${i}].port`,
          message: `port ${server.port.number} is already served as ${group.protocol} by ${group.servers[0]!.gateway}; this ${server.port.protocol} server is skipped`,
        });
      } else {
        group.servers.push({ gateway: gwKey, server });
      }
    });
  }

  // 2. Build each listener.
  const listeners: Listener[] = [];
  for (const g of groups.values()) {
    const gatewaysServed = [...new Set(g.servers.map((s) => s.gateway))];
    const routeConfig =
      g.kind === 'HTTP'
        ? yield* httpRouteConfigurationSteps(
            g.port,
            g.servers,
            virtualServices,
            resolver,
            false,
            undefined,
            input.memo,
          )
        : undefined;
    let filterChains: FilterChainTable | undefined;
    if (g.kind !== 'HTTP') {
      // TLS/TCP (issue 3): filter chains; a port without any is omitted, as Istio omits the listener.
      const l4 = buildL4FilterChains({
        kind: g.kind,
        port: g.port,
        servers: g.servers,
        gateways,
        virtualServices,
        resolver,
        credentialsDir: input.credentialsDir,
        secrets: input.secrets,
        memo: input.memo,
      });
      diagnostics.push(...l4.diagnostics);
      if (!l4.table) continue;
      filterChains = l4.table;
    }
    listeners.push(
      Object.freeze({
        name: `${g.address}_${g.port}`,
        address: g.address,
        port: g.port,
        bindPort: input.portMap?.get(g.port) ?? g.port,
        kind: g.kind,
        protocol: g.protocol,
        gateways: gatewaysServed,
        servers: g.servers,
        routeConfig,
        filterChains,
        listenerFilterTimeoutMs: input.listenerFilterTimeoutMs ?? DEFAULT_LISTENER_FILTER_TIMEOUT_MS,
      }),
    );
  }

  return { listeners, diagnostics };
}
