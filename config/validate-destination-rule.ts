/**
 * DestinationRule field rules: Istio's `ValidateDestinationRule` (host, subsets, traffic policies:
 * connection pool, outlier detection, load balancer, client TLS).
 */
import {
  type ClientTLSSettings,
  type DestinationRuleSpec,
  type Resource,
  type TrafficPolicy,
} from './resources.js';
import { isRecord } from './schema.js';
import {
  Validator,
  checkDuration,
  checkNonNegative,
  checkPercent,
  checkPort,
  field,
  isLabel,
  isSet,
  list,
  validateExportTo,
  wildcardDomainProblem,
} from './field-rules.js';

/** Istio's `ValidateDestinationRule`: host, traffic policies, subsets. */
export function validateDestinationRule(v: Validator, spec: DestinationRuleSpec, r: Resource): void {
  validateExportTo(v, spec.exportTo, r.metadata.namespace, false, isRecord(field(spec, 'workloadSelector')));
  const host = spec.host;
  if (!isSet(host)) v.error('spec.host', 'host is required');
  else if (typeof host === 'string') {
    const problem = wildcardDomainProblem(host);
    if (problem) v.error('spec.host', `invalid host ${JSON.stringify(host)}: ${problem}`);
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
    if (http.h2UpgradePolicy === 'UPGRADE' && http.useClientProtocol === true)
      v.error(
        `${p}.http.useClientProtocol`,
        'useClientProtocol must not be true when h2UpgradePolicy is UPGRADE',
      );
    const ka = field(http, 'http2KeepAlive');
    if (isRecord(ka)) {
      for (const f of ['interval', 'timeout'] as const) {
        if (!isSet(ka[f])) v.error(`${p}.http.http2KeepAlive.${f}`, `http2KeepAlive.${f} is required`);
        else checkDuration(v, `${p}.http.http2KeepAlive.${f}`, ka[f]);
      }
    }
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
  const localOrigin = field(od, 'consecutiveLocalOriginFailures');
  if (
    typeof localOrigin === 'number' &&
    localOrigin > 0 &&
    field(od, 'splitExternalLocalOriginErrors') !== true
  ) {
    v.error(
      `${p}.consecutiveLocalOriginFailures`,
      'consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true',
    );
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
  const warmup = field(lb, 'warmup');
  if (isRecord(warmup)) {
    if (!isSet(warmup.duration)) v.error(`${p}.warmup.duration`, 'warmup.duration is required');
    else checkDuration(v, `${p}.warmup.duration`, warmup.duration);
    if (typeof warmup.minimumPercent === 'number' && warmup.minimumPercent > 100)
      v.error(
        `${p}.warmup.minimumPercent`,
        `minimumPercent must be at most 100 (got ${warmup.minimumPercent})`,
      );
    if (typeof warmup.aggression === 'number' && warmup.aggression <= 0)
      v.error(`${p}.warmup.aggression`, `aggression must be greater than 0 (got ${warmup.aggression})`);
  }
  if (isRecord(field(lb, 'localityLbSetting')) && isRecord(field(lb, 'zoneAwareLbSetting')))
    v.error(p, 'only one of localityLbSetting and zoneAwareLbSetting may be set');
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
  if (isRecord(ch.maglev) && !isSet(table))
    v.error(`${cp}.maglev.tableSize`, 'tableSize must be set for maglev');
  if (typeof table === 'number' && (table >= 5_000_011 || !isPrime(table)))
    v.error(`${cp}.maglev.tableSize`, `maglev tableSize must be a prime number below 5000011 (got ${table})`);
  checkNonNegative(v, `${cp}.ringHash.minimumRingSize`, field(ch.ringHash, 'minimumRingSize'));
  checkNonNegative(v, `${cp}.minimumRingSize`, ch.minimumRingSize);
  if (isRecord(ch.httpCookie)) {
    if (!isSet(ch.httpCookie.name)) v.error(`${cp}.httpCookie.name`, 'cookie name is required');
    checkDuration(v, `${cp}.httpCookie.ttl`, ch.httpCookie.ttl, true);
    const names = new Set<string>();
    list(field(ch.httpCookie, 'attributes')).forEach((a, k) => {
      const ap = `${cp}.httpCookie.attributes[${k}].name`;
      const name = field(a, 'name');
      if (!isSet(name)) v.error(ap, 'cookie attribute name cannot be empty');
      else if (names.has(String(name)))
        v.error(ap, `duplicate cookie attribute name ${JSON.stringify(name)}`);
      else names.add(String(name));
    });
  }
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** Istio's `ValidateTLS` for DestinationRule (ClientTLSSettings). */
function validateClientTls(v: Validator, tls: ClientTLSSettings, p: string): void {
  const mode = tls.mode;
  const skipVerify = field(tls, 'insecureSkipVerify');
  if (skipVerify === true || field(skipVerify, 'value') === true) {
    const sans = tls.subjectAltNames !== undefined && tls.subjectAltNames !== null;
    const conflicts =
      mode === 'SIMPLE'
        ? [
            ...(isSet(tls.caCertificates) ? ['caCertificates'] : []),
            ...(isSet(tls.credentialName) ? ['credentialName'] : []),
            ...(sans ? ['subjectAltNames'] : []),
          ]
        : mode === 'MUTUAL'
          ? [...(isSet(tls.caCertificates) ? ['caCertificates'] : []), ...(sans ? ['subjectAltNames'] : [])]
          : [];
    if (conflicts.length > 0)
      v.error(
        `${p}.insecureSkipVerify`,
        `insecureSkipVerify cannot be combined with ${conflicts.join(', ')}`,
      );
  }
  const files = (['clientCertificate', 'privateKey', 'caCertificates', 'caCrl'] as const).filter((k) =>
    isSet(field(tls, k)),
  );
  if (mode === 'ISTIO_MUTUAL' && (files.length > 0 || isSet(tls.credentialName)))
    v.warn(
      p,
      `ISTIO_MUTUAL uses the mesh certificates; ${[...files, ...(isSet(tls.credentialName) ? ['credentialName'] : [])].join(', ')} are ignored`,
    );
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && isSet(tls.credentialName)) {
    if (files.length > 0) v.error(p, `credentialName cannot be combined with ${files.join(', ')}`);
    return;
  }
  if (mode === 'MUTUAL') {
    if (!isSet(tls.clientCertificate))
      v.error(`${p}.clientCertificate`, 'MUTUAL mode requires clientCertificate (or credentialName)');
    if (!isSet(tls.privateKey))
      v.error(`${p}.privateKey`, 'MUTUAL mode requires privateKey (or credentialName)');
  }
}
