/**
 * deploy/helm/meshgate rendered by the real `helm template` (default values and the NodePort values
 * in the chart's ci/ folder): schema-valid objects, the ingress gateway essentials, and agreement
 * with deploy/kubernetes object by object.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IService } from 'kubernetes-models/v1/Service';
import { find, parseObjects, readManifestDir, schemaErrors, type KubeObject } from './kube-objects.js';
import {
  argValue,
  argValues,
  durationSeconds,
  expectGatewayEssentials,
  gatewayDeployment,
} from './gateway-essentials.js';

const CHART = fileURLToPath(new URL('../../deploy/helm/meshgate', import.meta.url));
const NODEPORT_VALUES = `${CHART}/ci/nodeport-values.yaml`;
const MANIFESTS = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

const HAVE_HELM = spawnSync('helm', ['version', '--short'], { stdio: 'ignore' }).status === 0;
const SKIP_REASON =
  'helm binary not found; Debian has none, .ci/run installs the official release binary from an npm package';
if (!HAVE_HELM) console.warn(`[helm-chart.test] skipped: ${SKIP_REASON}`);

/** Runs helm; @throws Error with helm's stderr when it exits non-zero. */
function helm(...args: string[]): string {
  const r = spawnSync('helm', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** `helm template meshgate CHART -n istio-system` with extra arguments, parsed. */
function render(...extra: string[]): KubeObject[] {
  return parseObjects(helm('template', 'meshgate', CHART, '-n', 'istio-system', ...extra), 'helm template');
}

describe.skipIf(!HAVE_HELM)('helm chart deploy/helm/meshgate', () => {
  it('passes helm lint with the default and the NodePort values', () => {
    expect(helm('lint', CHART)).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(helm('lint', CHART, '-f', NODEPORT_VALUES)).toMatch(/0 chart\(s\) failed/);
  });

  it('renders schema-valid objects with the ingress gateway essentials (default values: LoadBalancer)', () => {
    const objects = render();
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    expect(objects.flatMap(schemaErrors)).toEqual([]);
    expectGatewayEssentials(objects, { namespace: 'istio-system', serviceType: 'LoadBalancer' });
  });

  it('renders a NodePort Service with ci/nodeport-values.yaml, tcp pinned to node port 31400', () => {
    const objects = render('-f', NODEPORT_VALUES);
    expect(objects.flatMap(schemaErrors)).toEqual([]);
    expectGatewayEssentials(objects, { namespace: 'istio-system', serviceType: 'NodePort' });
    const svc = find<IService>(objects, 'Service', 'istio-ingressgateway');
    expect(svc.spec?.ports?.map((p) => [p.name, p.nodePort ?? null])).toEqual([
      ['status-port', null],
      ['http2', null],
      ['https', null],
      ['tcp', 31400],
    ]);
  });

  it('agrees with deploy/kubernetes on every object (chart labels aside)', () => {
    const chart = render();
    const manifests = readManifestDir(MANIFESTS).filter((o) => o.kind !== 'Namespace');
    expect(chart.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      manifests.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    );
    const strip = (o: KubeObject) => ({ ...o, metadata: { ...o.metadata, labels: undefined } });
    for (const m of manifests) {
      const c = find(chart, m.kind, m.metadata.name);
      expect(c.metadata.labels, `${m.kind}/${m.metadata.name} labels`).toMatchObject(m.metadata.labels ?? {});
      expect(strip(c), `${m.kind}/${m.metadata.name}`).toEqual(strip(m));
    }
  });

  it('follows its values: drain, replicas, image, watched namespaces, gateway labels, release namespace', () => {
    const objects = render(
      '--set',
      'drain.durationSeconds=10,drain.timeoutSeconds=50,drain.marginSeconds=3,replicaCount=3',
      '--set',
      'image.repository=registry.example/meshgate,image.tag=1.2.3,image.pullPolicy=Always',
      '--set',
      'watchNamespaces={default,bookinfo},gatewayLabels.istio=ingressgateway',
    );
    const dep = gatewayDeployment(objects);
    const c = dep.spec!.template.spec!.containers[0]!;
    const args = c.args ?? [];
    expect(durationSeconds(argValue(args, '--drain-duration')!)).toBe(10);
    expect(durationSeconds(argValue(args, '--drain-timeout')!)).toBe(50);
    expect(dep.spec!.template.spec!.terminationGracePeriodSeconds).toBe(63);
    expect(dep.spec!.replicas).toBe(3);
    expect([c.image, c.imagePullPolicy]).toEqual(['registry.example/meshgate:1.2.3', 'Always']);
    expect(argValues(args, '--watch-namespace')).toEqual(['default', 'bookinfo']);
    expect(argValue(args, '--gateway-labels')).toBe('istio=ingressgateway');

    const elsewhere = parseObjects(helm('template', 'edge', CHART, '-n', 'edge-system'), 'helm template');
    expect(elsewhere.flatMap(schemaErrors)).toEqual([]);
    expectGatewayEssentials(elsewhere, { namespace: 'edge-system', serviceType: 'LoadBalancer' });
    expect(gatewayDeployment(elsewhere).metadata?.name).toBe('edge-meshgate');
  });

  it('leaves out the PodDisruptionBudget when disabled', () => {
    const objects = render('--set', 'podDisruptionBudget.enabled=false');
    expect(objects.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
  });

  it('rejects a values typo through its schema', () => {
    expect(() => render('--set', 'service.type=LoadBalancr')).toThrow(/service\.type|LoadBalancr/);
    expect(() => render('--set', 'drain.durationSeconds=5s')).toThrow(/durationSeconds/);
  });
});

describe.skipIf(HAVE_HELM)('helm chart deploy/helm/meshgate (skipped)', () => {
  it.skip(SKIP_REASON, () => undefined);
});
