/**
 * Bad gRPC input through the gateway, with a real `@grpc/grpc-js` upstream and a raw node:http2
 * client: a length prefix declaring 1 GiB with 5 bytes sent, a truncated 3-byte frame (Envoy's
 * router does not parse gRPC framing: both reach the upstream, whose status comes back), and an
 * HTTP/2 request whose `content-length` disagrees with its DATA (the codec resets the stream with
 * PROTOCOL_ERROR, as nghttp2 does in Envoy, counted as `http2.tx_reset`). Each time the gateway
 * logs the stream, lives, and serves the next call on the same connection.
 */
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoServer, type RunningEchoServer } from '../../samples/grpc/echo-service.js';
import type { TestGateway } from '../helpers/gateway.js';
import { baseUrl, fetchText, startTelemetryGateway } from '../helpers/telemetry.js';
import {
  gatewayYaml,
  localServiceEntryYaml,
  recordWhere,
  virtualServiceYaml,
  yamlDocuments,
} from '../helpers/tls-gateway.js';
import { GRPC_9000 as GRPC_PORT } from '../helpers/resources.js';

const SAY = '/meshgate.echo.Echo/Say';

interface Outcome {
  status: number | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  /** RST_STREAM code when the stream was reset, else undefined. */
  rstCode: number | undefined;
}

/** One gRPC call with a hand-made body (and optional extra headers); resolves however the stream ends. */
function rawCall(
  session: http2.ClientHttp2Session,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = {
      status: undefined,
      grpcStatus: undefined,
      grpcMessage: undefined,
      rstCode: undefined,
    };
    const req = session.request({
      ':method': 'POST',
      ':path': SAY,
      ':authority': 'echo.example.com',
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const status = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) out.grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) out.grpcMessage = String(h['grpc-message']);
    };
    req.on('response', (h) => {
      out.status = h[':status'];
      status(h);
    });
    req.on('trailers', status);
    req.on('error', () => {});
    req.on('close', () => {
      if (req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) out.rstCode = req.rstCode;
      resolve(out);
    });
    req.resume();
    req.end(body);
  });
}

function message(msg: object): Buffer {
  const b = Buffer.from(JSON.stringify(msg));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(b.length, 1);
  return Buffer.concat([prefix, b]);
}

describe('bad gRPC input: the gateway answers as Envoy, lives, and serves the next call', () => {
  let echo: RunningEchoServer;
  let gw: TestGateway;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    echo = await startEchoServer('v1');
    gw = await startTelemetryGateway(
      yamlDocuments(
        gatewayYaml('gw', [{ port: 80, name: 'http', protocol: 'HTTP', hosts: ['*'] }]),
        virtualServiceYaml(
          'echo',
          ['echo.example.com'],
          ['gw'],
          ['http:', '- route: [{ destination: { host: echo } }]'],
        ),
        localServiceEntryYaml('echo', GRPC_PORT, echo.port),
      ),
    );
    session = http2.connect(`http://127.0.0.1:${gw.port(80)}`);
  });

  afterAll(async () => {
    session?.close();
    await gw?.close();
    await echo?.close();
  });

  /** A good call on the same HTTP/2 connection. */
  async function expectNextCallServed(): Promise<void> {
    const ok = await rawCall(session, message({ name: 'next' }));
    expect([ok.status, ok.grpcStatus, ok.rstCode]).toEqual([200, '0', undefined]);
  }

  it('a prefix declaring 1 GiB, 5 bytes sent, END_STREAM: forwarded, the upstream status comes back', async () => {
    const lie = Buffer.from([0, 0x40, 0, 0, 0]); // 1 GiB declared, no message bytes
    const r = await rawCall(session, lie);
    // grpc-js refuses a message over its 4 MiB receive limit: RESOURCE_EXHAUSTED (8).
    expect([r.status, r.grpcStatus, r.rstCode]).toEqual([
      200,
      String(grpc.status.RESOURCE_EXHAUSTED),
      undefined,
    ]);
    const rec = await recordWhere(gw, (x) => x.path === SAY && x.grpcStatus === '8');
    expect([rec.responseCode, rec.responseCodeDetails]).toEqual([200, 'via_upstream']);
    await expectNextCallServed();
  });

  it('a truncated 3-byte frame: forwarded, the upstream status comes back', async () => {
    const r = await rawCall(session, Buffer.from([0, 0, 0]));
    expect(r.status).toBe(200);
    expect(r.rstCode).toBeUndefined();
    expect(r.grpcStatus).not.toBe('0');
    expect(r.grpcStatus).toBeDefined();
    await recordWhere(gw, (x) => x.path === SAY && x.grpcStatus === r.grpcStatus);
    await expectNextCallServed();
  });

  it('content-length larger or smaller than the DATA sent: stream reset PROTOCOL_ERROR, counted, logged', async () => {
    const body = message({ name: 'cl' });
    const longer = await rawCall(session, body, { 'content-length': String(body.length + 100) });
    expect(longer.rstCode).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    const shorter = await rawCall(session, body, { 'content-length': '2' });
    expect(shorter.rstCode).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    await expectNextCallServed();
    const stats = await fetchText(`${baseUrl(gw, 'admin')}/stats`);
    expect(stats.body).toMatch(/http2\.tx_reset: 2\b/);
    expect(stats.body).not.toMatch(/http2\.rx_reset: [1-9]/);
  });
});
