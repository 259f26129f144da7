/**
 * Outlier detection (Istio `DestinationRule.trafficPolicy.outlierDetection`, Envoy
 * `outlier_detection` with consecutive-error ejection only; success-rate ejection stays off as
 * Istio configures it).
 *
 * Every finished attempt reports its result for its endpoint: the HTTP status, or a local-origin
 * failure (connect failure or reset → 503, timeout → 504; Istio leaves
 * `splitExternalLocalOriginErrors` off, so these count as 5xx and gateway errors). The N-th
 * consecutive 5xx (`consecutive5xxErrors`, default 5) or gateway error 502/503/504
 * (`consecutiveGatewayErrors`, off by default; legacy `consecutiveErrors` means this) ejects the
 * endpoint at once, unless that would eject more than `maxEjectionPercent` (default 10) of the
 * cluster. An ejected endpoint is skipped by the balancer for `baseEjectionTime` (30 s) × the number
 * of times it was ejected, at most 300 s (or the base time when longer); the interval sweep
 * (`interval`, 10 s) brings it back, so a return happens at the first sweep after its time is up.
 * Below `minHealthPercent` healthy endpoints the cluster is in panic mode and uses all endpoints
 * (Istio passes it as Envoy's panic threshold; 0, the default, disables panic).
 */
import type { OutlierDetection } from '../config/resources.js';
import { parseDurationMs } from '../config/duration.js';
import type { StatStore } from '../telemetry/stats.js';

/** A monotonic millisecond clock; injected so tests can drive time. */
export interface Clock {
  now(): number;
}

/** `performance.now()`: monotonic, unaffected by wall-clock changes. */
const MONOTONIC_CLOCK: Clock = { now: () => performance.now() };

/** Envoy's `max_ejection_time` default (300 s); Istio does not set it. */
const MAX_EJECTION_TIME_MS = 300_000;

/** Outlier detection settings with Envoy's defaults applied; durations in ms, percentages 0–100. */
interface OutlierConfig {
  /** Consecutive 5xx results that eject; 0 disables (`consecutive5xxErrors`, default 5). */
  readonly consecutive5xx: number;
  /** Consecutive 502/503/504 results that eject; 0 disables (`consecutiveGatewayErrors`). */
  readonly consecutiveGatewayErrors: number;
  /** Sweep period (`interval`, default 10 s). */
  readonly intervalMs: number;
  /** `baseEjectionTime`, default 30 s. */
  readonly baseEjectionTimeMs: number;
  /** Cap on base × ejections (Envoy 300 s, raised to the base time when that is longer). */
  readonly maxEjectionTimeMs: number;
  /** Most endpoints ejected at once, in percent of the cluster (`maxEjectionPercent`, default 10). */
  readonly maxEjectionPercent: number;
  /** Panic threshold (`minHealthPercent`, default 0 = never panic). */
  readonly minHealthPercent: number;
}

/**
 * Applies Istio's translation (`applyOutlierDetection`) and Envoy's defaults. The legacy
 * `consecutiveErrors` is honoured as Istio did while it was: as gateway errors, with the 5xx rule
 * then off unless `consecutive5xxErrors` is given too.
 * @returns undefined when the DestinationRule has no `outlierDetection` block.
 */
export function outlierConfig(od: OutlierDetection | undefined): OutlierConfig | undefined {
  if (!od) return undefined;
  const legacy =
    typeof od.consecutiveErrors === 'number' && od.consecutiveErrors > 0 ? od.consecutiveErrors : 0;
  const gateway = od.consecutiveGatewayErrors ?? legacy;
  const fiveXx = od.consecutive5xxErrors ?? (legacy > 0 ? 0 : 5);
  const base = parseDurationMs(od.baseEjectionTime) ?? 30_000;
  const maxPercent = od.maxEjectionPercent && od.maxEjectionPercent > 0 ? od.maxEjectionPercent : 10;
  return Object.freeze({
    consecutive5xx: Math.max(0, fiveXx),
    consecutiveGatewayErrors: Math.max(0, gateway),
    intervalMs: parseDurationMs(od.interval) || 10_000,
    baseEjectionTimeMs: base,
    maxEjectionTimeMs: Math.max(MAX_EJECTION_TIME_MS, base),
    maxEjectionPercent: Math.min(100, maxPercent),
    minHealthPercent: Math.max(0, Math.min(100, od.minHealthPercent ?? 0)),
  });
}

/** Why an endpoint was ejected (Envoy's ejection types, used in stat names). */
type EjectionType = 'consecutive_5xx' | 'consecutive_gateway_failure';

/** Per-endpoint state (Envoy `DetectorHostMonitor`). */
interface HostMonitor {
  consecutive5xx: number;
  consecutiveGateway: number;
  ejected: boolean;
  ejectedAt: number;
  /** Times ejected, less one per healthy base period since (Envoy's ejection backoff). */
  ejections: number;
  unejectedAt: number | undefined;
}

/** Outlier detection state of one cluster, keyed by endpoint (`address:port`). */
export class OutlierDetector {
  private readonly monitors = new Map<string, HostMonitor>();
  /** Endpoints currently ejected. */
  ejectedCount = 0;
  /** Called after an ejection or a return, so the cluster can rebuild its healthy set. */
  onChange: (() => void) | undefined;
  private nextSweepAt: number;
  private timer: NodeJS.Timeout | undefined;
  private stats: StatStore | undefined;
  private readonly prefix: string;

