/**
 * `ws` clients for WebSocket tests over HTTP/1.1 (ws:// and wss://): open and wait, echo a series of
 * messages, close and wait.
 */
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';

/** A refused upgrade as the client saw it. */
export interface WsRefusal {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Opens a client and waits for open; rejects with a {@link WsRefusal}-shaped error on a refused upgrade. */
export function openWs(url: string, opts: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () =>
        reject(
          Object.assign(new Error(`status ${res.statusCode}`), {
            status: res.statusCode,
            headers: res.headers,
            body,
          }),
        ),
      );
    });
    ws.once('error', reject);
  });
}

/** Sends `m0`, `m1`, … one after another (each after the previous echo) and collects `n` echoes. */
export function echoMany(ws: WebSocket, n: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve, reject) => {
    ws.on('message', (d) => {
      got.push(String(d));
      if (got.length === n) resolve(got);
      else ws.send(`m${got.length}`);
    });
    ws.once('error', reject);
    ws.send('m0');
  });
}

/** Closes the client and waits for its `close`. */
export function closeWs(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.close();
  });
}
