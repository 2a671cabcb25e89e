/**
 * perf-sidecar's own aggregation of the operation metrics against the SDK's: the same spans
 * through two evaluators, one recording into SDK instruments (what every span did before), one into
 * `OperationMetrics`, read by cumulative and delta readers over several collections, must give the
 * same metrics (descriptors, temporality, attributes, counts, sums, min, max, bucket counts). Also
 * the delta start times, push readers that take their temporality from the exporter, and one
 * store reporting to several readers at once.
 */
import { SpanKind } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type IMetricReader,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SCOPE_NAME, VERSION } from '../../src/shared/scope.ts';
import { SpanEvaluator } from '../../src/telemetry/evaluate.ts';
import { type GaugeCallback, meterGauges } from '../../src/telemetry/metric-sink.ts';
import { OperationMetrics } from '../../src/telemetry/operation-metrics.ts';
import { InProcessMetricReader } from '../../src/telemetry/reader.ts';
import {
  METRIC_OPERATION_DURATION,
  METRIC_OPERATION_TAIL_DURATION,
  METRIC_TARGET_BREACHES,
  METRIC_TARGET_FRUSTRATED,
} from '../../src/telemetry/semconv.ts';
import { ServiceRegistry } from '../../src/telemetry/services.ts';
import type { SpanView } from '../../src/telemetry/span-view.ts';
import { durationBoundaries } from '../../src/telemetry/targets.ts';

const OWN = 'own-svc';
const OPERATION_METRICS = new Set([
  METRIC_OPERATION_DURATION,
  METRIC_OPERATION_TAIL_DURATION,
  METRIC_TARGET_BREACHES,
  METRIC_TARGET_FRUSTRATED,
]);

const providers: MeterProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.shutdown()));
});

function reader(temporality: AggregationTemporality): InProcessMetricReader {
  return new InProcessMetricReader({ aggregationTemporalitySelector: () => temporality });
}

function evaluator(provider: MeterProvider, operationMetrics?: OperationMetrics): SpanEvaluator {
  return new SpanEvaluator({
    services: new ServiceRegistry({ ownService: OWN, maxServices: 2, logger: pino({ level: 'silent' }) }),
    // Four names per service, two of them exported by name: tail series and `_other` both occur.
    maxOperations: 4,
    maxMetricOperations: 2,
    boundaries: durationBoundaries([0.5, 1]),
    meterProvider: provider,
    ...(operationMetrics ? { operationMetrics } : {}),
  });
}

/** Both sides: SDK instruments, and the own aggregation, each with a cumulative and a delta reader. */
function sides() {
  const sdkCumulative = reader(AggregationTemporality.CUMULATIVE);
  const sdkDelta = reader(AggregationTemporality.DELTA);
  const sdkProvider = new MeterProvider({ readers: [sdkCumulative, sdkDelta] });
  const store = new OperationMetrics();
  const ownCumulative = reader(AggregationTemporality.CUMULATIVE);
  const ownDelta = reader(AggregationTemporality.DELTA);
  const ownProvider = new MeterProvider({ readers: [store.bind(ownCumulative), store.bind(ownDelta)] });
  providers.push(sdkProvider, ownProvider);
  return {
    sdk: { evaluator: evaluator(sdkProvider), cumulative: sdkCumulative, delta: sdkDelta },
    own: { evaluator: evaluator(ownProvider, store), cumulative: ownCumulative, delta: ownDelta },
  };
}

function span(overrides: Partial<SpanView>): SpanView {
  return {
    name: 'span',
    service: OWN,
    kind: SpanKind.INTERNAL,
    attributes: {},
    durationSeconds: 0.1,
    error: false,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: 1,
    ...overrides,
  };
}

function op(operation: string, seconds: number, extra: Partial<SpanView> & { target?: number } = {}) {
  const { target = 0.5, ...rest } = extra;
  return span({
    ...rest,
    attributes: { 'perf.operation': operation, 'perf.target_seconds': target, ...rest.attributes },
    durationSeconds: seconds,
  });
}

/** Spans over every kind of series: outcomes, breaches, frustration, tail names, `_other`, services. */
const FIRST: SpanView[] = [
  op('pay', 0.2),
  op('pay', 0.5), // exactly on a bound: counted in that bucket
  op('pay', 0.7), // over the target
  op('pay', 2.5, { error: true }), // over four times the target, failed
  op('pay', 0),
  op('pay', -1), // dropped by the histogram, as the SDK drops it
  op('search', 1.2, { target: 1, attributes: { 'user.id': 'u1' } }),
  op('export', 0.3), // third name: tail series, exported as `_other`
  op('export', 3, { error: true }),
  op('import', 900.5), // above the last bound
  op('five', 0.1), // fifth name: `_other`
  op('six', 0.9),
  op('pay', 0.4, { service: 'checkout' }),
  op('pay', 0.6, { service: 'billing' }),
  op('pay', 0.6, { service: 'third' }), // past maxServices: the `_other` service
  span({ kind: SpanKind.SERVER, attributes: { 'http.route': '/x', 'http.request.method': 'GET' } }),
];

