/**
 * What any install of meshgate as Istio's ingress gateway must get right, checked the same way for
 * the plain manifests (deploy/kubernetes) and the Helm chart's output: the Service Istio's tasks
 * query, the RBAC meshgate's Kubernetes source needs (no more), the probe, scrape annotations and a
 * grace period that fits the drain.
 */
import { expect } from 'vitest';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IPolicyRule } from 'kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule';
import { find, type KubeObject } from './kube-objects.js';

/** Istio's ingress gateway labels, on the pods and in every selector. */
export const GATEWAY_LABELS = { app: 'istio-ingressgateway', istio: 'ingressgateway' };

/** istio-ingressgateway's ports, named as Istio names them (the notes' jsonpath queries use the names). */
export const SERVICE_PORTS = [
  { name: 'status-port', port: 15021, targetPort: 15021 },
  { name: 'http2', port: 80, targetPort: 8080 },
  { name: 'https', port: 443, targetPort: 8443 },
  { name: 'tcp', port: 31400, targetPort: 31400 },
];

/** Exactly what `meshgate run --kubernetes` reads cluster-wide, as `group/resource` → verbs. */
export const CLUSTER_READS = [
  'networking.istio.io/gateways get,list,watch',
  'networking.istio.io/virtualservices get,list,watch',
  'networking.istio.io/destinationrules get,list,watch',
  'networking.istio.io/serviceentries get,list,watch',
  'networking.istio.io/workloadentries get,list,watch',
  'core/services get,list,watch',
  'core/pods get,list,watch',
  'discovery.k8s.io/endpointslices get,list,watch',
];

/** Rules flattened to one `group/resource verbs` line each, sorted. */
export function ruleLines(rules: readonly IPolicyRule[] | undefined): string[] {
  const lines: string[] = [];
  for (const r of rules ?? []) {
    expect(r.resourceNames ?? [], 'no resourceNames restrictions expected').toEqual([]);
    for (const g of r.apiGroups ?? [])
      for (const res of r.resources ?? [])
        lines.push(`${g || 'core'}/${res} ${[...r.verbs].sort().join(',')}`);
  }
  return lines.sort();
}

/** `--flag value` from an argument list, or undefined. */
export function argValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Every value of a repeatable `--flag value`. */
export function argValues(args: readonly string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

/** A Go/Istio duration such as `5s`, `500ms`, `1m30s`, in seconds. @throws Error when malformed. */
export function durationSeconds(text: string): number {
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * unit[m[2]!]!;
    end = re.lastIndex;
  }
  if (end === 0 || end !== text.length) throw new Error(`not a duration: "${text}"`);
  return total;
}

/** What varies between installs and is checked here. */
export interface Expectations {
  namespace: string;
  serviceType: 'LoadBalancer' | 'NodePort';
}

/** The gateway Deployment (the only one). */
export function gatewayDeployment(objects: readonly KubeObject[]): IDeployment {
  return find<IDeployment>(objects, 'Deployment');
}

/** Asserts every essential of the gateway install on `objects`. */
export function expectGatewayEssentials(objects: readonly KubeObject[], want: Expectations): void {
  // Service: Istio's name, type, port names and targets, selecting the gateway pods.
  const svc = find<IService>(objects, 'Service', 'istio-ingressgateway');
  expect(svc.metadata?.namespace).toBe(want.namespace);
  expect(svc.spec?.type).toBe(want.serviceType);
  expect(svc.spec?.selector).toEqual(GATEWAY_LABELS);
  expect(svc.spec?.ports?.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort }))).toEqual(
    SERVICE_PORTS,
  );
  expect(svc.spec?.ports?.every((p) => p.protocol === 'TCP')).toBe(true);

  // Deployment: labels, annotations, probe, env, ports, security, args.
  const dep = gatewayDeployment(objects);
  expect(dep.metadata?.namespace).toBe(want.namespace);
  expect(dep.spec?.selector.matchLabels).toEqual(GATEWAY_LABELS);
  const pod = dep.spec!.template;
  expect(pod.metadata?.labels).toMatchObject(GATEWAY_LABELS);
  expect(pod.metadata?.annotations).toMatchObject({
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': '15020',
    'prometheus.io/path': '/stats/prometheus',
    'sidecar.istio.io/inject': 'false',
  });
  const spec = pod.spec!;
  expect(spec.containers).toHaveLength(1);
  const c = spec.containers[0]!;
  expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/healthz/ready', port: 15021 });
  expect(c.livenessProbe, 'a liveness probe would restart a draining gateway').toBeUndefined();
  const containerPorts = (c.ports ?? []).map((p) => p.containerPort).sort((a, b) => a - b);
  expect(containerPorts).toEqual([8080, 8443, 15020, 15021, 15090, 31400]);
  for (const p of SERVICE_PORTS) {
    expect(c.ports?.find((cp) => cp.containerPort === p.targetPort)?.name).toBe(p.name);
  }
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  expect(env).toMatchObject({ POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
  expect(c.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  expect(c.resources?.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  expect(spec.securityContext).toMatchObject({ runAsNonRoot: true });
  expect(spec.securityContext?.runAsUser).toBeGreaterThan(0);
  expect(c.securityContext).toMatchObject({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  });

  const args = c.args ?? [];
  expect(args.slice(0, 2)).toEqual(['run', '--kubernetes']);
  expect(argValue(args, '--port-map')).toBe(
    SERVICE_PORTS.filter((p) => p.name !== 'status-port' && p.port !== p.targetPort)
      .map((p) => `${p.port}=${p.targetPort}`)
      .join(','),
  );
  const drain = durationSeconds(argValue(args, '--drain-duration') ?? 'missing');
  const inFlight = durationSeconds(argValue(args, '--drain-timeout') ?? 'missing');
  // The kubelet's SIGKILL must come after the drain and the in-flight allowance, with room to exit.
  expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(drain + inFlight);

  // RBAC: exactly the reads meshgate makes, Secrets only in its own namespace.
  const sa = spec.serviceAccountName;
  expect(find(objects, 'ServiceAccount', sa).metadata.namespace).toBe(want.namespace);
  const subject = [{ kind: 'ServiceAccount', name: sa, namespace: want.namespace }];
  const clusterRoles = objects.filter((o) => o.kind === 'ClusterRole') as unknown as IClusterRole[];
  expect(clusterRoles).toHaveLength(1);
  expect(ruleLines(clusterRoles[0]!.rules)).toEqual([...CLUSTER_READS].sort());
  const crb = find<IClusterRoleBinding>(objects, 'ClusterRoleBinding');
  expect(crb.roleRef).toEqual({
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    name: clusterRoles[0]!.metadata?.name,
  });
  expect(crb.subjects).toEqual(subject);
  const role = find<IRole>(objects, 'Role');
  expect(role.metadata?.namespace).toBe(want.namespace);
  expect(ruleLines(role.rules)).toEqual(['core/secrets get,list,watch']);
  const rb = find<IRoleBinding>(objects, 'RoleBinding');
  expect(rb.metadata?.namespace).toBe(want.namespace);
  expect(rb.roleRef).toEqual({
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'Role',
    name: role.metadata?.name,
  });
  expect(rb.subjects).toEqual(subject);

  // PodDisruptionBudget: one pod always up, and more replicas than that so a node drain can evict.
  const pdb = find<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
  expect(pdb.metadata?.namespace).toBe(want.namespace);
  expect(pdb.spec?.minAvailable).toBe(1);
  expect(pdb.spec?.selector?.matchLabels).toEqual(GATEWAY_LABELS);
  expect(dep.spec?.replicas).toBeGreaterThan(1);
}
