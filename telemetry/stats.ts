/**
 * Envoy-style counters and gauges kept as plain numbers (no per-increment allocation), named as
 * Envoy names them (`http.<prefix>.downstream_rq_4xx`, `cluster.<name>.upstream_rq_total`, ...).
 * Exposition (admin `/stats`, Prometheus) reads them.
 */

/** A flat, string-keyed counter store. */
export class StatStore {
  private readonly values = new Map<string, number>();

  /** Adds `by` (default 1) to the named counter. */
  inc(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  /** Sets a gauge. */
  set(name: string, value: number): void {
    this.values.set(name, value);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** All stats sorted by name, as `name: value` lines (Envoy admin `/stats` text). */
  toText(): string {
    return [...this.values.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n');
  }

  entries(): IterableIterator<[string, number]> {
    return this.values.entries();
  }
}