/** A second interval: some series again, some new. */
const SECOND: SpanView[] = [
  op('pay', 0.3),
  op('pay', 0.05),
  op('search', 0.2, { target: 1, error: true }),
  op('seven', 5),
  op('export', 0.25, { service: 'checkout' }),
];

/** The operation metrics of a collection, times left out, points in a stable order. */
function operationMetrics(resourceMetrics: ResourceMetrics) {
  const out: Record<string, unknown> = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (!OPERATION_METRICS.has(metric.descriptor.name)) continue;
      out[metric.descriptor.name] = {
        scope: scope.scope,
        descriptor: metric.descriptor,
        aggregationTemporality: metric.aggregationTemporality,
        dataPointType: metric.dataPointType,
        isMonotonic: 'isMonotonic' in metric ? metric.isMonotonic : undefined,
        points: (metric.dataPoints as DataPoint<unknown>[])
          .map((p) => ({ attributes: p.attributes, value: p.value }))
          .sort((a, b) => JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes))),
      };
    }
  }
  return out;
}

async function collected(r: IMetricReader) {
  const { resourceMetrics, errors } = await r.collect();
  expect(errors).toEqual([]);
  return resourceMetrics;
}

async function expectSame(a: IMetricReader, b: IMetricReader) {
  const expected = operationMetrics(await collected(a));
  const actual = operationMetrics(await collected(b));
  expect(actual).toEqual(expected);
  return actual;
}

function metricNamed(resourceMetrics: ResourceMetrics, name: string): MetricData | undefined {
  return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
}

