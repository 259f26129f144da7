import { describe, expect, it } from 'vitest';
import { parseTelemetryOptions } from '../../admin/cli-options.js';

describe('telemetry CLI options', () => {
  it("defaults to Istio's ports, metrics on, tracing off", () => {
    expect(parseTelemetryOptions({})).toEqual({
      metrics: true,
      workloadName: undefined,
      workloadNamespace: undefined,
      adminPort: 15000,
      adminAddress: undefined,
      adminAllowRemote: false,
      prometheusPort: 15090,
      statusPort: 15020,
      healthPort: 15021,
      tracing: undefined,
    });
  });

  it('parses every flag', () => {
    expect(
      parseTelemetryOptions({
        metrics: 'off',
        'workload-name': 'egress',
        'admin-port': '0',
        'admin-address': '0.0.0.0',
        'admin-allow-remote': true,
        'prometheus-port': 'off',
        'status-port': '25020',
        'health-port': '0',
        'tracing-endpoint': 'http://127.0.0.1:9411/api/v2/spans',
        'tracing-sampling': '12.5',
      }),
    ).toMatchObject({
      metrics: false,
      workloadName: 'egress',
      adminPort: 0,
      adminAddress: '0.0.0.0',
      adminAllowRemote: true,
      prometheusPort: undefined,
      statusPort: 25020,
      healthPort: 0,
      tracing: { endpoint: 'http://127.0.0.1:9411/api/v2/spans', format: 'zipkin', samplingPercent: 12.5 },
    });
  });

  it.each([
    [{ 'tracing-endpoint': 'http://jaeger:4318/v1/traces' }, 'otlp'],
    [{ 'tracing-endpoint': 'http://jaeger:9411/api/v2/spans' }, 'zipkin'],
    [{ 'tracing-endpoint': 'http://collector:8080/ingest', 'tracing-format': 'otlp' }, 'otlp'],
    [{ 'tracing-endpoint': 'http://jaeger:4318/v1/traces', 'tracing-format': 'zipkin' }, 'zipkin'],
  ])('tracing format of %o is %s', (values, format) => {
    expect(parseTelemetryOptions(values).tracing?.format).toBe(format);
  });

  it.each([
    [{ metrics: 'maybe' }, '--metrics: "maybe" must be on or off'],
    [{ 'admin-port': '70000' }, '--admin-port: "70000" must be a port 0-65535 or off'],
    [{ 'health-port': '-1' }, '--health-port: "-1" must be a port 0-65535 or off'],
    [{ 'tracing-endpoint': 'zipkin:9411' }, '--tracing-endpoint: "zipkin:9411" must be an http(s) URL'],
    [{ 'tracing-endpoint': 'not a url' }, '--tracing-endpoint: "not a url" is not a URL'],
    [
      { 'tracing-endpoint': 'http://x/api/v2/spans', 'tracing-sampling': '101' },
      '--tracing-sampling: "101" must be a percentage 0-100',
    ],
    [{ 'tracing-sampling': '5' }, '--tracing-sampling needs --tracing-endpoint'],
    [{ 'tracing-format': 'otlp' }, '--tracing-format needs --tracing-endpoint'],
    [
      { 'tracing-endpoint': 'http://x:4318/v1/traces', 'tracing-format': 'jaeger' },
      '--tracing-format: "jaeger" must be otlp or zipkin',
    ],
    [
      { 'tracing-endpoint': 'http://x:8080/ingest' },
      '--tracing-endpoint: cannot tell the format from the path "/ingest"',
    ],
  ])('rejects %o', (values, message) => {
    expect(() => parseTelemetryOptions(values)).toThrow(message);
  });
});
