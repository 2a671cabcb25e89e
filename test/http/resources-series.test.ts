/**
 * `GET /api/system/resources/series` against the real SDK: the response shape with the resource
 * sampler's minutes and the configured thresholds, a point within seconds of a start, cache hit
 * rates per level from a real two-level cache on the test Redis, pool use from a real database
 * service on the test PostgreSQL, a received service's runtime figures, query checks, unknown
 * services (no points), and the API token.
 */
import type { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/index.ts';
import { createApp } from '../../src/http/index.ts';
import { MINUTE_MS } from '../../src/telemetry/minutes.ts';
import type { ResourcePoint, ResourceSeries } from '../../src/telemetry/system-series.ts';
import { CacheFixture } from '../helpers/cache.ts';
import { admin, alertOptionsOf, testDatabase } from '../helpers/db.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const MIB = 1024 * 1024;
const TOKEN = 'resources-series-test-token';
const PATH = '/api/system/resources/series';

let t: TestTelemetry | undefined;
let f: CacheFixture | undefined;
let db: Database | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
  await f?.cleanup();
  f = undefined;
  await t?.cleanup();
  t = undefined;
});

async function getJson<T>(app: Hono, path: string, headers: Record<string, string> = {}) {
  const res = await app.request(path, { headers });
  return { status: res.status, body: (await res.json()) as T };
}

