import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../samples/common/http-util.js';
import {
  PAGE_TEXT,
  parseEndpointsEnv,
  startBookinfoService,
  type BookinfoServiceOptions,
} from '../../samples/bookinfo/workloads.js';
import { closedPort, json, request, startStub, type Stub } from './net-helpers.js';

const at = (port: number) => `127.0.0.1:${port}`;

describe('Bookinfo workloads', () => {
  let details: RunningServer;
  let ratings: RunningServer;
  const reviews: Record<'v1' | 'v2' | 'v3', RunningServer> = {} as Record<'v1' | 'v2' | 'v3', RunningServer>;
  // Servers and stubs started by one test, closed after it.
  const started: { close(): Promise<void> }[] = [];

  const start = async (options: BookinfoServiceOptions) => {
    const s = await startBookinfoService(options);
    started.push(s);
    return s;
  };
  const stub = async (...args: Parameters<typeof startStub>) => {
    const s = await startStub(...args);
    started.push(s);
    return s;
  };

  beforeAll(async () => {
    details = await startBookinfoService({ service: 'details' });
    ratings = await startBookinfoService({ service: 'ratings' });
    for (const v of ['v1', 'v2', 'v3'] as const) {
      reviews[v] = await startBookinfoService({
        service: 'reviews',
        version: v,
        endpoints: { ratings: [at(ratings.port)] },
      });
    }
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await Promise.all([details, ratings, ...Object.values(reviews)].map((s) => s.close()));
  });

  const productpage = (
    reviewsPort: number,
    detailsPort = details.port,
    extra: Partial<BookinfoServiceOptions> = {},
  ) =>
    start({
      service: 'productpage',
      endpoints: { details: [at(detailsPort)], reviews: [at(reviewsPort)], ratings: [at(ratings.port)] },
      ...extra,
    });

  it.each([
    ['v1', undefined],
    ['v2', 'black'],
    ['v3', 'red'],
  ] as const)('renders reviews %s with %s stars', async (version, color) => {
    const pp = await productpage(reviews[version].port);
    const page = await request(pp.port, '/productpage');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain(`<title>${PAGE_TEXT.title}</title>`);
    expect(page.body).toContain('William Shakespeare');
    expect(page.body).toContain(`Reviews served by: reviews-${version}`);
    if (color) {
      expect(page.body).toContain(`<font color="${color}">`);
      expect(page.body).not.toContain(`<font color="${color === 'red' ? 'black' : 'red'}">`);
    } else {
      expect(page.body).not.toContain('<font');
    }
    expect(page.body).not.toContain('unavailable');
  });

  it('says reviews are unavailable when reviews refuses connections, details still shown', async () => {
    const pp = await productpage(await closedPort());
    const page = await request(pp.port, '/productpage');
    expect(page.status).toBe(200);
    expect(page.body).toContain(PAGE_TEXT.reviewsUnavailable);
    expect(page.body).toContain('William Shakespeare');
    expect(page.body).not.toContain('Reviews served by');
  });

  it('says details are unavailable when details is down', async () => {
    const pp = await productpage(reviews.v1.port, await closedPort());
    const page = await request(pp.port, '/productpage');
    expect(page.body).toContain(PAGE_TEXT.detailsUnavailable);
    expect(page.body).toContain('Reviews served by: reviews-v1');
  });

  it('shows "Ratings service is currently unavailable" when reviews cannot reach ratings', async () => {
    const lonely = await start({
      service: 'reviews',
      version: 'v2',
      endpoints: { ratings: [at(await closedPort())] },
    });
    const direct = JSON.parse((await request(lonely.port, '/reviews/0')).body) as {
      reviews: { rating: Record<string, unknown> }[];
    };
    expect(direct.reviews[0]?.rating).toEqual({ error: 'Ratings service is currently unavailable' });
    const pp = await productpage(lonely.port);
    const page = await request(pp.port, '/productpage');
    expect(page.body).toContain(PAGE_TEXT.ratingsUnavailable);
    expect(page.body).toContain('Reviews served by: reviews-v2');
    expect(page.body).not.toContain('<font');
  });

  it('gives reviews 2 tries of reviewsMs each, then gives up', async () => {
    const hanging = await stub(() => undefined);
    const pp = await productpage(hanging.port, details.port, { timeouts: { reviewsMs: 150 } });
    const t0 = performance.now();
    const page = await request(pp.port, '/productpage');
    // Lower bound only (the timeouts are the feature), on a monotonic clock.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(page.body).toContain(PAGE_TEXT.reviewsUnavailable);
    expect(hanging.seen.map((s) => s.requestLine)).toEqual(['GET /reviews/0', 'GET /reviews/0']);
  });

  describe('users and headers', () => {
    let detailsStub: Stub;
    let reviewsStub: Stub;
    let pp: RunningServer;
    beforeAll(async () => {
      detailsStub = await startStub((_req, res) => json(res, { id: 0, author: 'Stub Author' }));
      reviewsStub = await startStub((_req, res) =>
        json(res, { id: '0', podname: 'reviews-v9-stub', version: 'v9', reviews: [] }),
      );
      pp = await startBookinfoService({
        service: 'productpage',
        endpoints: { details: [at(detailsStub.port)], reviews: [at(reviewsStub.port)] },
      });
    });
    afterAll(async () => {
      await Promise.all([pp.close(), detailsStub.close(), reviewsStub.close()]);
    });
    afterEach(() => {
      detailsStub.seen.length = 0;
      reviewsStub.seen.length = 0;
    });

    it('logs jason in with a session cookie and sends end-user: jason to reviews and details', async () => {
      const login = await request(pp.port, '/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'username=jason&passwd=whatever',
      });
      expect(login.status).toBe(302);
      expect(login.headers.location).toBe('/productpage');
      const setCookie = login.headers['set-cookie']?.[0] ?? '';
      expect(setCookie).toMatch(/^session=[^;]+;/);
      const cookie = setCookie.split(';')[0] ?? '';

      const page = await request(pp.port, '/productpage', { headers: { cookie } });
      expect(page.body).toContain('signed in as <b>jason</b>');
      expect(page.body).toContain('Reviews served by: reviews-v9');
      expect(reviewsStub.seen[0]?.headers['end-user']).toBe('jason');
      expect(detailsStub.seen[0]?.headers['end-user']).toBe('jason');

      const logout = await request(pp.port, '/logout', { headers: { cookie } });
      expect(logout.status).toBe(302);
      expect(logout.headers['set-cookie']?.[0]).toMatch(/^session=;.*Max-Age=0/);
    });

    it('sends no end-user for anonymous users', async () => {
      await request(pp.port, '/productpage');
      expect(reviewsStub.seen[0]?.headers['end-user']).toBeUndefined();
    });

    it('forwards an end-user header sent by the client, and the tracing headers, nothing else', async () => {
      const headers = {
        'end-user': 'jason',
        'x-request-id': 'req-1',
        'x-b3-traceid': '463ac35c9f6413ad',
        'x-b3-spanid': 'a2fb4a1d1a96d312',
        'x-b3-sampled': '1',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'x-not-propagated': 'secret',
      };
      await request(pp.port, '/productpage', { headers });
      for (const seen of [reviewsStub.seen[0], detailsStub.seen[0]]) {
        expect(seen?.headers).toMatchObject({
          'end-user': 'jason',
          'x-request-id': 'req-1',
          'x-b3-traceid': '463ac35c9f6413ad',
          'x-b3-spanid': 'a2fb4a1d1a96d312',
          'x-b3-sampled': '1',
          traceparent: headers.traceparent,
        });
        expect(seen?.headers['x-not-propagated']).toBeUndefined();
        expect(seen?.headers.host).toMatch(/^(reviews|details):9080$/);
      }
    });

    it('escapes the user name in the page', async () => {
      const page = await request(pp.port, '/productpage', { headers: { 'end-user': '<script>x</script>' } });
      expect(page.body).not.toContain('<script>x');
      expect(page.body).toContain('&#60;script&#62;');
    });
  });

  it('reviews v2 forwards end-user and tracing headers to ratings and colours stars black', async () => {
    const ratingsStub = await stub((_req, res) =>
      json(res, { id: 0, ratings: { Reviewer1: 3, Reviewer2: 1 } }),
    );
    const rv = await start({
      service: 'reviews',
      version: 'v2',
      endpoints: { ratings: [at(ratingsStub.port)] },
    });
    const reply = await request(rv.port, '/reviews/0', {
      headers: { 'end-user': 'jason', 'x-request-id': 'r-2' },
    });
    const body = JSON.parse(reply.body) as {
      version: string;
      podname: string;
      reviews: { rating: unknown }[];
    };
    expect(body.version).toBe('v2');
    expect(body.podname).toMatch(/^reviews-v2-/);
    expect(body.reviews.map((r) => r.rating)).toEqual([
      { stars: 3, color: 'black' },
      { stars: 1, color: 'black' },
    ]);
    expect(ratingsStub.seen[0]?.requestLine).toBe('GET /ratings/0');
    expect(ratingsStub.seen[0]?.headers).toMatchObject({ 'end-user': 'jason', 'x-request-id': 'r-2' });
  });

  it('reviews v1 does not call ratings', async () => {
    const ratingsStub = await stub((_req, res) => json(res, { id: 0, ratings: {} }));
    const rv = await start({
      service: 'reviews',
      version: 'v1',
      endpoints: { ratings: [at(ratingsStub.port)] },
    });
    const body = JSON.parse((await request(rv.port, '/reviews/0')).body) as {
      reviews: Record<string, unknown>[];
    };
    expect(body.reviews.length).toBe(2);
    expect(body.reviews.every((r) => !('rating' in r))).toBe(true);
    expect(ratingsStub.seen).toEqual([]);
  });

  it('sends every outgoing call through HTTP_PROXY in absolute form', async () => {
    const proxy = await stub((req, res) => {
      if (req.url?.includes('/details/')) json(res, { id: 0, author: 'Via Proxy' });
      else if (req.url?.includes('/ratings/')) json(res, { id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });
      else json(res, { id: '0', podname: 'reviews-v2-proxied', version: 'v2', reviews: [] });
    });
    const proxyUrl = `http://127.0.0.1:${proxy.port}`;
    // No endpoints at all: only the proxy can make these calls work.
    const pp = await start({ service: 'productpage', endpoints: {}, proxy: proxyUrl });
    const page = await request(pp.port, '/productpage');
    expect(page.body).toContain('Via Proxy');
    expect(page.body).toContain('Reviews served by: reviews-v2');
    const lines = proxy.seen.map((s) => s.requestLine).sort();
    expect(lines).toEqual(['GET http://details:9080/details/0', 'GET http://reviews:9080/reviews/0']);
    expect(proxy.seen.map((s) => s.headers.host).sort()).toEqual(['details:9080', 'reviews:9080']);

    const rv = await start({ service: 'reviews', version: 'v3', endpoints: {}, proxy: proxyUrl });
    const body = JSON.parse((await request(rv.port, '/reviews/0')).body) as {
      reviews: { rating: unknown }[];
    };
    expect(body.reviews[0]?.rating).toEqual({ stars: 5, color: 'red' });
    expect(proxy.seen.at(-1)?.requestLine).toBe('GET http://ratings:9080/ratings/0');
    expect(proxy.seen.at(-1)?.headers.host).toBe('ratings:9080');
  });

  it('serves the API, static files, index, health and 404s', async () => {
    const pp = await productpage(reviews.v3.port);
    const products = JSON.parse((await request(pp.port, '/api/v1/products')).body) as { title: string }[];
    expect(products[0]?.title).toBe('The Comedy of Errors');
    const apiReviews = await request(pp.port, '/api/v1/products/0/reviews');
    expect(apiReviews.status).toBe(200);
    expect((JSON.parse(apiReviews.body) as { version: string }).version).toBe('v3');
    const apiRatings = await request(pp.port, '/api/v1/products/0/ratings');
    expect(JSON.parse(apiRatings.body)).toMatchObject({ ratings: { Reviewer1: 5 } });
    const css = await request(pp.port, '/static/bookinfo.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    expect((await request(pp.port, '/static/nope.js')).status).toBe(404);
    expect((await request(pp.port, '/')).status).toBe(200);
    expect((await request(pp.port, '/nope')).status).toBe(404);
    for (const s of [pp, details, ratings, reviews.v1]) {
      expect((await request(s.port, '/health')).status).toBe(200);
    }
    expect(JSON.parse((await request(details.port, '/details/0')).body)).toMatchObject({ type: 'paperback' });
    expect((await request(details.port, '/details/abc')).status).toBe(400);
  });

  it('parses BOOKINFO_ENDPOINTS', () => {
    expect(parseEndpointsEnv('{"reviews":["127.0.0.1:19082","127.0.0.1:19083"]}')).toEqual({
      reviews: ['127.0.0.1:19082', '127.0.0.1:19083'],
    });
    expect(() => parseEndpointsEnv('[]')).toThrow(/JSON object/);
    expect(() => parseEndpointsEnv('{"reviews":"127.0.0.1:1"}')).toThrow(/reviews/);
  });
});
