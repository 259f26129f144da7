/**
 * gRPC through the gateway with real `@grpc/grpc-js` clients and servers (samples/grpc): the
 * downstream speaks h2c, the cluster speaks HTTP/2 because its port protocol is GRPC; unary and
 * server-streaming calls; an 80/20 split over 2,000 calls; `fault.abort.grpcStatus`; `retryOn:
 * unavailable` on trailers-only responses; Envoy's gRPC local replies (no route → 12 UNIMPLEMENTED,
 * no healthy upstream → 14 UNAVAILABLE: HTTP 200 with grpc-status mapped from the HTTP status).
 */
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ECHO_SERVICE,
  EchoClient,
  startEchoServer,
  type CountReply,
  type RunningEchoServer,
  type SayReply,
} from '../../samples/grpc/echo-service.js';
import type { TestGateway } from '../helpers/gateway.js';
import { baseUrl, fetchText, sampleValue, startTelemetryGateway } from '../helpers/telemetry.js';
import {
  gatewayYaml,
  istioResourceYaml,
  localServiceEntryYaml,
  recordWhere,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';
import { GRPC_9000 as GRPC_PORT } from '../helpers/resources.js';

type Client = InstanceType<typeof EchoClient>;

/** One `Say` call; `headers` become request metadata (the routes match on them). */
function say(c: Client, req: object, headers: Record<string, string> = {}): Promise<SayReply> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  return new Promise((resolve, reject) => {
    (c as unknown as grpc.Client).makeUnaryRequest(
      ECHO_SERVICE.say.path,
      ECHO_SERVICE.say.requestSerialize,
      (b: Buffer) => ECHO_SERVICE.say.responseDeserialize(b) as SayReply,
      req,
      md,
      (err: grpc.ServiceError | null, r?: SayReply) => (err ? reject(err) : resolve(r!)),
    );
  });
}

