/**
 * Load client of the h2 / gRPC / WebSocket interleaved pairs: closed loops that count completed
 * requests (or echoed messages) until SIGINT, then print one JSON line, a {@link H2LoadResult}.
 *
 * Why not h2load here: the interleaved method pauses and resumes the client (SIGSTOP/SIGCONT) and
 * needs its totals when it is interrupted; h2load prints nothing on SIGINT. h2load gives the
 * sequential rows instead.
 *
 * Modes:
 * - `h2`: `GET /` over h2c, `--connections` sessions × `--streams` concurrent streams each;
 * - `grpc`: unary `POST /bench.Echo/Call` with one framed message, `te: trailers`, counted only when
 *   the trailers say `grpc-status: 0`;
 * - `ws`: `--connections` WebSockets, each with `--streams` 64-byte messages in flight, counting echoes.
 *
 * Usage: `node dist/bench/h2-load.js --mode h2|grpc|ws --port N [--connections 10] [--streams 10]`.
 */
import http2 from 'node:http2';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

/** Totals of one run. */
export interface H2LoadResult {
  /** Requests (h2, grpc) or echoed messages (ws) completed successfully. */
  requests: number;
  /** Failed requests, non-OK statuses, socket errors. */
  errors: number;
  firstError: string | null;
}

const GRPC_REQUEST = Buffer.concat([Buffer.from([0, 0, 0, 0, 16]), Buffer.alloc(16, 0x61)]);
const WS_MESSAGE = Buffer.alloc(64, 0x62);

interface Counters extends H2LoadResult {
  stopped: boolean;
}

function fail(c: Counters, err: unknown): void {
  c.errors++;
  c.firstError ??= err instanceof Error ? err.message : String(err);
}

function h2Loop(session: http2.ClientHttp2Session, grpc: boolean, c: Counters): void {
  if (c.stopped || session.destroyed) return;
  const headers: http2.OutgoingHttpHeaders = grpc
    ? {
        ':method': 'POST',
        ':path': '/bench.Echo/Call',
        'content-type': 'application/grpc',
        te: 'trailers',
      }
    : { ':path': '/' };
  const req = session.request(headers, { endStream: !grpc });
  let ok = false;
  req.on('response', (h) => (ok = h[':status'] === 200 && (!grpc || h['grpc-status'] === undefined)));
  if (grpc) req.on('trailers', (t) => (ok &&= t['grpc-status'] === '0'));
  req.on('error', (err) => fail(c, err));
  req.resume();
  req.on('close', () => {
    if (ok && req.rstCode === http2.constants.NGHTTP2_NO_ERROR) c.requests++;
    else if (!ok) fail(c, new Error('non-200 or grpc-status != 0'));
    h2Loop(session, grpc, c);
  });
  if (grpc) req.end(GRPC_REQUEST);
}

function wsConnection(url: string, inFlight: number, c: Counters): void {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('error', (err) => fail(c, err));
  ws.on('open', () => {
    for (let i = 0; i < inFlight; i++) ws.send(WS_MESSAGE);
  });
  ws.on('message', () => {
    c.requests++;
    if (!c.stopped) ws.send(WS_MESSAGE);
  });
}

function main(): void {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'h2' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      connections: { type: 'string', default: '10' },
      streams: { type: 'string', default: '10' },
    },
  });
  if (values.port === undefined) throw new Error('--port is required');
  const c: Counters = { requests: 0, errors: 0, firstError: null, stopped: false };
  const connections = Number(values.connections);
  const streams = Number(values.streams);
  const authority = `http://${values.host}:${values.port}`;
  if (values.mode === 'ws') {
    for (let i = 0; i < connections; i++) wsConnection(`ws://${values.host}:${values.port}/`, streams, c);
  } else if (values.mode === 'h2' || values.mode === 'grpc') {
    for (let i = 0; i < connections; i++) {
      const session = http2.connect(authority);
      session.on('error', (err) => fail(c, err));
      for (let s = 0; s < streams; s++) h2Loop(session, values.mode === 'grpc', c);
    }
  } else throw new Error(`unknown --mode ${values.mode} (expected h2, grpc or ws)`);
  process.once('SIGINT', () => {
    c.stopped = true;
    const { requests, errors, firstError } = c;
    process.stdout.write(`${JSON.stringify({ requests, errors, firstError } satisfies H2LoadResult)}\n`);
    process.exit(0);
  });
}

main();
