/**
 * A small gRPC service for the gRPC sample and tests, written with `@grpc/grpc-js`: `Say` (unary)
 * answers with the server's version, `Count` (server streaming) sends `n` numbered messages.
 * Messages are JSON in gRPC's length-prefixed framing (no .proto compilation needed). A request
 * with `failFirst: k` and a `key` is answered UNAVAILABLE for its first `k` calls with that key
 * (to show `retryOn: unavailable`); `delayMs` delays the answer.
 */
import * as grpc from '@grpc/grpc-js';

/** `Say` request/response and `Count` request/message shapes. */
interface SayRequest {
  readonly name: string;
  readonly key?: string;
  readonly failFirst?: number;
  /** Answer after this many ms. */
  readonly delayMs?: number;
}
export interface SayReply {
  readonly message: string;
  readonly version: string;
}
interface CountRequest {
  readonly n: number;
}
export interface CountReply {
  readonly i: number;
  readonly version: string;
}

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): never => JSON.parse(b.toString('utf8')) as never,
};

/** The service definition (`/meshgate.echo.Echo/Say`, `/meshgate.echo.Echo/Count`). */
export const ECHO_SERVICE = {
  say: {
    path: '/meshgate.echo.Echo/Say',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  count: {
    path: '/meshgate.echo.Echo/Count',
    requestStream: false,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
} satisfies grpc.ServiceDefinition;

/** A client class for {@link ECHO_SERVICE}. */
export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

/** A running echo server. */
export interface RunningEchoServer {
  readonly port: number;
  /** Calls served, by method. */
  readonly calls: { say: number; count: number };
  close(): Promise<void>;
}

/** Starts an echo server answering as `version` on 127.0.0.1 (`port` 0: ephemeral). */
export async function startEchoServer(version: string, port = 0): Promise<RunningEchoServer> {
  const server = new grpc.Server();
  const calls = { say: 0, count: 0 };
  const failures = new Map<string, number>();
  server.addService(ECHO_SERVICE, {
    say: (call: grpc.ServerUnaryCall<SayRequest, SayReply>, cb: grpc.sendUnaryData<SayReply>) => {
      calls.say++;
      const { name, key, failFirst } = call.request;
      if (key !== undefined && failFirst !== undefined) {
        const seen = (failures.get(key) ?? 0) + 1;
        failures.set(key, seen);
        if (seen <= failFirst) return cb({ code: grpc.status.UNAVAILABLE, details: `try ${seen} refused` });
      }
      const reply = { message: `hello ${name}`, version };
      const delay = call.request.delayMs;
      if (delay !== undefined && delay > 0) setTimeout(() => cb(null, reply), delay);
      else cb(null, reply);
    },
    count: (call: grpc.ServerWritableStream<CountRequest, CountReply>) => {
      calls.count++;
      for (let i = 1; i <= call.request.n; i++) call.write({ i, version });
      call.end();
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port: bound,
    calls,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
