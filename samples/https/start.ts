/**
 * Runs the HTTPS samples behind meshgate: httpbin (127.0.0.1:18000), helloworld (127.0.0.1:18500)
 * and my-nginx (TLS itself, 127.0.0.1:18443), then
 * `node dist/cli/main.js run -f services.yaml -f <variant>.yaml --credentials-dir samples/https/certs/credentials
 * --port-map 443=$GATEWAY_PORT,80=$HTTP_PORT`. Makes the certificates first when samples/https/certs is missing.
 *
 * Environment:
 *   VARIANT       secure-ingress (default) | mutual | passthrough
 *   GATEWAY_PORT  local port for the Gateway's port 443 (default 8443)
 *   HTTP_PORT     local port for port 80 (secure-ingress's httpsRedirect server; default 8080)
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envPort, envWithoutProxy, runStack, type WorkloadSpec } from '../common/run-stack.js';
import { findRepoRoot } from '../common/process-util.js';
import { HTTPS_LAYOUT } from './workloads.js';

const VARIANTS: Readonly<
  Record<string, { file: string; http: boolean; tryLines: (port: number, certs: string) => string[] }>
> = {
  'secure-ingress': {
    file: 'secure-ingress.yaml',
    http: true,
    tryLines: (p, c) => [
      `Try: curl -v --resolve httpbin.example.com:${p}:127.0.0.1 --cacert ${c}/example.com.crt https://httpbin.example.com:${p}/status/418`,
      `     curl -v --resolve helloworld.example.com:${p}:127.0.0.1 --cacert ${c}/example.com.crt https://helloworld.example.com:${p}/hello`,
      `     openssl s_client -connect 127.0.0.1:${p} -servername helloworld.example.com -CAfile ${c}/example.com.crt </dev/null | grep subject=`,
    ],
  },
  mutual: {
    file: 'secure-ingress-mutual.yaml',
    http: false,
    tryLines: (p, c) => [
      `Try: curl -v --resolve httpbin.example.com:${p}:127.0.0.1 --cacert ${c}/example.com.crt --cert ${c}/client.example.com.crt --key ${c}/client.example.com.key https://httpbin.example.com:${p}/headers`,
      `     (without --cert/--key the handshake fails: "alert certificate required")`,
    ],
  },
  passthrough: {
    file: 'passthrough.yaml',
    http: false,
    tryLines: (p, c) => [
      `Try: curl -v --resolve nginx.example.com:${p}:127.0.0.1 --cacert ${c}/example.com.crt https://nginx.example.com:${p}`,
      `     openssl s_client -connect 127.0.0.1:${p} -servername nginx.example.com -CAfile ${c}/example.com.crt </dev/null | grep subject=`,
    ],
  },
};

async function main(): Promise<number> {
  const repoRoot = findRepoRoot(import.meta.url);
  const gatewayPort = envPort('GATEWAY_PORT', 8443);
  const httpPort = envPort('HTTP_PORT', 8080);
  const name = process.env.VARIANT || 'secure-ingress';
  const variant = VARIANTS[name];
  if (!variant) throw new Error(`VARIANT=${name}: expected one of ${Object.keys(VARIANTS).join(', ')}`);
  const sampleDir = path.join(repoRoot, 'samples', 'https');
  const certs = path.join(sampleDir, 'certs');
  if (!existsSync(path.join(certs, 'credentials'))) {
    process.stdout.write(`[https] making certificates in ${certs}\n`);
    execFileSync(path.join(sampleDir, 'make-certs.sh'), [certs], { stdio: 'inherit' });
  }
  const workloadsScript = fileURLToPath(new URL('./workloads.js', import.meta.url));
  const workloads: WorkloadSpec[] = [
    {
      name: 'httpbin',
      script: fileURLToPath(new URL('../httpbin/httpbin-server.js', import.meta.url)),
      args: ['--port', String(HTTPS_LAYOUT.httpbin)],
      port: HTTPS_LAYOUT.httpbin,
      env: envWithoutProxy(),
    },
    {
      name: 'helloworld',
      script: workloadsScript,
      args: ['--app', 'helloworld', '--port', String(HTTPS_LAYOUT.helloworld)],
      port: HTTPS_LAYOUT.helloworld,
      env: envWithoutProxy(),
    },
    {
      name: 'my-nginx',
      script: workloadsScript,
      args: [
        '--app',
        'nginx',
        '--port',
        String(HTTPS_LAYOUT.nginx),
        '--cert',
        path.join(certs, 'nginx.example.com.crt'),
        '--key',
        path.join(certs, 'nginx.example.com.key'),
      ],
      port: HTTPS_LAYOUT.nginx,
      env: envWithoutProxy(),
    },
  ];
  return runStack({
    title: 'https',
    repoRoot,
    workloads,
    gatewayArgs: [
      'run',
      '-f',
      path.join(sampleDir, 'services.yaml'),
      '-f',
      path.join(sampleDir, variant.file),
      '--credentials-dir',
      path.join(certs, 'credentials'),
      '--port-map',
      variant.http ? `443=${gatewayPort},80=${httpPort}` : `443=${gatewayPort}`,
    ],
    gatewayPort,
    otherGatewayPorts: variant.http ? [httpPort] : [],
    readyLines: [
      `Variant: ${name} (${variant.file})`,
      ...variant.tryLines(gatewayPort, path.relative(process.cwd(), certs) || '.'),
    ],
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[https] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
