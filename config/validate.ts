/**
 * Field validation: what Istio's admission webhook (`pkg/config/validation`) rejects, per resource,
 * as `IST0106` errors, and what it warns about as `IST0133` (validation warnings) or `IST0002`
 * (deprecated fields) warnings. Every finding names the field path and the reason.
 *
 * Runs the schema check ({@link validateSchema}) first; a resource with schema errors is not checked
 * field by field (its shape is not what the rules expect).
 */
import { isIP } from 'node:net';
import { Codes, type Diagnostic } from './diagnostics.js';
import { parseDurationMs } from './duration.js';
import {
  resourceKey,
  type ClientTLSSettings,
  type DestinationRuleSpec,
  type GatewaySpec,
  type Headers,
  type HTTPRoute,
  type Kind,
  type Resource,
  type Server,
  type ServerTLSSettings,
  type ServiceEntrySpec,
  type SpecByKind,
  type StringMatch,
  type TrafficPolicy,
  type VirtualServiceSpec,
  type WorkloadEntrySpec,
} from './resources.js';
import { fieldPath, isRecord, validateSchema } from './schema.js';
import { compileRe2 } from '../routes/regex.js';
import { hostCovers } from '../routes/host-names.js';
import { RETRY_ON_TOKENS } from '../routes/retry-on.js';

/**
 * Validates resources as Istio's admission webhook would: schema first, then the field rules of
 * each kind (Gateway, VirtualService, DestinationRule, ServiceEntry, WorkloadEntry).
 *
 * @returns `IST0106` errors (layer `schema`: the resource would be rejected), `IST0133` and
 * `IST0002` warnings, in resource order. Never throws, whatever the specs contain.
 */
