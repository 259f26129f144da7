/**
 * The gRPC sample's workloads: echo service v1 on 127.0.0.1:17070 and v2 on 127.0.0.1:17071.
 *
 *   node dist/samples/grpc/server.js
 */
import { startEchoServer } from './echo-service.js';

/** Where the sample's ServiceEntry expects each version. */
const GRPC_ECHO_LAYOUT = [
  { version: 'v1', port: 17070 },
  { version: 'v2', port: 17071 },
] as const;

for (const w of GRPC_ECHO_LAYOUT) {
  const s = await startEchoServer(w.version, w.port);
  console.log(`grpc echo ${w.version} on 127.0.0.1:${s.port}`);
}
