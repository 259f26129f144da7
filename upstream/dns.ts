/**
 * Name resolution for upstream connections: ServiceEntry `resolution: DNS` endpoints, original
 * destinations (`resolution: NONE`, PassthroughCluster) and CONNECT tunnels. Envoy resolves STRICT_DNS
 * clusters itself and (with Istio's `respect_dns_ttl`) keeps each answer for its TTL; this module does
 * the same for every connection undici or the tunnel opens, through a `net.connect`-compatible
 * `lookup` function.
 *
 * Two sources:
 * - `--dns-server host:port`: queries that server (c-ares, A then AAAA) and caches each answer for its
 *   TTL (floor {@link DnsCacheOptions.minTtlMs}).
 * - the system resolver (default): `getaddrinfo` (so `/etc/hosts` applies, as for any local program);
 *   it reports no TTL, so answers are kept for {@link DEFAULT_SYSTEM_TTL_MS}, Envoy's default
 *   `dns_refresh_rate`.
 *
 * Failures are not cached (the next connection asks again); concurrent look-ups of one name share
 * one query. Several addresses are used in turn, one per new connection (STRICT_DNS load-balances
 * over all of them).
 */
import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

/** How long an answer of the system resolver is reused, in ms (Envoy's default `dns_refresh_rate`, 5 s). */
const DEFAULT_SYSTEM_TTL_MS = 5_000;

/** Shortest time an answer is kept even when its TTL is 0, in ms. */
const DEFAULT_MIN_TTL_MS = 1_000;

/** Time one query to `--dns-server` may take before it is retried (c-ares `timeout`), in ms. */
const QUERY_TIMEOUT_MS = 1_000;

/** A resolved address and its IP family. */
interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Options of {@link DnsCache}. */
interface DnsCacheOptions {
  /** `--dns-server`: the DNS server to ask; undefined uses the system resolver (`getaddrinfo`). */
  readonly server?: { readonly host: string; readonly port: number };
  /** Floor applied to record TTLs, in ms (default {@link DEFAULT_MIN_TTL_MS}). */
  readonly minTtlMs?: number;
  /** Cache lifetime of system-resolver answers, in ms (default {@link DEFAULT_SYSTEM_TTL_MS}). */
  readonly systemTtlMs?: number;
  /** Clock in ms (tests inject one); default `Date.now`. */
  readonly now?: () => number;
}

interface Entry {
  readonly addresses: readonly ResolvedAddress[];
  /** Absolute expiry time in ms. */
  readonly expiresAt: number;
  /** Round-robin cursor over `addresses`. */
  next: number;
}

/** Error with the `code` undici and the local-reply table classify (`ENOTFOUND` ⇒ 503 UF). */
function notFound(host: string, cause?: unknown): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`DNS lookup of ${host} found no address`);
  err.code = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'ENOTFOUND';
  if (cause !== undefined) err.cause = cause;
  return err;
}

/**
 * A TTL-respecting DNS cache with a `lookup` usable as `net.connect({ lookup })` and undici's
 * `connect.lookup`.
 */
