/**
 * perf-sidecar's own aggregation of the operation metrics (`perf.operation.duration`,
 * `perf.operation.tail.duration`, `perf.target.breaches`, `perf.target.frustrated`) and of the HTTP
 * server's `http.server.request.duration` (the performance middleware's, and instrumentation-http's
 * through `http-server-metric.ts`), handed to the metric readers as finished data points instead of
 * one SDK record per span or request.
 *
 * Why: an SDK `record` hashes its attribute set into a string on every call, checks the value and
 * reads the clock. The evaluator already holds one frozen attribute set per (service, operation,
 * outcome), so each set gets a series here, made once, and a span costs a few additions into
 * numbers allocated at the series' first record.
 *
 * What the readers get is what the SDK's explicit-bucket histogram and monotonic sum aggregations
 * give, per reader:
 * - cumulative: every series recorded so far, started at its first record;
 * - delta: the series recorded since that reader's last collection, started at that collection
 *   when the series was in it, else at its first record since (the SDK's start-time calibration);
 * - histograms keep min and max per reported interval, drop negative and NaN values, and count a
 *   value into the first bucket whose upper bound is at least the value.
 * Each reader's temporality is the one it selects (`selectAggregationTemporality`), so a delta OTLP
 * exporter (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`) and the windows' delta reader
 * each get their own intervals, while Prometheus gets cumulative totals. The aggregation is always
 * explicit buckets, whatever a reader's `selectAggregation` says (an SDK instrument would follow
 * it, so a reader asking for exponential histograms or for drop gets explicit buckets here).
 *
 * How the data reach a reader: {@link OperationMetrics.bind} wraps it before it is given to the
 * meter provider; when the provider hands the reader its metric producer, the reader is given one
 * that collects the SDK's metrics and adds these to their instrumentation scope (perf-sidecar's, or
 * instrumentation-http's for its histogram): one scope in the export, as when the SDK recorded
 * them. A reader's own `metricProducers` option would put them in a second scope and could not be
 * used for readers the host built.
 */
import { type Attributes, type HrTime, ValueType } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  type CollectionResult,
  DataPointType,
  type IMetricReader,
  InstrumentType,
  type MetricCollectOptions,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import { defineGauge, type Gauge, gaugeData } from './gauge-data.ts';
import type {
  CounterDefinition,
  GaugeCallback,
  GaugeDefinition,
  GaugeSink,
  HistogramDefinition,
  OperationMetricSink,
} from './metric-sink.ts';

type Kind = InstrumentType.HISTOGRAM | InstrumentType.COUNTER | InstrumentType.OBSERVABLE_GAUGE;

/** Figures of one series over some interval: a histogram's or a sum's (`sum` only, `counts` empty). */
class State {
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  /** Clock of the first record in the interval, ms since epoch (the point's start time). */
  startMs = 0;
  readonly counts: Float64Array;

  constructor(buckets: number) {
    this.counts = new Float64Array(buckets);
  }

  /** Adds `from` (a later interval) into this one, as the SDK merges accumulations. */
  add(from: State): void {
    this.count += from.count;
    this.sum += from.sum;
    if (from.min < this.min) this.min = from.min;
    if (from.max > this.max) this.max = from.max;
    const counts = this.counts;
    const other = from.counts;
    for (let i = 0; i < counts.length; i++) counts[i] = (counts[i] as number) + (other[i] as number);
  }

  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = Number.NEGATIVE_INFINITY;
    this.counts.fill(0);
  }
}

/** One attribute set of one instrument: what the evaluator records into. */
class Series {
  readonly attributes: Attributes;
  readonly instrument: Instrument;
  /** Records since the last drain; allocated at the first record (most sets are never used). */
  active: State | undefined;
  /** Whether `active` holds records not yet drained (the series is in the store's dirty list). */
  dirty = false;
  /** Everything drained so far, when some reader is cumulative. */
  cumulative: State | undefined;

  constructor(instrument: Instrument, attributes: Attributes) {
    this.instrument = instrument;
    this.attributes = attributes;
  }

