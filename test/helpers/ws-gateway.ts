/**
 * The gateway the WebSocket tests share (Istio's websockets sample, extended): two `ws` echo
 * workloads `ws-a` and `ws-b`, an HTTP server on 80 and an HTTPS server for `ws.example.com` on 443,
 * and one VirtualService:
 * `/split` 50/50 over a and b; `/late` with a 200 ms route timeout; `/abort` a 100% fault abort 503;
 * `/b-only` rewritten to `/rewritten`, request header `x-route: b-only` and response header
 * `x-resp: b` set, weights 0/100 to b; everything else to a.
 */
import { createTestPki, writeCredential, type TestPki } from './certs.js';
import { startGateway, type TestGateway } from './gateway.js';
import {
  gatewayYaml,
  httpAndSimpleHttpsServers,
  localServiceEntryYaml,
  makeCredentialsDir,
  removeCredentialsDir,
  virtualServiceYaml,
  yamlDocuments,
} from './tls-gateway.js';
import { startWsUpstream, type WsUpstream } from './ws-upstream.js';

const WS_PORT = { number: 8080, name: 'http', protocol: 'HTTP' } as const;

/** The running workloads and gateway; `close()` stops them all. */
export interface WsGateway {
  readonly a: WsUpstream;
  readonly b: WsUpstream;
  readonly gw: TestGateway;
  /** CA of the HTTPS server's certificate (`ws.example.com`). */
  readonly pki: TestPki;
  close(): Promise<void>;
}

function config(a: WsUpstream, b: WsUpstream): string {
  return yamlDocuments(
    gatewayYaml('ws-gateway', httpAndSimpleHttpsServers('ws-credential', ['ws.example.com'])),
    virtualServiceYaml(
      'tornado',
      ['*'],
      ['ws-gateway'],
      [
        'http:',
        '- match: [{ uri: { prefix: /split } }]',
        '  route:',
        '  - { destination: { host: ws-a }, weight: 50 }',
        '  - { destination: { host: ws-b }, weight: 50 }',
        '- match: [{ uri: { prefix: /late } }]',
        '  timeout: 200ms',
        '  route: [{ destination: { host: ws-a } }]',
        '- match: [{ uri: { prefix: /abort } }]',
        '  fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }',
        '  route: [{ destination: { host: ws-a } }]',
        '- match: [{ uri: { prefix: /b-only } }]',
        '  rewrite: { uri: /rewritten }',
        '  headers: { request: { set: { x-route: b-only } }, response: { set: { x-resp: b } } }',
        '  route:',
        '  - { destination: { host: ws-a }, weight: 0 }',
        '  - { destination: { host: ws-b }, weight: 100 }',
        '- route: [{ destination: { host: ws-a } }]',
      ],
    ),
    localServiceEntryYaml('ws-a', WS_PORT, a.port),
    localServiceEntryYaml('ws-b', WS_PORT, b.port),
  );
}

/** Starts the workloads and the gateway described in the module comment. */
export async function startWsGateway(): Promise<WsGateway> {
  const pki = createTestPki();
  const creds = makeCredentialsDir();
  writeCredential(creds, 'ws-credential', pki.issue('ws', { cn: 'ws.example.com', dns: ['ws.example.com'] }));
  const a = await startWsUpstream('a');
  const b = await startWsUpstream('b');
  const gw = await startGateway(config(a, b), { credentialsDir: creds });
  return {
    a,
    b,
    gw,
    pki,
    async close() {
      await gw.close();
      await a.close();
      await b.close();
      removeCredentialsDir(creds);
    },
  };
}
