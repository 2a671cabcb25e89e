/**
 * `http.server.request.duration` as the middleware records it with `serverSpans: 'middleware'`,
 * read by real readers: the Prometheus exposition (cumulative) and an OTLP-style push reader with
 * delta temporality, over two collections. Through the telemetry's own metric store (what
 * `startTelemetry` gives the middleware) and through the SDK histogram it falls back to without
 * one, the readers must see the same thing: one series per attribute set with its count, its sum,
 * and each record in the bucket of the first bound at or above it; one series for a set two
 * middlewares record; at most 2000 series, the rest in the overflow one.
 */
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type ServerType, serve } from '@hono/node-server';
import type { Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type HistogramMetricData,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { addPerformanceMiddleware } from '../../src/http/index.ts';
import { HTTP_SERVER_DURATION_BOUNDARIES } from '../../src/http/middleware/server-span.ts';
import { busyFor, startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestTelemetry | undefined;
let server: ServerType | undefined;
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  await t?.cleanup();
  t = undefined;
});

/** One series as a reader reports it: attributes, count, sum, per-bucket (not cumulative) counts. */
interface Series {
  readonly attributes: Attributes;
  readonly count: number;
  readonly sum: number;
  readonly counts: readonly number[];
}

const BASE = { 'http.request.method': 'GET', 'url.scheme': 'http', 'network.protocol.version': '1.1' };
const OK = { ...BASE, 'http.route': '/items/:id', 'http.response.status_code': 200 };
const FAILED = { ...BASE, 'http.route': '/items/:id', 'http.response.status_code': 503, 'error.type': '503' };
const SLOW = { ...BASE, 'http.route': '/slow', 'http.response.status_code': 200 };
/** `app.request()`: no Node request, so no protocol version (a set no route keeps). */
const IN_PROCESS = {
  'http.request.method': 'GET',
  'url.scheme': 'http',
  'http.route': '/items/:id',
  'http.response.status_code': 200,
};

/** The bucket a value is counted in: the first whose upper bound is at or above it. */
function bucketOf(value: number): number {
  const at = HTTP_SERVER_DURATION_BOUNDARIES.findIndex((bound) => value <= bound);
  return at === -1 ? HTTP_SERVER_DURATION_BOUNDARIES.length : at;
}

/** A label value of the exposition, unescaped enough for these (no quotes or backslashes). */
function labelsOf(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

/** `http_server_request_duration_seconds` series of a Prometheus exposition, by their labels. */
function prometheusSeries(text: string): Map<string, Series> {
  const out = new Map<string, { attributes: Attributes; count: number; sum: number; cumulative: number[] }>();
  const entry = (labels: Record<string, string>) => {
    const { le: _le, otel_scope_name: _s, otel_scope_version: _v, ...attributes } = labels;
    const key = JSON.stringify(Object.entries(attributes).sort());
    let series = out.get(key);
    if (!series) {
      series = { attributes, count: Number.NaN, sum: Number.NaN, cumulative: [] };
      out.set(key, series);
    }
    return series;
  };
  for (const [, kind, labels, value] of text.matchAll(
    /^http_server_request_duration_seconds_(bucket|count|sum)\{([^}]*)\} (\S+)$/gm,
  )) {
    const series = entry(labelsOf(labels as string));
    const parsed = Number(value);
    if (kind === 'bucket') {
      const le = labelsOf(labels as string).le;
      expect(le).toBe(
        series.cumulative.length < HTTP_SERVER_DURATION_BOUNDARIES.length
          ? String(HTTP_SERVER_DURATION_BOUNDARIES[series.cumulative.length])
          : '+Inf',
      );
      series.cumulative.push(parsed);
    } else if (kind === 'count') series.count = parsed;
    else series.sum = parsed;
  }
  const series = new Map<string, Series>();
  for (const [key, { attributes, count, sum, cumulative }] of out) {
    expect(cumulative).toHaveLength(HTTP_SERVER_DURATION_BOUNDARIES.length + 1);
    series.set(key, {
      attributes,
      count,
      sum,
      counts: cumulative.map((value, i) => value - (i === 0 ? 0 : (cumulative[i - 1] as number))),
    });
  }
  return series;
}

/** The Prometheus labels of an attribute set (the exposition writes every value as text). */
function labelKey(attributes: Attributes): string {
  return JSON.stringify(
    Object.entries(attributes)
      .map(([k, v]) => [k.replaceAll('.', '_'), String(v)])
      .sort(),
  );
}