export function validateResources(resources: readonly Resource[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const r of resources) {
    const v = new Validator(r, out);
    try {
      const schema = validateSchema(r);
      out.push(...schema);
      if (schema.some((d) => d.severity === 'error')) continue;
      // A null spec passes the schema (`nullable`); the rules then see an empty one.
      RULES[r.kind](v, (isRecord(r.spec) ? r.spec : {}) as never);
    } catch (err) {
      // A rule tripping over an unexpected shape must not take the whole validation down.
      v.warn('spec', `validation stopped early: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return out;
}

/** Collects the diagnostics of one resource. */
class Validator {
  constructor(
    private readonly r: Resource,
    private readonly out: Diagnostic[],
  ) {}

  error(path: string, message: string): void {
    this.push('error', Codes.SchemaValidationError, path, message);
  }

  warn(path: string, message: string): void {
    this.push('warning', Codes.SchemaWarning, path, message);
  }

  deprecated(path: string, message: string): void {
    this.push('warning', Codes.Deprecated, path, message);
  }

  private push(severity: Diagnostic['severity'], code: string, path: string, message: string): void {
    this.out.push({
      severity,
      code,
      layer: 'schema',
      resource: resourceKey(this.r),
      source: this.r.source,
      path,
      message,
    });
  }
}

type Rule<K extends Kind> = (v: Validator, spec: SpecByKind[K]) => void;

const RULES: { [K in Kind]: Rule<K> } = {
  Gateway: validateGateway,
  VirtualService: validateVirtualService,
  DestinationRule: validateDestinationRule,
  ServiceEntry: validateServiceEntry,
  WorkloadEntry: validateWorkloadEntry,
};

// ---------------------------------------------------------------------------------------------------
// Shared value rules

/** Proto3 semantics: `null`, `undefined` and `''` all mean "not set". */
function isSet(x: unknown): boolean {
  return x !== undefined && x !== null && x !== '';
}

function list<T>(x: readonly T[] | null | undefined): readonly T[];
function list(x: unknown): readonly unknown[];
function list(x: unknown): readonly unknown[] {
  return Array.isArray(x) ? x : [];
}

function entries(x: unknown): [string, unknown][] {
  return isRecord(x) ? Object.entries(x) : [];
}

function field(o: unknown, name: string): unknown {
  return isRecord(o) ? o[name] : undefined;
}

/** Kubernetes DNS-1123 label: subset names, port names, namespaces. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A host-name label (RFC 1123, either case). */
const HOST_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

function isLabel(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

type DomainProblem = { partialWildcard: boolean; reason: string };

/**
 * Istio's `ValidateWildcardDomain`: `*`, `*.suffix` or a plain DNS name; every label RFC 1123;
 * at most 255 characters; a top-level label that is not all digits; a trailing dot allowed.
 */
function domainProblem(host: string): DomainProblem | undefined {
  if (host === '') return { partialWildcard: false, reason: 'empty host name' };
  if (host.length > 255) return { partialWildcard: false, reason: 'longer than 255 characters' };
  if (host === '*') return undefined;
  let rest = host;
  if (host.startsWith('*.')) rest = host.slice(2);
  else if (host.startsWith('*')) {
    return {
      partialWildcard: true,
      reason: `partial wildcards are not allowed (use "*.${host.slice(1).replace(/^[^.]*\./, '')}")`,
    };
  }
  const labels = rest.split('.');
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop(); // trailing dot
  for (const label of labels) {
    if (label.includes('*')) {
      return {
        partialWildcard: false,
        reason: 'a wildcard may only be the whole leftmost label ("*.example.com")',
      };
    }
    if (label.length > 63 || !HOST_LABEL.test(label)) {
      return { partialWildcard: false, reason: `label ${JSON.stringify(label)} is not a valid DNS label` };
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) {
    return { partialWildcard: false, reason: 'the top-level domain cannot be all-numeric' };
  }
  return undefined;
}

/** Valid host name or IP address (VirtualService hosts, destinations, SNI hosts). */
function hostProblem(host: string): string | undefined {
  if (isIP(host) !== 0) return undefined;
  return domainProblem(host)?.reason;
}

function isCidrOrIp(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s) !== 0;
  const family = isIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function checkPort(v: Validator, path: string, n: unknown): void {
  if (!isSet(n)) return;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    v.error(path, `port number must be between 1 and 65535 (got ${JSON.stringify(n)})`);
  }
}

function checkNonNegative(v: Validator, path: string, n: unknown): void {
  if (typeof n === 'number' && n < 0) v.error(path, `must be >= 0 (got ${n})`);
}

function checkPercent(v: Validator, path: string, n: unknown): void {
  if (typeof n === 'number' && (n < 0 || n > 100)) v.error(path, `must be between 0 and 100 (got ${n})`);
}

/**
 * Istio's `ValidateDuration`: a protobuf duration of at least 1 ms, in whole milliseconds.
 * `allowZero` for the fields where `0s` means "disabled" (`tcp.idleTimeout`, cookie `ttl`).
 */
function checkDuration(v: Validator, path: string, text: unknown, allowZero = false): number | undefined {
  if (!isSet(text)) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    v.error(
      path,
      `invalid duration ${JSON.stringify(text)} (expected a number with a unit, e.g. "500ms", "1s", "2m")`,
    );
    return undefined;
  }
  if (allowZero && ms === 0) return 0;
  if (ms < 1) v.error(path, `duration must be at least 1ms (got ${JSON.stringify(text)})`);
  else if (Math.abs(ms - Math.round(ms)) > 1e-6) {
    v.error(path, `duration must be a whole number of milliseconds (got ${JSON.stringify(text)})`);
  }
  return ms;
}

/** JS RegExp errors in the words RE2 (and so Istio) uses for the same mistakes. */
const RE2_WORDING: [RegExp, string][] = [
  [/Unterminated group/, 'missing )'],
  [/Unmatched '\)'/, 'unexpected )'],
  [/Unterminated character class/, 'missing ]'],
  [/Nothing to repeat/, 'missing argument to repetition operator'],
  [/\\ at end of pattern/, 'trailing \\'],
  [/numbers out of order/, 'invalid repeat count'],
  [/Range out of order/, 'invalid character class range'],
  [/Invalid group/, 'invalid or unsupported group syntax'],
];

function re2Reason(reason: string): string {
  // compileRe2 reports `invalid regex: /^(?:…)$/: Unterminated group`; keep only the reason.
  const bare = reason.replace(/^invalid regex: /, '').replace(/^\/.*\/[a-z]*: /s, '');
  return RE2_WORDING.find(([re]) => re.test(bare))?.[1] ?? bare;
}

/** Istio's `validateStringRegexp`: RE2 syntax, at most 1024 characters. */
function checkRegex(v: Validator, path: string, pattern: string, anchored = true): void {
  const result = compileRe2(pattern, '', anchored);
  if (!result.ok) v.error(path, `invalid regex ${JSON.stringify(pattern)}: ${re2Reason(result.reason)}`);
}

/**
 * Istio's `validateStringMatch`: a `prefix` must not be empty (where `emptyPrefixAllowed` is false:
 * uri, scheme, method, authority), a `regex` must compile. `regex: "*"` is Istio's presence
 * match for headers and query parameters.
 */
function checkStringMatch(v: Validator, path: string, m: unknown, emptyPrefixAllowed: boolean): void {
  if (!isRecord(m)) return;
  if (!emptyPrefixAllowed && m.prefix === '') v.error(fieldPath(path, 'prefix'), 'prefix must not be empty');
  if (typeof m.regex === 'string' && !(emptyPrefixAllowed && (m.regex === '*' || m.regex === ''))) {
    checkRegex(v, fieldPath(path, 'regex'), m.regex);
  }
}

const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function isHeaderName(name: string): boolean {
  return HTTP_TOKEN.test(name);
}

const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);

/** A match header name: an HTTP token, a pseudo-header, or a JWT claim (`@request.auth.claims.x`). */
function isMatchHeaderName(name: string): boolean {
  return isHeaderName(name) || PSEUDO_HEADERS.has(name) || name.startsWith('@request.auth.claims');
}

// ---------------------------------------------------------------------------------------------------
// Gateway

const PROTOCOLS = [
  'HTTP',
  'HTTPS',
  'HTTP2',
  'GRPC',
  'GRPC-WEB',
  'HTTP_PROXY',
  'TCP',
  'TLS',
  'MONGO',
  'MYSQL',
  'REDIS',
  'UDP',
];
const HTTP_LIKE = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY']);
const TLS_LIKE = new Set(['HTTPS', 'TLS']);
const TLS_VERSIONS = ['TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'];

/** Istio's `ValidateGateway`: servers, ports, hosts and server TLS settings. */
function validateGateway(v: Validator, spec: GatewaySpec): void {
  const servers = list(spec.servers);
  if (servers.length === 0) v.error('spec.servers', 'a Gateway must have at least one server');
  const portNames = new Map<string, number>();
  const serverNames = new Map<string, number>();
  servers.forEach((server, i) => {
    const p = `spec.servers[${i}]`;
    if (!isRecord(server)) return;
    validateServer(v, server, p);
    const portName = server.port?.name;
    if (typeof portName === 'string' && portName !== '') {
      const first = portNames.get(portName);
      if (first !== undefined) {
        v.error(
          `${p}.port.name`,
          `port names must be unique within a Gateway: "${portName}" is also used by spec.servers[${first}]`,
        );
      } else portNames.set(portName, i);
    }
    if (typeof server.name === 'string' && server.name !== '') {
      const first = serverNames.get(server.name);
      if (first !== undefined) {
        v.error(
          `${p}.name`,
          `server names must be unique: "${server.name}" is also used by spec.servers[${first}]`,
        );
      } else serverNames.set(server.name, i);
    }
  });
}

function validateServer(v: Validator, server: Server, p: string): void {
  const bind = server.bind;
  const isUnix = typeof bind === 'string' && bind.startsWith('unix://');
  if (isSet(bind) && !isUnix && isIP(String(bind)) === 0) {
    v.error(`${p}.bind`, `bind must be an IP address or a unix:// path (got ${JSON.stringify(bind)})`);
  }
  const port = server.port;
  let protocol = '';
  if (!isRecord(port)) v.error(`${p}.port`, 'port is required');
  else {
    protocol = typeof port.protocol === 'string' ? port.protocol.toUpperCase() : '';
    if (!PROTOCOLS.includes(protocol)) {
      v.error(
        `${p}.port.protocol`,
        `invalid protocol ${JSON.stringify(port.protocol ?? '')}, supported protocols are ${PROTOCOLS.join(', ')}`,
      );
    }
    if (!(isUnix && (port.number ?? 0) === 0)) {
      if (!isSet(port.number)) v.error(`${p}.port.number`, 'port number is required');
      else checkPort(v, `${p}.port.number`, port.number);
    }
    if (!isSet(port.name)) v.error(`${p}.port.name`, 'port name is required');
    if (isSet(port.targetPort) && port.targetPort !== 0) {
      v.error(`${p}.port.targetPort`, 'targetPort has no effect on Gateways (Istio rejects it)');
    }
  }
  const hosts = list(server.hosts);
  if (hosts.length === 0) v.error(`${p}.hosts`, 'a server must have at least one host');
  hosts.forEach((h, k) => {
    const problem = typeof h === 'string' ? gatewayHostProblem(h) : 'must be a string';
    if (problem) v.error(`${p}.hosts[${k}]`, `invalid host ${JSON.stringify(h)}: ${problem}`);
  });
  const tls = server.tls;
  const isTls = TLS_LIKE.has(protocol);
  if (isTls && !isRecord(tls)) {
    v.error(`${p}.tls`, `server must have TLS settings for ${protocol} servers`);
    return;
  }
  if (!isRecord(tls)) return;
  if (!isTls) {
    const others = Object.keys(tls).filter(
      (k) => k !== 'httpsRedirect' && isSet(tls[k as keyof ServerTLSSettings]),
    );
    if (HTTP_LIKE.has(protocol)) {
      if (others.length > 0) {
        v.error(
          `${p}.tls`,
          `plain-text ${protocol} servers may only set tls.httpsRedirect (found ${others.join(', ')})`,
        );
      }
    } else if (protocol !== '') {
      v.error(`${p}.tls`, `${protocol} servers cannot have TLS settings (use protocol TLS or HTTPS)`);
    }
    return;
  }
  if (tls.httpsRedirect === true)
    v.warn(`${p}.tls.httpsRedirect`, 'httpsRedirect only applies to plain-text HTTP servers');
  validateServerTls(v, tls, `${p}.tls`);
}

/**
 * Gateway server host forms: `host`, `*`, `*.example.com`, `ns/host`, `./host` (the Gateway namespace), a
 * `*` namespace (any), or an IP.
 * Short names (no dot) are not allowed: a gateway host is matched against the Host header as written.
 */
function gatewayHostProblem(entry: string): string | undefined {
  const parts = entry.split('/');
  if (parts.length > 2) return 'must be "host" or "namespace/host"';
  const host = parts.length === 2 ? parts[1]! : entry;
  if (parts.length === 2) {
    const ns = parts[0]!;
    if (ns !== '*' && ns !== '.' && !isLabel(ns))
      return `invalid namespace ${JSON.stringify(ns)} (expected "*", "." or a namespace name)`;
  }
  if (host === '*' || isIP(host) !== 0) return undefined;
  const problem = domainProblem(host);
  if (problem) return problem.reason;
  if (!host.replace(/\.$/, '').includes('.')) {
    return 'short names are not allowed in Gateway hosts; use a fully qualified name or "*"';
  }
  return undefined;
}

/** Istio's `validateTLSOptions` for Gateway servers. */
function validateServerTls(v: Validator, tls: ServerTLSSettings, p: string): void {
  const mode = tls.mode ?? 'PASSTHROUGH';
  const credential = isSet(tls.credentialName) || list(field(tls, 'credentialNames') as string[]).length > 0;
  const certList = list(field(tls, 'tlsCertificates') as unknown[]).length > 0;
  const certFields = (
    ['serverCertificate', 'privateKey', 'caCertificates', 'credentialName'] as const
  ).filter((k) => isSet(tls[k]));
  switch (mode) {
    case 'ISTIO_MUTUAL':
      if (certFields.length > 0) {
        v.error(p, `ISTIO_MUTUAL uses the mesh certificates; ${certFields.join(', ')} must not be set`);
      }
      break;
    case 'PASSTHROUGH':
    case 'AUTO_PASSTHROUGH':
      if (certFields.length > 0)
        v.warn(p, `${mode} does not terminate TLS; ${certFields.join(', ')} are ignored`);
      break;
    case 'SIMPLE':
    case 'MUTUAL':
    case 'OPTIONAL_MUTUAL':
      if (credential) {
        if (isSet(tls.serverCertificate) || isSet(tls.privateKey)) {
          v.error(
            p,
            'credentialName and serverCertificate/privateKey are both set: use one certificate source',
          );
        }
        if (isSet(field(tls, 'caCrl'))) v.error(`${p}.caCrl`, 'caCrl cannot be used with credentialName');
      } else if (!certList) {
        if (!isSet(tls.serverCertificate))
          v.error(`${p}.serverCertificate`, `${mode} mode requires serverCertificate (or credentialName)`);
        if (!isSet(tls.privateKey))
          v.error(`${p}.privateKey`, `${mode} mode requires privateKey (or credentialName)`);
        if (mode !== 'SIMPLE' && !isSet(tls.caCertificates)) {
          v.error(
            `${p}.caCertificates`,
            `${mode} mode requires caCertificates to verify client certificates (or credentialName)`,
          );
        }
      }
      if (mode === 'SIMPLE' && isSet(field(tls, 'caCrl')))
        v.error(`${p}.caCrl`, 'caCrl cannot be used in SIMPLE mode');
      break;
  }
  const min = TLS_VERSIONS.indexOf(tls.minProtocolVersion ?? '');
  const max = TLS_VERSIONS.indexOf(tls.maxProtocolVersion ?? '');
  if (min >= 0 && max >= 0 && min > max) {
    v.error(
      `${p}.maxProtocolVersion`,
      `maxProtocolVersion ${tls.maxProtocolVersion} is lower than minProtocolVersion ${tls.minProtocolVersion}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// VirtualService

/** Istio's `validateGatewayNames`: `mesh`, `name`, `ns/name`, `./name`; legacy `name.ns` warns. */
function validateGatewayName(v: Validator, path: string, ref: unknown): void {
  if (typeof ref !== 'string') return;
  if (ref === 'mesh') return;
  const slash = ref.indexOf('/');
  if (slash < 0) {
    if (ref.includes('.')) {
      const [name, ns] = ref.split('.');
      v.warn(
        path,
        `legacy gateway name format ${JSON.stringify(ref)}; prefer namespace/name: "${ns}/${name}"`,
      );
      const problem = domainProblem(ref);
      if (problem || ref.startsWith('*')) v.error(path, `invalid gateway name ${JSON.stringify(ref)}`);
    } else if (!isLabel(ref)) v.error(path, `invalid gateway name ${JSON.stringify(ref)}`);
    return;
  }
  const ns = ref.slice(0, slash);
  const name = ref.slice(slash + 1);
  if (ns === '' || name === '')
    v.error(path, `gateway namespace and name cannot be empty (got ${JSON.stringify(ref)})`);
  else if (ns !== '.' && !isLabel(ns))
    v.error(path, `invalid namespace ${JSON.stringify(ns)} in gateway ${JSON.stringify(ref)}`);
  else if (!isLabel(name))
    v.error(path, `invalid gateway name ${JSON.stringify(name)} in ${JSON.stringify(ref)}`);
}

interface VsContext {
  readonly hosts: readonly string[];
  readonly isDelegate: boolean;
}

/** Istio's `ValidateVirtualService` (plus `validateHTTPRoute`, `validateTCPRoute`, `validateTLSRoute`). */
function validateVirtualService(v: Validator, spec: VirtualServiceSpec): void {
  const hosts = list(spec.hosts).filter((h): h is string => typeof h === 'string');
  const gateways = list(spec.gateways);
  const http = list(spec.http);
  const tcp = list(spec.tcp);
  const tls = list(spec.tls);
  const isDelegate = hosts.length === 0;
  if (isDelegate) {
    if (gateways.length > 0) {
      v.error(
        'spec.hosts',
        'hosts is required (a VirtualService without hosts is a delegate, and a delegate cannot list gateways)',
      );
    }
    if (tcp.length > 0 || tls.length > 0) {
      v.error(
        tcp.length > 0 ? 'spec.tcp' : 'spec.tls',
        'a delegate VirtualService (no hosts) can only have http routes',
      );
    }
  }
  const appliesToMesh = gateways.length === 0 || gateways.includes('mesh');
  const valid: [string, number][] = [];
  hosts.forEach((h, i) => {
    const problem = hostProblem(h);
    if (problem) v.error(`spec.hosts[${i}]`, `invalid host ${JSON.stringify(h)}: ${problem}`);
    else if (h === '*' && appliesToMesh) {
      v.error(
        `spec.hosts[${i}]`,
        'wildcard host "*" is not allowed for VirtualServices bound to the mesh (list gateways, or name the hosts)',
      );
    } else valid.push([h.toLowerCase(), i]);
  });
  // Istio rejects hosts that overlap inside one VirtualService (`*.foo.com` and `a.foo.com`).
  for (let a = 0; a < valid.length; a++) {
    for (let b = a + 1; b < valid.length; b++) {
      const [ha, ia] = valid[a]!;
      const [hb, ib] = valid[b]!;
      if (hostCovers(ha, hb) || hostCovers(hb, ha)) {
        v.error(
          `spec.hosts[${ib}]`,
          `duplicate host: ${JSON.stringify(hosts[ib])} overlaps ${JSON.stringify(hosts[ia])} (spec.hosts[${ia}])`,
        );
      }
    }
  }
  gateways.forEach((g, i) => validateGatewayName(v, `spec.gateways[${i}]`, g));
  if (http.length === 0 && tcp.length === 0 && tls.length === 0) {
    v.error('spec', 'a VirtualService must have http, tcp or tls routes');
  }
  const ctx: VsContext = { hosts, isDelegate };
  http.forEach((route, i) => isRecord(route) && validateHttpRoute(v, route, `spec.http[${i}]`, ctx));
  tcp.forEach((route, i) => {
    const p = `spec.tcp[${i}]`;
    if (!isRecord(route)) return;
    list(route.match).forEach((m, k) => isRecord(m) && validateL4Match(v, m, `${p}.match[${k}]`));
    if (list(route.route).length === 0) v.error(`${p}.route`, 'a TCP route needs at least one destination');
    validateRouteDestinations(v, list(route.route), `${p}.route`);
  });
  tls.forEach((route, i) => {
    const p = `spec.tls[${i}]`;
    if (!isRecord(route)) return;
    const matches = list(route.match);
    if (matches.length === 0) v.error(`${p}.match`, 'a TLS route needs at least one match with sniHosts');
    matches.forEach((m, k) => {
      if (!isRecord(m)) return;
      const mp = `${p}.match[${k}]`;
      validateL4Match(v, m, mp);
      const sni = list(m.sniHosts);
      if (sni.length === 0) v.error(`${mp}.sniHosts`, 'sniHosts is required in TLS route matches');
      sni.forEach((s, n) => {
        if (typeof s !== 'string') return;
        const problem = hostProblem(s);
        if (problem) v.error(`${mp}.sniHosts[${n}]`, `invalid SNI host ${JSON.stringify(s)}: ${problem}`);
        else if (!hosts.some((h) => hostCovers(h.toLowerCase(), s.toLowerCase()))) {
          v.error(
            `${mp}.sniHosts[${n}]`,
            `SNI host ${JSON.stringify(s)} is not covered by any host of this VirtualService (${hosts.join(', ')})`,
          );
        }
      });
    });
    if (list(route.route).length === 0) v.error(`${p}.route`, 'a TLS route needs at least one destination');
    validateRouteDestinations(v, list(route.route), `${p}.route`);
  });
}

function validateL4Match(v: Validator, m: Record<string, unknown>, p: string): void {
  checkPort(v, `${p}.port`, m.port);
  list(m.destinationSubnets as unknown[]).forEach((s, n) => {
    if (typeof s === 'string' && !isCidrOrIp(s))
      v.error(`${p}.destinationSubnets[${n}]`, `invalid IP or CIDR ${JSON.stringify(s)}`);
  });
  if (typeof m.sourceSubnet === 'string' && m.sourceSubnet !== '' && !isCidrOrIp(m.sourceSubnet)) {
    v.error(`${p}.sourceSubnet`, `invalid IP or CIDR ${JSON.stringify(m.sourceSubnet)}`);
  }
  list(m.gateways as unknown[]).forEach((g, n) => validateGatewayName(v, `${p}.gateways[${n}]`, g));
}

const ACTIONS = ['route', 'redirect', 'directResponse', 'delegate'] as const;

function validateHttpRoute(v: Validator, route: HTTPRoute, p: string, ctx: VsContext): void {
  // 1. Exactly one action.
  const actions = ACTIONS.filter((a) => (a === 'route' ? list(route.route).length > 0 : isRecord(route[a])));
  if (actions.length === 0)
    v.error(p, 'an http route must set one of route, redirect, directResponse or delegate');
  if (actions.length > 1) {
    v.error(
      p,
      `route, redirect, directResponse and delegate are mutually exclusive (found ${actions.join(', ')})`,
    );
  }
  const local = isRecord(route.redirect)
    ? 'redirect'
    : isRecord(route.directResponse)
      ? 'directResponse'
      : undefined;
  if (local && isRecord(route.rewrite)) v.error(`${p}.rewrite`, `rewrite cannot be combined with ${local}`);
  if (local && isRecord(route.fault)) v.error(`${p}.fault`, `fault cannot be combined with ${local}`);

  // 2. Matches.
  list(route.match).forEach((m, k) => {
    if (!isRecord(m)) return;
    const mp = `${p}.match[${k}]`;
    for (const f of ['uri', 'scheme', 'method', 'authority'] as const)
      checkStringMatch(v, `${mp}.${f}`, m[f], false);
    for (const f of ['headers', 'withoutHeaders', 'queryParams'] as const) {
      for (const [name, sm] of entries(m[f])) {
        const np = fieldPath(`${mp}.${f}`, name);
        if (f !== 'queryParams') {
          // Any header token is accepted (matched case-insensitively, as HTTP names are).
          if (name === '') v.error(np, 'header name must not be empty');
          else if (!isMatchHeaderName(name))
            v.error(np, `${JSON.stringify(name)} is not a valid header name`);
        }
        checkStringMatch(v, np, sm, true);
      }
    }
    checkPort(v, `${mp}.port`, m.port);
    list(m.gateways).forEach((g, n) => validateGatewayName(v, `${mp}.gateways[${n}]`, g));
  });

  // 3. Actions.
  validateRouteDestinations(v, list(route.route), `${p}.route`, true);
  if (isRecord(route.delegate)) {
    if (ctx.isDelegate) v.error(`${p}.delegate`, 'a delegate VirtualService cannot delegate further');
    if (!isSet(route.delegate.name)) v.error(`${p}.delegate.name`, 'delegate name is required');
    const ns = route.delegate.namespace;
    if (isSet(ns) && !isLabel(String(ns)))
      v.error(`${p}.delegate.namespace`, `invalid namespace ${JSON.stringify(ns)}`);
  }
  if (isRecord(route.redirect)) validateRedirect(v, route.redirect, `${p}.redirect`);
  if (isRecord(route.directResponse)) validateDirectResponse(v, route.directResponse, `${p}.directResponse`);
  if (isRecord(route.rewrite)) validateRewrite(v, route, `${p}.rewrite`);

  // 4. Policies.
  checkDuration(v, `${p}.timeout`, route.timeout);
  if (isRecord(route.retries)) validateRetries(v, route.retries, `${p}.retries`);
  if (isRecord(route.fault)) validateFault(v, route.fault, `${p}.fault`);
  validateMirrors(v, route, p);
  if (isRecord(route.corsPolicy)) validateCors(v, route.corsPolicy, `${p}.corsPolicy`);
  validateHeaderOps(v, route.headers, `${p}.headers`);
}

/** Istio's `validateRouteDestinations`: weights ≥ 0; several destinations cannot all weigh 0. */
function validateRouteDestinations(v: Validator, routes: readonly unknown[], p: string, http = false): void {
  let total = 0;
  routes.forEach((d, k) => {
    const dp = `${p}[${k}]`;
    if (!isRecord(d)) return;
    if (!isRecord(d.destination)) v.error(`${dp}.destination`, 'destination is required');
    else validateDestination(v, d.destination, `${dp}.destination`);
    const w = d.weight;
    if (typeof w === 'number') {
      if (!Number.isInteger(w)) v.error(`${dp}.weight`, `weight must be an integer (got ${w})`);
      else if (w < 0) v.error(`${dp}.weight`, `weight must be >= 0 (got ${w})`);
      else total += w;
    }
    if (http) validateHeaderOps(v, field(d, 'headers') as Headers | undefined, `${dp}.headers`);
  });
  // One destination takes all traffic whatever its weight; several need a positive total.
  if (routes.length > 1 && total === 0) v.error(p, 'total destination weight = 0');
}

function validateDestination(v: Validator, d: Record<string, unknown>, p: string): void {
  const host = d.host;
  if (!isSet(host)) v.error(`${p}.host`, 'destination host is required');
  else if (host === '*') v.error(`${p}.host`, 'destination host "*" is not allowed');
  else if (typeof host === 'string') {
    const problem = hostProblem(host);
    if (problem) v.error(`${p}.host`, `invalid destination host ${JSON.stringify(host)}: ${problem}`);
  }
  if (isSet(d.subset) && !isLabel(String(d.subset))) {
    v.error(`${p}.subset`, `invalid subset name ${JSON.stringify(d.subset)}: must be a DNS-1123 label`);
  }
  checkPort(v, `${p}.port.number`, field(d.port, 'number'));
}

const REDIRECT_CODES = [301, 302, 303, 307, 308];

function validateRedirect(v: Validator, r: Record<string, unknown>, p: string): void {
  if (isSet(r.redirectCode) && !REDIRECT_CODES.includes(r.redirectCode as number)) {
    v.error(
      `${p}.redirectCode`,
      `redirectCode must be one of ${REDIRECT_CODES.join(', ')} (got ${JSON.stringify(r.redirectCode)})`,
    );
  }
  if (!['uri', 'authority', 'scheme', 'port', 'derivePort', 'prefixRewrite'].some((k) => isSet(r[k]))) {
    v.error(p, 'redirect must set at least one of uri, authority, scheme, port or derivePort');
  }
  checkPort(v, `${p}.port`, r.port);
}

const MAX_DIRECT_RESPONSE_BYTES = 1024 * 1024;
const LARGE_DIRECT_RESPONSE_BYTES = 100 * 1024;

function validateDirectResponse(v: Validator, d: Record<string, unknown>, p: string): void {
  const status = d.status;
  if (!isSet(status)) v.error(`${p}.status`, 'status is required');
  else if (typeof status !== 'number' || status < 200 || status > 599) {
    v.error(`${p}.status`, `status must be between 200 and 599 (got ${JSON.stringify(status)})`);
  }
  const body = d.body;
  if (!isRecord(body)) return;
  const [key, size] =
    typeof body.string === 'string'
      ? ['string', Buffer.byteLength(body.string, 'utf8')]
      : typeof body.bytes === 'string'
        ? ['bytes', Buffer.from(body.bytes, 'base64').length]
        : ['string', 0];
  if (size > MAX_DIRECT_RESPONSE_BYTES) {
    v.error(`${p}.body.${key}`, `body is ${size} bytes; direct response bodies must be at most 1 MB`);
  } else if (size > LARGE_DIRECT_RESPONSE_BYTES) {
    v.warn(
      `${p}.body.${key}`,
      `body is ${size} bytes; direct response bodies over 100 KB slow configuration down`,
    );
  }
}

function validateRewrite(v: Validator, route: HTTPRoute, p: string): void {
  const rw = route.rewrite!;
  const regex = rw.uriRegexRewrite;
  if (isSet(rw.uri) && isRecord(regex))
    v.error(p, 'rewrite.uri and rewrite.uriRegexRewrite are mutually exclusive');
  if (!isSet(rw.uri) && !isSet(rw.authority) && !isRecord(regex)) {
    v.error(p, 'rewrite must set uri, uriRegexRewrite or authority');
  }
  if (isRecord(regex)) {
    if (!isSet(regex.match)) v.error(`${p}.uriRegexRewrite.match`, 'match is required');
    else if (typeof regex.match === 'string') checkRegex(v, `${p}.uriRegexRewrite.match`, regex.match, false);
    if (regex.rewrite === undefined || regex.rewrite === null) {
      v.error(`${p}.uriRegexRewrite.rewrite`, 'rewrite is required');
    }
  }
  // Envoy has one authority rewrite per route ("authority header cannot be set multiple times").
  if (isSet(rw.authority)) {
    const req = route.headers?.request;
    const sets = [...entries(req?.set), ...entries(req?.add)].map(([k]) => k.toLowerCase());
    if (sets.includes('host') || sets.includes(':authority')) {
      v.error(
        `${p}.authority`,
        'the authority is set both by rewrite.authority and by headers.request (host/:authority)',
      );
    }
  }
}

/** Envoy's `retry_on` conditions Istio accepts, besides HTTP status codes (one list, shared with the compiler). */
const RETRY_ON = RETRY_ON_TOKENS;

function validateRetries(v: Validator, r: Record<string, unknown>, p: string): void {
  const attempts = r.attempts ?? 0;
  if (typeof attempts === 'number' && attempts < 0)
    v.error(`${p}.attempts`, `attempts must be >= 0 (got ${attempts})`);
  // Proto3: an omitted `attempts` is 0, i.e. retries disabled, which makes the other fields an error.
  const configured = ['perTryTimeout', 'retryOn', 'retryRemoteLocalities'].filter((k) => isSet(r[k]));
  if (attempts === 0 && configured.length > 0) {
    v.error(p, `${configured.join(', ')} set while attempts is 0 (retries disabled); set attempts > 0`);
  }
  checkDuration(v, `${p}.perTryTimeout`, r.perTryTimeout);
  checkDuration(v, `${p}.backoff`, r.backoff);
  if (typeof r.retryOn === 'string' && r.retryOn !== '') {
    for (const raw of r.retryOn.split(',')) {
      const token = raw.trim();
      if (RETRY_ON.has(token)) continue;
      if (/^\d{3}$/.test(token) && Number(token) >= 100 && Number(token) <= 599) continue;
      v.error(
        `${p}.retryOn`,
        `${JSON.stringify(token)} is not a valid retryOn condition or HTTP status code`,
      );
    }
  }
}

const GRPC_CODES = new Set([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);

/** Istio's `validateHTTPFaultInjection`. */
function validateFault(v: Validator, f: Record<string, unknown>, p: string): void {
  const { delay, abort } = f;
  if (!isRecord(delay) && !isRecord(abort)) v.error(p, 'fault must set delay and/or abort');
  if (isRecord(delay)) {
    const dp = `${p}.delay`;
    if (isSet(delay.exponentialDelay))
      v.error(`${dp}.exponentialDelay`, 'exponentialDelay is not supported (use fixedDelay)');
    else if (!isSet(delay.fixedDelay)) v.error(`${dp}.fixedDelay`, 'fixedDelay is required');
    checkDuration(v, `${dp}.fixedDelay`, delay.fixedDelay);
    checkPercent(v, `${dp}.percentage.value`, field(delay.percentage, 'value'));
    if (isSet(delay.percent)) {
      v.deprecated(`${dp}.percent`, 'percent is deprecated; use percentage.value');
      checkPercent(v, `${dp}.percent`, delay.percent);
    }
  }
  if (isRecord(abort)) {
    const ap = `${p}.abort`;
    if (isSet(abort.http2Error))
      v.error(`${ap}.http2Error`, 'http2Error is not supported (use httpStatus or grpcStatus)');
    else if (isSet(abort.httpStatus)) {
      // Istio accepts 200-600 (its message says 200-599).
      const s = abort.httpStatus;
      if (typeof s !== 'number' || s < 200 || s > 600) {
        v.error(`${ap}.httpStatus`, `httpStatus must be between 200 and 599 (got ${JSON.stringify(s)})`);
      }
    } else if (isSet(abort.grpcStatus)) {
      if (!GRPC_CODES.has(String(abort.grpcStatus))) {
        v.error(
          `${ap}.grpcStatus`,
          `unknown gRPC status ${JSON.stringify(abort.grpcStatus)} (expected a name such as UNAVAILABLE)`,
        );
      }
    } else v.error(ap, 'abort must set httpStatus or grpcStatus');
    checkPercent(v, `${ap}.percentage.value`, field(abort.percentage, 'value'));
  }
}

function validateMirrors(v: Validator, route: HTTPRoute, p: string): void {
  const mirrors = list(route.mirrors);
  if (isRecord(route.mirror)) {
    if (mirrors.length > 0) v.error(`${p}.mirrors`, 'mirror and mirrors cannot both be set');
    validateDestination(v, route.mirror, `${p}.mirror`);
  }
  checkPercent(v, `${p}.mirrorPercentage.value`, field(route.mirrorPercentage, 'value'));
  for (const legacy of ['mirrorPercent', 'mirror_percent'] as const) {
    if (isSet(route[legacy])) {
      v.deprecated(`${p}.${legacy}`, `${legacy} is deprecated; use mirrorPercentage.value`);
      checkPercent(v, `${p}.${legacy}`, route[legacy]);
    }
  }
  mirrors.forEach((m, k) => {
    const mp = `${p}.mirrors[${k}]`;
    if (!isRecord(m)) return;
    if (!isRecord(m.destination)) v.error(`${mp}.destination`, 'destination is required');
    else validateDestination(v, m.destination, `${mp}.destination`);
    checkPercent(v, `${mp}.percentage.value`, field(m.percentage, 'value'));
  });
}

const HTTP_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

/** Istio's `validateCORSPolicy`. */
function validateCors(v: Validator, c: Record<string, unknown>, p: string): void {
  list(c.allowOrigins as StringMatch[]).forEach((m, k) =>
    checkStringMatch(v, `${p}.allowOrigins[${k}]`, m, false),
  );
  if (list(c.allowOrigin as string[]).length > 0)
    v.deprecated(`${p}.allowOrigin`, 'allowOrigin is deprecated; use allowOrigins');
  list(c.allowMethods as unknown[]).forEach((m, k) => {
    if (!HTTP_METHODS.has(String(m)))
      v.error(`${p}.allowMethods[${k}]`, `${JSON.stringify(m)} is not a supported HTTP method`);
  });
  for (const f of ['allowHeaders', 'exposeHeaders'] as const) {
    list(c[f] as unknown[]).forEach((h, k) => {
      if (typeof h === 'string' && !isHeaderName(h))
        v.error(`${p}.${f}[${k}]`, `${JSON.stringify(h)} is not a valid header name`);
    });
  }
  const ms = checkDuration(v, `${p}.maxAge`, c.maxAge);
  // Access-Control-Max-Age is in seconds.
  if (ms !== undefined && ms >= 1 && ms % 1000 !== 0)
    v.error(`${p}.maxAge`, 'maxAge is only accurate to seconds');
}

/** Istio's header-operation rules: valid names; pseudo-headers and `host` only where Envoy allows them. */
function validateHeaderOps(v: Validator, headers: Headers | null | undefined, p: string): void {
  if (!isRecord(headers)) return;
  for (const dir of ['request', 'response'] as const) {
    const ops = headers[dir];
    if (!isRecord(ops)) continue;
    const dp = `${p}.${dir}`;
    for (const op of ['set', 'add'] as const) {
      for (const [name] of entries(ops[op])) {
        const np = fieldPath(`${dp}.${op}`, name);
        const lower = name.toLowerCase();
        if (name === '') v.error(np, 'header name must not be empty');
        else if (dir === 'request' && lower === ':authority') continue;
        else if (name.startsWith(':')) v.error(np, `pseudo-header ${name} cannot be set`);
        else if (dir === 'response' && lower === 'host') v.error(np, 'host cannot be set on responses');
        else if (!isHeaderName(name)) v.error(np, `${JSON.stringify(name)} is not a valid header name`);
      }
    }
    list(ops.remove).forEach((name, k) => {
      if (typeof name !== 'string') return;
      const np = `${dp}.remove[${k}]`;
      if (name.startsWith(':') || name.toLowerCase() === 'host') v.error(np, `${name} cannot be removed`);
      else if (!isHeaderName(name)) v.error(np, `${JSON.stringify(name)} is not a valid header name`);
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// DestinationRule

/** Istio's `ValidateDestinationRule`: host, traffic policies, subsets. */
function validateDestinationRule(v: Validator, spec: DestinationRuleSpec): void {
  const host = spec.host;
  if (!isSet(host)) v.error('spec.host', 'host is required');
  else if (typeof host === 'string') {
    const problem = domainProblem(host);
    if (problem) v.error('spec.host', `invalid host ${JSON.stringify(host)}: ${problem.reason}`);
  }
  if (isRecord(spec.trafficPolicy)) validateTrafficPolicy(v, spec.trafficPolicy, 'spec.trafficPolicy', true);
  const names = new Map<string, number>();
  list(spec.subsets).forEach((s, i) => {
    const p = `spec.subsets[${i}]`;
    if (!isRecord(s)) return;
    if (!isSet(s.name)) v.error(`${p}.name`, 'subset name is required');
    else {
      const name = String(s.name);
      if (!isLabel(name))
        v.error(`${p}.name`, `invalid subset name ${JSON.stringify(name)}: must be a DNS-1123 label`);
      const first = names.get(name);
      if (first !== undefined)
        v.error(`${p}.name`, `duplicate subset name ${JSON.stringify(name)} (also spec.subsets[${first}])`);
      else names.set(name, i);
    }
    if (isRecord(s.trafficPolicy)) validateTrafficPolicy(v, s.trafficPolicy, `${p}.trafficPolicy`, true);
  });
}

function validateTrafficPolicy(v: Validator, tp: TrafficPolicy, p: string, portLevelAllowed: boolean): void {
  const set = Object.entries(tp).filter(([k, x]) => k !== 'port' && x !== null && x !== undefined);
  if (set.length === 0)
    v.error(
      p,
      portLevelAllowed
        ? 'trafficPolicy must set at least one field'
        : 'port-level settings must set at least one policy',
    );
  if (isRecord(tp.connectionPool)) validateConnectionPool(v, tp.connectionPool, `${p}.connectionPool`);
  if (isRecord(tp.outlierDetection))
    validateOutlierDetection(v, tp.outlierDetection, `${p}.outlierDetection`);
  if (isRecord(tp.loadBalancer)) validateLoadBalancer(v, tp.loadBalancer, `${p}.loadBalancer`);
  if (isRecord(tp.tls)) validateClientTls(v, tp.tls, `${p}.tls`);
  if (!portLevelAllowed) return;
  list(tp.portLevelSettings).forEach((pl, k) => {
    const pp = `${p}.portLevelSettings[${k}]`;
    if (!isRecord(pl)) return;
    if (!isSet(pl.port?.number)) v.error(`${pp}.port.number`, 'port-level settings need a port number');
    else checkPort(v, `${pp}.port.number`, pl.port?.number);
    validateTrafficPolicy(v, pl, pp, false);
  });
}

function validateConnectionPool(
  v: Validator,
  cp: NonNullable<TrafficPolicy['connectionPool']>,
  p: string,
): void {
  if (!isRecord(cp.tcp) && !isRecord(cp.http)) v.error(p, 'connectionPool must set tcp and/or http');
  const tcp = cp.tcp;
  if (isRecord(tcp)) {
    checkNonNegative(v, `${p}.tcp.maxConnections`, tcp.maxConnections);
    checkDuration(v, `${p}.tcp.connectTimeout`, tcp.connectTimeout);
    checkDuration(v, `${p}.tcp.maxConnectionDuration`, tcp.maxConnectionDuration);
    checkDuration(v, `${p}.tcp.idleTimeout`, tcp.idleTimeout, true);
    const ka = field(tcp, 'tcpKeepalive');
    if (isRecord(ka)) {
      checkNonNegative(v, `${p}.tcp.tcpKeepalive.probes`, ka.probes);
      checkDuration(v, `${p}.tcp.tcpKeepalive.time`, ka.time);
      checkDuration(v, `${p}.tcp.tcpKeepalive.interval`, ka.interval);
    }
  }
  const http = cp.http;
  if (isRecord(http)) {
    for (const f of [
      'http1MaxPendingRequests',
      'http2MaxRequests',
      'maxRequestsPerConnection',
      'maxRetries',
      'maxConcurrentStreams',
    ]) {
      checkNonNegative(v, `${p}.http.${f}`, field(http, f));
    }
    checkDuration(v, `${p}.http.idleTimeout`, http.idleTimeout);
  }
}

function validateOutlierDetection(
  v: Validator,
  od: NonNullable<TrafficPolicy['outlierDetection']>,
  p: string,
): void {
  if (isSet(od.consecutiveErrors)) {
    v.deprecated(
      `${p}.consecutiveErrors`,
      'consecutiveErrors is deprecated and ignored by current Istio; meshgate honours it as consecutiveGatewayErrors',
    );
  }
  for (const f of [
    'consecutiveErrors',
    'consecutive5xxErrors',
    'consecutiveGatewayErrors',
    'consecutiveLocalOriginFailures',
  ]) {
    checkNonNegative(v, `${p}.${f}`, field(od, f));
  }
  checkDuration(v, `${p}.interval`, od.interval);
  checkDuration(v, `${p}.baseEjectionTime`, od.baseEjectionTime);
  checkPercent(v, `${p}.maxEjectionPercent`, od.maxEjectionPercent);
  checkPercent(v, `${p}.minHealthPercent`, od.minHealthPercent);
}

const HASH_KEYS = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const;

function validateLoadBalancer(v: Validator, lb: NonNullable<TrafficPolicy['loadBalancer']>, p: string): void {
  if (lb.simple === 'LEAST_CONN') v.deprecated(`${p}.simple`, 'LEAST_CONN is deprecated; use LEAST_REQUEST');
  if (isSet(lb.simple) && isRecord(lb.consistentHash))
    v.error(p, 'simple and consistentHash are mutually exclusive');
  checkDuration(v, `${p}.warmupDurationSecs`, field(lb, 'warmupDurationSecs'));
  checkDuration(v, `${p}.warmup.duration`, field(field(lb, 'warmup'), 'duration'));
  const ch = lb.consistentHash;
  if (!isRecord(ch)) return;
  const cp = `${p}.consistentHash`;
  const keys = HASH_KEYS.filter((k) => ch[k] !== undefined && ch[k] !== null);
  if (keys.length !== 1) {
    v.error(
      cp,
      `consistentHash must set exactly one of ${HASH_KEYS.join(', ')} (found ${keys.length === 0 ? 'none' : keys.join(', ')})`,
    );
  }
  if (isRecord(ch.ringHash) && isRecord(ch.maglev)) v.error(cp, 'ringHash and maglev are mutually exclusive');
  // Envoy rejects a Maglev table whose size is not a prime below 5000011 (MaglevLbConfig.table_size).
  const table = field(ch.maglev, 'tableSize');
  if (typeof table === 'number' && (table >= 5_000_011 || !isPrime(table)))
    v.error(`${cp}.maglev.tableSize`, `maglev tableSize must be a prime number below 5000011 (got ${table})`);
  checkNonNegative(v, `${cp}.ringHash.minimumRingSize`, field(ch.ringHash, 'minimumRingSize'));
  checkNonNegative(v, `${cp}.minimumRingSize`, ch.minimumRingSize);
  if (isRecord(ch.httpCookie)) {
    if (!isSet(ch.httpCookie.name)) v.error(`${cp}.httpCookie.name`, 'cookie name is required');
    checkDuration(v, `${cp}.httpCookie.ttl`, ch.httpCookie.ttl, true);
  }
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** Istio's `validateTLS` for DestinationRule (ClientTLSSettings). */
function validateClientTls(v: Validator, tls: ClientTLSSettings, p: string): void {
  const files = (['clientCertificate', 'privateKey', 'caCertificates'] as const).filter((k) => isSet(tls[k]));
  if (tls.mode === 'ISTIO_MUTUAL') {
    const all = [...files, ...(isSet(tls.credentialName) ? ['credentialName'] : [])];
    if (all.length > 0)
      v.error(p, `ISTIO_MUTUAL uses the mesh certificates; ${all.join(', ')} must not be set`);
    return;
  }
  if (isSet(tls.credentialName)) {
    if (files.length > 0) v.error(p, `credentialName cannot be combined with ${files.join(', ')}`);
    return;
  }
  if (tls.mode === 'MUTUAL') {
    if (!isSet(tls.clientCertificate))
      v.error(`${p}.clientCertificate`, 'MUTUAL mode requires clientCertificate (or credentialName)');
    if (!isSet(tls.privateKey))
      v.error(`${p}.privateKey`, 'MUTUAL mode requires privateKey (or credentialName)');
  }
}

// ---------------------------------------------------------------------------------------------------
// ServiceEntry and WorkloadEntry

/** Istio's `ValidateServiceEntry`. */
function validateServiceEntry(v: Validator, spec: ServiceEntrySpec): void {
  const endpoints = list(spec.endpoints);
  const resolution = spec.resolution ?? 'NONE';
  if (isRecord(spec.workloadSelector) && endpoints.length > 0) {
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
    if (problem?.partialWildcard) v.warn(`spec.hosts[${i}]`, `host ${JSON.stringify(h)}: ${problem.reason}`);
    else if (problem) v.error(`spec.hosts[${i}]`, `invalid host ${JSON.stringify(h)}: ${problem.reason}`);
    else if (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') {
      // Without endpoints the hosts themselves are resolved: they must be names DNS can answer.
      if (endpoints.length === 0 && h.startsWith('*')) {
        v.error(
          `spec.hosts[${i}]`,
          `hosts must be fully qualified names when resolution is ${resolution} and no endpoints are given (got ${JSON.stringify(h)})`,
        );
      }
    }
  });
  list(spec.addresses).forEach((a, i) => {
    if (typeof a !== 'string') return;
    if (!isCidrOrIp(a)) v.error(`spec.addresses[${i}]`, `invalid IP address or CIDR ${JSON.stringify(a)}`);
    else if (a.includes('/') && resolution !== 'NONE' && resolution !== 'STATIC') {
      v.error(`spec.addresses[${i}]`, `CIDR addresses need resolution NONE or STATIC (got ${resolution})`);
    }
  });
  const portNames = new Map<string, number>();
  const portNumbers = new Map<number, number>();
  list(spec.ports).forEach((port, i) => {
    const p = `spec.ports[${i}]`;
    if (!isRecord(port)) return;
    if (!isSet(port.name)) v.error(`${p}.name`, 'port name is required');
    else {
      const name = String(port.name);
      if (!isLabel(name))
        v.error(`${p}.name`, `invalid port name ${JSON.stringify(name)}: must be a DNS-1123 label`);
      const first = portNames.get(name);
      if (first !== undefined)
        v.error(`${p}.name`, `port name ${JSON.stringify(name)} is already used by spec.ports[${first}]`);
      else portNames.set(name, i);
    }
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
    checkPort(v, `${p}.targetPort`, port.targetPort);
  });
  if (resolution !== 'NONE' && hosts.length > 1) {
    // Several hosts share the endpoints; only HTTP (Host header) and TLS (SNI) can tell them apart.
    list(spec.ports).forEach((port, i) => {
      const proto = String(port?.protocol ?? '').toUpperCase();
      if (!HTTP_LIKE.has(proto) && !TLS_LIKE.has(proto)) {
        v.error(
          `spec.ports[${i}].protocol`,
          `with several hosts and resolution ${resolution}, ports must be HTTP or TLS (got ${JSON.stringify(port?.protocol ?? '')})`,
        );
      }
    });
  }
  if (resolution === 'NONE' && endpoints.length > 0)
    v.warn('spec.endpoints', 'endpoints are ignored with resolution NONE');
  if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
    v.error('spec.endpoints', 'resolution DNS_ROUND_ROBIN allows at most one endpoint');
  }
  endpoints.forEach((ep, k) => {
    const p = `spec.endpoints[${k}]`;
    if (!isRecord(ep)) return;
    const address = ep.address;
    if (resolution === 'STATIC') {
      if (!isSet(address)) v.error(`${p}.address`, 'address is required with resolution STATIC');
      else if (!String(address).startsWith('unix://') && isIP(String(address)) === 0) {
        v.error(
          `${p}.address`,
          `resolution STATIC needs IP addresses (or unix:// paths), got ${JSON.stringify(address)}`,
        );
      }
    } else if (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') {
      const a = String(address ?? '');
      if (isIP(a) === 0 && !a.startsWith('unix://') && (a === '' || a.startsWith('*') || domainProblem(a))) {
        v.error(
          `${p}.address`,
          `invalid address ${JSON.stringify(address ?? '')}: expected an IP address or a DNS name`,
        );
      }
    }
    for (const [name, number] of entries(ep.ports)) {
      const np = fieldPath(`${p}.ports`, name);
      if (!portNames.has(name))
        v.error(np, `port name ${JSON.stringify(name)} is not declared in spec.ports`);
      checkPort(v, np, number);
    }
  });
}

/** Istio's `ValidateWorkloadEntry`: an address (unless a network gateway reaches it) and valid ports. */
function validateWorkloadEntry(v: Validator, spec: WorkloadEntrySpec): void {
  const address = spec.address;
  if (!isSet(address)) {
    if (!isSet(spec.network)) v.error('spec.address', 'address is required (unless network is set)');
  } else {
    const a = String(address);
    if (!a.startsWith('unix://') && isIP(a) === 0 && domainProblem(a) !== undefined) {
      v.error(
        'spec.address',
        `invalid address ${JSON.stringify(a)}: expected an IP address, a DNS name or a unix:// path`,
      );
    }
  }
  for (const [name, number] of entries(spec.ports)) checkPort(v, fieldPath('spec.ports', name), number);
}
