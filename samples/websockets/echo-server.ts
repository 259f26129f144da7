/**
 * The websockets sample's workload: a WebSocket echo server (the `ws` package) on 127.0.0.1:18888
 * (`--port` to change), answering every message with `echo: <message>`.
 *
 *   node dist/samples/websockets/echo-server.js [--port 18888]
 */
import { WebSocketServer } from 'ws';

/** Where the sample's ServiceEntry expects the workload. */
const WEBSOCKET_ECHO_PORT = 18888;

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : WEBSOCKET_ECHO_PORT;
const wss = new WebSocketServer({ host: '127.0.0.1', port });
wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo: ${String(data)}`)));
wss.on('listening', () => console.log(`websocket echo on ws://127.0.0.1:${port}`));
