/**
 * Runs the user's egress notes on this machine: meshgate with its mesh listener (`--mesh-port`,
 * default 15001) as the workloads' proxy, `--dns-server` pointing at a local DNS stand-in
 * (`dns-server.ts`, UDP 127.0.0.1:15353) that resolves httpbin.org and www.google.com to 127.0.0.1,
 * an httpbin stand-in for httpbin.org (127.0.0.1:18080) and a TLS stand-in for www.google.com
 * (127.0.0.1:18443).
 *
 * Environment:
 *   VARIANT     timeout (default: 3 s VirtualService) | no-timeout | egress-gateway
 *   MESH_PORT   local port of the mesh listener (default 15001)
 *   DNS_PORT    UDP port of the DNS stand-in (default 15353)
 *   POLICY      ALLOW_ANY (default) | REGISTRY_ONLY
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envPort, envWithoutProxy, runStack, type WorkloadSpec } from '../common/run-stack.js';
import { findRepoRoot } from '../common/process-util.js';
import { startDnsServer } from './dns-server.js';

/** Local ports of the stand-ins (the ServiceEntries' `targetPort`s) and of the egress gateway. */
const EGRESS_LAYOUT = { httpbin: 18080, egressGateway: 18081, tls: 18443 } as const;

const VARIANTS: Readonly<Record<string, readonly string[]>> = {
  timeout: ['service-entry-httpbin-ext.yaml', 'virtual-service-httpbin-ext-timeout.yaml', 'google.yaml'],
  'no-timeout': ['service-entry-httpbin-ext.yaml', 'google.yaml'],
  'egress-gateway': ['service-entry-httpbin-ext.yaml', 'egress-gateway.yaml', 'google.yaml'],
};

async function main(): Promise<number> {
  const repoRoot = findRepoRoot(import.meta.url);
  const meshPort = envPort('MESH_PORT', 15001);
  const dnsPort = envPort('DNS_PORT', 15353);
  const variantName = process.env.VARIANT || 'timeout';
  const files = VARIANTS[variantName];
  if (!files) throw new Error(`VARIANT=${variantName}: expected one of ${Object.keys(VARIANTS).join(', ')}`);
  const policy = (process.env.POLICY || 'ALLOW_ANY').toUpperCase();

  // UDP, so it runs in this process rather than as a workload (runStack waits on TCP ports).
  const dns = await startDnsServer({
    port: dnsPort,
    records: { 'httpbin.org': ['127.0.0.1'], 'www.google.com': ['127.0.0.1'] },
    log: (line) => process.stdout.write(`[dns] ${line}\n`),
  });
  const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
  const env = envWithoutProxy();
  const workloads: WorkloadSpec[] = [
    {
      name: 'httpbin.org',
      script: path.join(repoRoot, 'dist', 'samples', 'httpbin', 'httpbin-server.js'),
      args: ['--port', String(EGRESS_LAYOUT.httpbin), '--version', 'ext'],
      port: EGRESS_LAYOUT.httpbin,
      env,
    },
    {
      name: 'www.google.com',
      script: here('./tls-stand-in.js'),
      args: ['--port', String(EGRESS_LAYOUT.tls), '--name', 'www.google.com'],
      port: EGRESS_LAYOUT.tls,
      env,
    },
  ];
  const sampleDir = path.join(repoRoot, 'samples', 'egress');
  const proxy = `http://127.0.0.1:${meshPort}`;
  try {
    return await runStack({
      title: 'egress',
      repoRoot,
      workloads,
      gatewayArgs: [
        'run',
        ...files.flatMap((f) => ['-f', path.join(sampleDir, f)]),
        '--mesh-port',
        String(meshPort),
        '--dns-server',
        `127.0.0.1:${dns.port}`,
        '--outbound-traffic-policy',
        policy,
        ...(variantName === 'egress-gateway' ? ['--port-map', `80=${EGRESS_LAYOUT.egressGateway}`] : []),
      ],
      gatewayPort: meshPort,
      otherGatewayPorts: variantName === 'egress-gateway' ? [EGRESS_LAYOUT.egressGateway] : [],
      readyLines: [
        `Variant: ${variantName} (${files.join(', ')}), outboundTrafficPolicy ${policy}`,
        `Try: time curl -s -o /dev/null -w '%{http_code}\\n' -x ${proxy} http://httpbin.org/delay/5` +
          (variantName === 'no-timeout' ? '   (200 after ~5 s)' : '   (504 after ~3 s)'),
        `     curl -s -x ${proxy} http://httpbin.org/headers`,
        `     curl -s -k -x ${proxy} https://www.google.com/     (CONNECT, routed by SNI; the stand-in prints the SNI it saw)`,
        `     curl -s -o /dev/null -w '%{http_code}\\n' -x ${proxy} http://example.invalid/   (${policy === 'REGISTRY_ONLY' ? '502: not registered' : 'passed through: not resolvable, 503'})`,
      ],
    });
  } finally {
    await dns.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[egress] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