describe('OperationMetrics against SDK instruments', () => {
  it('gives the same metrics to cumulative and delta readers over several collections', async () => {
    const { sdk, own } = sides();
    for (const s of FIRST) {
      expect(own.evaluator.evaluate(s)).toEqual(sdk.evaluator.evaluate(s));
    }
    const first = await expectSame(sdk.cumulative, own.cumulative);
    expect(Object.keys(first).sort()).toEqual([...OPERATION_METRICS].sort());
    expect(JSON.stringify(first)).toContain('"perf.operation":"_other"');
    expect(JSON.stringify(first)).toContain('"service.name":"_other"');
    await expectSame(sdk.delta, own.delta);

    for (const s of SECOND) own.evaluator.evaluate(s);
    for (const s of SECOND) sdk.evaluator.evaluate(s);
    await expectSame(sdk.cumulative, own.cumulative);
    const second = await expectSame(sdk.delta, own.delta);
    // Only the series recorded in the second interval.
    expect((second[METRIC_OPERATION_DURATION] as { points: unknown[] }).points).toHaveLength(4);

    // A third interval without spans: nothing for delta readers, the same totals for cumulative ones.
    await expectSame(sdk.delta, own.delta);
    expect(operationMetrics(await collected(own.delta))).toEqual({});
    await expectSame(sdk.cumulative, own.cumulative);
  });

  it('starts delta points at the previous collection when the series was in it, cumulative ones at the first record', async () => {
    const { own } = sides();
    own.evaluator.evaluate(op('pay', 0.2));
    const first = metricNamed(await collected(own.delta), METRIC_OPERATION_DURATION);
    const cumulative = metricNamed(await collected(own.cumulative), METRIC_OPERATION_DURATION);
    own.evaluator.evaluate(op('pay', 0.3));
    own.evaluator.evaluate(op('pay', 0.9));
    const second = metricNamed(await collected(own.delta), METRIC_OPERATION_DURATION);
    const cumulativeLater = metricNamed(await collected(own.cumulative), METRIC_OPERATION_DURATION);

    const okPoint = (m: MetricData | undefined, exceeded: boolean) =>
      m?.dataPoints.find((p) => p.attributes['perf.target_exceeded'] === exceeded);
    const firstOk = okPoint(first, false);
    expect(firstOk?.startTime).toBeDefined();
    // Reported by the first collection: starts where it ended.
    expect(okPoint(second, false)?.startTime).toEqual(firstOk?.endTime);
    // New since: starts at its own first record, not before the first collection.
    const newStart = okPoint(second, true)?.startTime as [number, number];
    expect(newStart[0] * 1e9 + newStart[1]).toBeGreaterThanOrEqual(
      (firstOk?.endTime[0] ?? 0) * 1e9 + (firstOk?.endTime[1] ?? 0) - 1e6,
    );
    expect(okPoint(cumulativeLater, false)?.startTime).toEqual(okPoint(cumulative, false)?.startTime);
    expect(okPoint(cumulativeLater, false)?.value).toMatchObject({ count: 2, min: 0.2, max: 0.3 });
    expect(okPoint(second, false)?.value).toMatchObject({ count: 1, min: 0.3, max: 0.3, sum: 0.3 });
  });

  it("follows a push reader's exporter temporality (OTLP's preference) next to a cumulative reader", async () => {
    const store = new OperationMetrics();
    const deltaExporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
    const cumulativeExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const push = (exporter: InMemoryMetricExporter) =>
      new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const delta = push(deltaExporter);
    const cumulative = push(cumulativeExporter);
    const provider = new MeterProvider({ readers: [store.bind(delta), store.bind(cumulative)] });
    providers.push(provider);
    const e = evaluator(provider, store);
    const counts = (exporter: InMemoryMetricExporter) =>
      exporter
        .getMetrics()
        .map((rm) => metricNamed(rm, METRIC_TARGET_BREACHES))
        .map((m) => [m?.aggregationTemporality, m?.dataPoints.map((p) => p.value)]);

    e.evaluate(op('pay', 0.7));
    e.evaluate(op('pay', 0.8));
    await delta.forceFlush();
    await cumulative.forceFlush();
    e.evaluate(op('pay', 0.9));
    await delta.forceFlush();
    await cumulative.forceFlush();
    expect(counts(deltaExporter)).toEqual([
      [AggregationTemporality.DELTA, [2]],
      [AggregationTemporality.DELTA, [1]],
    ]);
    expect(counts(cumulativeExporter)).toEqual([
      [AggregationTemporality.CUMULATIVE, [2]],
      [AggregationTemporality.CUMULATIVE, [3]],
    ]);
  });

  it('adds its metrics to the scope of the SDK meter with the same name and version', async () => {
    const { own } = sides();
    own.evaluator.evaluate(op('pay', 0.2, { attributes: { 'user.id': 'u1' } }));
    const { scopeMetrics } = await collected(own.cumulative);
    // The SDK meter holds the per-user histogram and the target gauge: one scope for all of them.
    expect(scopeMetrics).toHaveLength(1);
    expect(scopeMetrics[0]?.scope).toMatchObject(OperationMetrics.scope);
    expect(scopeMetrics[0]?.metrics.map((m) => m.descriptor.name)).toEqual(
      expect.arrayContaining([METRIC_OPERATION_DURATION, 'perf.user.operation.duration']),
    );
  });

  it('reports gauges as SDK observable gauges do, and not to a reader bound without gauges', async () => {
    const series = [
      [0.25, Object.freeze({ 'service.name': OWN, 'perf.operation': 'a' })],
      [-3, Object.freeze({ 'service.name': OWN, 'perf.operation': 'b' })],
    ] as const;
    let scale = 1;
    const callback: GaugeCallback = (observe) => {
      for (const [value, attributes] of series) observe(value * scale, attributes);
    };
    const definition = { name: 'perf.test.gauge', description: 'A test gauge', unit: '' };
    const sdkReader = reader(AggregationTemporality.CUMULATIVE);
    const sdkProvider = new MeterProvider({ readers: [sdkReader] });
    meterGauges(sdkProvider.getMeter(SCOPE_NAME, VERSION)).gauge(definition, callback);
    const store = new OperationMetrics();
    const exporting = reader(AggregationTemporality.DELTA);
    const windows = reader(AggregationTemporality.DELTA);
    const ownProvider = new MeterProvider({
      readers: [store.bind(exporting), store.bind(windows, { gauges: false })],
    });
    ownProvider.getMeter(SCOPE_NAME, VERSION);
    store.gauge(definition, callback);
    providers.push(sdkProvider, ownProvider);
    const gaugeOf = async (r: IMetricReader) => {
      const { resourceMetrics } = await (r as InProcessMetricReader).collect();
      const all = resourceMetrics.scopeMetrics.flatMap((m) => m.metrics);
      const metric = all.find((m) => m.descriptor.name === definition.name);
      if (!metric) return undefined;
      return {
        descriptor: { ...metric.descriptor, advice: undefined },
        type: metric.dataPointType,
        points: (metric.dataPoints as DataPoint<number>[]).map((p) => [p.attributes, p.value]),
      };
    };
    for (const s of [1, 2]) {
      scale = s;
      const expected = await gaugeOf(sdkReader);
      expect(expected?.points).toHaveLength(2);
      expect(await gaugeOf(exporting)).toEqual(expected);
      expect(await gaugeOf(windows)).toBeUndefined();
    }
  });
});
