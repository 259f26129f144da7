/**
 * Findings about the Kubernetes core objects of one input:
 *
 * | Code | Level | Finding |
 * |---|---|---|
 * | MG0021 | info | a Service has no endpoints in the input (requests get 503 UH) |
 * | MG0022 | warning | an EndpointSlice or Endpoints object names a Service that is not in the input (ignored) |
 *
 * | IST0161 | error | a Gateway's `credentialName` names a Secret of the input without the keys it needs |
 *
 * The Secret key rules are those of `tls/credentials.ts`, which also serves the credential.
 */
import { resolveServerCredentials, secretLookup } from '../tls/credentials.js';
import { Codes, type Diagnostic } from './diagnostics.js';
import { ofKind, resourceKey, type Resource } from './resources.js';
import { kubeKey, ofKubeKind, SERVICE_NAME_LABEL, type KubeObject } from './kube-resources.js';
import type { KubeRegistryService } from './kube-services.js';

/**
 * @param objects the Kubernetes core objects of the input
 * @param services the same objects' Services as converted for the registry
 * Never throws.
 */
export function analyzeKubeObjects(
  objects: readonly KubeObject[],
  services: readonly KubeRegistryService[],
  resources: readonly Resource[],
  proxyNamespace = 'default',
): Diagnostic[] {
  const out: Diagnostic[] = [];
  gatewayCredentials(objects, resources, proxyNamespace, out);
  const known = new Set(services.map((s) => `${s.object.metadata.namespace}/${s.object.metadata.name}`));
  for (const s of services) {
    if (s.endpointOrigin !== 'none' || s.service.resolution === 'DNS') continue;
    const key = kubeKey(s.object);
    out.push({
      severity: 'info',
      code: Codes.ServiceWithoutEndpoints,
      layer: 'reference',
      resource: key,
      source: s.object.source,
      message: `${key} has no endpoints in the input (no EndpointSlice, Endpoints or ready Pod matching its selector; a Deployment is not a Pod): requests to ${s.service.hostname} get 503 UH`,
    });
  }
  const orphan = (o: KubeObject, service: string | undefined, why: string): void => {
    const key = kubeKey(o);
    out.push({
      severity: 'warning',
      code: Codes.EndpointsWithoutService,
      layer: 'reference',
      resource: key,
      source: o.source,
      message: `${key} ${why}; its endpoints are ignored${service ? ` until Service/${o.metadata.namespace}/${service} exists` : ''}`,
    });
  };
  for (const slice of ofKubeKind(objects, 'EndpointSlice')) {
    const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (typeof svc !== 'string' || svc === '') {
      orphan(slice, undefined, `has no ${SERVICE_NAME_LABEL} label naming its Service`);
    } else if (!known.has(`${slice.metadata.namespace}/${svc}`)) {
      orphan(slice, svc, `points at Service ${slice.metadata.namespace}/${svc}, which is not in the input`);
    }
  }
  for (const ep of ofKubeKind(objects, 'Endpoints')) {
    if (!known.has(`${ep.metadata.namespace}/${ep.metadata.name}`)) {
      orphan(
        ep,
        ep.metadata.name,
        `belongs to Service ${ep.metadata.namespace}/${ep.metadata.name}, which is not in the input`,
      );
    }
  }
  return out;
}

/** Modes whose server holds a certificate (a credential is needed); MUTUAL modes also need a client CA. */
const TERMINATING: ReadonlyMap<unknown, boolean> = new Map([
  ['SIMPLE', false],
  ['MUTUAL', true],
  ['OPTIONAL_MUTUAL', true],
]);

/** IST0161 for every terminating server whose `credentialName` is a Secret of the input lacking keys. */
function gatewayCredentials(
  objects: readonly KubeObject[],
  resources: readonly Resource[],
  proxyNamespace: string,
  out: Diagnostic[],
): void {
  const secretObjects = ofKubeKind(objects, 'Secret');
  if (secretObjects.length === 0) return;
  const secrets = secretLookup(secretObjects, proxyNamespace);
  for (const gw of ofKind(resources, 'Gateway')) {
    const servers = Array.isArray(gw.spec.servers) ? gw.spec.servers : [];
    servers.forEach((server, i) => {
      const tls =
        typeof server === 'object' && server !== null && typeof server.tls === 'object'
          ? server.tls
          : undefined;
      const needCa = TERMINATING.get(tls?.mode);
      if (typeof tls?.credentialName !== 'string' || tls.credentialName === '' || needCa === undefined)
        return;
      // Only Secrets of the input are judged here; a folder of --credentials-dir is checked at run time.
      const r = resolveServerCredentials(tls, {
        baseDir: '.',
        credentialsDir: undefined,
        needCa,
        secrets,
      });
      if (!('error' in r) || r.secret === undefined) return;
      out.push({
        severity: 'error',
        code: Codes.InvalidGatewayCredential,
        layer: 'reference',
        resource: resourceKey(gw),
        source: gw.source,
        path: `spec.servers[${i}].tls.credentialName`,
        message: `${r.error}; the server is skipped (its SNI gets no filter chain)`,
      });
    });
  }
}