  /** A histogram record; NaN and negative values are dropped, as the SDK's histogram drops them. */
  record(value: number): void {
    if (!(value >= 0)) return;
    if (!this.dirty) this.instrument.store.touch(this);
    const a = this.active as State;
    a.count++;
    a.sum += value;
    if (value < a.min) a.min = value;
    if (value > a.max) a.max = value;
    // The first bound >= value (the SDK's binarySearchUB): upper bounds are inclusive.
    const bounds = this.instrument.boundaries;
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((bounds[mid] as number) < value) lo = mid + 1;
      else hi = mid;
    }
    a.counts[lo] = (a.counts[lo] as number) + 1;
  }

  /** A counter increment; negative values are dropped, as the SDK's counter drops them. */
  add(value: number): void {
    if (value < 0) return;
    if (!this.dirty) this.instrument.store.touch(this);
    (this.active as State).sum += value;
  }
}

/** The instrumentation scope a metric is reported under (a meter's name and version). */
export interface MetricScope {
  readonly name: string;
  readonly version: string | undefined;
  readonly schemaUrl: undefined;
}

/** One metric: its descriptor, its series by attribute set (identity) and the order they started in. */
class Instrument {
  readonly store: OperationMetrics;
  readonly scope: MetricScope;
  readonly kind: Kind;
  readonly name: string;
  readonly descriptor: MetricData['descriptor'];
  readonly boundaries: readonly number[];
  readonly #byAttributes = new Map<Attributes, Series>();
  /** Series with at least one drained record, in the order of their first record (the SDK's order). */
  readonly started: Series[] = [];

  constructor(
    store: OperationMetrics,
    scope: MetricScope,
    kind: Kind,
    definition: HistogramDefinition | CounterDefinition,
  ) {
    this.store = store;
    this.scope = scope;
    this.kind = kind;
    this.name = definition.name;
    this.boundaries = 'boundaries' in definition ? [...definition.boundaries] : [];
    // The descriptor the SDK would give the instrument (`createInstrumentDescriptor`).
    this.descriptor = {
      name: definition.name,
      type: kind,
      description: definition.description,
      unit: definition.unit,
      valueType: ValueType.DOUBLE,
      advice: 'boundaries' in definition ? { explicitBucketBoundaries: [...definition.boundaries] } : {},
    } as MetricData['descriptor'];
  }

  /** The series of `attributes` (the same object, not equal contents: sets are built once). */
  series(attributes: Attributes): Series {
    let series = this.#byAttributes.get(attributes);
    if (series === undefined) {
      series = new Series(this, attributes);
      this.#byAttributes.set(attributes, series);
    }
    return series;
  }

  /** A new, empty state of this instrument's shape. */
  state(): State {
    return new State(this.kind === InstrumentType.HISTOGRAM ? this.boundaries.length + 1 : 0);
  }

  metricData(temporality: AggregationTemporality, points: PointSource[], endTime: HrTime): MetricData {
    if (this.kind === InstrumentType.COUNTER) {
      return {
        descriptor: this.descriptor,
        aggregationTemporality: temporality,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: points.map(({ series, state, startMs }) => ({
          attributes: series.attributes,
          startTime: millisToHrTime(startMs),
          endTime,
          value: state.sum,
        })),
      };
    }
    return {
      descriptor: this.descriptor,
      aggregationTemporality: temporality,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: points.map(({ series, state, startMs }) => ({
        attributes: series.attributes,
        startTime: millisToHrTime(startMs),
        endTime,
        value: {
          min: state.min,
          max: state.max,
          sum: state.sum,
          buckets: { boundaries: this.boundaries as number[], counts: Array.from(state.counts) },
          count: state.count,
        },
      })),
    };
  }
}

/** One series' figures as one reader reports them. */
interface PointSource {
  readonly series: Series;
  readonly state: State;
  readonly startMs: number;
}

/** A delta reader's figures of one series since its last collection. */
interface DeltaEntry {
  readonly state: State;
  /** Whether the state holds records (the entry is in the reader's `touched` list). */
  touched: boolean;
  /** The reader's collection that last reported the series (-1: none). */
  reportedAt: number;
}

/** What the store keeps per bound reader. */
class Consumer {
  readonly reader: IMetricReader;
  /** Whether the reader gets the gauges (the windows' reader does not: it never reads them). */
  readonly gauges: boolean;
  readonly #temporality = new Map<Kind, AggregationTemporality>();
  readonly delta = new Map<Series, DeltaEntry>();
  /** Series with delta figures since the last collection, in the order of their first record. */
  touched: Series[] = [];
  collections = 0;
  lastCollectionMs = 0;

  constructor(reader: IMetricReader, gauges: boolean) {
    this.reader = reader;
    this.gauges = gauges;
  }

