/**
 * A WebSocket echo workload on 127.0.0.1:0 (the `ws` package): echoes every message prefixed with
 * its name, remembers the path and headers of each upgrade request, refuses upgrades to
 * `/refuse…` with a plain `403` (so the gateway's pass-through can be seen) and to `/refuse-chunked…`
 * with a chunked `429` on a connection it leaves open, and on `/late…` sends
 * a message of its own 500 ms after the upgrade.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';

/** A running echo workload. */
export interface WsUpstream {
  readonly name: string;
  readonly port: number;
  /** Upgrade requests seen: path and headers. */
  readonly seen: { url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

export async function startWsUpstream(name: string): Promise<WsUpstream> {
  const seen: WsUpstream['seen'] = [];
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
    res.end(`plain ${name} ${req.headers.upgrade ?? '-'}`);
  });
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws, req: http.IncomingMessage) => {
    // `/late…`: the server speaks first, 500 ms after the upgrade (longer than the route timeout).
    if ((req.url ?? '').startsWith('/late')) setTimeout(() => ws.send(`${name}:late`), 500);
    ws.on('message', (data, isBinary) =>
      ws.send(isBinary ? data : `${name}:${String(data)}`, { binary: isBinary }),
    );
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if ((req.url ?? '').startsWith('/refuse-chunked')) {
      // A chunked refusal on a connection left open: the body ends with its last chunk, not a close.
      socket.write(
        'HTTP/1.1 429 Too Many Requests\r\ntransfer-encoding: chunked\r\n\r\n' +
          '7;ext=1\r\nrefused\r\n6\r\n again\r\n0\r\nx-trailer: t\r\n\r\n',
      );
      socket.once('end', () => socket.destroy());
      return;
    }
    if ((req.url ?? '').startsWith('/refuse')) {
      socket.end(
        'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 7\r\nx-refused-by: ' +
          name +
          '\r\n\r\nrefused',
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
