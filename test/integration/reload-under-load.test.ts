/**
 * 100 reloads under load: port A serves a steady stream of requests (keep-alive and new
 * connections) while the config changes one hundred times, one change at a time — VirtualService
 * weights and route headers, a second listener (port B) added and removed, a second server on the
 * kept port A (its listener stays, its virtual hosts change), DestinationRule subsets and load
 * balancer, ServiceEntry endpoints. Not one request on port A may fail, each observable change must
 * take effect once its reload resolves, and the store version must advance by exactly 100.
 * Waits on the store's `snapshot` event and the reload outcome, never on sleeps.
 */
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { istioResourceYaml, localServiceEntryYaml, yamlDocuments } from '../helpers/resources.js';
import { request as newConnectionGet } from '../samples/net-helpers.js';

const PORT_A = 80;
const PORT_B = 8081;
const RELOADS = 100;
/** Concurrent request loops on port A: three over keep-alive, one opening a connection per request. */
const KEEP_ALIVE_LOOPS = 3;
/** Bound on the requests one loop sends, so a stuck reload cannot make the loop run forever. */
const MAX_REQUESTS_PER_LOOP = 100_000;
/** Load requests answered on port A between two reloads, so the load spans every change. */
const ANSWERED_PER_RELOAD = 25;

/** Everything one config says; each reload changes exactly one aspect. */
interface State {
  /** Response header `x-route` the default route of a.example sets. */
  routeTag: string;
  /** Weight of subset v1 on the default route (v2 gets the rest). */
  weightV1: number;
  /** Port B's server (host b.example) exists. */
  listenerB: boolean;
  /** The second server on port A (host c.example) exists. */
  serverC: boolean;
  /** The `version` label DestinationRule subset `pinned` selects. */
  pinned: 'v1' | 'v2';
  lb: 'ROUND_ROBIN' | 'LEAST_REQUEST';
  /** The upstream behind the ServiceEntry's `version: v2` endpoint. */
  v2Upstream: 'u2' | 'u3';
}

function configYaml(s: State, ports: Record<'u1' | 'u2' | 'u3', number>): string {
  const servers = [
    `- { port: { number: ${PORT_A}, name: http, protocol: HTTP }, hosts: [a.example] }`,
    ...(s.serverC
      ? [`- { port: { number: ${PORT_A}, name: http-c, protocol: HTTP }, hosts: [c.example] }`]
      : []),
    ...(s.listenerB
      ? [`- { port: { number: ${PORT_B}, name: http-b, protocol: HTTP }, hosts: [b.example] }`]
      : []),
  ];
  const dest = (subset: string, weight?: number) =>
    `{ destination: { host: backend, subset: ${subset}, port: { number: 8080 } }${weight === undefined ? '' : `, weight: ${weight}`} }`;
  const setRoute = `headers: { response: { set: { x-route: ${s.routeTag} } } }`;
  const direct = (name: string, host: string) =>
    istioResourceYaml('VirtualService', name, [
      `hosts: [${host}]`,
      'gateways: [gw]',
      `http: [{ directResponse: { status: 200, body: { string: ${name} } } }]`,
    ]);
  return yamlDocuments(
    istioResourceYaml('Gateway', 'gw', ['servers:', ...servers]),
    istioResourceYaml('VirtualService', 'a', [
      'hosts: [a.example]',
      'gateways: [gw]',
      'http:',
      `- { match: [{ headers: { x-pin: { exact: "1" } } }], route: [${dest('pinned')}], ${setRoute} }`,
      `- { route: [${dest('v1', s.weightV1)}, ${dest('v2', 100 - s.weightV1)}], ${setRoute} }`,
    ]),
    ...(s.serverC ? [direct('c', 'c.example')] : []),
    ...(s.listenerB ? [direct('b', 'b.example')] : []),
    istioResourceYaml('DestinationRule', 'backend', [
      'host: backend',
      `trafficPolicy: { loadBalancer: { simple: ${s.lb} } }`,
      'subsets:',
      '- { name: v1, labels: { version: v1 } }',
      '- { name: v2, labels: { version: v2 } }',
      `- { name: pinned, labels: { version: ${s.pinned} } }`,
    ]),
    localServiceEntryYaml('backend', { number: 8080, name: 'http', protocol: 'HTTP' }, [
      { port: ports.u1, labels: { version: 'v1' } },
      { port: ports[s.v2Upstream], labels: { version: 'v2' } },
    ]),
  );
}

/** The one aspect change number `i` (1-based) makes, cycling through five kinds of change. */
function change(s: State, i: number): State {
  switch (i % 5) {
    case 0:
      return { ...s, routeTag: `r${i}`, weightV1: [80, 50, 20][i % 3] };
    case 1:
      return { ...s, listenerB: !s.listenerB };
    case 2:
      return {
        ...s,
        pinned: s.pinned === 'v1' ? 'v2' : 'v1',
        lb: s.lb === 'ROUND_ROBIN' ? 'LEAST_REQUEST' : 'ROUND_ROBIN',
      };
    case 3:
      return { ...s, serverC: !s.serverC };
    default:
      return { ...s, v2Upstream: s.v2Upstream === 'u2' ? 'u3' : 'u2' };
  }
}

