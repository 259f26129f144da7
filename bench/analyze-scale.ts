/**
 * Analysis at scale: times `analyzeResources` on a generated configuration of N hosts (one
 * ServiceEntry, one DestinationRule with a subset and one gateway-bound VirtualService routing to
 * its host's subset and to the next host, per host). Run after `npm run build`:
 *
 *   node dist/bench/analyze-scale.js [hosts=10000] [runs=3]
 *
 * Prints one line per run: hosts, resources, seconds, findings (0 for this consistent config).
 */
import { analyzeResources } from '../config/analyze.js';
import type { Kind, Resource, SpecByKind } from '../config/resources.js';

/** Builds the generated configuration: 3 resources per host plus one Gateway. */
export function generatedConfig(hosts: number): Resource[] {
  let doc = 0;
  const mk = <K extends Kind>(kind: K, name: string, spec: SpecByKind[K]): Resource<K> => ({
    apiVersion: 'networking.istio.io/v1',
    kind,
    metadata: { name, namespace: 'default' },
    spec,
    source: { file: 'generated.yaml', docIndex: doc++, line: 1 },
  });
  const out: Resource[] = [
    mk('Gateway', 'gw', {
      selector: { istio: 'ingressgateway' },
      servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
    }),
  ];
  for (let i = 0; i < hosts; i++) {
    const host = `svc-${i}.example.com`;
    out.push(
      mk('ServiceEntry', `se-${i}`, {
        hosts: [host],
        location: 'MESH_EXTERNAL',
        resolution: 'DNS',
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
      }),
      mk('DestinationRule', `dr-${i}`, { host, subsets: [{ name: 'v1', labels: { v: '1' } }] }),
      mk('VirtualService', `vs-${i}`, {
        hosts: [host],
        gateways: ['gw'],
        http: [
          {
            route: [
              { destination: { host, subset: 'v1' }, weight: 50 },
              {
                destination: { host: `svc-${(i + 1) % hosts}.example.com`, port: { number: 80 } },
                weight: 50,
              },
            ],
          },
        ],
      }),
    );
  }
  return out;
}

const hosts = Number(process.argv[2] ?? 10_000);
const runs = Number(process.argv[3] ?? 3);
const resources = generatedConfig(hosts);
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  const found = analyzeResources(resources);
  const s = (performance.now() - t0) / 1000;
  console.log(`${hosts} hosts, ${resources.length} resources: ${s.toFixed(2)} s, ${found.length} findings`);
}
