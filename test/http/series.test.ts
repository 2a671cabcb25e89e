/**
 * `GET /api/system/performance/series` against the real SDK and the test Redis: points from a
 * tracked workload, read back from the rollups; the same totals as the summary; steps that merge
 * minutes; the service filter; memory-only mode and the fallback when Redis is away; query checks;
 * and the API token.
 */

import type { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/index.ts';
import { trackOperation } from '../../src/telemetry/index.ts';
import { MINUTE_MS } from '../../src/telemetry/minutes.ts';
import type { PerformanceReport } from '../../src/telemetry/report.ts';
import type { PerformanceSeries, SeriesPoint } from '../../src/telemetry/series.ts';
import { OwnRedis } from '../helpers/redis-server.ts';
import { spanView } from '../helpers/span-view.ts';
import {
  busyFor,
  startConnectedTelemetry,
  startTestTelemetry,
  type TestTelemetry,
} from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const TOKEN = 'series-test-token';

async function getJson<T>(app: Hono, path: string, headers: Record<string, string> = {}) {
  const res = await app.request(path, { headers });
  return { status: res.status, body: (await res.json()) as T };
}

async function series(app: Hono, query: string): Promise<PerformanceSeries> {
  const { status, body } = await getJson<PerformanceSeries>(app, `/api/system/performance/series?${query}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}

/**
 * Two reads of the same window: read again (at most three times) when a minute boundary passed
 * between them and moved the window, so comparisons never depend on when the test runs.
 */
async function sameWindow<A extends { from: string }, B extends { from: string }>(
  read: () => Promise<[A, B]>,
): Promise<[A, B]> {
  let pair = await read();
  for (let i = 0; i < 2 && pair[0].from !== pair[1].from; i++) pair = await read();
  return pair;
}

function sum(points: readonly SeriesPoint[], field: 'count' | 'errors' | 'breaches'): number {
  return points.reduce((n, p) => n + p[field], 0);
}

/** Runs `n` fast operations, `failed` failing ones and `slow` ones over their 0.5 s target. */
async function workload(name: string, n: number, failed = 0, slow = 0, userId?: string): Promise<void> {
  const options = { targetSeconds: 0.5, measureResources: false, ...(userId ? { userId } : {}) };
  for (let i = 0; i < n; i++) trackOperation(name, options, () => 1);
  for (let i = 0; i < failed; i++) {
    expect(() =>
      trackOperation(name, options, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
  }
  // 0.8 s runs against 0.5 s: far from the edge, so a slow machine cannot move one across it.
  await Promise.all(Array.from({ length: slow }, () => trackOperation(name, options, () => busyFor(800))));
}

describe('/api/system/performance/series with Redis rollups', () => {
  it('draws the points from Redis, with the summary totals, percentiles and empty points', async () => {
    t = await startConnectedTelemetry();
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    await workload('series_op', 6, 1, 2);
    await t.telemetry.windows.flush();
    // Everything is in Redis now: the points can only come from the rollups.
    expect(t.telemetry.rollupExporter?.pending(0)).toEqual([]);
    expect(await t.redis.keys(`${t.prefix}metrics:series_op:*`)).toHaveLength(1);

    const [body, summaryWindow] = await sameWindow(async () => {
      const read = await series(app, 'operation=series_op');
      const report = await getJson<PerformanceReport>(
        app,
        '/api/system/performance?operation=series_op&hours=1',
      );
      return [read, { ...report.body, from: report.body.window.from }];
    });
    expect(body).toMatchObject({
      operation: 'series_op',
      service: 'perf-sidecar',
      step_minutes: 1,
      target_s: 0.5,
      source: 'redis',
      warnings: [],
    });
    expect(body.points).toHaveLength(60);
    expect(body.from).toBe(body.points[0]?.t);
    // One point a minute, oldest first, with no gaps.
    for (const [i, point] of body.points.entries()) {
      expect(Date.parse(point.t)).toBe(Date.parse(body.from) + i * MINUTE_MS);
    }
    expect(sum(body.points, 'count')).toBe(9);
    expect(sum(body.points, 'errors')).toBe(1);
    expect(sum(body.points, 'breaches')).toBe(2);
    const full = body.points.filter((p) => p.count > 0);
    for (const p of full) {
      expect(p.p50_s).not.toBeNull();
      expect(p.p50_s as number).toBeLessThanOrEqual(p.p95_s as number);
      expect(p.p95_s as number).toBeLessThanOrEqual(p.p99_s as number);
      expect(p.p99_s as number).toBeLessThanOrEqual(p.max_s as number);
    }
    expect(Math.max(...full.map((p) => p.max_s as number))).toBeGreaterThanOrEqual(0.8);
    const empty = body.points.find((p) => p.count === 0);
    expect(empty).toMatchObject({
      errors: 0,
      breaches: 0,
      p50_s: null,
      p95_s: null,
      p99_s: null,
      max_s: null,
    });

    const summary = summaryWindow;
    expect(summary.window.source).toBe('redis');
    expect(summary.window.from).toBe(body.from);
    const op = summary.operations.series_op;
    expect(op).toMatchObject({ count: sum(body.points, 'count'), errors: 1, breaches: 2, target_s: 0.5 });
    expect(op?.max_s).toBe(Math.max(...full.map((p) => p.max_s as number)));
  });

  it('adds this process unsaved minutes to the stored ones, counting none twice', async () => {
    t = await startConnectedTelemetry();
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    await workload('mixed_op', 3);
    await t.telemetry.windows.flush();
    await workload('mixed_op', 2);
    const body = await series(app, 'operation=mixed_op');
    expect(body.source).toBe('redis');
    expect(sum(body.points, 'count')).toBe(5);
    await t.telemetry.windows.flush();
    expect(sum((await series(app, 'operation=mixed_op')).points, 'count')).toBe(5);
  });

  it('merges the minutes of each step into one point', async () => {
    t = await startConnectedTelemetry();
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    const now = Math.floor(Date.now() / MINUTE_MS);
    // Minutes stamped in the past, as the minute timer stamps the minute that just ended.
    for (const [ago, n, slow] of [
      [7, 2, 0],
      [6, 3, 1],
      [2, 4, 0],
      [1, 1, 1],
    ] as const) {
      await workload('step_op', n, 0, slow);
      await t.telemetry.windows.collect(now - ago);
    }
    await t.telemetry.windows.flush();

    const [minutes, steps] = await sameWindow(async () => [
      await series(app, 'operation=step_op&step=1'),
      await series(app, 'operation=step_op&step=5'),
    ]);
    expect(steps.step_minutes).toBe(5);
    expect(steps.points).toHaveLength(12);
    expect(steps.from).toBe(minutes.from);
    expect(sum(steps.points, 'count')).toBe(12);
    expect(sum(minutes.points, 'count')).toBe(12);
    let merged = 0;
    for (const [i, point] of steps.points.entries()) {
      const inside = minutes.points.slice(i * 5, i * 5 + 5);
      expect(Date.parse(point.t)).toBe(Date.parse(inside[0]?.t ?? ''));
      expect(point.count).toBe(sum(inside, 'count'));
      expect(point.errors).toBe(sum(inside, 'errors'));
      expect(point.breaches).toBe(sum(inside, 'breaches'));
      const maxima = inside.filter((p) => p.count > 0).map((p) => p.max_s as number);
      expect(point.max_s).toBe(maxima.length > 0 ? Math.max(...maxima) : null);
      if (maxima.length > 1) merged++;
    }
    expect(merged).toBeGreaterThan(0);
  });

  it('picks a default step giving at most 360 points, and one point an hour past 360 hours', async () => {
    t = await startConnectedTelemetry();
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    await workload('default_op', 2);
    await t.telemetry.windows.flush();
    for (const [hours, step, points] of [
      [1, 1, 60],
      [6, 1, 360],
      [7, 5, 84],
      [24, 5, 288],
      [48, 15, 192],
      [720, 60, 720],
    ] as const) {
      const body = await series(app, `operation=default_op&hours=${hours}`);
      expect({ hours, step: body.step_minutes, points: body.points.length }).toEqual({ hours, step, points });
      expect(sum(body.points, 'count')).toBe(2);
    }
    const day = await series(app, 'operation=default_op&hours=24&step=1');
    expect(day.points).toHaveLength(1440);
  });

  it('draws the service asked for, apart from the own service', async () => {
    t = await startConnectedTelemetry();
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    for (let i = 0; i < 3; i++) {
      t.telemetry.evaluator.evaluate(
        spanView('checkout', {
          durationSeconds: i === 0 ? 0.3 : 0.05,
          attributes: { 'perf.operation': 'pay', 'perf.target_seconds': 0.1 },
        }),
      );
    }
    await workload('pay', 2);
    await t.telemetry.windows.flush();
    expect(await t.redis.keys(`${t.prefix}svc:8:checkout:metrics:pay:*`)).toHaveLength(1);

    const checkout = await series(app, 'operation=pay&service=checkout');
    expect(checkout).toMatchObject({ service: 'checkout', target_s: 0.1, source: 'redis' });
    expect(sum(checkout.points, 'count')).toBe(3);
    expect(sum(checkout.points, 'breaches')).toBe(1);
    const own = await series(app, 'operation=pay');
    expect(own).toMatchObject({ service: 'perf-sidecar', target_s: 0.5 });
    expect(sum(own.points, 'count')).toBe(2);
    const { body: summary } = await getJson<PerformanceReport>(
      app,
      '/api/system/performance?operation=pay&service=checkout&hours=1',
    );
    expect(summary.operations.pay?.count).toBe(3);
    const nobody = await series(app, 'operation=pay&service=nobody');
    expect(sum(nobody.points, 'count')).toBe(0);
  });
});

describe('/api/system/performance/series from memory', () => {
  it('draws this process windows without Redis', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    await workload('memory_op', 4, 1);
    const body = await series(app, 'operation=memory_op&hours=2&step=15');
    expect(body).toMatchObject({ source: 'memory', step_minutes: 15, target_s: 0.5, warnings: [] });
    expect(body.points).toHaveLength(8);
    expect(sum(body.points, 'count')).toBe(5);
    expect(body.points.at(-1)).toMatchObject({ count: 5, errors: 1, breaches: 0 });
    const { body: summary } = await getJson<PerformanceReport>(
      app,
      '/api/system/performance?operation=memory_op&hours=2',
    );
    expect(summary.operations.memory_op?.count).toBe(5);
  });

  it('falls back to this process memory when Redis is away, and says why', async () => {
    const own = await OwnRedis.start();
    try {
      t = await startTestTelemetry({ REDIS_URL: own.url, REDIS_COMMAND_TIMEOUT_MS: '200' });
      const app = createApp({ telemetry: t.telemetry, middleware: false });
      await workload('fallback_series_op', 2);
      await own.stop();
      const body = await series(app, 'operation=fallback_series_op');
      expect(body.source).toBe('memory');
      expect(body.warnings[0]).toMatch(/^redis rollups unavailable \(.+\); the series covers/);
      expect(sum(body.points, 'count')).toBe(2);
    } finally {
      await own.dispose();
    }
  });
});

describe('/api/system/performance/series query checks', () => {
  it.each([
    [
      'operation=a&foo=1',
      /^query: has the unknown parameter "foo"; expected only operation, service, hours, step$/,
    ],
    ['operation=a&step=7', /^step: is 7; expected one of 1, 5, 15, 60 \(minutes per point\)$/],
    ['operation=a&hours=0', /^hours: is 0; expected a whole number of hours from 1 to 720$/],
    ['operation=a&hours=721', /^hours: is 721; expected a whole number of hours from 1 to 720$/],
    ['operation=a&hours=abc', /^hours: is "abc", not a whole number; expected a whole number of hours/],
    ['operation=a&step=-5', /^step: is "-5", not a whole number; expected one of 1, 5, 15, 60/],
    ['hours=1', /^operation: is missing \(a series is of one operation\); expected 1 to 128 printable/],
    ['operation=', /^operation: .*expected 1 to 128 printable characters$/],
    ['operation=a&operation=b', /^operation: is given 2 times; expected it once$/],
    ['operation=a&service=', /^service: is ""; expected 1 to 256 printable characters$/],
    [
      'operation=a&hours=48&step=1',
      /^step: is 1, which gives 2880 points over 48 hours, over the limit of 1440; expected 5, 15, 60 for 48 hours/,
    ],
    ['operation=a&hours=720&step=15', /^step: is 15, which gives 2880 points .*; expected 60 for 720 hours/],
  ])('answers ?%s with 400 invalid_query naming what was wrong', async (query, detail) => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = createApp({ telemetry: t.telemetry, middleware: false });
    const { status, body } = await getJson<{ error: string; detail: string }>(
      app,
      `/api/system/performance/series?${query}`,
    );
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_query');
    expect(body.detail).toMatch(detail);
    expect(body.detail.length).toBeLessThan(300);
  });
});

describe('/api/system/performance/series with PERF_API_TOKEN', () => {
  it('refuses a call without the token and answers one with it', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = createApp({ telemetry: t.telemetry, middleware: false, apiToken: TOKEN });
    const path = '/api/system/performance/series?operation=a';
    const refused = await getJson<{ error: string }>(app, path);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('unauthorized');
    const wrong = await getJson<{ error: string }>(app, path, { authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
    const allowed = await getJson<PerformanceSeries>(app, path, { authorization: `Bearer ${TOKEN}` });
    expect(allowed.status).toBe(200);
    expect(allowed.body.points).toHaveLength(60);
  });
});
