/**
 * The per-request (HTTP) or per-connection (TCP, TLS, CONNECT) choice among weighted destinations
 * of one route: Envoy `weighted_clusters`, weights relative, zero weights already dropped at compile.
 */

/**
 * Picks one item with probability weight / total.
 * @param total the sum of `weight` over `items`, computed once at compile time.
 * @returns undefined only for an empty list.
 */
export function pickWeighted<T extends { readonly weight: number }>(
  items: readonly T[],
  total: number,
): T | undefined {
  const n = items.length;
  if (n <= 1) return items[0];
  let r = Math.random() * total;
  for (let i = 0; i < n; i++) {
    r -= items[i]!.weight;
    if (r < 0) return items[i];
  }
  return items[n - 1];
}
