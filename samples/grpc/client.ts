/**
 * The gRPC sample's client: `n` unary calls through the gateway, then the count per version.
 *
 *   node dist/samples/grpc/client.js [target=127.0.0.1:8080] [n=100]
 */
import * as grpc from '@grpc/grpc-js';
import { ECHO_SERVICE, EchoClient, type SayReply } from './echo-service.js';

const target = process.argv[2] ?? '127.0.0.1:8080';
const n = Number(process.argv[3] ?? 100);
const client = new EchoClient(target, grpc.credentials.createInsecure());
const say = ECHO_SERVICE.say;
const counts: Record<string, number> = {};
for (let i = 0; i < n; i++) {
  const reply = await new Promise<SayReply>((resolve, reject) =>
    client.makeUnaryRequest(
      say.path,
      say.requestSerialize,
      (b: Buffer) => say.responseDeserialize(b) as SayReply,
      { name: `call ${i}` },
      (err: grpc.ServiceError | null, r?: SayReply) => (err ? reject(err) : resolve(r!)),
    ),
  ).catch((err: grpc.ServiceError) => ({ message: '', version: `error ${err.code} ${err.details}` }));
  counts[reply.version] = (counts[reply.version] ?? 0) + 1;
}
client.close();
console.log(JSON.stringify(counts));
