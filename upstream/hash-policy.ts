/**
 * The request side of consistent hashing (Istio `loadBalancer.consistentHash`, Envoy route
 * `hash_policy`): which part of the request is hashed, compiled once per cluster. Only clusters with
 * a consistent-hash balancer have a policy, so other requests pay nothing.
 */
import type { IncomingMessage } from 'node:http';

/** What hashing reads of a downstream request (HTTP/1.1 or HTTP/2). */
type HashedRequest = Pick<IncomingMessage, 'headers' | 'socket'>;
import type { LoadBalancerSettings } from '../config/resources.js';
import { parseDurationMs } from '../config/duration.js';
import { hashString } from './consistent-hash.js';

/** Receives the `Set-Cookie` value when the policy generated a cookie for this request. */
export interface CookieSink {
  setCookie: string | undefined;
}

/** Computes the hash of one request for a consistent-hash balancer. */
export interface HashPolicy {
  /**
   * @param url the request target as received (origin form, query included).
   * @param sink gets `Set-Cookie` when an `httpCookie` with `ttl` was missing and is generated now.
   * @returns an unsigned 32-bit hash, or undefined when the request has no key (the balancer then
   *   picks at random, as Envoy does).
   */
  hash(req: HashedRequest, url: string, sink: CookieSink): number | undefined;
}

/**
 * Compiles `consistentHash` (`httpHeaderName`, `httpCookie {name, path, ttl}`, `useSourceIp`,
 * `httpQueryParameterName`); undefined when the balancer is not consistent hash.
 */
export function compileHashPolicy(lb: LoadBalancerSettings | undefined): HashPolicy | undefined {
  const ch = lb?.consistentHash;
  if (!ch) return undefined;
  if (ch.httpHeaderName) return new HeaderHash(ch.httpHeaderName.toLowerCase());
  if (ch.httpCookie?.name) {
    const ttl = ch.httpCookie.ttl === undefined ? undefined : parseDurationMs(ch.httpCookie.ttl);
    return new CookieHash(ch.httpCookie.name, ch.httpCookie.path, ttl);
  }
  if (ch.useSourceIp) return SOURCE_IP;
  if (ch.httpQueryParameterName) return new QueryHash(ch.httpQueryParameterName);
  return undefined;
}

class HeaderHash implements HashPolicy {
  constructor(private readonly name: string) {}
  hash(req: HashedRequest): number | undefined {
    const v = req.headers[this.name];
    if (v === undefined) return undefined;
    return hashString(Array.isArray(v) ? v.join(',') : v);
  }
}

const SOURCE_IP: HashPolicy = {
  hash(req) {
    const a = req.socket.remoteAddress;
    if (a === undefined) return undefined;
    return hashString(a.startsWith('::ffff:') ? a.slice(7) : a);
  },
};

class QueryHash implements HashPolicy {
  constructor(private readonly name: string) {}
  hash(_req: HashedRequest, url: string): number | undefined {
    const q = url.indexOf('?');
    if (q < 0) return undefined;
    const v = new URLSearchParams(url.slice(q + 1)).get(this.name);
    return v === null ? undefined : hashString(v);
  }
}

/**
 * Envoy's cookie hash: the cookie's value when present; when absent and `ttl` is set, a value is
 * generated from the downstream connection's addresses (so concurrent requests on one connection
 * agree), returned as `Set-Cookie: name="value"; Max-Age=<ttl s>; Path=<path>; HttpOnly` (no
 * Max-Age for `ttl: 0s`, a session cookie), and hashed as if the client had sent it.
 */
class CookieHash implements HashPolicy {
  private readonly prefix: string;
  private readonly attributes: string;

  constructor(
    private readonly name: string,
    path: string | undefined,
    private readonly ttlMs: number | undefined,
  ) {
    this.prefix = `${name}=`;
    let attrs = '';
    if (ttlMs !== undefined && ttlMs > 0) attrs += `; Max-Age=${Math.floor(ttlMs / 1000)}`;
    if (path) attrs += `; Path=${path}`;
    this.attributes = `${attrs}; HttpOnly`;
  }

  hash(req: HashedRequest, _url: string, sink: CookieSink): number | undefined {
    const value = readCookie(req.headers.cookie, this.prefix);
    if (value !== undefined) return hashString(value);
    if (this.ttlMs === undefined) return undefined;
    const s = req.socket;
    const seed = `${s.remoteAddress}:${s.remotePort}${s.localAddress}:${s.localPort}`;
    const generated = hex32(hashString(seed)) + hex32(hashString(seed, 0x5bd1e995));
    sink.setCookie = `${this.name}="${generated}"${this.attributes}`;
    return hashString(generated);
  }
}

/** Reads one cookie from a `Cookie` header (`a=1; b="2"`), surrounding quotes removed. */
function readCookie(header: string | undefined, prefix: string): string | undefined {
  if (!header) return undefined;
  let i = 0;
  while (i < header.length) {
    while (header.charCodeAt(i) === 32 /* ' ' */) i++;
    let end = header.indexOf(';', i);
    if (end < 0) end = header.length;
    if (header.startsWith(prefix, i)) {
      const v = header.slice(i + prefix.length, end).trim();
      return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
    i = end + 1;
  }
  return undefined;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}