  /** The reader's temporality for `kind`, asked once (the SDK fixes it at the first report too). */
  temporality(kind: Kind): AggregationTemporality {
    let chosen = this.#temporality.get(kind);
    if (chosen === undefined) {
      chosen = this.reader.selectAggregationTemporality(kind);
      this.#temporality.set(kind, chosen);
    }
    return chosen;
  }
}

/** See the module comment. */
export class OperationMetrics implements OperationMetricSink, GaugeSink {
  /** The scope the metrics are reported under: perf-sidecar's meter's. */
  static readonly scope: MetricScope = { name: SCOPE_NAME, version: VERSION, schemaUrl: undefined };
  readonly #instruments: Instrument[] = [];
  readonly #consumers: Consumer[] = [];
  readonly #gauges: Gauge[] = [];
  /** Series with records since the last drain. */
  #dirty: Series[] = [];

  /**
   * An explicit-bucket histogram, reported under `scope` (default perf-sidecar's); the same
   * instrument for a name already defined in that scope.
   */
  histogram(
    definition: HistogramDefinition,
    scope: MetricScope = OperationMetrics.scope,
  ): { series(attributes: Attributes): Series } {
    return this.#instrument(InstrumentType.HISTOGRAM, definition, scope);
  }

  /** A monotonic counter; the same instrument for a name already defined. */
  counter(definition: CounterDefinition): { series(attributes: Attributes): Series } {
    return this.#instrument(InstrumentType.COUNTER, definition, OperationMetrics.scope);
  }

