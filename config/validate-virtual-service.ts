/**
 * VirtualService field rules: Istio's `ValidateVirtualService` with its HTTP, TLS and TCP route
 * rules (matches, destinations, redirects, rewrites, retries, faults, mirrors, CORS, headers).
 */
import { isIP } from 'node:net';
import { headerValueProblem } from './header-value.js';
import { hostCovers } from '../routes/host-names.js';
import { RETRY_ON_TOKENS } from '../routes/retry-on.js';
import {
  type Headers,
  type HTTPRoute,
  type Resource,
  type StringMatch,
  type VirtualServiceSpec,
} from './resources.js';
import { fieldPath, isRecord } from './schema.js';
import {
  Validator,
  autoSniProblem,
  checkDuration,
  checkMatchHeaderName,
  checkPercent,
  checkPort,
  checkRegex,
  checkStringMatch,
  domainProblem,
  entries,
  field,
  hostProblem,
  isCidrOrIp,
  isHeaderName,
  isJwtClaimRoute,
  isLabel,
  isSet,
  list,
  validateExportTo,
} from './field-rules.js';

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
export function validateVirtualService(v: Validator, spec: VirtualServiceSpec, r: Resource): void {
  validateExportTo(v, spec.exportTo, r.metadata.namespace, false);
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
  const sniBased = tls.some((t) =>
    list(field(t, 'match')).some((m) => list(field(m, 'sniHosts')).length > 0),
  );
  // Names a gateway may see in SNI although they are no DNS names (AUTO_PASSTHROUGH).
  const autoSni = (h: string): boolean => !appliesToMesh && h.startsWith('outbound_');
  if (appliesToMesh) {
    http.forEach((route, i) =>
      list(field(route, 'match')).forEach((m, k) => {
        for (const f of ['headers', 'withoutHeaders'] as const) {
          for (const [name] of entries(field(m, f))) {
            if (isJwtClaimRoute(name))
              v.error(
                fieldPath(`spec.http[${i}].match[${k}].${f}`, name),
                'JWT claim based routing is only supported on gateways (this VirtualService applies to the mesh)',
              );
          }
        }
      }),
    );
  }
  const valid: [string, number][] = [];
  hosts.forEach((h, i) => {
    const problem = autoSni(h) && sniBased ? autoSniProblem(h) : hostProblem(h);
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
        if (isIP(s) !== 0) {
          v.warn(
            `${mp}.sniHosts[${n}]`,
            `an IP address (${JSON.stringify(s)}) as SNI goes against the SNI specification; most clients never send one`,
          );
          return;
        }
        const problem = autoSni(s) ? autoSniProblem(s) : hostProblem(s);
        if (problem) v.error(`${mp}.sniHosts[${n}]`, `invalid SNI host ${JSON.stringify(s)}: ${problem}`);
        else if (!hosts.some((h) => h === s || hostCovers(h.toLowerCase(), s.toLowerCase()))) {
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
    // Envoy allows an empty uri prefix (match all), not an empty scheme/method/authority/header prefix.
    checkStringMatch(v, `${mp}.uri`, m.uri, true);
    for (const f of ['scheme', 'method', 'authority'] as const)
      checkStringMatch(v, `${mp}.${f}`, m[f], false);
    for (const [name, sm] of entries(m.headers)) {
      const np = fieldPath(`${mp}.headers`, name);
      checkMatchHeaderName(v, np, name);
      if (sm === null) v.error(np, 'a header match cannot be null');
      else checkStringMatch(v, np, sm, false);
    }
    for (const [name, sm] of entries(m.withoutHeaders)) {
      const np = fieldPath(`${mp}.withoutHeaders`, name);
      checkMatchHeaderName(v, np, name);
      // `regex: "*"` is not RE2 here: it means "header present".
      if (field(sm, 'regex') !== '*') checkStringMatch(v, np, sm, false);
    }
    for (const [name, sm] of entries(m.queryParams))
      checkStringMatch(v, fieldPath(`${mp}.queryParams`, name), sm, false);
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
  if (isRecord(route.redirect)) validateRedirect(v, route.redirect, `${p}.redirect`, list(route.match));
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
  if (isRecord(d.port)) {
    const n = d.port.number;
    if (!isSet(n) || n === 0) v.error(`${p}.port.number`, 'a port selector needs a port number');
    else checkPort(v, `${p}.port.number`, n);
  }
}

/** Istio's `validateHTTPRedirect`. */
function validateRedirect(
  v: Validator,
  r: Record<string, unknown>,
  p: string,
  matches: readonly unknown[],
): void {
  if (isSet(r.uri) && isSet(r.prefixRewrite))
    v.error(p, 'redirect may set only one of uri and prefixRewrite');
  if (isSet(r.prefixRewrite)) {
    const k = matches.findIndex((m) => isRecord(field(m, 'uri')) && !isSet(field(field(m, 'uri'), 'prefix')));
    if (k >= 0)
      v.error(`${p}.prefixRewrite`, 'prefixRewrite needs every uri match of the route to be a prefix match');
  }
  if (!['uri', 'authority', 'scheme', 'port', 'derivePort', 'prefixRewrite'].some((k) => isSet(r[k]))) {
    v.error(p, 'redirect must set at least one of uri, authority, scheme, port or derivePort');
  }
  // Proto3: 0 is "not set" (301).
  const code = r.redirectCode;
  if (isSet(code) && code !== 0 && (typeof code !== 'number' || code < 300 || code > 399)) {
    v.error(`${p}.redirectCode`, `redirectCode must be a 3xx status (got ${JSON.stringify(code)})`);
  }
  if (isSet(r.scheme) && r.scheme !== 'http' && r.scheme !== 'https')
    v.error(`${p}.scheme`, `redirect scheme must be "http" or "https" (got ${JSON.stringify(r.scheme)})`);
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
  // They go on the upstream request line and Host header as written: no whitespace or control characters.
  for (const k of ['uri', 'authority'] as const) {
    const val = rw[k];
    if (typeof val === 'string' && /[\u0000-\u0020\u007f]/.test(val)) {
      v.error(`${p}.${k}`, `rewrite.${k} must not contain whitespace or control characters`);
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
      for (const [name, value] of entries(ops[op])) {
        const np = fieldPath(`${dp}.${op}`, name);
        const valueProblem = typeof value === 'string' ? headerValueProblem(value) : undefined;
        if (valueProblem) v.error(np, `invalid header value ${JSON.stringify(value)}: ${valueProblem}`);
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
