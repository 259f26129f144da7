import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { FakeKubeApiServer, makeApiServerCert } from '../helpers/kube-apiserver.js';
import { ingressGateway, istio, routeVirtualService, startKubeGateway, type KubeGateway } from '../helpers/kube-fixtures.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { httpGet } from '../helpers/clients.js';

let api: FakeKubeApiServer | undefined;
let kgw: KubeGateway | undefined;
let ups: TestUpstream[] = [];
afterEach(async () => {
  await kgw?.close();
  await api?.close();
  for (const u of ups) await u.close();
  ups = [];
});

describe('smoke', () => {
  it('serves SE-based route from the API', async () => {
    api = await FakeKubeApiServer.start({ tls: makeApiServerCert() });
    const u = await startUpstream('a');
    ups.push(u);
    api.upsert(ingressGateway());
    api.upsert(istio('ServiceEntry', 'a', { hosts: ['a.example'], ports: [{ number: 9080, name: 'http', protocol: 'HTTP', targetPort: u.port }], resolution: 'STATIC', endpoints: [{ address: '127.0.0.1' }] }));
    api.upsert(routeVirtualService('vs', '/', [{ host: 'a.example' }]));
    kgw = await startKubeGateway(api, { log: pino({ level: 'debug' }, pino.destination(2)) });
    const r = await httpGet(kgw.port(80), '/productpage');
    console.log(r.status, r.body.slice(0, 100));
    api.cutNextEvent('virtualservices');
    api.upsert(routeVirtualService('vs', '/x', [{ host: 'a.example' }]));
    await new Promise((r) => setTimeout(r, 1500));
    const r2 = await httpGet(kgw.port(80), '/productpage');
    console.log(r2.status, api.requests.map((q) => `${q.status} ${q.path} ${JSON.stringify(q.query)}`).join('\n'));
  });
});