  #instrument(
    kind: Kind,
    definition: HistogramDefinition | CounterDefinition,
    scope: MetricScope,
  ): Instrument {
    const known = this.#instruments.find((i) => i.name === definition.name && sameScope(i.scope, scope));
    if (known) return known;
    const instrument = new Instrument(this, scope, kind, definition);
    this.#instruments.push(instrument);
    return instrument;
  }

  /**
   * A gauge whose series `callback` reports at each collection of a reader bound with `gauges`.
   * Its points carry the attribute sets as given (made once by the caller), so a collection costs
   * a data point per series, not the SDK's hashing of every observation's attributes. Unlike an
   * SDK instrument it has no cardinality limit: the caller bounds its series. Non-finite values
   * are left out; a point's start time is the gauge's definition.
   *
   * @throws {Error} when a gauge of that name is already defined.
   */
  gauge(definition: GaugeDefinition, callback: GaugeCallback): void {
    // Two callbacks under one name would make two metrics of one name in an export.
    if (this.#gauges.some((g) => g.descriptor.name === definition.name)) {
      throw new Error(`gauge ${definition.name}: already defined; expected one definition per name`);
    }
    this.#gauges.push(defineGauge(definition, callback));
  }

  /**
   * `reader` as the meter provider must be given it: the same reader, whose metric producer also
   * reports this store's metrics (and its gauges unless `gauges` is false). Bind every reader
   * before the first record.
   */
  bind(reader: IMetricReader, options: { readonly gauges?: boolean } = {}): IMetricReader {
    const consumer = new Consumer(reader, options.gauges ?? true);
    this.#consumers.push(consumer);
    return {
      setMetricProducer: (sdk: MetricProducer) =>
        reader.setMetricProducer({ collect: (options) => this.#collect(consumer, sdk, options) }),
      selectAggregation: (type) => reader.selectAggregation(type),
      selectAggregationTemporality: (type) => reader.selectAggregationTemporality(type),
      selectCardinalityLimit: (type) => reader.selectCardinalityLimit?.(type) ?? 2000,
      collect: (options) => reader.collect(options),
      forceFlush: (options) => reader.forceFlush(options),
      shutdown: (options) => reader.shutdown(options),
    };
  }

  /** @internal A series' first record since the last drain. */
  touch(series: Series): void {
    series.dirty = true;
    if (series.active === undefined) series.active = series.instrument.state();
    series.active.startMs = Date.now();
    this.#dirty.push(series);
  }

  /** Moves what was recorded since the last drain into every reader's figures. */
  #drain(): void {
    const dirty = this.#dirty;
    if (dirty.length === 0) return;
    this.#dirty = [];
    for (const series of dirty) {
      const active = series.active as State;
      const kind = series.instrument.kind;
      let cumulative = false;
      for (const consumer of this.#consumers) {
        if (consumer.temporality(kind) === AggregationTemporality.CUMULATIVE) {
          cumulative = true;
          continue;
        }
        let entry = consumer.delta.get(series);
        if (entry === undefined) {
          entry = { state: series.instrument.state(), touched: false, reportedAt: -1 };
          consumer.delta.set(series, entry);
        }
        if (!entry.touched) {
          entry.touched = true;
          entry.state.startMs = active.startMs;
          consumer.touched.push(series);
        }
        entry.state.add(active);
      }
      if (cumulative) {
        if (series.cumulative === undefined) {
          series.cumulative = series.instrument.state();
          series.cumulative.startMs = active.startMs;
          series.instrument.started.push(series);
        }
        series.cumulative.add(active);
      }
      active.reset();
      series.dirty = false;
    }
  }

  /** This store's metrics as `consumer`'s reader reports them now; resets its delta figures. */
  #metricsFor(consumer: Consumer, nowMs: number): Map<MetricScope, MetricData[]> {
    this.#drain();
    const endTime = millisToHrTime(nowMs);
    const out = new Map<MetricScope, MetricData[]>();
    // The collection before this one (none for the first: -1 is what unreported entries hold).
    const previous = consumer.collections > 0 ? consumer.collections - 1 : -2;
    for (const instrument of this.#instruments) {
      const temporality = consumer.temporality(instrument.kind);
      const points: PointSource[] = [];
      if (temporality === AggregationTemporality.CUMULATIVE) {
        for (const series of instrument.started) {
          const state = series.cumulative as State;
          points.push({ series, state, startMs: state.startMs });
        }
      } else {
        for (const series of consumer.touched) {
          if (series.instrument !== instrument) continue;
          const entry = consumer.delta.get(series) as DeltaEntry;
          // A series reported by the previous collection starts where that one ended.
          const startMs = entry.reportedAt === previous ? consumer.lastCollectionMs : entry.state.startMs;
          points.push({ series, state: entry.state, startMs });
        }
      }
      if (points.length === 0) continue;
      const scope = [...out.keys()].find((known) => sameScope(known, instrument.scope)) ?? instrument.scope;
      const metrics = out.get(scope) ?? [];
      metrics.push(instrument.metricData(temporality, points, endTime));
      out.set(scope, metrics);
    }
    if (consumer.gauges) {
      // Gauges are perf-sidecar's (the SLO monitor's), under its scope.
      const scope =
        [...out.keys()].find((known) => sameScope(known, OperationMetrics.scope)) ?? OperationMetrics.scope;
      const metrics = out.get(scope) ?? [];
      const temporality = consumer.temporality(InstrumentType.OBSERVABLE_GAUGE);
      for (const gauge of this.#gauges) metrics.push(...gaugeData(gauge, temporality, endTime));
      if (metrics.length > 0) out.set(scope, metrics);
    }
    for (const series of consumer.touched) {
      const entry = consumer.delta.get(series) as DeltaEntry;
      entry.state.reset();
      entry.touched = false;
      entry.reportedAt = consumer.collections;
    }
    consumer.touched = [];
    consumer.collections++;
    consumer.lastCollectionMs = nowMs;
    return out;
  }

  async #collect(
    consumer: Consumer,
    sdk: MetricProducer,
    options: MetricCollectOptions | undefined,
  ): Promise<CollectionResult> {
    const result = await sdk.collect(options);
    const byScope = this.#metricsFor(consumer, Date.now());
    if (byScope.size === 0) return result;
    const scopes = [...result.resourceMetrics.scopeMetrics];
    for (const [scope, metrics] of byScope) {
      // Into the SDK meter's scope of the same name and version: one scope in the export, as when
      // the SDK recorded them.
      const at = scopes.findIndex((s) => sameScope(s.scope, scope));
      const own = scopes[at];
      if (own) scopes[at] = { ...own, metrics: [...own.metrics, ...metrics] };
      else scopes.push({ scope, metrics });
    }
    return { ...result, resourceMetrics: { ...result.resourceMetrics, scopeMetrics: scopes } };
  }
}

/** Whether two scopes are the same meter's (a scope with a schema URL is never one of the store's). */
function sameScope(
  a: { name: string; version?: string | undefined; schemaUrl?: string | undefined },
  b: MetricScope,
): boolean {
  return a.name === b.name && a.version === b.version && !a.schemaUrl;
}
