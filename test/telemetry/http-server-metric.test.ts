/**
 * instrumentation-http's `http.server.request.duration` through perf-sidecar's store against the
 * SDK histogram it replaces: the same records (a new attribute object per record, as
 * instrumentation-http makes them) read by a cumulative and a delta reader over two collections
 * must give the same metrics: scope, descriptor, temporality, attribute sets, counts, sums, min,
 * max, buckets, and the overflow series past the cardinality limit. The meter's other instruments
 * stay the SDK's.
 */
import type { MeterProvider as ApiMeterProvider, Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  MeterProvider,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { instrumentationMeterProvider } from '../../src/telemetry/http-server-metric.ts';
import { OperationMetrics } from '../../src/telemetry/operation-metrics.ts';
import { InProcessMetricReader } from '../../src/telemetry/reader.ts';

const BOUNDARIES = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const SCOPE = '@opentelemetry/instrumentation-http';

const providers: MeterProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.shutdown()));
});

function reader(temporality: AggregationTemporality): InProcessMetricReader {
  return new InProcessMetricReader({ aggregationTemporalitySelector: () => temporality });
}

/** A cumulative and a delta reader over the SDK alone, or over the SDK with the store taking over. */
function side(withStore: boolean) {
  const cumulative = reader(AggregationTemporality.CUMULATIVE);
  const delta = reader(AggregationTemporality.DELTA);
  let provider: MeterProvider;
  let meters: ApiMeterProvider;
  if (withStore) {
    const store = new OperationMetrics();
    provider = new MeterProvider({ readers: [store.bind(cumulative), store.bind(delta)] });
    meters = instrumentationMeterProvider(provider, store);
  } else {
    provider = new MeterProvider({ readers: [cumulative, delta] });
    meters = provider;
  }
  providers.push(provider);
  // What instrumentation-http creates (its _updateMetricInstruments).
  const meter = meters.getMeter(SCOPE, '0.300.0');
  const options = {
    description: 'Duration of HTTP server requests.',
    unit: 's',
    advice: { explicitBucketBoundaries: BOUNDARIES },
  };
  const server = meter.createHistogram('http.server.request.duration', options);
  const client = meter.createHistogram('http.client.request.duration', {
    ...options,
    description: 'Duration of HTTP client requests.',
  });
  return { server, client, cumulative, delta };
}

/** A new attribute object per record, as instrumentation-http makes them. */
function request(route: string, status: number): Attributes {
  return {
    'http.request.method': 'GET',
    'url.scheme': 'http',
    'network.protocol.version': '1.1',
    'http.route': route,
    'http.response.status_code': status,
    ...(status >= 500 ? { 'error.type': String(status) } : {}),
  };
}

function record(s: ReturnType<typeof side>, batch: ReadonlyArray<readonly [string, number, number]>) {
  for (const [route, status, seconds] of batch) s.server.record(seconds, request(route, status));
}

const FIRST = [
  ['/a', 200, 0.003],
  ['/a', 200, 0.005], // on a bound: counted in that bucket
  ['/a', 200, 0.3],
  ['/a', 503, 1.2],
  ['/b/:id', 200, 12], // above the last bound
  ['/b/:id', 200, -1], // dropped, as the SDK drops it
] as const;
const SECOND = [
  ['/a', 200, 0.02],
  ['/c', 404, 0.001],
] as const;

/** The scope's metrics of a collection, times left out, points in a stable order. */
async function collected(r: InProcessMetricReader) {
  const { resourceMetrics, errors } = await r.collect();
  expect(errors).toEqual([]);
  return scopeMetrics(resourceMetrics);
}

function scopeMetrics(resourceMetrics: ResourceMetrics) {
  const scopes = resourceMetrics.scopeMetrics.filter((s) => s.scope.name === SCOPE);
  expect(scopes.length).toBeLessThanOrEqual(1);
  return scopes
    .flatMap((s) =>
      s.metrics.map((metric) => ({
        scope: { name: s.scope.name, version: s.scope.version, schemaUrl: s.scope.schemaUrl },
        descriptor: metric.descriptor,
        aggregationTemporality: metric.aggregationTemporality,
        dataPointType: metric.dataPointType,
        points: (metric.dataPoints as DataPoint<unknown>[])
          .map((p) => ({ attributes: p.attributes, value: p.value }))
          .sort((a, b) => JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes))),
      })),
    )
    .sort((a, b) => a.descriptor.name.localeCompare(b.descriptor.name));
}

describe("instrumentation-http's http.server.request.duration in the store", () => {
  it('gives the SDK histogram’s metrics to cumulative and delta readers over two collections', async () => {
    const [sdk, own] = [side(false), side(true)];
    for (const s of [sdk, own]) {
      record(s, FIRST);
      s.client.record(0.2, { 'http.request.method': 'GET' });
    }
    const first = await collected(own.cumulative);
    expect(first).toEqual(await collected(sdk.cumulative));
    expect(await collected(own.delta)).toEqual(await collected(sdk.delta));
    expect(first.map((m) => m.descriptor.name)).toEqual([
      'http.client.request.duration',
      'http.server.request.duration',
    ]);
    expect(first[1]?.points).toHaveLength(3);
    for (const s of [sdk, own]) record(s, SECOND);
    expect(await collected(own.cumulative)).toEqual(await collected(sdk.cumulative));
    const delta = await collected(own.delta);
    expect(delta).toEqual(await collected(sdk.delta));
    // Only the series recorded since the first collection.
    expect(delta.find((m) => m.descriptor.name === 'http.server.request.duration')?.points).toHaveLength(2);
  });

  it('sends the series past the cardinality limit to the overflow series, as the SDK does', async () => {
    const [sdk, own] = [side(false), side(true)];
    for (const s of [sdk, own]) {
      for (let i = 0; i < 2005; i++) s.server.record(0.01, request(`/r${i}`, 200));
    }
    const cumulative = await collected(own.cumulative);
    expect(cumulative).toEqual(await collected(sdk.cumulative));
    expect(await collected(own.delta)).toEqual(await collected(sdk.delta));
    const points = cumulative[0]?.points ?? [];
    expect(points).toHaveLength(2000);
    expect(points.find((p) => p.attributes['otel.metric.overflow'] === true)?.value).toMatchObject({
      count: 6,
    });
  });
});
