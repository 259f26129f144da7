/**
 * ServiceEntry and WorkloadEntry field rules: Istio's `ValidateServiceEntry` (hosts, addresses,
 * ports, resolution modes, endpoints) and `ValidateWorkloadEntry`.
 */
import { isIP } from 'node:net';
import { type Resource, type ServiceEntrySpec, type WorkloadEntrySpec } from './resources.js';
import { fieldPath, isRecord } from './schema.js';
import {
  PROTOCOLS,
  Validator,
  checkPort,
  domainProblem,
  entries,
  field,
  fqdnProblem,
  isCidrOrIp,
  isLabel,
  isSet,
  list,
  unixAddressProblem,
  validateExportTo,
} from './field-rules.js';
import { HTTP_PROTOCOLS, TLS_PROTOCOLS } from './protocols.js';

/** Istio's `ValidateAlphaWorkloadSelector`: no empty keys, no `*` in keys or values. */
function validateSelectorLabels(v: Validator, labels: unknown, p: string): void {
  for (const [k, val] of entries(labels)) {
    const lp = fieldPath(p, k);
    if (k === '') v.error(lp, 'empty key is not supported in selector');
    if (k.includes('*') || String(val).includes('*'))
      v.error(lp, `wildcard is not supported in selector: "${k}=${String(val)}"`);
  }
}

/**
 * Istio's `validateWorkloadEntry`, shared by WorkloadEntry resources and ServiceEntry endpoints.
 * @param servicePorts the ServiceEntry's port names (endpoint ports must be among them); undefined
 * for a WorkloadEntry resource.
 * @param allowFqdn whether a DNS name may stand for an address (WorkloadEntry; not STATIC endpoints).
 */
function validateWorkload(
  v: Validator,
  we: WorkloadEntrySpec,
  p: string,
  servicePorts: ReadonlySet<string> | undefined,
  allowFqdn: boolean,
): void {
  const address = isSet(we.address) ? String(we.address) : '';
  if (address === '') {
    if (!isSet(we.network)) {
      v.error(fieldPath(p, 'address'), 'address is required (unless network is set)');
      return;
    }
    v.warn(fieldPath(p, 'address'), `address is unset with network ${JSON.stringify(we.network)}`);
  }
  const unix = address.startsWith('unix://');
  if (unix) {
    const problem = unixAddressProblem(address.slice('unix://'.length));
    if (problem) v.error(fieldPath(p, 'address'), problem);
    if (entries(we.ports).length > 0)
      v.error(fieldPath(p, 'ports'), `unix endpoint ${address} must not include ports`);
  } else if (address !== '' && isIP(address) === 0) {
    if (!allowFqdn)
      v.error(
        fieldPath(p, 'address'),
        `endpoint address ${JSON.stringify(address)} is not a valid IP address`,
      );
    else if (fqdnProblem(address))
      v.error(
        fieldPath(p, 'address'),
        `endpoint address ${JSON.stringify(address)} is not a valid FQDN or an IP address`,
      );
  }
  for (const [name, number] of entries(we.ports)) {
    const np = fieldPath(fieldPath(p, 'ports'), name);
    if (servicePorts && !servicePorts.has(name))
      v.error(np, `port name ${JSON.stringify(name)} is not declared in spec.ports`);
    if (!isLabel(name)) v.error(np, `invalid port name ${JSON.stringify(name)}: must be a DNS-1123 label`);
    if (!isSet(number)) v.error(np, 'port number is required');
    checkPort(v, np, number);
  }
  if (unix && servicePorts && servicePorts.size !== 1)
    v.error(fieldPath(p, 'address'), 'exactly 1 service port required for unix endpoints');
}

