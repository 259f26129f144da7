/**
 * The idle timeout of HTTP/1 downstream connections: Envoy's HTTP connection manager `idle_timeout`
 * (1 h by default, which Istio keeps for gateways) closes a connection that has had no active
 * request for that long.
 *
 * Why not node:http's `keepAliveTimeout`: it arms a socket timer when each response ends and clears
 * it when the next request starts, two timer-list operations per request. Watched by the shared
 * sweep (`idle-sweep.ts`: one interval timer per connection, a quarter of the timeout) instead, the
 * interleaved pair (8 rounds of fresh processes, meshgate against the build before) measured 1.020×
 * the requests per CPU-second (rounds 0.980–1.072), and `keepAliveTimeout` 0 without any idle
 * timeout 1.029×. With `keepAliveTimeout` 0 node also stops adding `Keep-Alive: timeout=3600` to
 * responses, which Envoy does not send either.
 */
import type { Socket } from 'node:net';
import { hasUnfinishedResponse } from '../connection-drain.js';
import { armIdleTimeout, disarmIdleTimeout, type IdleWatched } from '../idle-sweep.js';

/** Envoy's HTTP connection manager `idle_timeout` default, ms. */
export const DOWNSTREAM_IDLE_TIMEOUT_MS = 3_600_000;

/** Counter of connections closed by the idle timeout, under `listener.<name>.` (Envoy's HCM stat name). */
export const DOWNSTREAM_IDLE_TIMEOUT_STAT = 'downstream_cx_idle_timeout';

const WATCH = Symbol('meshgate.downstreamIdle');
type WatchedSocket = Socket & { [WATCH]?: DownstreamIdle };

/** One connection's watch: traffic, or a response in progress, counts as activity. */
class DownstreamIdle implements IdleWatched {
  idleTimer: NodeJS.Timeout | undefined;
  idleSeen = -1;
  idleQuiet = 0;
  /** Sweeps that found a request in flight (reported as ever-new negative activity values). */
  private busySweeps = 1;

  constructor(
    private readonly socket: Socket,
    private readonly onTimeout: (() => void) | undefined,
  ) {}

  idleActivity(): number {
    if (hasUnfinishedResponse(this.socket)) return -++this.busySweeps;
    return this.socket.bytesRead + this.socket.bytesWritten;
  }

  onIdle(): void {
    this.onTimeout?.();
    this.socket.destroy();
  }
}

/** Shared 'close' listener (the socket is `this`): no closure per connection. */
function unwatch(this: WatchedSocket): void {
  stopDownstreamIdle(this);
}

/**
 * Starts the idle timeout of an HTTP/1 connection: after `idleMs` (> 0) with no request in flight
 * and no bytes either way, `onTimeout` is called (the listener counts
 * {@link DOWNSTREAM_IDLE_TIMEOUT_STAT}; one function per listener, not per connection) and the
 * connection is destroyed. Stops by itself when the socket closes.
 */
export function watchDownstreamIdle(
  socket: Socket,
  idleMs = DOWNSTREAM_IDLE_TIMEOUT_MS,
  onTimeout?: () => void,
): void {
  const s = socket as WatchedSocket;
  const w = new DownstreamIdle(socket, onTimeout);
  s[WATCH] = w;
  armIdleTimeout(w, idleMs);
  socket.once('close', unwatch);
}

/** Stops the idle timeout of `socket` (it was upgraded: the tunnel has its own), if it has one. */
export function stopDownstreamIdle(socket: Socket): void {
  const s = socket as WatchedSocket;
  const w = s[WATCH];
  if (w === undefined) return;
  disarmIdleTimeout(w);
  s[WATCH] = undefined;
}
