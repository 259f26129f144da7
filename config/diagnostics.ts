/**
 * Diagnostics: every problem found in configuration, as data, never as an exception.
 *
 * Codes follow `istioctl analyze` where Istio has one (IST0101 ReferencedResourceNotFound, IST0106
 * SchemaValidationError, ...); meshgate's own checks use `MG` codes.
 */
import type { Provenance } from './resources.js';

type Severity = 'error' | 'warning' | 'info';

/**
 * Whether the admission webhook would reject it (`blocking`: the resource cannot be served and
 * `run` refuses to start), or it is a dangling reference that Istio serves as 404 NR / 503 NC.
 */
type Layer = 'schema' | 'reference';

/** One finding. `path` is a JSONPath-like field path inside the resource, e.g. `spec.http[0].match[1].uri.regex`. */
export interface Diagnostic {
  readonly severity: Severity;
  readonly code: string;
  readonly layer: Layer;
  /** `Kind/namespace/name`, or undefined for file-level problems (unparseable YAML). */
  readonly resource?: string;
  readonly source?: Provenance;
  readonly path?: string;
  readonly message: string;
}

/** Istio analyzer message codes and meshgate's own, with their names. */
export const Codes = {
  /** Deprecated field in use. */
  Deprecated: 'IST0002',
  /** A referenced Gateway, host or subset does not exist. */
  ReferencedResourceNotFound: 'IST0101',
  /** Schema or field validation failed (what Istio's webhook rejects). */
  SchemaValidationError: 'IST0106',
  /** Two mesh-bound VirtualServices define the same host. */
  ConflictingMeshGatewayVirtualServiceHosts: 'IST0109',
  /** A destination without port to a service with more than one port. */
  VirtualServiceDestinationPortSelectorRequired: 'IST0112',
  /** DestinationRule TLS SIMPLE/MUTUAL without `caCertificates` (rule level). */
  NoServerCertificateVerificationDestinationLevel: 'IST0128',
  /** DestinationRule TLS SIMPLE/MUTUAL without `caCertificates` (port level). */
  NoServerCertificateVerificationPortLevel: 'IST0129',
  /** A VirtualService rule no request can reach. */
  VirtualServiceUnreachableRule: 'IST0130',
  /** A match that duplicates or is covered by an earlier one. */
  VirtualServiceIneffectiveMatch: 'IST0131',
  /** None of the VS hosts is served by the referenced Gateway. */
  VirtualServiceHostNotFoundInGateway: 'IST0132',
  /** Validation warning (deprecated fields, legacy formats). */
  SchemaWarning: 'IST0133',
  /** A ServiceEntry without addresses has a TCP (or unset protocol) port. */
  ServiceEntryAddressesRequired: 'IST0134',
  /** Gateways for the same workloads share a certificate. */
  GatewayDuplicateCertificate: 'IST0138',
  /** Two Gateways on one port share a host. */
  ConflictingGateways: 'IST0145',
  /** A VirtualService references a Gateway generated for a Kubernetes Gateway. */
  ReferencedInternalGateway: 'IST0165',
  /** A Gateway's `credentialName` names a Secret that lacks the keys it needs. */
  InvalidGatewayCredential: 'IST0161',
  /** A subset selects no endpoint. */
  DestinationRuleSubsetNotSelectPods: 'IST0173',
  /** A DestinationRule host matches no service. */
  UnknownDestinationRuleHost: 'IST0174',
  /** ServiceEntries give one host and port conflicting protocols. */
  ConflictingServiceEntryProtocol: 'IST0177',
  /** YAML that does not parse, or a document that is not a Kubernetes object. */
  YamlSyntax: 'MG0001',
  /** A document of a kind meshgate does not serve (skipped). */
  SkippedKind: 'MG0002',
  /** The same kind/namespace/name defined twice. */
  DuplicateResource: 'MG0003',
  /** A file or directory given with -f cannot be read. */
  FileUnreadable: 'MG0004',
  /** A TLS server whose host duplicates an earlier one on the same port (skipped, first wins). */
  DuplicateServerHost: 'MG0005',
  /** Servers on one port whose protocols cannot share a listener (later one skipped). */
  PortProtocolConflict: 'MG0006',
  /** A reload refused although valid: it would close every listener of a serving gateway (empty config). */
  ReloadRefused: 'MG0007',
  /** A Kubernetes core kind (Service, Pod, …) in an apiVersion meshgate does not serve (skipped). */
  KubeApiVersionNotServed: 'MG0020',
  /** A Kubernetes Service with no ready endpoint in the input: requests to it get 503 UH. */
  ServiceWithoutEndpoints: 'MG0021',
  /** An EndpointSlice or Endpoints object for a Service not in the input (ignored). */
  EndpointsWithoutService: 'MG0022',
} as const;

/** Formats one diagnostic as a single line: `error IST0106 VirtualService/default/x (file.yaml#2:14:7) spec.http[0]: message` (file, document, line, column). */
export function formatDiagnostic(d: Diagnostic): string {
  // Objects from the API server have no line (0): their `file` already names kind/ns/name@version.
  const column = d.source?.column === undefined ? '' : `:${d.source.column}`;
  const where = !d.source
    ? ''
    : d.source.line === 0
      ? ` (${d.source.file})`
      : ` (${d.source.file}#${d.source.docIndex}:${d.source.line}${column})`;
  const what = d.resource ? ` ${d.resource}` : '';
  const path = d.path ? ` ${d.path}:` : '';
  return `${d.severity} ${d.code}${what}${where}${path} ${d.message}`;
}

/** True when any diagnostic is an error. */
export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}

/** True when any diagnostic blocks serving: a schema-layer error. */
export function hasBlocking(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error' && d.layer === 'schema');
}
