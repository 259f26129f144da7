/**
 * The four Bookinfo services (productpage, details, reviews, ratings) in one Node program, so the
 * Istio Bookinfo tasks can be replayed against meshgate without containers:
 *
 *   node dist/samples/bookinfo/workloads.js --service reviews --version v2 --port 19083
 *
 * Behaviour follows Istio's Bookinfo closely enough for the tasks' observable outcomes: reviews v1
 * shows no stars, v2 black stars, v3 red stars; productpage forwards the logged-in user as
 * `end-user`; productpage → reviews has a 3 s timeout and one retry, productpage → details 3 s,
 * reviews → ratings 10 s (v2) or 2.5 s (v3).
 *
 * Outgoing calls go through `HTTP_PROXY` when set (absolute-form request line, like a client behind
 * a sidecar), otherwise straight to an endpoint from `BOOKINFO_ENDPOINTS`, picked at random per call
 * as a Kubernetes Service would.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { listen, parsePort, readBody, sendJson, sendText, type RunningServer } from '../common/http-util.js';
import { exitWithParent, isMainModule } from '../common/process-util.js';

/** The Bookinfo services this program can run. */
type BookinfoServiceName = 'productpage' | 'details' | 'reviews' | 'ratings';

const SERVICES: readonly BookinfoServiceName[] = ['productpage', 'details', 'reviews', 'ratings'];

/** The port every Bookinfo service declares (Kubernetes Service / ServiceEntry port). */
const BOOKINFO_SERVICE_PORT = 9080;

/** One local workload of the sample layout. */
interface BookinfoWorkload {
  readonly service: BookinfoServiceName;
  readonly version: string;
  /** Local port on 127.0.0.1 (matches `service-entries.yaml`). */
  readonly port: number;
}

/** The local port layout used by `start.ts` and declared in `service-entries.yaml`. */
export const BOOKINFO_LAYOUT: readonly BookinfoWorkload[] = [
  { service: 'productpage', version: 'v1', port: 19080 },
  { service: 'details', version: 'v1', port: 19081 },
  { service: 'reviews', version: 'v1', port: 19082 },
  { service: 'reviews', version: 'v2', port: 19083 },
  { service: 'reviews', version: 'v3', port: 19084 },
  { service: 'ratings', version: 'v1', port: 19085 },
];

/** Service name → `host:port` endpoints, the shape of the `BOOKINFO_ENDPOINTS` variable. */
type BookinfoEndpoints = Readonly<Record<string, readonly string[]>>;

/** The endpoints of {@link BOOKINFO_LAYOUT}, all on 127.0.0.1. */
export function defaultBookinfoEndpoints(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const w of BOOKINFO_LAYOUT) (out[w.service] ??= []).push(`127.0.0.1:${w.port}`);
  return out;
}

/** Client-side timeouts and tries, as hard-coded in Bookinfo (overridable for tests). */
interface BookinfoTimeouts {
  /** productpage → reviews, per try, in milliseconds (Bookinfo: 3000). */
  readonly reviewsMs: number;
  /** productpage → reviews tries, first one included (Bookinfo: 2, i.e. one retry). */
  readonly reviewsTries: number;
  /** productpage → details, in milliseconds (Bookinfo: 3000, no retry). */
  readonly detailsMs: number;
  /** reviews → ratings, in milliseconds (Bookinfo: 10 000 for v2, 2500 for v3). */
  readonly ratingsMs: number;
}

/** Options of {@link startBookinfoService}. */
export interface BookinfoServiceOptions {
  readonly service: BookinfoServiceName;
  /** Workload version label, e.g. `v2` (default `v1`). Decides the star colour of reviews. */
  readonly version?: string;
  /** Port to bind; 0 (the default) picks a free one, reported in the result. */
  readonly port?: number;
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Where the other services are when no proxy is set (default {@link defaultBookinfoEndpoints}). */
  readonly endpoints?: BookinfoEndpoints;
  /** HTTP proxy URL (e.g. `http://127.0.0.1:15001`); when set every outgoing call goes through it. */
  readonly proxy?: string;
  readonly timeouts?: Partial<BookinfoTimeouts>;
  /** Receives one line per request handled (default: silent). */
  readonly log?: (line: string) => void;
}

