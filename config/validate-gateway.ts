/**
 * Gateway field rules: what Istio's `ValidateGateway` (servers, ports, binds, hosts, server TLS)
 * rejects or warns about.
 */
import { isIP } from 'node:net';
import { type GatewaySpec, type Server, type ServerTLSSettings } from './resources.js';
import { isRecord } from './schema.js';
import {
  PROTOCOLS,
  Validator,
  checkPort,
  domainProblem,
  field,
  isLabel,
  isSet,
  list,
  unixAddressProblem,
} from './field-rules.js';
import { HTTP_PROTOCOLS, TLS_PROTOCOLS } from './protocols.js';

const TLS_VERSIONS = ['TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'];

/** Istio's `ValidateGateway`: servers, ports, hosts and server TLS settings. */
export function validateGateway(v: Validator, spec: GatewaySpec): void {
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
  if (isUnix) {
    const problem = unixAddressProblem(bind.slice('unix://'.length));
    if (problem) v.error(`${p}.bind`, problem);
    const n = field(server.port, 'number');
    if (isSet(n) && n !== 0)
      v.error(`${p}.port.number`, 'port number must be 0 for a unix domain socket bind');
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
  const isTls = TLS_PROTOCOLS.has(protocol);
  if (isTls && !isRecord(tls)) {
    v.error(`${p}.tls`, `server must have TLS settings for ${protocol} servers`);
    return;
  }
  if (!isRecord(tls)) return;
  if (!isTls) {
    const others = Object.keys(tls).filter(
      (k) => k !== 'httpsRedirect' && isSet(tls[k as keyof ServerTLSSettings]),
    );
    if (HTTP_PROTOCOLS.has(protocol)) {
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
  const certs = list(field(tls, 'tlsCertificates'));
  const credentialNames = list(field(tls, 'credentialNames'));
  const caCrl = field(tls, 'caCrl');
  if (mode === 'ISTIO_MUTUAL') {
    const set = [
      ...(['serverCertificate', 'privateKey', 'caCertificates', 'credentialName'] as const).filter((k) =>
        isSet(tls[k]),
      ),
      ...(certs.length > 0 ? ['tlsCertificates'] : []),
      ...(credentialNames.length > 0 ? ['credentialNames'] : []),
    ];
    if (set.length > 0)
      v.error(p, `ISTIO_MUTUAL uses the mesh certificates; ${set.join(', ')} must not be set`);
    return;
  }
  if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
    const set = [
      ...(['serverCertificate', 'privateKey', 'caCertificates', 'credentialName'] as const).filter((k) =>
        isSet(tls[k]),
      ),
      ...(isSet(caCrl) ? ['caCrl'] : []),
      ...(certs.length > 0 ? ['tlsCertificates'] : []),
      ...(credentialNames.length > 0 ? ['credentialNames'] : []),
    ];
    if (set.length > 0) v.warn(p, `${mode} does not terminate TLS; ${set.join(', ')} are ignored`);
  }
  const sources = [
    ...(isSet(tls.serverCertificate) && isSet(tls.privateKey) ? ['serverCertificate/privateKey'] : []),
    ...(isSet(tls.credentialName) ? ['credentialName'] : []),
    ...(credentialNames.length > 0 ? ['credentialNames'] : []),
    ...(certs.length > 0 ? ['tlsCertificates'] : []),
  ];
  if (sources.length > 1) v.error(p, `use one certificate source (found ${sources.join(', ')})`);
  const terminating = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  if (terminating && (isSet(tls.credentialName) || credentialNames.length > 0)) {
    validateTlsVersions(v, tls, p);
    return;
  }
  if (terminating) {
    if (mode !== 'SIMPLE' && !isSet(tls.caCertificates)) {
      v.error(
        `${p}.caCertificates`,
        `${mode} mode requires caCertificates to verify client certificates (or credentialName)`,
      );
    }
    if (certs.length > 0) {
      certs.forEach((c, k) => {
        if (!isSet(field(c, 'serverCertificate')))
          v.error(
            `${p}.tlsCertificates[${k}].serverCertificate`,
            `${mode} mode requires a server certificate`,
          );
        if (!isSet(field(c, 'privateKey')))
          v.error(`${p}.tlsCertificates[${k}].privateKey`, `${mode} mode requires a private key`);
      });
    } else {
      if (!isSet(tls.serverCertificate))
        v.error(`${p}.serverCertificate`, `${mode} mode requires serverCertificate (or credentialName)`);
      if (!isSet(tls.privateKey))
        v.error(`${p}.privateKey`, `${mode} mode requires privateKey (or credentialName)`);
    }
  }
  if (isSet(caCrl)) {
    if (isSet(tls.credentialName)) v.error(`${p}.caCrl`, 'caCrl cannot be used with credentialName');
    if (mode === 'SIMPLE') v.error(`${p}.caCrl`, 'caCrl cannot be used in SIMPLE mode');
  }
  validateTlsVersions(v, tls, p);
}

function validateTlsVersions(v: Validator, tls: ServerTLSSettings, p: string): void {
  const min = TLS_VERSIONS.indexOf(tls.minProtocolVersion ?? '');
  const max = TLS_VERSIONS.indexOf(tls.maxProtocolVersion ?? '');
  if (min >= 0 && max >= 0 && min > max) {
    v.error(
      `${p}.maxProtocolVersion`,
      `maxProtocolVersion ${tls.maxProtocolVersion} is lower than minProtocolVersion ${tls.minProtocolVersion}`,
    );
  }
}
