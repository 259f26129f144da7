/**
 * Host-name semantics of Istio (pkg/config/host): wildcards, short-name resolution, subset and
 * intersection tests. Pure functions over lowercase strings.
 */

/** The cluster-local suffix Istio appends when it resolves a short name. */
export const CLUSTER_DOMAIN = 'svc.cluster.local';

/**
 * Resolves a VirtualService/DestinationRule/ServiceEntry host the way Istio does
 * (`ResolveShortnameToFQDN`): a name without a dot becomes `<name>.<namespace>.svc.cluster.local`;
 * names with a dot, `*`, and IP addresses are kept as written.
 */
export function resolveShortName(host: string, namespace: string): string {
  if (host === '*' || host.includes('.') || host.includes(':')) return host.toLowerCase();
  return `${host}.${namespace}.${CLUSTER_DOMAIN}`.toLowerCase();
}

/** True for `*` and `*.suffix` hosts. */
export function isWildcard(host: string): boolean {
  return host.startsWith('*');
}

/**
 * True when `host` is covered by `pattern` (pattern ⊇ host): `*` covers everything, `*.a.com` covers
 * `b.a.com`, `c.b.a.com` and `*.b.a.com` but not `a.com`; otherwise the names must be equal.
 */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) {
    const suffix = pattern.slice(1); // ".a.com"
    if (host.startsWith('*')) return host.slice(1).endsWith(suffix);
    return host.length > suffix.length && host.endsWith(suffix);
  }
  return pattern === host;
}

/**
 * Istio's `Names.Intersection` for one pair: when one host is a subset of the other, the more
 * specific one; otherwise `undefined`.
 */
export function intersectHosts(a: string, b: string): string | undefined {
  if (hostCovers(a, b)) return b;
  if (hostCovers(b, a)) return a;
  return undefined;
}

/**
 * Strips the `:port` of a `Host` / `:authority` / `host:port` value. A bracketed IPv6 literal keeps
 * its brackets (`[::1]:8080` → `[::1]`); a bare IPv6 address has no port and is returned as is
 * (`::1` → `::1`), as RFC 3986 only allows a port after a bracketed literal. No lowercasing.
 */
export function stripPort(authority: string): string {
  if (authority.charCodeAt(0) === 0x5b /* [ */) {
    const end = authority.indexOf(']');
    return end < 0 ? authority : authority.slice(0, end + 1);
  }
  const colon = authority.indexOf(':');
  if (colon < 0 || authority.indexOf(':', colon + 1) >= 0) return authority;
  return authority.slice(0, colon);
}

/**
 * Splits `host[:port]` (IPv6 in brackets, see {@link stripPort}): the host lowercased with a trailing
 * dot removed, the port when it is a valid TCP port (1–65535), else undefined.
 */
export function splitAuthority(authority: string): { host: string; port: number | undefined } {
  let host = stripPort(authority);
  let port: number | undefined;
  if (host.length < authority.length) {
    const p = Number(authority.slice(host.length + 1));
    if (Number.isInteger(p) && p > 0 && p < 65536) port = p;
  }
  host = host.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  return { host, port };
}

/**
 * Splits a Gateway server host `ns/host` into its namespace filter and host: `./h` → the gateway's
 * namespace, `*` or no prefix → any namespace (`*`).
 */
export function splitServerHost(
  entry: string,
  gatewayNamespace: string,
): { namespace: string; host: string } {
  const slash = entry.indexOf('/');
  if (slash < 0) return { namespace: '*', host: entry.toLowerCase() };
  const ns = entry.slice(0, slash);
  return { namespace: ns === '.' ? gatewayNamespace : ns, host: entry.slice(slash + 1).toLowerCase() };
}

/**
 * Resolves a VirtualService `gateways` entry to `namespace/name` (or `mesh`): `name` is in the VS
 * namespace, `ns/name` and `./name` as written, legacy `name.ns.svc.cluster.local` as `ns/name`.
 */
export function resolveGatewayRef(ref: string, vsNamespace: string): string {
  if (ref === 'mesh') return 'mesh';
  const slash = ref.indexOf('/');
  if (slash >= 0) {
    const ns = ref.slice(0, slash);
    return `${ns === '.' ? vsNamespace : ns}/${ref.slice(slash + 1)}`;
  }
  // Legacy form `name.namespace[.svc.cluster.local]`.
  const parts = ref.split('.');
  if (parts.length >= 2) return `${parts[1]}/${parts[0]}`;
  return `${vsNamespace}/${ref}`;
}