/**
 * Starts one Bookinfo service on `host:port` and resolves once it is listening.
 * @returns the bound port and `close()`, which drops open connections and resolves when closed.
 * @throws Error when the port cannot be bound or `proxy` is not an http:// URL.
 */
export async function startBookinfoService(options: BookinfoServiceOptions): Promise<RunningServer> {
  const version = options.version ?? 'v1';
  const ctx: Context = {
    service: options.service,
    version,
    podname: `${options.service}-${version}-${process.pid}`,
    upstream: {
      endpoints: options.endpoints ?? defaultBookinfoEndpoints(),
      proxy: options.proxy ? parseProxy(options.proxy) : undefined,
    },
    timeouts: {
      reviewsMs: 3000,
      reviewsTries: 2,
      detailsMs: 3000,
      ratingsMs: version === 'v3' ? 2500 : 10_000,
      ...options.timeouts,
    },
  };
  const handler = HANDLERS[options.service];
  const log = options.log;
  const server = http.createServer((req, res) => {
    const started = Date.now();
    if (log) {
      res.on('finish', () => {
        const user = req.headers['end-user'] ?? sessionUser(req);
        log(
          `${ctx.service}-${ctx.version} ${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms` +
            (user ? ` end-user=${String(user)}` : ''),
        );
      });
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/health') {
      sendJson(res, 200, { status: `${ctx.service} is healthy` });
      return;
    }
    handler(ctx, req, res, path).catch((err: unknown) => {
      // A bug in a handler must answer 500, not crash the workload.
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  return listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
}

// ----------------------------------------------------------------------------------------------
// Shared plumbing

interface Upstream {
  readonly endpoints: BookinfoEndpoints;
  readonly proxy: { readonly host: string; readonly port: number } | undefined;
}

interface Context {
  readonly service: BookinfoServiceName;
  readonly version: string;
  readonly podname: string;
  readonly upstream: Upstream;
  readonly timeouts: BookinfoTimeouts;
}

type Handler = (
  ctx: Context,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
) => Promise<void>;

/** Result of one call to another Bookinfo service. */
interface CallResult {
  readonly status: number;
  readonly body: string;
}

/** Largest response body accepted from another service, in bytes. */
const MAX_UPSTREAM_BODY = 1024 * 1024;

function parseProxy(text: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`proxy "${text}" is not a URL`);
  }
  if (url.protocol !== 'http:') throw new Error(`proxy "${text}" must be an http:// URL`);
  return { host: stripBrackets(url.hostname), port: url.port ? Number(url.port) : 80 };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * GETs `path` from `service`. Through the proxy the request line is absolute-form
 * (`GET http://reviews:9080/reviews/0`) so the proxy can route on it; directly, a random endpoint
 * is used. Either way `Host` is `<service>:9080`, as a client addressing the Service would send.
 * Rejects on connection errors and after `timeoutMs` (whole response).
 */
function callService(
  upstream: Upstream,
  service: BookinfoServiceName,
  path: string,
  headers: http.OutgoingHttpHeaders,
  timeoutMs: number,
): Promise<CallResult> {
  const authority = `${service}:${BOOKINFO_SERVICE_PORT}`;
  let target: { host: string; port: number; path: string };
  if (upstream.proxy) {
    target = { ...upstream.proxy, path: `http://${authority}${path}` };
  } else {
    const list = upstream.endpoints[service] ?? [];
    const picked = list[Math.floor(Math.random() * list.length)];
    if (!picked) return Promise.reject(new Error(`no endpoints for ${service}`));
    const url = new URL(`http://${picked}`);
    target = { host: stripBrackets(url.hostname), port: Number(url.port || 80), path };
  }
  return new Promise<CallResult>((resolve, reject) => {
    let settled = false;
    const settle = (err: Error | undefined, result?: CallResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else if (result) resolve(result);
    };
    // agent: false = one connection per call; a killed workload then never leaves a stale
    // keep-alive socket behind to fail the next request.
    const req = http.request(
      { ...target, method: 'GET', headers: { ...headers, host: authority }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_UPSTREAM_BODY) req.destroy(new Error(`${service} response too large`));
          else chunks.push(chunk);
        });
        res.on('end', () =>
          settle(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', (err) => settle(err));
        res.on('close', () => settle(new Error(`${service} closed the response early`)));
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`${service} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('error', (err) => settle(err));
    req.end();
  });
}

/** Headers copied from an incoming request to outgoing calls: tracing context (B3, W3C) and ids. */
function isPropagated(name: string): boolean {
  return (
    name === 'x-request-id' ||
    name === 'traceparent' ||
    name === 'tracestate' ||
    name === 'b3' ||
    name === 'x-ot-span-context' ||
    name.startsWith('x-b3-')
  );
}

/** Builds outgoing headers: propagated tracing headers plus `end-user` when there is a user. */
function forwardHeaders(req: http.IncomingMessage, endUser: string | undefined): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && isPropagated(name)) out[name] = value;
  }
  if (endUser) out['end-user'] = endUser;
  return out;
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function productId(path: string, prefix: string): number | undefined {
  const rest = path.slice(prefix.length);
  return /^\d{1,9}$/.test(rest) ? Number(rest) : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ----------------------------------------------------------------------------------------------
// details, ratings, reviews

/** Book details; v2 differs (hardcover) so routing to it is visible. */
function bookDetails(id: number, version: string): Record<string, unknown> {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: version === 'v2' ? 'hardcover' : 'paperback',
    pages: 176,
    publisher: 'Sample Press',
    language: 'English',
    'ISBN-10': '0123456789',
    'ISBN-13': '978-0123456786',
  };
}

const detailsHandler: Handler = async (ctx, _req, res, path) => {
  const id = productId(path, '/details/');
  if (id === undefined) {
    sendJson(res, path.startsWith('/details/') ? 400 : 404, { error: 'expected GET /details/<numeric id>' });
    return;
  }
  sendJson(res, 200, bookDetails(id, ctx.version));
};

/** The two reviewers and their star ratings (1-5). */
const RATINGS: Readonly<Record<string, number>> = { Reviewer1: 5, Reviewer2: 4 };

const ratingsHandler: Handler = async (_ctx, _req, res, path) => {
  const id = productId(path, '/ratings/');
  if (id === undefined) {
    sendJson(res, path.startsWith('/ratings/') ? 400 : 404, { error: 'expected GET /ratings/<numeric id>' });
    return;
  }
  sendJson(res, 200, { id, ratings: RATINGS });
};

const REVIEWS: readonly { reviewer: string; text: string }[] = [
  {
    reviewer: 'Reviewer1',
    text: 'A quick, silly and very funny read: the mistaken identities pile up until nobody on stage knows who anyone is.',
  },
  {
    reviewer: 'Reviewer2',
    text: 'Great fun in the theatre, a little thin on the page next to the later comedies.',
  },
];

/** The message reviews puts in place of a rating when ratings cannot be reached. */
const RATINGS_UNAVAILABLE = 'Ratings service is currently unavailable';

const reviewsHandler: Handler = async (ctx, req, res, path) => {
  const id = productId(path, '/reviews/');
  if (id === undefined) {
    sendJson(res, path.startsWith('/reviews/') ? 400 : 404, { error: 'expected GET /reviews/<numeric id>' });
    return;
  }
  // v1 never calls ratings; v2 draws black stars, v3 (and anything newer) red.
  const withRatings = ctx.version !== 'v1';
  const color = ctx.version === 'v2' ? 'black' : 'red';
  let ratings: Record<string, unknown> | undefined;
  if (withRatings) {
    try {
      const r = await callService(
        ctx.upstream,
        'ratings',
        `/ratings/${id}`,
        forwardHeaders(req, headerValue(req, 'end-user')),
        ctx.timeouts.ratingsMs,
      );
      const parsed = r.status === 200 ? parseJson(r.body) : undefined;
      if (isRecord(parsed) && isRecord(parsed.ratings)) ratings = parsed.ratings;
    } catch {
      ratings = undefined;
    }
  }
  sendJson(res, 200, {
    id: String(id),
    podname: ctx.podname,
    version: ctx.version,
    reviews: REVIEWS.map((r) => {
      if (!withRatings) return { ...r };
      const stars = ratings?.[r.reviewer];
      return {
        ...r,
        rating: typeof stars === 'number' ? { stars, color } : { error: RATINGS_UNAVAILABLE },
      };
    }),
  });
};

// ----------------------------------------------------------------------------------------------
// productpage

const PRODUCT = {
  id: 0,
  title: 'The Comedy of Errors',
  descriptionHtml:
    'Two pairs of identical twins, separated as babies, turn up in the same city on the same day. ' +
    'Wrongful arrests, a beating or two and a near-marriage follow before anybody counts the twins. ' +
    '<i>Shakespeare\u2019s shortest comedy.</i>',
} as const;

/** Page texts the Istio tasks look for. */
export const PAGE_TEXT = {
  title: 'Simple Bookstore App',
  reviewsUnavailable: 'Sorry, product reviews are currently unavailable for this book.',
  detailsUnavailable: 'Sorry, product details are currently unavailable for this book.',
  ratingsUnavailable: RATINGS_UNAVAILABLE,
} as const;

const CSS = `body { font-family: sans-serif; margin: 0 auto; max-width: 52em; padding: 1em; color: #222; }
nav { display: flex; justify-content: space-between; align-items: center; background: #2d3e50; color: #fff; padding: .5em 1em; }
nav a { color: #fff; }
h1 { margin-top: 1em; }
dl { display: grid; grid-template-columns: 8em auto; }
dt { font-weight: bold; }
blockquote { border-left: 3px solid #ccc; margin: 1em 0; padding-left: 1em; }
.error { color: #a00; font-weight: bold; }
.served-by { color: #666; font-size: 90%; }
`;

/** Session cookie name; the value is base64url JSON `{"user": "<name>"}` (unsigned: a demo). */
const SESSION_COOKIE = 'session';

function sessionUser(req: http.IncomingMessage): string | undefined {
  const cookie = req.headers.cookie;
  if (!cookie) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const decoded = parseJson(Buffer.from(part.slice(eq + 1).trim(), 'base64url').toString());
    if (isRecord(decoded) && typeof decoded.user === 'string' && decoded.user.length > 0) return decoded.user;
  }
  return undefined;
}

/** The user for outgoing `end-user`: the session's, else an `end-user` header the client sent. */
function currentUser(req: http.IncomingMessage): string | undefined {
  return sessionUser(req) ?? headerValue(req, 'end-user');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

type Fetched = { ok: true; data: Record<string, unknown> } | { ok: false; reason: string };

async function fetchJson(
  ctx: Context,
  service: BookinfoServiceName,
  path: string,
  headers: http.OutgoingHttpHeaders,
  timeoutMs: number,
  tries: number,
): Promise<Fetched> {
  let reason = 'not tried';
  for (let attempt = 1; attempt <= tries; attempt++) {
    try {
      const r = await callService(ctx.upstream, service, path, headers, timeoutMs);
      const parsed = r.status === 200 ? parseJson(r.body) : undefined;
      if (isRecord(parsed)) return { ok: true, data: parsed };
      reason = `${service} answered ${r.status}`;
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
  }
  return { ok: false, reason };
}

const getDetails = (ctx: Context, id: number, headers: http.OutgoingHttpHeaders) =>
  fetchJson(ctx, 'details', `/details/${id}`, headers, ctx.timeouts.detailsMs, 1);

const getReviews = (ctx: Context, id: number, headers: http.OutgoingHttpHeaders) =>
  fetchJson(
    ctx,
    'reviews',
    `/reviews/${id}`,
    headers,
    ctx.timeouts.reviewsMs,
    Math.max(1, ctx.timeouts.reviewsTries),
  );

function renderStars(rating: unknown): string {
  if (!isRecord(rating)) return '';
  if (typeof rating.error === 'string') return `<p class="error">${escapeHtml(rating.error)}</p>`;
  const stars = typeof rating.stars === 'number' ? Math.max(0, Math.min(5, Math.round(rating.stars))) : 0;
  const color = rating.color === 'red' ? 'red' : 'black';
  return `<font color="${color}">${'&#9733;'.repeat(stars)}${'&#9734;'.repeat(5 - stars)}</font>`;
}

function renderDetails(details: Fetched): string {
  if (!details.ok) {
    return `<p class="error">Error fetching product details!</p>\n<p>${PAGE_TEXT.detailsUnavailable}</p>`;
  }
  const rows = Object.entries(details.data)
    .filter(([k]) => k !== 'id')
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd>`);
  return `<dl>\n${rows.join('\n')}\n</dl>`;
}

function renderReviews(reviews: Fetched): string {
  if (!reviews.ok) {
    return `<p class="error">Error fetching product reviews!</p>\n<p>${PAGE_TEXT.reviewsUnavailable}</p>`;
  }
  const list = Array.isArray(reviews.data.reviews) ? reviews.data.reviews : [];
  const items = list
    .filter(isRecord)
    .map(
      (r) =>
        `<blockquote>\n<p>${escapeHtml(String(r.text ?? ''))}</p>\n` +
        `<small>${escapeHtml(String(r.reviewer ?? ''))}</small>\n${renderStars(r.rating)}\n</blockquote>`,
    );
  const version = typeof reviews.data.version === 'string' ? reviews.data.version : undefined;
  const pod = typeof reviews.data.podname === 'string' ? reviews.data.podname : 'unknown';
  const servedBy = version ? `reviews-${version}` : pod;
  return (
    `${items.join('\n')}\n` +
    `<p class="served-by">Reviews served by: ${escapeHtml(servedBy)} <small>(pod ${escapeHtml(pod)})</small></p>`
  );
}

function renderPage(user: string | undefined, details: Fetched, reviews: Fetched): string {
  const account = user
    ? `<span>signed in as <b>${escapeHtml(user)}</b> <a href="/logout">sign out</a></span>`
    : `<form method="post" action="/login">
<input name="username" placeholder="User name" size="12"> <input name="passwd" type="password" placeholder="Password" size="12">
<button type="submit">Sign in</button>
</form>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${PAGE_TEXT.title}</title>
<link rel="stylesheet" href="/static/bookinfo.css">
</head>
<body>
<nav><a href="/productpage">BookInfo Sample</a>
${account}
</nav>
<h1>${escapeHtml(PRODUCT.title)}</h1>
<p>${PRODUCT.descriptionHtml}</p>
<h2>Book Details</h2>
${renderDetails(details)}
<h2>Book Reviews</h2>
${renderReviews(reviews)}
</body>
</html>
`;
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

function redirect(res: http.ServerResponse, location: string, cookie?: string): void {
  res.writeHead(302, { location, 'content-length': 0, ...(cookie ? { 'set-cookie': cookie } : {}) });
  res.end();
}

const productpageHandler: Handler = async (ctx, req, res, path) => {
  const method = req.method ?? 'GET';
  if (path === '/login') {
    if (method !== 'POST') return redirect(res, '/productpage');
    const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString());
    const user = (form.get('username') ?? '').trim().slice(0, 100);
    if (!user) return redirect(res, '/productpage');
    const value = Buffer.from(JSON.stringify({ user })).toString('base64url');
    return redirect(res, '/productpage', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax`);
  }
  if (path === '/logout') {
    return redirect(res, '/productpage', `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`);
  }
  if (method !== 'GET' && method !== 'HEAD') {
    sendText(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    return;
  }
  const user = currentUser(req);
  const headers = forwardHeaders(req, user);
  if (path === '/' || path === '/index.html') {
    sendHtml(
      res,
      200,
      `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${PAGE_TEXT.title}</title></head>\n` +
        `<body><h1>Bookinfo</h1><p><a href="/productpage">Go to the product page</a></p></body></html>\n`,
    );
    return;
  }
  if (path === '/productpage') {
    const [details, reviews] = await Promise.all([
      getDetails(ctx, PRODUCT.id, headers),
      getReviews(ctx, PRODUCT.id, headers),
    ]);
    sendHtml(res, 200, renderPage(user, details, reviews));
    return;
  }
  if (path.startsWith('/static/')) {
    if (path === '/static/bookinfo.css') {
      res.writeHead(200, {
        'content-type': 'text/css; charset=utf-8',
        'content-length': Buffer.byteLength(CSS),
      });
      res.end(CSS);
    } else {
      sendText(res, 404, 'not found\n');
    }
    return;
  }
  if (path === '/api/v1/products') {
    sendJson(res, 200, [PRODUCT]);
    return;
  }
  const m = /^\/api\/v1\/products\/(\d{1,9})(?:\/(reviews|ratings))?$/.exec(path);
  if (m) {
    const id = Number(m[1]);
    if (m[2] === undefined) {
      if (id === PRODUCT.id) sendJson(res, 200, PRODUCT);
      else sendJson(res, 404, { error: 'product not found' });
      return;
    }
    const got =
      m[2] === 'reviews'
        ? await getReviews(ctx, id, headers)
        : await fetchJson(ctx, 'ratings', `/ratings/${id}`, headers, ctx.timeouts.detailsMs, 1);
    if (got.ok) sendJson(res, 200, got.data);
    else sendJson(res, 503, { error: `Sorry, product ${m[2]} are currently unavailable for this book.` });
    return;
  }
  sendText(res, 404, 'not found\n');
};

const HANDLERS: Readonly<Record<BookinfoServiceName, Handler>> = {
  productpage: productpageHandler,
  details: detailsHandler,
  reviews: reviewsHandler,
  ratings: ratingsHandler,
};

// ----------------------------------------------------------------------------------------------
// Command line

/**
 * Parses `BOOKINFO_ENDPOINTS` (JSON object: service → array of `host:port`).
 * @throws Error when it is not such an object.
 */
export function parseEndpointsEnv(text: string): Record<string, string[]> {
  const parsed = parseJson(text);
  if (!isRecord(parsed)) throw new Error('BOOKINFO_ENDPOINTS must be a JSON object');
  const out: Record<string, string[]> = {};
  for (const [service, list] of Object.entries(parsed)) {
    if (!Array.isArray(list) || !list.every((e): e is string => typeof e === 'string' && /:\d+$/.test(e))) {
      throw new Error(`BOOKINFO_ENDPOINTS.${service} must be an array of "host:port" strings`);
    }
    out[service] = list;
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      service: { type: 'string' },
      version: { type: 'string', default: 'v1' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const service = values.service as BookinfoServiceName | undefined;
  if (values.help || !service || !SERVICES.includes(service)) {
    process.stderr.write(
      'usage: workloads.js --service productpage|details|reviews|ratings [--version v1] [--port N] [--host 127.0.0.1]\n' +
        'env: BOOKINFO_ENDPOINTS (JSON service -> ["host:port"]), HTTP_PROXY (send outgoing calls via this proxy)\n',
    );
    process.exit(values.help ? 0 : 2);
  }
  const version = values.version ?? 'v1';
  const defaultPort = BOOKINFO_LAYOUT.find((w) => w.service === service && w.version === version)?.port ?? 0;
  const endpointsEnv = process.env.BOOKINFO_ENDPOINTS;
  const proxy = process.env.HTTP_PROXY || process.env.http_proxy || undefined;
  const running = await startBookinfoService({
    service,
    version,
    port: parsePort(values.port, defaultPort),
    host: values.host,
    endpoints: endpointsEnv ? parseEndpointsEnv(endpointsEnv) : undefined,
    proxy,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const via =
    service === 'details' || service === 'ratings'
      ? ''
      : proxy
        ? `, calls via proxy ${proxy}`
        : ', calls endpoints directly';
  process.stdout.write(`${service}-${version} listening on http://${values.host}:${running.port}${via}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  exitWithParent();
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`workloads: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