/** The HTTP duration metric of the delta exporter's latest export. */
function exported(exporter: InMemoryMetricExporter): { metric: HistogramMetricData; scope: string } {
  const found = exporter
    .getMetrics()
    .flatMap((r) => r.scopeMetrics)
    .flatMap((s) => s.metrics.map((metric) => ({ metric, scope: s.scope.name })))
    .filter(({ metric }) => metric.descriptor.name === 'http.server.request.duration');
  expect(found).toHaveLength(1);
  const [only] = found;
  expect(only?.metric.dataPointType).toBe(DataPointType.HISTOGRAM);
  return only as { metric: HistogramMetricData; scope: string };
}

function deltaSeries(metric: HistogramMetricData): Map<string, Series> {
  return new Map(
    metric.dataPoints.map((p) => [
      JSON.stringify(Object.entries(p.attributes).sort()),
      {
        attributes: p.attributes,
        count: p.value.count,
        sum: p.value.sum ?? Number.NaN,
        counts: p.value.buckets.counts,
      },
    ]),
  );
}

/** Checks a series holding `records` records: its count, its buckets, and a lone record's bucket. */
function expectSeries(series: Series | undefined, records: number, what: string): void {
  expect(series, what).toBeDefined();
  const { count, sum, counts } = series as Series;
  expect(count, what).toBe(records);
  expect(counts, what).toHaveLength(HTTP_SERVER_DURATION_BOUNDARIES.length + 1);
  expect(
    counts.reduce((a, b) => a + b, 0),
    what,
  ).toBe(records);
  expect(sum, what).toBeGreaterThan(0);
  if (records === 1) {
    const expected = counts.map((_, i) => (i === bucketOf(sum) ? 1 : 0));
    expect(counts, `${what}: the lone record (${sum} s) in its bucket`).toEqual(expected);
  }
}

/** Starts the app on a loopback port (the Node path: the span ends when the response closes). */
async function listen(app: Hono): Promise<string> {
  const started = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  server = started;
  await new Promise((resolve) => started.once('listening', resolve));
  return `http://127.0.0.1:${(started.address() as AddressInfo).port}`;
}

