/**
 * The gateway pod's other ports, as Istio lays them out (istio-semantics §5.5), served with fastify:
 * - health (15021): `GET /healthz/ready` → 200 once the first snapshot is live and every listener is
 *   bound; 503 before, and again while draining (SIGTERM);
 * - Envoy Prometheus (15090): `GET /stats/prometheus`;
 * - pilot-agent status (15020): `GET /stats/prometheus` (Istio merges agent and Envoy metrics here;
 *   meshgate has no separate agent, so the same text; with `--concurrency` it is the workers' sum) and
 *   `GET /healthz/ready` (503 until every worker has bound its listeners).
 * These ports answer anyone (Prometheus and kubelet probes come from other hosts); they expose no
 * configuration and change nothing.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { ServerState } from './admin-server.js';

/** What the health and metrics endpoints read. */
export interface HealthBackend {
  state(): ServerState;
  /** Why the server is not ready (for the 503 body). */
  notReadyReason(): string;
  prometheusText(): Promise<string>;
  readonly prometheusContentType: string;
}

/** Which endpoints a health/metrics server answers. */
interface StatsServerOptions {
  /** Serve `/healthz/ready`. */
  readonly health: boolean;
  /** Serve `/stats/prometheus`. */
  readonly prometheus: boolean;
}

/** Creates (does not bind) a health and/or Prometheus server. */
export function createStatsServer(backend: HealthBackend, opts: StatsServerOptions): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  if (opts.health) {
    app.get('/healthz/ready', async (_req, reply) => {
      if (backend.state() === 'LIVE') return reply.code(200).type('text/plain').send('');
      return reply.code(503).type('text/plain').send(`${backend.notReadyReason()}\n`);
    });
  }
  if (opts.prometheus) {
    app.get('/stats/prometheus', async (_req, reply) =>
      reply.type(backend.prometheusContentType).send(await backend.prometheusText()),
    );
  }
  return app;
}
