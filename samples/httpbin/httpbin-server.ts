/**
 * A small httpbin-compatible server on node:http, the backend of Istio's circuit-breaking,
 * mirroring and ingress tasks:
 *
 *   node dist/samples/httpbin/httpbin-server.js --port 18000 --version v1
 *
 * Endpoints: `/status/<code>[,<code>...]` (418 answers a teapot), `/delay/<seconds>` (at most 10),
 * `/headers`, `/get`, `/anything[/...]` (and `/post`, `/put`, `/patch`, `/delete`), `/ip`,
 * `/uuid`, `/health`. Every response carries `x-served-by: httpbin-<version>`; every request is
 * logged (with its Host, so mirrored `httpbin-shadow` requests stand out).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { listen, parsePort, readBody, sendJson, sendText, type RunningServer } from '../common/http-util.js';
import { exitWithParent, isMainModule } from '../common/process-util.js';

/** Options of {@link startHttpbin}. */
interface HttpbinOptions {
  /** Port to bind; 0 (the default) picks a free one, reported in the result. */
  readonly port?: number;
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Version label, reported in `x-served-by: httpbin-<version>` (default `v1`). */
  readonly version?: string;
  /** Receives one line per request finished or abandoned by its client (default: silent). */
  readonly log?: (line: string) => void;
}

/** The local httpbin workloads of `service-entry.yaml`. */
export const HTTPBIN_LAYOUT = [
  { version: 'v1', port: 18000 },
  { version: 'v2', port: 18001 },
] as const;

/** Longest `/delay` honoured, in seconds (as httpbin). */
const MAX_DELAY_SECONDS = 10;

const TEAPOT = `
    -=[ teapot ]=-

       .-~~~~-.
   ___/  ____  \\___
  (   | (    ) |   )=o
   \\  '--------'  /
    '-.________.-'
`;

/**
 * Starts the server and resolves once it is listening.
 * @returns the bound port and `close()`, which cancels pending delays, drops connections and
 *   resolves once closed.
 * @throws Error from `listen` (EADDRINUSE...).
 */
export async function startHttpbin(options: HttpbinOptions = {}): Promise<RunningServer> {
  const servedBy = `httpbin-${options.version ?? 'v1'}`;
  const log = options.log;
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    res.setHeader('x-served-by', servedBy);
    const started = Date.now();
    res.on('finish', () =>
      log?.(
        `${servedBy} ${req.method} ${req.url} host=${req.headers.host ?? '-'} ${res.statusCode} ${Date.now() - started}ms`,
      ),
    );
    handle(req, res, { servedBy, timers, log }).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  return listen(server, options.port ?? 0, options.host ?? '127.0.0.1', () => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
  });
}

interface State {
  readonly servedBy: string;
  readonly timers: Set<NodeJS.Timeout>;
  readonly log: ((line: string) => void) | undefined;
}

/** `Header-Name` casing, as httpbin shows request headers. */
function titleCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

function headersObject(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[titleCase(name)] = Array.isArray(value) ? value.join(',') : value;
  }
  return out;
}

function origin(req: http.IncomingMessage): string {
  const xff = req.headers['x-forwarded-for'];
  const first = Array.isArray(xff) ? xff[0] : xff;
  return first ?? req.socket.remoteAddress ?? '';
}

function args(url: URL): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    out[key] = all.length === 1 ? (all[0] ?? '') : all;
  }
  return out;
}

function describe(req: http.IncomingMessage, url: URL) {
  return { args: args(url), headers: headersObject(req), origin: origin(req), url: url.href };
}

const METHOD_PATHS: Readonly<Record<string, string>> = {
  '/post': 'POST',
  '/put': 'PUT',
  '/patch': 'PATCH',
  '/delete': 'DELETE',
};