describe.each([
  { path: 'the telemetry metric store', withStore: true },
  { path: 'the SDK histogram (no store)', withStore: false },
])('http.server.request.duration through $path', ({ withStore }) => {
  it('is one series per attribute set across middlewares (two apps, one telemetry)', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const telemetry = withStore ? t.telemetry : { ...t.telemetry, metricStore: undefined };
    const apps = [0, 1].map(() => {
      const app = addPerformanceMiddleware(new Hono(), {
        enableResourceMonitoring: false,
        serverSpans: 'middleware',
        telemetry,
      });
      app.get('/items/:id', (c) => c.text('ok'));
      return app;
    });
    for (const app of apps) await app.request('/items/1');
    const series = prometheusSeries(await t.telemetry.renderPrometheus());
    expect([...series.keys()]).toEqual([labelKey(IN_PROCESS)]);
    expectSeries(series.get(labelKey(IN_PROCESS)), 2, 'both apps');
  });

  it('keeps at most 2000 series, the rest in the overflow series (the SDK default limit)', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const telemetry = withStore ? t.telemetry : { ...t.telemetry, metricStore: undefined };
    const app = addPerformanceMiddleware(new Hono(), {
      enableResourceMonitoring: false,
      serverSpans: 'middleware',
      telemetry,
    });
    // 6 routes x 400 statuses: 2,400 attribute sets.
    for (let route = 0; route < 6; route++) {
      app.get(`/r${route}/:id`, (c) => c.body(null, Number(c.req.query('status')) as 200));
    }
    for (let route = 0; route < 6; route++) {
      for (let status = 200; status < 600; status++) await app.request(`/r${route}/1?status=${status}`);
    }
    const text = await t.telemetry.renderPrometheus();
    const counts = [...text.matchAll(/^http_server_request_duration_seconds_count\{([^}]*)\} (\d+)$/gm)];
    expect(counts).toHaveLength(2000);
    expect(counts.reduce((n, m) => n + Number(m[2]), 0)).toBe(2400);
    const overflow = counts.filter((m) => (m[1] as string).includes('otel_metric_overflow="true"'));
    expect(overflow.map((m) => Number(m[2]))).toEqual([401]);
  });

  it('reaches Prometheus (cumulative) and a delta push reader with the right counts and buckets', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
    // Exports only when flushed below.
    const delta = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 2_147_483_647 });
    t = await startTestTelemetry({ REDIS_URL: '' }, { metricReaders: [delta] });
    expect(t.telemetry.metricStore).toBeDefined();
    const telemetry = withStore ? t.telemetry : { ...t.telemetry, metricStore: undefined };
    const app = addPerformanceMiddleware(new Hono(), {
      enableResourceMonitoring: false,
      serverSpans: 'middleware',
      telemetry,
    });
    app.get('/items/:id', (c) => c.text('ok', c.req.query('fail') ? 503 : 200));
    app.get('/slow', async (c) => {
      // Work that takes a while: its record lands past the first buckets.
      await busyFor(30);
      return c.text('slow');
    });
    const url = await listen(app);
    const prometheusCount = async () =>
      [
        ...((await t?.telemetry.renderPrometheus()) ?? '').matchAll(
          /^http_server_request_duration_seconds_count\{[^}]*\} (\d+)$/gm,
        ),
      ].reduce((n, m) => n + Number(m[1]), 0);
    for (const path of ['/items/1', '/items/2', '/items/3', '/items/4?fail=1']) {
      await (await fetch(`${url}${path}`)).text();
    }
    // The client's view of the slow request holds the server's (seconds, not milliseconds).
    const slowStarted = performance.now();
    const slowResponse = await fetch(`${url}/slow`);
    await slowResponse.text();
    await app.request('/items/5');
    // The Node path records when the response closes, after the client has the body.
    await waitFor(async () => (await prometheusCount()) === 6, { what: 'six records in /metrics' });
    const slowSeconds = (performance.now() - slowStarted) / 1000;

    await delta.forceFlush();
    const first = exported(exporter);
    expect(first.scope).toBe('perf-sidecar');
    expect(first.metric.descriptor).toMatchObject({
      name: 'http.server.request.duration',
      unit: 's',
      description: 'Duration of HTTP server requests.',
    });
    expect(first.metric.aggregationTemporality).toBe(AggregationTemporality.DELTA);
    for (const point of first.metric.dataPoints) {
      expect(point.value.buckets.boundaries).toEqual(HTTP_SERVER_DURATION_BOUNDARIES);
    }
    const d1 = deltaSeries(first.metric);
    expect(d1.size).toBe(4);
    const key = (a: Attributes) => JSON.stringify(Object.entries(a).sort());
    expectSeries(d1.get(key(OK)), 3, 'delta 1, 200');
    expectSeries(d1.get(key(FAILED)), 1, 'delta 1, 503');
    expectSeries(d1.get(key(SLOW)), 1, 'delta 1, slow');
    expect(d1.get(key(SLOW))?.sum).toBeGreaterThanOrEqual(0.025);
    expect(d1.get(key(SLOW))?.sum).toBeLessThanOrEqual(slowSeconds);
    expectSeries(d1.get(key(IN_PROCESS)), 1, 'delta 1, app.request()');

    const p1 = prometheusSeries(await t.telemetry.renderPrometheus());
    expect(p1.size).toBe(4);
    expectSeries(p1.get(labelKey(OK)), 3, 'prometheus 1, 200');
    expectSeries(p1.get(labelKey(FAILED)), 1, 'prometheus 1, 503');
    expectSeries(p1.get(labelKey(SLOW)), 1, 'prometheus 1, slow');
    expectSeries(p1.get(labelKey(IN_PROCESS)), 1, 'prometheus 1, app.request()');
    // Both readers saw the same records.
    expect(p1.get(labelKey(SLOW))?.counts).toEqual(d1.get(key(SLOW))?.counts);

    // A second interval: one more request. The delta reader reports it alone, Prometheus the total.
    await (await fetch(`${url}/items/6`)).text();
    await waitFor(async () => (await prometheusCount()) === 7, { what: 'seven records in /metrics' });
    exporter.reset();
    await delta.forceFlush();
    const d2 = deltaSeries(exported(exporter).metric);
    expect([...d2.keys()]).toEqual([key(OK)]);
    expectSeries(d2.get(key(OK)), 1, 'delta 2, 200');
    const p2 = prometheusSeries(await t.telemetry.renderPrometheus());
    expectSeries(p2.get(labelKey(OK)), 4, 'prometheus 2, 200');
    expectSeries(p2.get(labelKey(SLOW)), 1, 'prometheus 2, slow');
    expect(p2.get(labelKey(OK))?.sum).toBeCloseTo(
      (p1.get(labelKey(OK))?.sum ?? 0) + (d2.get(key(OK))?.sum ?? 0),
      9,
    );
  });
});
