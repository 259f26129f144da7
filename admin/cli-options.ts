/**
 * Parsing of the telemetry flags of `meshgate run` into {@link ObservabilityOptions}; their
 * `parseArgs` definitions and usage text are in `telemetry-flags.ts`.
 */
import type { ObservabilityOptions } from './observability.js';
import { DEFAULT_PORTS } from './observability.js';
import { tracingFormatOf } from '../telemetry/tracing.js';

/** The parsed values of the telemetry flags (`TELEMETRY_ARG_OPTIONS`). */
interface TelemetryArgValues {
  readonly metrics?: string;
  readonly 'workload-name'?: string;
  readonly 'workload-namespace'?: string;
  readonly 'admin-port'?: string;
  readonly 'admin-address'?: string;
  readonly 'admin-allow-remote'?: boolean;
  readonly 'prometheus-port'?: string;
  readonly 'status-port'?: string;
  readonly 'health-port'?: string;
  readonly 'tracing-endpoint'?: string;
  readonly 'tracing-format'?: string;
  readonly 'tracing-sampling'?: string;
}

/** `<port>` 0-65535 or `off` (undefined). @throws Error naming the flag. */
function port(flag: string, v: string | undefined, dflt: number): number | undefined {
  if (v === undefined) return dflt;
  if (v === 'off') return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new Error(`--${flag}: "${v}" must be a port 0-65535 or off`);
  return n;
}

/**
 * Turns the flag values into gateway options, with Istio's ports as defaults.
 * @throws Error naming the flag and the bad value.
 */
export function parseTelemetryOptions(v: TelemetryArgValues): ObservabilityOptions {
  const metrics = v.metrics ?? 'on';
  if (metrics !== 'on' && metrics !== 'off') throw new Error(`--metrics: "${metrics}" must be on or off`);
  let tracing: ObservabilityOptions['tracing'];
  const endpoint = v['tracing-endpoint'];
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new Error(`--tracing-endpoint: "${endpoint}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`--tracing-endpoint: "${endpoint}" must be an http(s) URL`);
    }
    const format = v['tracing-format'];
    if (format !== undefined && format !== 'otlp' && format !== 'zipkin') {
      throw new Error(`--tracing-format: "${format}" must be otlp or zipkin`);
    }
    tracing = { endpoint, format: tracingFormatOf(endpoint, format), samplingPercent: 1 };
  } else if (v['tracing-format'] !== undefined) {
    throw new Error('--tracing-format needs --tracing-endpoint');
  }
  const sampling = v['tracing-sampling'];
  if (sampling !== undefined) {
    const pct = Number(sampling);
    if (sampling.trim() === '' || !Number.isFinite(pct) || pct < 0 || pct > 100) {
      throw new Error(`--tracing-sampling: "${sampling}" must be a percentage 0-100`);
    }
    if (!tracing) throw new Error('--tracing-sampling needs --tracing-endpoint');
    tracing = { ...tracing, samplingPercent: pct };
  }
  return {
    metrics: metrics === 'on',
    workloadName: v['workload-name'],
    workloadNamespace: v['workload-namespace'],
    adminPort: port('admin-port', v['admin-port'], DEFAULT_PORTS.admin),
    adminAddress: v['admin-address'],
    adminAllowRemote: v['admin-allow-remote'] === true,
    prometheusPort: port('prometheus-port', v['prometheus-port'], DEFAULT_PORTS.prometheus),
    statusPort: port('status-port', v['status-port'], DEFAULT_PORTS.status),
    healthPort: port('health-port', v['health-port'], DEFAULT_PORTS.health),
    tracing,
  };
}
