/**
 * The configuration source seam through a running gateway: Istio YAML from a `-f` file and
 * Kubernetes objects from another source (here a `StaticSource` holding objects shaped and named as
 * the API server returns them) are one config; a `change` from the second source reloads it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../../gateway/gateway.js';
import { apiProvenance, type RawDocument } from '../../config/sources/source.js';
import { StaticSource } from '../../config/sources/static.js';
import { httpGet } from '../helpers/clients.js';
import { yamlDocuments } from '../helpers/resources.js';
import { BOOKINFO_GATEWAY } from '../helpers/kube-bookinfo.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/** An object as listed from the API server, with its provenance. */
function fromApi(object: Record<string, unknown>): RawDocument {
  const meta = object.metadata as { name: string; namespace?: string; resourceVersion?: string };
  return {
    object,
    source: apiProvenance(object.kind as string, meta.namespace, meta.name, meta.resourceVersion),
  };
}

const productpageService = fromApi({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'productpage', namespace: 'default', resourceVersion: '101' },
  spec: { selector: { app: 'productpage' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] },
});

function slice(port: number, resourceVersion: string): RawDocument {
  return fromApi({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'productpage-abcde',
      namespace: 'default',
      resourceVersion,
      labels: { 'kubernetes.io/service-name': 'productpage' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  });
}

describe('config from several sources', () => {
  let dir: string | undefined;
  let gw: Gateway | undefined;
  const upstreams: TestUpstream[] = [];
  afterEach(async () => {
    await gw?.close();
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves a file’s routes to a Service from another source, and reloads on its change', async () => {
    upstreams.push(await startUpstream('productpage-a'), await startUpstream('productpage-b'));
    const [a, b] = upstreams as [TestUpstream, TestUpstream];
    dir = mkdtempSync(join(tmpdir(), 'meshgate-sources-'));
    const file = join(dir, 'istio.yaml');
    writeFileSync(file, yamlDocuments(BOOKINFO_GATEWAY));
    const api = new StaticSource([productpageService, slice(a.port, '102')]);
    const started = await Gateway.start(
      {
        paths: [file],
        sources: [api],
        defaultNamespace: 'default',
        accessLog: 'off',
        portMap: new Map([[8080, 0]]),
        watch: true,
      },
      pino({ level: 'silent' }),
    );
    if (!started.ok) throw new Error(JSON.stringify(started.diagnostics));
    gw = started.gateway;
    const port = (): number => gw!.listeners.addressOf('0.0.0.0_8080')!.port;

    const first = await httpGet(port(), '/productpage', { host: 'bookinfo.example' });
    expect(first.status).toBe(200);
    expect(first.headers['x-upstream']).toBe('productpage-a');

    // The endpoint controller moved the Pod: a new slice version arrives from the API source.
    const installed = once(gw.store, 'snapshot');
    api.set([productpageService, slice(b.port, '103')]);
    await installed;
    const second = await httpGet(port(), '/productpage', { host: 'bookinfo.example' });
    expect(second.status).toBe(200);
    expect(second.headers['x-upstream']).toBe('productpage-b');

    // The Service is deleted: its host is unknown again, as Istio serves it (503 NC).
    const removed = once(gw.store, 'snapshot');
    api.set([]);
    await removed;
    expect((await httpGet(port(), '/productpage', { host: 'bookinfo.example' })).status).toBe(503);
  });
});
