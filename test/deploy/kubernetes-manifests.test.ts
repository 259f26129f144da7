/**
 * deploy/kubernetes: every object valid against the Kubernetes schema (kubernetes-models), and the
 * essentials of Istio's ingress gateway install (gateway-essentials.ts).
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import { find, readManifestDir, schemaErrors } from './kube-objects.js';
import { expectGatewayEssentials } from './gateway-essentials.js';

const DIR = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
const objects = readManifestDir(DIR);

describe('deploy/kubernetes manifests', () => {
  it('hold the objects of an ingress gateway install, each valid against its Kubernetes schema', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/istio-system',
      'ServiceAccount/meshgate',
      'ClusterRole/meshgate',
      'ClusterRoleBinding/meshgate',
      'Role/meshgate-secrets',
      'RoleBinding/meshgate-secrets',
      'Deployment/meshgate',
      'Service/istio-ingressgateway',
      'PodDisruptionBudget/meshgate',
    ]);
    expect(objects.flatMap(schemaErrors)).toEqual([]);
  });

  it('catch a schema error (the validator is live)', () => {
    const svc = structuredClone(find(objects, 'Service'));
    (svc.spec as { ports: { port: unknown }[] }).ports[0]!.port = 'eighty';
    expect(schemaErrors(svc).join('\n')).toMatch(/ports\/0\/port/);
  });

  it('create the namespace first and put every namespaced object in istio-system', () => {
    expect(find<INamespace>(objects, 'Namespace').metadata?.name).toBe('istio-system');
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
    for (const o of objects.filter((x) => !clusterScoped.has(x.kind)))
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('istio-system');
  });

  it("install Istio's ingress gateway essentials (LoadBalancer Service)", () => {
    expectGatewayEssentials(objects, { namespace: 'istio-system', serviceType: 'LoadBalancer' });
  });
});
