/**
 * Request and response header handling at the proxy: hop-by-hop removal (RFC 9110 §7.6.1), and
 * Istio `headers` set/add/remove operations.
 */
import type { HeaderMutation } from '../routes/route-table.js';

/** Hop-by-hop headers never forwarded, plus those the proxy sets itself. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-authenticate',
]);

/** Response headers as undici delivers them. */
export type HeaderObject = Record<string, string | string[] | undefined>;

/** Applies set/add/remove to a response header object in place. */
export function mutateHeaderObject(h: HeaderObject, m: HeaderMutation): void {
  for (const name of m.remove) delete h[name];
  for (const [k, v] of m.set) h[k] = v;
  for (const [k, v] of m.add) {
    const prev = h[k];
    h[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
}

/** Applies set/add/remove to a flat `[name, value, ...]` request header list (names lowercase) in place. */
export function mutateHeaderList(list: string[], m: HeaderMutation): void {
  if (m.drop.size > 0) dropFromList(list, m.drop);
  for (const [k, v] of m.set) list.push(k, v);
  for (const [k, v] of m.add) list.push(k, v);
}

/** Removes every header named in `names` from a flat `[name, value, …]` list, in one pass. */
export function dropFromList(list: string[], names: ReadonlySet<string>): void {
  let w = 0;
  for (let r = 0; r < list.length; r += 2) {
    if (names.has(list[r]!)) continue;
    list[w++] = list[r]!;
    list[w++] = list[r + 1]!;
  }
  list.length = w;
}

/** Reads a header from a flat list (names lowercase). */
export function getFromList(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

/** Sets a header in a flat list, replacing any value. */
export function setInList(list: string[], name: string, value: string): void {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === name) {
      list[i + 1] = value;
      return;
    }
  }
  list.push(name, value);
}