async function handle(req: http.IncomingMessage, res: http.ServerResponse, state: State): Promise<void> {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  const path = url.pathname;
  const method = req.method ?? 'GET';

  if (path === '/' || path === '/health') {
    sendJson(res, 200, { status: 'ok', servedBy: state.servedBy });
    return;
  }
  if (path.startsWith('/status/')) {
    const codes = path.slice('/status/'.length).split(',').map(Number);
    if (codes.length === 0 || !codes.every((c) => Number.isInteger(c) && c >= 200 && c <= 599)) {
      sendText(res, 400, 'Invalid status code\n');
      return;
    }
    // Like httpbin: a list picks one at random.
    const code = codes[Math.floor(Math.random() * codes.length)] ?? 200;
    if (code === 418) {
      sendText(res, 418, TEAPOT, { 'x-more-info': 'http://tools.ietf.org/html/rfc2324' });
    } else if (code === 301 || code === 302 || code === 303 || code === 307 || code === 308) {
      res.writeHead(code, { location: '/get', 'content-length': 0 });
      res.end();
    } else {
      res.writeHead(code, { 'content-length': 0 });
      res.end();
    }
    return;
  }
  if (path.startsWith('/delay/')) {
    const seconds = Number(path.slice('/delay/'.length));
    if (!Number.isFinite(seconds) || seconds < 0) {
      sendText(res, 400, 'Invalid delay\n');
      return;
    }
    const delayMs = Math.min(seconds, MAX_DELAY_SECONDS) * 1000;
    state.log?.(`${state.servedBy} ${method} ${req.url}: delaying ${delayMs / 1000} s`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        state.timers.delete(timer);
        res.off('close', onGone);
        sendJson(res, 200, { ...describe(req, url), delay: delayMs / 1000 });
        resolve();
      }, delayMs);
      state.timers.add(timer);
      // The client went away (or the gateway timed out): drop the timer, answer nobody.
      const onGone = () => {
        clearTimeout(timer);
        state.timers.delete(timer);
        state.log?.(`${state.servedBy} ${method} ${req.url}: client went away before the delay ended`);
        resolve();
      };
      res.once('close', onGone);
    });
    return;
  }
  if (path === '/headers') {
    sendJson(res, 200, { headers: headersObject(req) });
    return;
  }
  if (path === '/ip') {
    sendJson(res, 200, { origin: origin(req) });
    return;
  }
  if (path === '/uuid') {
    sendJson(res, 200, { uuid: randomUUID() });
    return;
  }
  if (path === '/get') {
    if (method !== 'GET' && method !== 'HEAD') {
      sendText(res, 405, 'Method Not Allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    sendJson(res, 200, describe(req, url));
    return;
  }
  const required = METHOD_PATHS[path];
  if (path === '/anything' || path.startsWith('/anything/') || required) {
    if (required && method !== required) {
      sendText(res, 405, 'Method Not Allowed\n', { allow: required });
      return;
    }
    const body = await readBody(req);
    const text = body.toString('utf8');
    const type = String(req.headers['content-type'] ?? '');
    let json: unknown = null;
    if (type.includes('json')) {
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        json = null;
      }
    }
    const form = type.includes('application/x-www-form-urlencoded')
      ? Object.fromEntries(new URLSearchParams(text))
      : {};
    sendJson(res, 200, {
      ...describe(req, url),
      method,
      data: type.includes('form') ? '' : text,
      form,
      files: {},
      json,
    });
    return;
  }
  sendText(res, 404, 'Not Found\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      version: { type: 'string', default: 'v1' },
      host: { type: 'string', default: '127.0.0.1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write('usage: httpbin-server.js [--port 8000] [--version v1] [--host 127.0.0.1]\n');
    return;
  }
  const version = values.version ?? 'v1';
  const running = await startHttpbin({
    port: parsePort(values.port, 8000),
    host: values.host,
    version,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`httpbin-${version} listening on http://${values.host}:${running.port}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  exitWithParent();
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`httpbin-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