/** Resolves with the connect error code (ECONNREFUSED once nothing listens), or 'connected'. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('100 reloads under load', () => {
  const upstreams: TestUpstream[] = [];
  let ports: Record<'u1' | 'u2' | 'u3', number>;
  let tg: TestGateway;
  const keepAlive = new Agent({ keepAliveTimeout: 30_000, connections: KEEP_ALIVE_LOOPS });

  beforeAll(async () => {
    for (const name of ['u1', 'u2', 'u3']) upstreams.push(await startUpstream(name));
    ports = { u1: upstreams[0].port, u2: upstreams[1].port, u3: upstreams[2].port };
  });

  afterAll(async () => {
    await tg?.close();
    await keepAlive.close();
    for (const u of upstreams) await u.close();
  });

  it('serves port A without one failed request while listeners, routes, subsets and endpoints change', async () => {
    let state: State = {
      routeTag: 'r0',
      weightV1: 50,
      listenerB: false,
      serverC: false,
      pinned: 'v1',
      lb: 'ROUND_ROBIN',
      v2Upstream: 'u2',
    };
    tg = await startGateway(configYaml(state, ports), {
      accessLog: 'off',
      portMap: new Map([
        [PORT_A, 0],
        [PORT_B, 0],
      ]),
    });
    const portA = tg.port(PORT_A);
    const failures: string[] = [];
    let served = 0;
    let done = false;
    /** Requests answered, served or failed: reloads wait on it, so failures cannot stall the test. */
    let answered = 0;
    let progress: { mark: number; resolve: () => void } | undefined;
    const answeredReaches = (mark: number): Promise<void> =>
      answered >= mark ? Promise.resolve() : new Promise((resolve) => (progress = { mark, resolve }));
    const settled = (): void => {
      if (++answered < (progress?.mark ?? Infinity)) return;
      progress?.resolve();
      progress = undefined;
    };

    /** Checks one answer of the load: 200 from one of the upstreams, echoing the path asked for. */
    const check = (loop: number, n: number, status: number, body: string): void => {
      const path = `/load/${loop}/${n}`;
      let upstream: unknown;
      let url: unknown;
      try {
        ({ upstream, url } = JSON.parse(body) as { upstream?: unknown; url?: unknown });
      } catch {
        // Recorded below as an unexpected body.
      }
      if (status !== 200 || url !== path || !['u1', 'u2', 'u3'].includes(String(upstream)))
        failures.push(`${path}: ${status} ${body.slice(0, 120)}`);
      else served++;
    };
    const keepAliveLoop = async (loop: number): Promise<void> => {
      for (let n = 0; !done && n < MAX_REQUESTS_PER_LOOP; n++) {
        try {
          const r = await request(`http://127.0.0.1:${portA}/load/${loop}/${n}`, {
            headers: { host: 'a.example' },
            dispatcher: keepAlive,
          });
          check(loop, n, r.statusCode, await r.body.text());
        } catch (err) {
          failures.push(`/load/${loop}/${n}: ${(err as Error).message}`);
        }
        settled();
      }
    };
    const newConnectionLoop = async (loop: number): Promise<void> => {
      for (let n = 0; !done && n < MAX_REQUESTS_PER_LOOP; n++) {
        try {
          const r = await newConnectionGet(portA, `/load/${loop}/${n}`, { headers: { host: 'a.example' } });
          check(loop, n, r.status, r.body);
        } catch (err) {
          failures.push(`/load/${loop}/${n}: ${(err as Error).message}`);
        }
        settled();
      }
    };
    const loops = [
      ...Array.from({ length: KEEP_ALIVE_LOOPS }, (_, i) => keepAliveLoop(i)),
      newConnectionLoop(KEEP_ALIVE_LOOPS),
    ];

    const version0 = tg.gateway.snapshot.version;
    const reloaded0 = tg.gateway.stats.get('server.config_reloaded');
    let portB: number | undefined;
    try {
      for (let i = 1; i <= RELOADS; i++) {
        await answeredReaches(answered + ANSWERED_PER_RELOAD);
        const previous = state;
        state = change(state, i);
        const installed = once(tg.gateway.store, 'snapshot');
        expect(await tg.reconfigure(configYaml(state, ports)), `reload ${i}`).toBe(true);
        await installed;

        // Port A's listener is kept (same socket), whatever changed.
        expect(tg.port(PORT_A), `reload ${i}`).toBe(portA);
        // The route of a.example: its response header and, pinned, the subset's one endpoint.
        const pinned = await newConnectionGet(portA, '/probe', {
          headers: { host: 'a.example', 'x-pin': '1' },
        });
        expect(pinned.status, `reload ${i}`).toBe(200);
        expect(pinned.headers['x-route'], `reload ${i}`).toBe(state.routeTag);
        expect(pinned.headers['x-upstream'], `reload ${i}`).toBe(
          state.pinned === 'v1' ? 'u1' : state.v2Upstream,
        );
        // The second server on the kept port A.
        const c = await newConnectionGet(portA, '/', { headers: { host: 'c.example' } });
        expect([c.status, c.status === 200 ? c.body : ''], `reload ${i}`).toEqual(
          state.serverC ? [200, 'c'] : [404, ''],
        );
        // Listener B: answers while it exists, refuses connections once removed.
        if (state.listenerB) {
          portB = tg.port(PORT_B);
          const b = await newConnectionGet(portB, '/', { headers: { host: 'b.example' } });
          expect([b.status, b.body], `reload ${i}`).toEqual([200, 'b']);
        } else if (previous.listenerB && portB !== undefined) {
          expect(await connectOutcome(portB), `reload ${i}`).toBe('ECONNREFUSED');
        }
      }
    } finally {
      done = true;
      await Promise.all(loops);
    }

    console.log(`reload under load: ${served} requests served on port A across ${RELOADS} reloads`);
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(0);
    expect(tg.gateway.snapshot.version - version0).toBe(RELOADS);
    expect(tg.gateway.stats.get('server.config_reloaded') - reloaded0).toBe(RELOADS);
  }, 60_000);
});