export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  private readonly resolver: dns.promises.Resolver | undefined;
  private readonly minTtlMs: number;
  private readonly systemTtlMs: number;
  private readonly now: () => number;
  /** Queries actually sent (cache misses), for tests and stats. */
  queries = 0;

  /** @throws Error when `server` is not a valid address (c-ares `setServers`). */
  constructor(readonly opts: DnsCacheOptions = {}) {
    this.minTtlMs = opts.minTtlMs ?? DEFAULT_MIN_TTL_MS;
    this.systemTtlMs = opts.systemTtlMs ?? DEFAULT_SYSTEM_TTL_MS;
    this.now = opts.now ?? Date.now;
    if (opts.server) {
      this.resolver = new dns.promises.Resolver({ timeout: QUERY_TIMEOUT_MS, tries: 2 });
      const { host, port } = opts.server;
      this.resolver.setServers([isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`]);
    }
  }

  /** Where answers come from, for logs: `dns 127.0.0.53:5353` or `system`. */
  get source(): string {
    return this.opts.server ? `dns ${this.opts.server.host}:${this.opts.server.port}` : 'system';
  }

  /**
   * All addresses of `host` (an IP literal is returned as is), from the cache while its TTL lasts.
   * @throws Error with `code` `ENOTFOUND` (or the resolver's code) when there is no address.
   */
  async resolveAll(host: string): Promise<readonly ResolvedAddress[]> {
    return (await this.entry(host)).addresses;
  }

  /**
   * The next address of `host` in round-robin order.
   * @throws as {@link resolveAll}.
   */
  async resolve(host: string): Promise<ResolvedAddress> {
    const e = await this.entry(host);
    const a = e.addresses[e.next % e.addresses.length]!;
    e.next++;
    return a;
  }

  /** Forgets every cached answer. */
  clear(): void {
    this.entries.clear();
  }

  /**
   * `net.connect`'s `lookup` option: answers from the cache; with `all: true` (Node's
   * `autoSelectFamily`) every address, the round-robin one first.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const all = (options as { all?: boolean }).all === true;
    this.entry(hostname).then(
      (e) => {
        const start = e.next++ % e.addresses.length;
        if (all) {
          const list = e.addresses.map((_, i) => e.addresses[(start + i) % e.addresses.length]!);
          (callback as unknown as (err: null, addresses: ResolvedAddress[]) => void)(null, list);
        } else {
          const a = e.addresses[start]!;
          callback(null, a.address, a.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 4),
    );
  };

  private entry(host: string): Promise<Entry> {
    const family = isIP(host);
    if (family !== 0) {
      return Promise.resolve({
        addresses: [{ address: host, family: family as 4 | 6 }],
        expiresAt: Infinity,
        next: 0,
      });
    }
    const key = host.toLowerCase();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > this.now()) return Promise.resolve(hit);
    let pending = this.inflight.get(key);
    if (!pending) {
      this.queries++;
      pending = this.query(key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private async query(host: string): Promise<Entry> {
    let addresses: ResolvedAddress[];
    let ttlMs: number;
    if (this.resolver) {
      const r = this.resolver;
      const [v4, v6] = await Promise.all([
        r.resolve4(host, { ttl: true }).catch(() => []),
        r.resolve6(host, { ttl: true }).catch(() => []),
      ]);
      addresses = [
        ...v4.map((a) => ({ address: a.address, family: 4 as const })),
        ...v6.map((a) => ({ address: a.address, family: 6 as const })),
      ];
      const ttls = [...v4, ...v6].map((a) => a.ttl);
      ttlMs = Math.max(this.minTtlMs, Math.min(...ttls) * 1000);
    } else {
      let found: dns.LookupAddress[];
      try {
        found = await dns.promises.lookup(host, { all: true });
      } catch (err) {
        throw notFound(host, err);
      }
      addresses = found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
      ttlMs = this.systemTtlMs;
    }
    if (addresses.length === 0) throw notFound(host);
    const previous = this.entries.get(host);
    const entry: Entry = { addresses, expiresAt: this.now() + ttlMs, next: previous?.next ?? 0 };
    this.entries.set(host, entry);
    return entry;
  }
}

/**
 * Parses `--dns-server`: `host:port`, `[v6]:port`, or a bare address (port 53).
 * @throws Error naming the bad value.
 */
export function parseDnsServer(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(text.trim());
  const host = m?.[1] ?? m?.[2];
  const port = m?.[3] === undefined ? 53 : Number(m[3]);
  if (!host || isIP(host) === 0 || port < 1 || port > 65535) {
    throw new Error(
      `--dns-server: "${text}" must be an IP address with an optional port, e.g. 127.0.0.1:5353`,
    );
  }
  return { host, port };
}