/** Istio's `ValidateServiceEntry`. */
export function validateServiceEntry(v: Validator, spec: ServiceEntrySpec, r: Resource): void {
  const endpoints = list(spec.endpoints);
  const resolution = spec.resolution ?? 'NONE';
  if (isRecord(spec.workloadSelector)) {
    validateSelectorLabels(v, spec.workloadSelector.labels, 'spec.workloadSelector.labels');
    if (entries(spec.workloadSelector.labels).length === 0)
      v.warn(
        'spec.workloadSelector',
        'workload selector without labels: applies to all workloads of the namespace',
      );
    if (spec.endpoints !== undefined && spec.endpoints !== null)
      v.error('spec.workloadSelector', 'workloadSelector and endpoints are mutually exclusive');
  }
  const hosts = list(spec.hosts);
  if (hosts.length === 0) v.error('spec.hosts', 'a ServiceEntry must have at least one host');
  hosts.forEach((h, i) => {
    if (typeof h !== 'string') return;
    if (h === '*') {
      v.error(`spec.hosts[${i}]`, 'host "*" is not allowed in a ServiceEntry');
      return;
    }
    const problem = domainProblem(h);
    if (problem?.partialWildcard) {
      if (resolution !== 'DYNAMIC_DNS')
        v.warn(`spec.hosts[${i}]`, `host ${JSON.stringify(h)}: ${problem.reason}`);
    } else if (problem) v.error(`spec.hosts[${i}]`, `invalid host ${JSON.stringify(h)}: ${problem.reason}`);
  });
  const addresses = list(spec.addresses);
  addresses.forEach((a, i) => {
    if (typeof a !== 'string') return;
    if (!isCidrOrIp(a)) v.error(`spec.addresses[${i}]`, `invalid IP address or CIDR ${JSON.stringify(a)}`);
    else if (a.includes('/') && resolution !== 'NONE' && resolution !== 'STATIC') {
      v.error(`spec.addresses[${i}]`, `CIDR addresses need resolution NONE or STATIC (got ${resolution})`);
    }
  });
  const portNames = new Map<string, number>();
  const portNumbers = new Map<number, number>();
  const ports = list(spec.ports);
  ports.forEach((port, i) => {
    const p = `spec.ports[${i}]`;
    if (!isRecord(port)) return;
    const name = isSet(port.name) ? String(port.name) : '';
    if (!isLabel(name))
      v.error(`${p}.name`, `invalid port name ${JSON.stringify(name)}: must be a DNS-1123 label`);
    const firstName = portNames.get(name);
    if (firstName !== undefined)
      v.error(`${p}.name`, `port name ${JSON.stringify(name)} is already used by spec.ports[${firstName}]`);
    else portNames.set(name, i);
    if (!isSet(port.number)) v.error(`${p}.number`, 'port number is required');
    else {
      checkPort(v, `${p}.number`, port.number);
      const first = portNumbers.get(port.number);
      if (first !== undefined)
        v.error(`${p}.number`, `port ${port.number} is already declared by spec.ports[${first}]`);
      else portNumbers.set(port.number, i);
    }
    if (isSet(port.protocol) && !PROTOCOLS.includes(String(port.protocol).toUpperCase())) {
      v.error(`${p}.protocol`, `unrecognized protocol ${JSON.stringify(port.protocol)}`);
    }
    if (isSet(port.targetPort) && port.targetPort !== 0) checkPort(v, `${p}.targetPort`, port.targetPort);
  });
  const servicePorts = new Set(portNames.keys());
  const protocolOf = (port: unknown): string => String(field(port, 'protocol') ?? '').toUpperCase();
  switch (resolution) {
    case 'NONE':
      if (endpoints.length > 0) v.error('spec.endpoints', 'no endpoints may be given with resolution NONE');
      if (isRecord(spec.workloadSelector))
        v.warn('spec.workloadSelector', 'workloadSelector should not be set with resolution NONE');
      break;
    case 'STATIC':
      endpoints.forEach((ep, k) => {
        if (isRecord(ep)) validateWorkload(v, ep, `spec.endpoints[${k}]`, servicePorts, false);
      });
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN': {
      if (endpoints.length === 0) {
        // Without endpoints the hosts themselves are resolved: they must be names DNS can answer.
        const at = hosts.findIndex((h) => typeof h === 'string' && fqdnProblem(h) !== undefined);
        if (at >= 0) {
          v.error(
            `spec.hosts[${at}]`,
            `hosts must be fully qualified names when resolution is ${resolution} and no endpoints are given (got ${JSON.stringify(hosts[at])})`,
          );
        }
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1)
        v.error('spec.endpoints', 'resolution DNS_ROUND_ROBIN allows at most one endpoint');
      endpoints.forEach((ep, k) => {
        const p = `spec.endpoints[${k}]`;
        if (!isRecord(ep)) return;
        const a = String(ep.address ?? '');
        if (isIP(a) === 0 && fqdnProblem(a) !== undefined)
          v.error(
            `${p}.address`,
            `invalid address ${JSON.stringify(ep.address ?? '')}: expected an IP address or a DNS name`,
          );
        validateSelectorLabelsOfWorkload(v, ep.labels, `${p}.labels`);
        for (const [name, number] of entries(ep.ports)) {
          const np = fieldPath(`${p}.ports`, name);
          if (!servicePorts.has(name))
            v.error(np, `port name ${JSON.stringify(name)} is not declared in spec.ports`);
          if (!isLabel(name))
            v.error(np, `invalid port name ${JSON.stringify(name)}: must be a DNS-1123 label`);
          checkPort(v, np, number);
        }
      });
      break;
    }
    case 'DYNAMIC_DNS':
      hosts.forEach((h, i) => {
        if (typeof h === 'string' && !h.startsWith('*'))
          v.error(
            `spec.hosts[${i}]`,
            `hosts must be wildcards with resolution DYNAMIC_DNS (got ${JSON.stringify(h)})`,
          );
      });
      if (addresses.length > 0)
        v.error('spec.addresses', 'addresses cannot be set with resolution DYNAMIC_DNS');
      if (endpoints.length > 0)
        v.error('spec.endpoints', 'endpoints cannot be set with resolution DYNAMIC_DNS');
      ports.forEach((port, i) => {
        if (!['HTTP', 'TLS', 'GRPC', 'HTTP2'].includes(protocolOf(port)))
          v.error(
            `spec.ports[${i}].protocol`,
            'only HTTP, TLS, GRPC and HTTP2 ports are supported with resolution DYNAMIC_DNS',
          );
      });
      if ((spec.location ?? 'MESH_EXTERNAL') !== 'MESH_EXTERNAL' && spec.location !== 'MESH_INTERNAL')
        v.error(
          'spec.location',
          'location must be MESH_EXTERNAL or MESH_INTERNAL with resolution DYNAMIC_DNS',
        );
      else if (spec.location === 'MESH_INTERNAL' && usesWaypoint(r))
        v.error(
          'spec.location',
          'location MESH_INTERNAL with resolution DYNAMIC_DNS is not supported with waypoints',
        );
      break;
  }
  if (resolution !== 'NONE' && hosts.length > 1) {
    // Several hosts share the endpoints; only HTTP (Host header) and TLS (SNI) can tell them apart.
    const k = ports.findIndex(
      (port) => !HTTP_PROTOCOLS.has(protocolOf(port)) && !TLS_PROTOCOLS.has(protocolOf(port)),
    );
    if (k >= 0) {
      v.error(
        `spec.ports[${k}].protocol`,
        `with several hosts and resolution ${resolution}, ports must be HTTP or TLS (got ${JSON.stringify(field(ports[k], 'protocol') ?? '')})`,
      );
    }
  }
  validateExportTo(v, spec.exportTo, r.metadata.namespace, true);
}

/** Label keys and values of a workload (Kubernetes label syntax is not checked beyond selectors). */
function validateSelectorLabelsOfWorkload(v: Validator, labels: unknown, p: string): void {
  for (const [k] of entries(labels)) if (k === '') v.error(p, 'label keys must not be empty');
}

/** Whether a resource asks for a waypoint (`istio.io/use-waypoint`, not `none`). */
function usesWaypoint(r: Resource): boolean {
  const value = r.metadata.labels?.['istio.io/use-waypoint'];
  return typeof value === 'string' && value !== '' && value.toLowerCase() !== 'none';
}

/** Istio's `ValidateWorkloadEntry`: an address (unless a network gateway reaches it) and valid ports. */
export function validateWorkloadEntry(v: Validator, spec: WorkloadEntrySpec): void {
  validateWorkload(v, spec, 'spec', undefined, true);
}
