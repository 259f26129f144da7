/**
 * README's "In Kubernetes" commands stay true to deploy/: the Service and port names its jsonpath
 * queries use exist, the pod label it selects is on the pods, and the paths it names exist.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IService } from 'kubernetes-models/v1/Service';
import { find, readManifestDir } from './kube-objects.js';
import { gatewayDeployment } from './gateway-essentials.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const section = readme.slice(
  readme.indexOf('## In Kubernetes'),
  readme.indexOf('\n## ', readme.indexOf('## In Kubernetes') + 3),
);
const objects = readManifestDir(join(ROOT, 'deploy/kubernetes'));

describe('README "In Kubernetes"', () => {
  it('queries ports the istio-ingressgateway Service has, by name', () => {
    const svc = find<IService>(objects, 'Service', 'istio-ingressgateway');
    const names = [
      ...section.matchAll(/get service (\S+) -o jsonpath='\{\.spec\.ports\[\?\(@\.name=="([^"]+)"\)\]/g),
    ];
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const [, service, port] of names) {
      expect(service).toBe(svc.metadata?.name);
      expect(svc.spec?.ports?.map((p) => p.name)).toContain(port);
    }
  });

  it('selects the gateway pods by a label they carry', () => {
    const labels = gatewayDeployment(objects).spec!.template.metadata!.labels!;
    for (const [, key, value] of section.matchAll(/kubectl get po -l (\w+)=(\S+) -n istio-system/g))
      expect(labels[key!]).toBe(value);
  });

  it('names deploy/ paths that exist', () => {
    const paths = [...section.matchAll(/\b(deploy\/[\w./-]+)/g)].map((m) => m[1]!.replace(/\.$/, ''));
    expect(paths.length).toBeGreaterThan(3);
    for (const p of paths) expect(existsSync(join(ROOT, p)), p).toBe(true);
  });
});
