/**
 * A real DNS server for tests: `samples/egress/dns-server.ts` bound to a UDP port on 127.0.0.1,
 * answering the names a test maps to its loopback stand-ins (127.0.0.x), so `--dns-server` and
 * `resolution: DNS` are exercised through Node's resolver and the wire protocol.
 */
import { startDnsServer, type RunningDnsServer } from '../../samples/egress/dns-server.js';

export type { RunningDnsServer } from '../../samples/egress/dns-server.js';

/**
 * Starts a DNS server on 127.0.0.1 (ephemeral UDP port) with `records` (name → addresses).
 * @param ttlSeconds TTL of every answer (default 30).
 */
export function startTestDns(
  records: Record<string, readonly string[]>,
  ttlSeconds = 30,
): Promise<RunningDnsServer> {
  return startDnsServer({ host: '127.0.0.1', port: 0, records, ttlSeconds });
}

/** `{ host, port }` of a running test DNS server, the shape of the gateway's `dnsServer` option. */
export function dnsServerOption(dns: RunningDnsServer): { host: string; port: number } {
  return { host: dns.host, port: dns.port };
}
