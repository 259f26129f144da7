/**
 * The admin port (Envoy's 15000), served with fastify:
 *
 * | path | answer |
 * |---|---|
 * | `GET /` | this list |
 * | `GET /ready` | `LIVE` 200; `PRE_INITIALIZING` / `DRAINING` 503 |
 * | `GET /server_info` | version, state, uptime, node id, options (JSON) |
 * | `GET /config_dump` | the live compiled snapshot (JSON; no key material) |
 * | `GET /clusters` | hosts with health and request counters (Envoy text; `?format=json`) |
 * | `GET /listeners` | listener names and bound addresses |
 * | `GET /stats` | Envoy stats, `name: value` (`?filter=<regex>`, `?format=prometheus`) |
 * | `GET /stats/prometheus` | `istio_*` and `envoy_*` in Prometheus text format |
 * | `POST /logging?level=<l>` | sets the log level; unknown level → 400 with the valid ones |
 *
 * Access: bound to 127.0.0.1 by default. Bound elsewhere (`--admin-address 0.0.0.0`), requests from
 * non-loopback clients still get 403 unless `--admin-allow-remote` is given: the admin port can
 * change server state and reveals the whole configuration, so exposure must be explicit. Mutating
 * endpoints require POST (as Envoy's admin does) so a web page cannot trigger them with a GET.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { compileRe2 } from '../routes/regex.js';
import type { StatsFilter } from '../telemetry/envoy-stats.js';

/** Envoy's server states, as `/ready` and `/server_info` print them. */
export type ServerState = 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING';

/** What the admin endpoints read and change. */
export interface AdminBackend {
  state(): ServerState;
  serverInfo(): Record<string, unknown>;
  /** undefined before the first snapshot. */
  configDump(): Record<string, unknown> | undefined;
  clustersText(): string | Promise<string>;
  clustersJson(): unknown;
  listenersText(): string;
  statsText(filter: StatsFilter | undefined): string | Promise<string>;
  prometheusText(): Promise<string>;
  readonly prometheusContentType: string;
  /** Current log level name. */
  logLevel(): string;
  /** Sets the level; @returns false for an unknown level name. */
  setLogLevel(level: string): boolean;
}

/** Level names `/logging` accepts: pino's and Envoy's spellings. */
export const LOG_LEVELS: Readonly<Record<string, string>> = Object.freeze({
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
  off: 'silent',
  silent: 'silent',
});

/** Whether a socket peer address is loopback (127.0.0.0/8, ::1, IPv4-mapped loopback). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || a.startsWith('127.');
}

/** Admin server settings. */
interface AdminServerOptions {
  /** Serve non-loopback clients too (`--admin-allow-remote`). */
  readonly allowRemote: boolean;
}

const INDEX = `meshgate admin
  /                    this list
  /ready               LIVE (200) or PRE_INITIALIZING / DRAINING (503)
  /server_info         version, state, uptime, node id
  /config_dump         compiled listeners, route configs, virtual hosts, routes, clusters (JSON)
  /clusters            endpoints with health and request counters (?format=json)
  /listeners           listeners and their bound addresses
  /stats               Envoy stats (?filter=<regex>, ?format=prometheus)
  /stats/prometheus    istio_* and envoy_* metrics in Prometheus text format
  POST /logging?level=<level>   change the log level
`;

/** Creates (does not bind) the admin server. */
export function createAdminServer(backend: AdminBackend, opts: AdminServerOptions): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });

  app.addHook('onRequest', async (req, reply) => {
    if (opts.allowRemote || isLoopback(req.socket.remoteAddress)) return;
    reply
      .code(403)
      .type('text/plain')
      .send(
        'admin access is restricted to loopback clients (start with --admin-allow-remote to allow others)\n',
      );
    return reply;
  });

  app.get('/', async (_req, reply) => reply.type('text/plain').send(INDEX));

  app.get('/ready', async (_req, reply) => {
    const s = backend.state();
    return reply
      .code(s === 'LIVE' ? 200 : 503)
      .type('text/plain')
      .send(`${s}\n`);
  });

  app.get('/server_info', async (_req, reply) => reply.send(backend.serverInfo()));

  app.get('/config_dump', async (_req, reply) => {
    const dump = backend.configDump();
    if (!dump) return reply.code(503).type('text/plain').send('no configuration loaded yet\n');
    return reply.type('application/json').send(JSON.stringify(dump, null, 2));
  });

  app.get<{ Querystring: { format?: string } }>('/clusters', async (req, reply) => {
    if (req.query.format === 'json') return reply.send(await backend.clustersJson());
    return reply.type('text/plain').send(await backend.clustersText());
  });

  app.get('/listeners', async (_req, reply) => reply.type('text/plain').send(backend.listenersText()));

  app.get<{ Querystring: { filter?: string; format?: string } }>('/stats', async (req, reply) => {
    if (req.query.format === 'prometheus') {
      return reply.type(backend.prometheusContentType).send(await backend.prometheusText());
    }
    let filter: StatsFilter | undefined;
    if (req.query.filter !== undefined && req.query.filter !== '') {
      // Envoy's filter is an RE2 search; linear time, so no filter can stall the data path.
      const compiled = compileRe2(req.query.filter, '', false);
      if (!compiled.ok)
        return reply.code(400).type('text/plain').send(`invalid filter regex: ${compiled.reason}\n`);
      filter = compiled.regex;
    }
    return reply.type('text/plain').send(await backend.statsText(filter));
  });

  app.get('/stats/prometheus', async (_req, reply) =>
    reply.type(backend.prometheusContentType).send(await backend.prometheusText()),
  );

  const valid = Object.keys(LOG_LEVELS).join(', ');
  app.get<{ Querystring: { level?: string } }>('/logging', async (req, reply) => {
    if (req.query.level !== undefined) {
      return reply
        .code(405)
        .header('allow', 'POST')
        .type('text/plain')
        .send(`/logging changes server state: use POST /logging?level=<level> (${valid})\n`);
    }
    return reply.type('text/plain').send(`active level: ${backend.logLevel()}\nvalid levels: ${valid}\n`);
  });

  app.post<{ Querystring: { level?: string } }>('/logging', async (req, reply) => {
    const level = req.query.level;
    if (level === undefined || !backend.setLogLevel(level)) {
      return reply
        .code(400)
        .type('text/plain')
        .send(`unknown log level "${level ?? ''}"; valid levels: ${valid}\n`);
    }
    return reply.type('text/plain').send(`active level: ${backend.logLevel()}\n`);
  });

  return app;
}