describe('gRPC through the gateway', () => {
  let v1: RunningEchoServer;
  let v2: RunningEchoServer;
  let gw: TestGateway;
  let client: Client;
  let other: Client;

  beforeAll(async () => {
    v1 = await startEchoServer('v1');
    v2 = await startEchoServer('v2');
    gw = await startTelemetryGateway(
      yamlDocuments(
        gatewayYaml('grpc-gateway', [{ port: 80, name: 'http', protocol: 'HTTP', hosts: ['*'] }]),
        virtualServiceYaml(
          'echo',
          ['echo.example.com'],
          ['grpc-gateway'],
          [
            'http:',
            '- match: [{ headers: { x-fault: { exact: abort } } }]',
            '  fault: { abort: { grpcStatus: UNAVAILABLE, percentage: { value: 100 } } }',
            '  route: [{ destination: { host: echo, subset: v1 } }]',
            '- match: [{ headers: { x-retry: { exact: "yes" } } }]',
            '  retries: { attempts: 3, retryOn: unavailable }',
            '  route: [{ destination: { host: echo, subset: v1 } }]',
            '- route:',
            '  - { destination: { host: echo, subset: v1 }, weight: 80 }',
            '  - { destination: { host: echo, subset: v2 }, weight: 20 }',
          ],
        ),
        virtualServiceYaml(
          'empty',
          ['empty.example.com'],
          ['grpc-gateway'],
          ['http:', '- route: [{ destination: { host: echo, subset: none } }]'],
        ),
        istioResourceYaml('DestinationRule', 'echo', [
          'host: echo',
          'subsets:',
          '- { name: v1, labels: { version: v1 } }',
          '- { name: v2, labels: { version: v2 } }',
          '- { name: none, labels: { version: none } }',
        ]),
        localServiceEntryYaml('echo', GRPC_PORT, [
          { port: v1.port, labels: { version: 'v1' } },
          { port: v2.port, labels: { version: 'v2' } },
        ]),
      ),
    );
    const target = `127.0.0.1:${gw.port(80)}`;
    const creds = grpc.credentials.createInsecure();
    client = new EchoClient(target, creds, { 'grpc.default_authority': 'echo.example.com' });
    other = new EchoClient(target, creds, { 'grpc.default_authority': 'nowhere.example.com' });
  });

  afterAll(async () => {
    client?.close();
    other?.close();
    await gw?.close();
    await v1?.close();
    await v2?.close();
  });

  it('unary and server-streaming calls succeed; the access log shows HTTP/2 both ways', async () => {
    const r = await say(client, { name: 'mesh' });
    expect(r.message).toBe('hello mesh');
    const got = await new Promise<CountReply[]>((resolve, reject) => {
      const out: CountReply[] = [];
      const call = (client as unknown as grpc.Client).makeServerStreamRequest(
        '/meshgate.echo.Echo/Count',
        (v: object) => Buffer.from(JSON.stringify(v)),
        (b: Buffer) => JSON.parse(b.toString()) as CountReply,
        { n: 50 },
      );
      call.on('data', (m: CountReply) => out.push(m));
      call.on('end', () => resolve(out));
      call.on('error', reject);
    });
    expect(got.map((m) => m.i)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const rec = await recordWhere(gw, (x) => x.path === '/meshgate.echo.Echo/Count');
    expect(rec.protocol).toBe('HTTP/2');
    expect(rec.responseCode).toBe(200);
  });

  it('an 80/20 split lands within ±3 points over 2,000 calls', async () => {
    const counts = { v1: 0, v2: 0 };
    for (let batch = 0; batch < 20; batch++) {
      const replies = await Promise.all(Array.from({ length: 100 }, () => say(client, { name: 'x' })));
      for (const r of replies) counts[r.version as 'v1' | 'v2']++;
    }
    console.log(`gRPC split: v1 ${counts.v1}, v2 ${counts.v2} of 2000`);
    expect(counts.v1 + counts.v2).toBe(2000);
    expect(Math.abs(counts.v2 / 2000 - 0.2)).toBeLessThanOrEqual(0.03);
  });

  it('fault.abort.grpcStatus UNAVAILABLE gives the client status 14', async () => {
    const err = (await say(client, { name: 'x' }, { 'x-fault': 'abort' }).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('retryOn: unavailable retries a backend answering UNAVAILABLE twice, then OK', async () => {
    const before = v1.calls.say;
    const r = await say(client, { name: 'retry', key: 'k1', failFirst: 2 }, { 'x-retry': 'yes' });
    expect(r.message).toBe('hello retry');
    expect(v1.calls.say - before).toBe(3);
  });

  it('grpc-timeout is the stream deadline: DEADLINE_EXCEEDED (4) from the gateway', async () => {
    // A raw HTTP/2 client: the deadline is the gateway's alone (grpc-js would enforce its own).
    const session = http2.connect(`http://127.0.0.1:${gw.port(80)}`);
    const body = Buffer.from(JSON.stringify({ name: 'slow', delayMs: 1000 }));
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(body.length, 1);
    const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': '/meshgate.echo.Echo/Say',
        ':authority': 'echo.example.com',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '100m',
      });
      req.on('trailers', resolve);
      req.on('error', reject);
      req.resume();
      req.end(Buffer.concat([prefix, body]));
    });
    session.close();
    expect(trailers['grpc-status']).toBe('4');
    const rec = await recordWhere(
      gw,
      (x) => x.path === '/meshgate.echo.Echo/Say' && x.responseFlags === 'UT',
    );
    expect(rec.responseCode).toBe(200);
  });

  it('no route: 12 UNIMPLEMENTED; no healthy upstream: 14 UNAVAILABLE (HTTP 200, as Envoy)', async () => {
    const nr = await say(other, { name: 'x' }).catch((e: grpc.ServiceError) => e);
    expect((nr as grpc.ServiceError).code).toBe(grpc.status.UNIMPLEMENTED);
    const empty = new EchoClient(`127.0.0.1:${gw.port(80)}`, grpc.credentials.createInsecure(), {
      'grpc.default_authority': 'empty.example.com',
    });
    const uh = await say(empty, { name: 'x' }).catch((e: grpc.ServiceError) => e);
    empty.close();
    expect((uh as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
    expect((uh as grpc.ServiceError).details).toBe('no healthy upstream');
    const rec = await recordWhere(gw, (x) => x.authority === 'empty.example.com');
    expect([rec.responseCode, rec.responseFlags]).toEqual([200, 'UH']);
  });

  it('metrics carry request_protocol="grpc" and grpc_response_status', async () => {
    const r = await fetchText(`${baseUrl(gw, 'prometheus')}/stats/prometheus`);
    // One series per destination (v1, v2): add them up.
    const ok = r.body
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('istio_requests_total{') &&
          l.includes('request_protocol="grpc"') &&
          l.includes('grpc_response_status="0"'),
      )
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const unavailable = sampleValue(
      r.body,
      'istio_requests_total',
      'request_protocol="grpc"',
      'grpc_response_status="14"',
      'response_flags="FI"',
    );
    expect(ok).toBeGreaterThanOrEqual(2000);
    expect(unavailable).toBe(1);
  });
});
