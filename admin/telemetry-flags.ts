/**
 * The telemetry flags of `meshgate run`: their `parseArgs` definitions and usage text, spliced into
 * the command line's flag table by `cli/flags.ts`. Imports nothing, so that `meshgate validate`
 * (which accepts every flag) does not load the admin server and the trace exporters to parse its
 * arguments; the values are parsed by `cli-options.ts`.
 */
/** `node:util` parseArgs option definitions of the telemetry flags. */
export const TELEMETRY_ARG_OPTIONS = {
  metrics: { type: 'string' },
  'workload-name': { type: 'string' },
  'workload-namespace': { type: 'string' },
  'admin-port': { type: 'string' },
  'admin-address': { type: 'string' },
  'admin-allow-remote': { type: 'boolean' },
  'prometheus-port': { type: 'string' },
  'status-port': { type: 'string' },
  'health-port': { type: 'string' },
  'tracing-endpoint': { type: 'string' },
  'tracing-format': { type: 'string' },
  'tracing-sampling': { type: 'string' },
} as const;

/** Usage lines of the telemetry flags (appended to the CLI's option list). */
export const TELEMETRY_USAGE = `      --metrics on|off         Istio metrics and per-request Envoy stats (default: on)
      --workload-name <name>   source_workload label, tracing service name (default: istio-ingressgateway)
      --workload-namespace <ns>  source_workload_namespace label (default: istio-system)
      --admin-port <port|off>  admin: /config_dump /clusters /stats /ready /logging (default: 15000)
      --admin-address <ip>     admin bind address (default: 127.0.0.1)
      --admin-allow-remote     answer admin requests from non-loopback clients (default: 403)
      --prometheus-port <port|off>
                               /stats/prometheus, as Envoy's port (default: 15090)
      --status-port <port|off> /stats/prometheus and /healthz/ready, as pilot-agent's (default: 15020)
      --health-port <port|off> /healthz/ready: 200 once listeners are bound, 503 before and while
                               draining (default: 15021)
      --tracing-endpoint <url> export spans: OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/traces, or
                               Zipkin v2, e.g. http://127.0.0.1:9411/api/v2/spans (default: tracing off)
      --tracing-format otlp|zipkin
                               export format (default: from the endpoint's path)
      --tracing-sampling <pct> percent of new traces sampled, 0-100 (default: 1, as Istio)
`;
