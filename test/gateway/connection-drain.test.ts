/**
 * ConnectionDrain on a real node:http server: a response in flight when the drain starts closes its
 * keep-alive connection, responses started during the drain do too, and the deadline destroys a silent
 * connection.
 */
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionDrain } from '../../gateway/connection-drain.js';

describe('ConnectionDrain', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  async function start(drain: ConnectionDrain, handler: (res: http.ServerResponse) => void): Promise<number> {
    server = http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
      drain.onResponse(res);
      handler(res);
    });
    drain.track(server);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }

  it('ends keep-alive for responses in flight at the start and started after it; runs drain handlers', async () => {
    const drain = new ConnectionDrain();
    // Each request's response, handed over when the server receives it.
    const responses: ((res: http.ServerResponse) => void)[] = [];
    const nextResponse = () => new Promise<http.ServerResponse>((r) => responses.push(r));
    const port = await start(drain, (res) => responses.shift()!(res));
    const agent = new http.Agent({ keepAlive: true });
    const got = (path: string) =>
      new Promise<string | undefined>((resolve, reject) => {
        http
          .get({ port, host: '127.0.0.1', path, agent }, (r) => {
            r.resume();
            r.on('end', () => resolve(r.headers.connection));
          })
          .on('error', reject);
      });
    const first = nextResponse();
    const before = got('/before');
    const inFlight = await first;
    drain.begin();
    expect(drain.isDraining).toBe(true);
    inFlight.end('x');
    expect(await before).toBe('close');
    const second = nextResponse();
    const after = got('/after');
    (await second).end('y');
    expect(await after).toBe('close');
    agent.destroy();
  });

  it('whenIdle resolves false at the deadline; destroyAll closes a silent connection', async () => {
    const drain = new ConnectionDrain();
    const port = await start(drain, (res) => res.end());
    const accepted = once(server!, 'connection');
    const silent = net.connect(port, '127.0.0.1');
    await accepted;
    expect(drain.openConnections).toBe(1);
    const closed = new Promise((r) => silent.once('close', r));
    expect(await drain.whenIdle(50)).toBe(false);
    expect(drain.destroyAll()).toBe(1);
    await closed;
    expect(await drain.whenIdle(50)).toBe(true);
  });
});