async function series(app: Hono, query = ''): Promise<ResourceSeries> {
  const { status, body } = await getJson<ResourceSeries>(app, `${PATH}${query ? `?${query}` : ''}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}

/** The points of the series that carry `field`. */
async function pointsWith(app: Hono, field: 'cache' | 'db_pool', query = ''): Promise<ResourcePoint[]> {
  return (await series(app, query)).points.filter((p) => p[field] !== null);
}

describe('/api/system/resources/series', () => {
  it('answers the own service minutes with the configured thresholds, in the documented shape', async () => {
    t = await startTestTelemetry({ REDIS_URL: '', MEMORY_ALERT_THRESHOLD: '640', CPU_ALERT_THRESHOLD: '90' });
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    const first = t.telemetry.resources.sample();
    const second = t.telemetry.resources.sample();
    const body = await series(app);
    expect(Object.keys(body)).toEqual([
      'service',
      'hours',
      'step_seconds',
      'from',
      'to',
      'thresholds',
      'points',
    ]);
    expect(body).toMatchObject({
      service: 'perf-sidecar',
      hours: 1,
      step_seconds: 60,
      thresholds: { memory_mb: 640, cpu_percent: 90 },
    });
    const to = Date.parse(body.to);
    expect(Date.parse(body.from)).toBe((Math.floor(to / MINUTE_MS) - 59) * MINUTE_MS);
    expect(body.points.length).toBeGreaterThanOrEqual(1);
    const times = body.points.map((p) => Date.parse(p.t));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    for (const time of times) {
      expect(time % MINUTE_MS).toBe(0);
      expect(time).toBeGreaterThanOrEqual(Date.parse(body.from));
      expect(time).toBeLessThanOrEqual(to);
    }
    const last = body.points.at(-1) as ResourcePoint;
    expect(Object.keys(last)).toEqual([
      't',
      'rss_mb',
      'heap_mb',
      'cpu_percent',
      'event_loop_delay_p99_ms',
      'event_loop_utilization',
      'cache',
      'db_pool',
    ]);
    // Both samples fell in the last point's minute unless a minute began between them.
    const samples =
      Math.floor(first.at / MINUTE_MS) === Math.floor(second.at / MINUTE_MS) ? [first, second] : [second];
    expect(Date.parse(last.t)).toBe(Math.floor(second.at / MINUTE_MS) * MINUTE_MS);
    expect(last.rss_mb).toBe(Math.max(...samples.map((s) => s.rssMb)));
    expect(last.heap_mb).toBe(Math.max(...samples.map((s) => s.heapUsedMb)));
    expect(last.event_loop_delay_p99_ms).toBe(Math.max(...samples.map((s) => s.eventLoopDelayP99Ms)));
    expect(last.cpu_percent).toBeTypeOf('number');
    expect(last.event_loop_utilization).toBeTypeOf('number');
    expect(last.cache).toBeNull();
    expect(last.db_pool).toBeNull();
    expect((await series(app, 'hours=24')).hours).toBe(24);
  });

  it('shows a point within seconds of a start, from the sampler the performance middleware starts', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = createApp({ telemetry: t.telemetry });
    const point = await waitFor(async () => (await series(app)).points.at(-1), {
      what: 'the first resource sample to show',
    });
    expect(point.rss_mb).toBeGreaterThan(0);
    expect(point.cpu_percent).not.toBeNull();
  });

  it('gives the hit rate of each level of a real two-level cache over the minute', async () => {
    t = await startTestTelemetry();
    // Only reads collect: every lookup below lands in the minute of the read.
    t.telemetry.systemHistory.stop();
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    f = new CacheFixture();
    const writer = await f.open({ name: 'writer' });
    const reader = await f.open({ name: 'reader' });
    await writer.set('greeting', 'hello');
    for (let i = 0; i < 3; i++) expect(await writer.get('greeting')).toBe('hello'); // memory hits
    expect(await writer.get('absent')).toBeUndefined(); // memory miss, Redis miss
    expect(await reader.get('greeting')).toBe('hello'); // memory miss, Redis hit
    expect(await reader.get('greeting')).toBe('hello'); // memory hit
    const stats = [writer.getStats(), reader.getStats()];
    const memory = { hits: 0, lookups: 0 };
    const redis = { hits: 0, lookups: 0 };
    for (const s of stats) {
      memory.hits += s.memory_cache.hits;
      memory.lookups += s.memory_cache.hits + s.memory_cache.misses;
      redis.hits += s.redis_cache.hits;
      redis.lookups += s.redis_cache.hits + s.redis_cache.misses;
    }
    expect({ memory, redis }).toEqual({ memory: { hits: 4, lookups: 6 }, redis: { hits: 1, lookups: 2 } });

    const [point] = await pointsWith(app, 'cache');
    expect(point?.cache).toEqual({ memory_hit_rate: 0.6667, redis_hit_rate: 0.5, lookups: 8 });
    // Read again with no lookups in between: the minute's figures stay as they were.
    expect((await pointsWith(app, 'cache')).at(-1)?.cache).toEqual(point?.cache);
  });

  it('gives the pool use of a real database service: connections used and requests waiting', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    db = await testDatabase({ ...alertOptionsOf(t), poolSize: 1, maxOverflow: 0 });
    const service = db;
    await service.query('SELECT 1');
    const idle = (await pointsWith(app, 'db_pool')).at(-1)?.db_pool;
    expect(idle).toEqual({ used: 0, idle: 1, waiting: 0 });

    // A lock held elsewhere keeps the one connection busy and the second call waiting for it.
    const key = Math.floor(Math.random() * 1_000_000_000);
    await admin(async (client) => {
      await client.query('SELECT pg_advisory_lock($1)', [key]);
      const blocked = [1, 2].map(() => service.query('SELECT pg_advisory_xact_lock($1)', [key]));
      try {
        const busy = await waitFor(
          async () => {
            const pool = (await pointsWith(app, 'db_pool')).at(-1)?.db_pool;
            return pool?.used === 1 && pool.waiting === 1 ? pool : undefined;
          },
          { what: 'the pool to show one connection used and one request waiting' },
        );
        expect(busy).toEqual({ used: 1, idle: 0, waiting: 1 });
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [key]);
        await Promise.all(blocked);
      }
    });
  });

  it("draws a received service's runtime figures under ?service=, without cache or pool figures", async () => {
    t = await startTestTelemetry({ REDIS_URL: '', MEMORY_ALERT_THRESHOLD: '512' });
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    const at = Date.now();
    t.telemetry.services.record('checkout', {
      at,
      rssBytes: 300 * MIB,
      heapUsedBytes: 120 * MIB,
      cpuCores: 0.25,
      eventLoopDelayP99Seconds: 0.012,
      eventLoopUtilization: 0.3,
    });
    t.telemetry.services.record('checkout', { at: at + 1, rssBytes: 310 * MIB, cpuCores: 0.75 });
    const body = await series(app, 'service=checkout&hours=2');
    expect(body).toMatchObject({
      service: 'checkout',
      hours: 2,
      thresholds: { memory_mb: 512, cpu_percent: 80 },
    });
    const minute = (ms: number) => new Date(Math.floor(ms / MINUTE_MS) * MINUTE_MS).toISOString();
    const expected = {
      rss_mb: 310,
      heap_mb: 120,
      cpu_percent: 50,
      event_loop_delay_p99_ms: 12,
      event_loop_utilization: 0.3,
      cache: null,
      db_pool: null,
    };
    // Two samples a millisecond apart share a minute unless one began between them.
    if (minute(at) === minute(at + 1)) expect(body.points).toEqual([{ t: minute(at), ...expected }]);
    else expect(body.points).toHaveLength(2);

    // A service known from its spans alone has no runtime figures: no points, not an error.
    t.telemetry.services.nameOf('spans-only');
    expect((await series(app, 'service=spans-only')).points).toEqual([]);
  });

  it('answers a service this process has not heard of with no points, as the summary answers it', async () => {
    // The dashboard lists services known from the Redis rollups too (written before a restart, or
    // by another instance), which this process's history does not hold.
    t = await startTestTelemetry({ REDIS_URL: '', MEMORY_ALERT_THRESHOLD: '512' });
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    expect(t.telemetry.services.services()).not.toContain('nobody');
    const body = await series(app, 'service=nobody&hours=3');
    expect(body).toMatchObject({
      service: 'nobody',
      hours: 3,
      thresholds: { memory_mb: 512, cpu_percent: 80 },
      points: [],
    });
    // Asking does not make the service known.
    expect(t.telemetry.services.services()).not.toContain('nobody');
    // The summary says the same of it: no data, not an error.
    const summary = await app.request('/api/system/performance?service=nobody');
    expect(summary.status).toBe(200);
  });
});

describe('/api/system/resources/series query checks', () => {
  it.each([
    ['foo=1', 400, 'invalid_query', /^query: has the unknown parameter "foo"; expected only service, hours$/],
    ['hours=0', 400, 'invalid_query', /^hours: is 0; expected a whole number of hours from 1 to 24$/],
    ['hours=25', 400, 'invalid_query', /^hours: is 25; expected a whole number of hours from 1 to 24$/],
    [
      'hours=abc',
      400,
      'invalid_query',
      /^hours: is "abc", not a whole number; expected a whole number of hours from 1 to 24$/,
    ],
    ['hours=1.5', 400, 'invalid_query', /^hours: is "1\.5", not a whole number/],
    ['hours=1&hours=2', 400, 'invalid_query', /^hours: is given 2 times; expected it once$/],
    ['service=', 400, 'invalid_query', /^service: is ""; expected 1 to 256 printable characters$/],
  ])('answers ?%s with %i %s naming what was wrong', async (query, status, error, detail) => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    const res = await getJson<{ error: string; detail: string }>(app, `${PATH}?${query}`);
    expect(res.status).toBe(status);
    expect(res.body.error).toBe(error);
    expect(res.body.detail).toMatch(detail);
  });
});

describe('/api/system/resources/series with PERF_API_TOKEN', () => {
  it('refuses a call without the token and answers one with it', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = createApp({ telemetry: t.telemetry, middleware: false, apiToken: TOKEN });
    const refused = await getJson<{ error: string }>(app, PATH);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('unauthorized');
    const wrong = await getJson<{ error: string }>(app, PATH, { authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
    const allowed = await getJson<ResourceSeries>(app, PATH, { authorization: `Bearer ${TOKEN}` });
    expect(allowed.status).toBe(200);
    expect(allowed.body.service).toBe('perf-sidecar');
  });
});