  /** @param clusterName stats live under `cluster.<clusterName>.outlier_detection.`. */
  constructor(
    readonly config: OutlierConfig,
    clusterName: string,
    private readonly clock: Clock = MONOTONIC_CLOCK,
  ) {
    this.prefix = `cluster.${clusterName}.outlier_detection.`;
    this.nextSweepAt = clock.now() + config.intervalMs;
  }

  /** Publishes the counters into `stats` and keeps them there. */
  bindStats(stats: StatStore): void {
    if (this.stats === stats) return;
    this.stats = stats;
    for (const n of ['ejections_enforced_total', 'ejections_overflow']) stats.inc(this.prefix + n, 0);
    stats.set(`${this.prefix}ejections_active`, this.ejectedCount);
  }

  /** Sets the cluster's endpoints: keeps the state of those that stay, forgets the rest. */
  setHosts(keys: readonly string[]): void {
    const keep = new Set(keys);
    for (const [k, m] of this.monitors) {
      if (keep.has(k)) continue;
      if (m.ejected) this.ejectedCount--;
      this.monitors.delete(k);
    }
    for (const k of keys) {
      if (!this.monitors.has(k))
        this.monitors.set(k, {
          consecutive5xx: 0,
          consecutiveGateway: 0,
          ejected: false,
          ejectedAt: 0,
          ejections: 0,
          unejectedAt: undefined,
        });
    }
    this.gauge();
  }

  /** Whether the endpoint is ejected now. */
  isEjected(key: string): boolean {
    return this.monitors.get(key)?.ejected === true;
  }

  /**
   * The balancer's candidates: `all` minus ejected endpoints, the same array when none is ejected,
   * and `all` again in panic mode (healthy share below `minHealthPercent`).
   */
  healthyOf<T extends { readonly endpoint: { readonly key: string } }>(all: readonly T[]): readonly T[] {
    if (this.ejectedCount === 0) return all;
    const healthy = all.filter((e) => !this.isEjected(e.endpoint.key));
    if (healthy.length * 100 < this.config.minHealthPercent * all.length) return all;
    return Object.freeze(healthy);
  }

  /**
   * One attempt's result for an endpoint: an HTTP status, or 503/504 for a local-origin failure.
   * Ejects on the configured consecutive-error counts.
   */
  report(key: string, status: number): void {
    const now = this.clock.now();
    // Without a running timer (or when it lags), the sweep happens on the next result.
    if (now >= this.nextSweepAt) this.sweep();
    const m = this.monitors.get(key);
    if (!m) return;
    if (status < 500) {
      m.consecutive5xx = 0;
      m.consecutiveGateway = 0;
      return;
    }
    const cfg = this.config;
    if (status >= 502 && status <= 504) {
      if (++m.consecutiveGateway === cfg.consecutiveGatewayErrors) {
        m.consecutiveGateway = 0;
        this.eject(m, 'consecutive_gateway_failure', now);
      }
    } else m.consecutiveGateway = 0;
    if (++m.consecutive5xx === cfg.consecutive5xx) {
      m.consecutive5xx = 0;
      this.eject(m, 'consecutive_5xx', now);
    }
  }

  /**
   * The interval sweep: returns endpoints whose ejection time is up and decays the ejection count of
   * endpoints healthy for a base period. Called by the timer ({@link start}) or lazily on results.
   */
  sweep(): void {
    const now = this.clock.now();
    this.nextSweepAt = now + this.config.intervalMs;
    const base = this.config.baseEjectionTimeMs;
    let changed = false;
    for (const m of this.monitors.values()) {
      if (m.ejected) {
        const time = Math.min(base * m.ejections, this.config.maxEjectionTimeMs);
        if (now - m.ejectedAt >= time) {
          m.ejected = false;
          m.unejectedAt = now;
          m.consecutive5xx = 0;
          m.consecutiveGateway = 0;
          this.ejectedCount--;
          changed = true;
        }
      } else if (m.ejections > 0 && m.unejectedAt !== undefined && now - m.unejectedAt >= base) {
        m.ejections--;
        m.unejectedAt = now;
      }
    }
    if (changed) {
      this.gauge();
      this.onChange?.();
    }
  }

  /** Runs {@link sweep} every `interval` on an unref'd timer (it never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.config.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer (cluster removed or changed, or shutdown). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private eject(m: HostMonitor, type: EjectionType, now: number): void {
    if (m.ejected) return;
    this.stats?.inc(`${this.prefix}ejections_detected_${type}`);
    // Envoy: eject only while (ejected + 1) / hosts stays within maxEjectionPercent.
    if ((100 * (this.ejectedCount + 1)) / this.monitors.size > this.config.maxEjectionPercent) {
      this.stats?.inc(`${this.prefix}ejections_overflow`);
      return;
    }
    m.ejected = true;
    m.ejectedAt = now;
    // Backoff: the multiplier grows while base × multiplier stays under the cap.
    if (this.config.baseEjectionTimeMs * m.ejections < this.config.maxEjectionTimeMs) m.ejections++;
    this.ejectedCount++;
    this.stats?.inc(`${this.prefix}ejections_enforced_total`);
    this.stats?.inc(`${this.prefix}ejections_enforced_${type}`);
    this.gauge();
    this.onChange?.();
  }

  private gauge(): void {
    this.stats?.set(`${this.prefix}ejections_active`, this.ejectedCount);
  }
}
