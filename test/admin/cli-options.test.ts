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
      tracing: { endpoint: 'http://127.0.0.1:9411/api/v2/spans', samplingPercent: 12.5 },
    });
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
  ])('rejects %o', (values, message) => {
    expect(() => parseTelemetryOptions(values)).toThrow(message);
  });
});
