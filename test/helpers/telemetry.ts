/**
 * Telemetry test kit: the Bookinfo gateway config with test upstreams, a gateway started with every
 * telemetry port on an ephemeral loopback port, and small HTTP helpers for the admin ports.
 */
import { request } from 'undici';
import type { ObservabilityOptions, ServerKind } from '../../admin/observability.js';
import type { GatewayOptions } from '../../gateway/gateway.js';
import {
  bookinfoGateway,
  httpVirtualService,
  staticServiceEntry,
  subsetDestinationRule,
  versionedEndpoints,
  yamlDocuments,
} from './bookinfo-config.js';
import { startGateway, type TestGateway } from './gateway.js';

/**
 * Bookinfo's gateway and VirtualService (istio-semantics §8.1) plus ServiceEntries for productpage
 * (labels app/version, as the sample's workloads) and reviews v1/v2 with a DestinationRule.
 *
 * @param ports - Loopback ports of the upstreams: `productpage`, and `reviewsV1` / `reviewsV2`
 *   (each defaults to the productpage port).
 * @returns The multi-document YAML, with the gateway's HTTP server on port 8080.
 */
export function bookinfoConfig(ports: {
  productpage: number;
  reviewsV1?: number;
  reviewsV2?: number;
}): string {
  const v1 = ports.reviewsV1 ?? ports.productpage;
  const v2 = ports.reviewsV2 ?? ports.productpage;
  return yamlDocuments(
    bookinfoGateway(8080),
    httpVirtualService({
      name: 'bookinfo',
      hosts: ['*'],
      gateways: ['bookinfo-gateway'],
      http: `
  - match:
    - uri: { exact: /productpage }
    - uri: { prefix: /static }
    - uri: { exact: /login }
    - uri: { exact: /logout }
    - uri: { prefix: /api/v1/products }
    route:
    - destination: { host: productpage, port: { number: 9080 } }
  - match: [{ uri: { prefix: /reviews } }]
    route:
    - { destination: { host: reviews, subset: v1 }, weight: 50 }
    - { destination: { host: reviews, subset: v2 }, weight: 50 }
    timeout: 3s
    retries: { attempts: 2, perTryTimeout: 1s, retryOn: "5xx,connect-failure" }`,
    }),
    subsetDestinationRule('reviews'),
    staticServiceEntry('productpage', versionedEndpoints({ v1: ports.productpage }, 'productpage')),
    staticServiceEntry('reviews', versionedEndpoints({ v1, v2 }, 'reviews')),
  );
}

/** Every telemetry port on 127.0.0.1:0 (tests must never bind the fixed Istio ports). */
export const EPHEMERAL_PORTS: ObservabilityOptions = {
  adminPort: 0,
  prometheusPort: 0,
  statusPort: 0,
  healthPort: 0,
  statsAddress: '127.0.0.1',
};

/** Starts a gateway with the telemetry ports on ephemeral ports (plus `telemetry` overrides). */
export function startTelemetryGateway(
  yaml: string,
  telemetry: ObservabilityOptions = {},
  opts: Partial<GatewayOptions> = {},
): Promise<TestGateway> {
  return startGateway(yaml, { ...opts, telemetry: { ...EPHEMERAL_PORTS, ...telemetry } });
}

/** `http://127.0.0.1:<port>` of a telemetry server of the gateway. */
export function baseUrl(gw: TestGateway, kind: ServerKind): string {
  const a = gw.gateway.observability.address(kind);
  if (!a) throw new Error(`${kind} server not running`);
  return `http://127.0.0.1:${a.port}`;
}

/** GET (or POST) a URL; returns status and text. */
export async function fetchText(
  url: string,
  method: 'GET' | 'POST' = 'GET',
): Promise<{ status: number; body: string; type: string | undefined }> {
  const r = await request(url, { method });
  const type = r.headers['content-type'];
  return { status: r.statusCode, body: await r.body.text(), type: Array.isArray(type) ? type[0] : type };
}

/** The value of the first Prometheus sample line whose name and labels contain every fragment. */
export function sampleValue(text: string, name: string, ...fragments: string[]): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (fragments.every((f) => line.includes(f))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
