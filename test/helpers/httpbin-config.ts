/**
 * Shared setup for the traffic-policy integration tests: the Istio YAML for one mesh service (such
 * as httpbin) behind Gateway `gw`, a per-test bed that closes the gateway and upstreams it started,
 * and a batched request loop.
 */
import { afterEach } from 'vitest';
import { HTTP_GATEWAY_GW, localServiceEntryYaml, type LocalEndpoint } from './resources.js';
import { startGateway, type TestGateway } from './gateway.js';
import { startUpstream, type TestUpstream } from './upstream.js';

/** One STATIC endpoint of a mesh service: a test upstream on 127.0.0.1 (weight, labels optional). */
export type MeshEndpoint = LocalEndpoint;

/** What {@link meshServiceConfig} puts in the VirtualService, ServiceEntry and DestinationRule. */
export interface MeshServiceOptions {
  /** Short host name of the service; it also names the VirtualService, ServiceEntry and DestinationRule. */
  host: string;
  /** Service port (the ServiceEntry's port number, named `http`, protocol HTTP). */
  port: number;
  /** The service's endpoints, in order. */
  endpoints: readonly MeshEndpoint[];
  /** The VirtualService's `http:` list items, as YAML lines indented by two spaces (`  - route: …`). */
  http: string;
  /** The DestinationRule's `spec` lines after `host:`, indented by two spaces (`  trafficPolicy: …`). */
  destinationRule: string;
  /** The DestinationRule's apiVersion; `networking.istio.io/v1` unless given. */
  destinationRuleApiVersion?: string;
}

/**
 * Builds a whole config for one mesh service reached through the plain HTTP Gateway `gw` (port 80,
 * every host): the Gateway, a VirtualService bound to it for every host, a MESH_INTERNAL STATIC
 * ServiceEntry with the given endpoints on 127.0.0.1, and a DestinationRule for the host.
 *
 * @returns the multi-document YAML text, ready for `startGateway` or `TestGateway.reconfigure`.
 */
export function meshServiceConfig(o: MeshServiceOptions): string {
  return `
${HTTP_GATEWAY_GW}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${o.host} }
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
${o.http}
---
${localServiceEntryYaml(o.host, { number: o.port, name: 'http', protocol: 'HTTP' }, o.endpoints)}
---
apiVersion: ${o.destinationRuleApiVersion ?? 'networking.istio.io/v1'}
kind: DestinationRule
metadata: { name: ${o.host} }
spec:
  host: ${o.host}
${o.destinationRule}
`;
}

/**
 * A VirtualService destination in flow style.
 *
 * @param host short service host
 * @param port service port number
 * @param subset DestinationRule subset name, if any
 * @returns e.g. `{ host: httpbin, subset: v1, port: { number: 8000 } }`
 */
export function destination(host: string, port: number, subset?: string): string {
  return `{ host: ${host}${subset ? `, subset: ${subset}` : ''}, port: { number: ${port} } }`;
}

/**
 * The Envoy-style outbound cluster name the gateway keeps stats under.
 *
 * @param host short service host (in namespace `default`)
 * @param port service port number
 * @param subset DestinationRule subset name, if any
 * @returns e.g. `outbound|8000||httpbin.default.svc.cluster.local`
 */
export function clusterName(host: string, port: number, subset = ''): string {
  return `outbound|${port}|${subset}|${host}.default.svc.cluster.local`;
}

/** The gateway and upstreams of the current test; see {@link gatewayBed}. */
export interface GatewayBed {
  /** Starts a gateway from `yaml` (see `startGateway`); it is closed after the test. */
  gateway(yaml: string): Promise<TestGateway>;
  /** Starts an upstream named `name` (see `startUpstream`); it is closed after the test. */
  upstream(name: string, handler?: Parameters<typeof startUpstream>[1]): Promise<TestUpstream>;
  /**
   * Starts `count` upstreams at once, named `ep0` … `ep<count-1>`, all with `handler`; they are
   * closed after the test.
   *
   * @returns the upstreams in name order
   */
  upstreams(count: number, handler?: Parameters<typeof startUpstream>[1]): Promise<TestUpstream[]>;
}

/**
 * Registers an `afterEach` (call it inside a `describe`) that closes every gateway the test started
 * through the bed, then every upstream, and returns the bed to start them with.
 */
export function gatewayBed(): GatewayBed {
  const gateways: TestGateway[] = [];
  const ups: TestUpstream[] = [];
  afterEach(async () => {
    for (const g of gateways.splice(0)) await g.close();
    await Promise.all(ups.splice(0).map((u) => u.close()));
  });
  return {
    async gateway(yaml) {
      const gw = await startGateway(yaml);
      gateways.push(gw);
      return gw;
    },
    async upstream(name, handler) {
      const up = await startUpstream(name, handler);
      ups.push(up);
      return up;
    },
    async upstreams(count, handler) {
      const started = await Promise.all(
        Array.from({ length: count }, (_, i) => startUpstream(`ep${i}`, handler)),
      );
      ups.push(...started);
      return started;
    },
  };
}

/**
 * Sends `total` requests in batches of `batch` concurrent requests, one batch after another.
 *
 * @param total how many requests (calls of `send`) in all
 * @param batch how many are in flight at once (the last batch may be smaller)
 * @param send sends request number `i` (0-based) and resolves with its result
 * @returns the results, in request order
 */
export async function inBatches<T>(
  total: number,
  batch: number,
  send: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < total; i += batch) {
    out.push(
      ...(await Promise.all(Array.from({ length: Math.min(batch, total - i) }, (_, k) => send(i + k)))),
    );
  }
  return out;
}
