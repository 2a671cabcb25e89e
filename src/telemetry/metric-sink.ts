/**
 * Where the span evaluator's operation metrics go: one series per attribute set, made once per
 * set, recorded into per span.
 *
 * Two implementations: perf-sidecar's own aggregation (`OperationMetrics`, what `startTelemetry`
 * uses, handed to the readers as finished data points) and {@link meterSink}, plain SDK
 * instruments of a meter provider, for a `TargetSpanProcessor` added to a host's own SDK, whose
 * readers perf-sidecar never sees.
 */
import type { Attributes, Meter } from '@opentelemetry/api';

/** An explicit-bucket histogram of seconds (or any non-negative figure). */
export interface HistogramDefinition {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  /** Upper bounds of the buckets, ascending; one more bucket holds what lies above the last. */
  readonly boundaries: readonly number[];
}

/** A monotonic counter. */
export interface CounterDefinition {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
}

/** One attribute set of a histogram. */
export interface ValueRecorder {
  /** Records one value (negative and NaN values are dropped). */
  record(value: number): void;
}

/** One attribute set of a counter. */
export interface CountAdder {
  /** Adds a non-negative amount. */
  add(value: number): void;
}

/** See the module comment. */
export interface OperationMetricSink {
  histogram(definition: HistogramDefinition): { series(attributes: Attributes): ValueRecorder };
  counter(definition: CounterDefinition): { series(attributes: Attributes): CountAdder };
}

/** A sink over SDK instruments of `meter`: each series records with its attribute set. */
export function meterSink(meter: Meter): OperationMetricSink {
  return {
    histogram(definition) {
      const histogram = meter.createHistogram(definition.name, {
        description: definition.description,
        unit: definition.unit,
        advice: { explicitBucketBoundaries: [...definition.boundaries] },
      });
      return { series: (attributes) => ({ record: (value) => histogram.record(value, attributes) }) };
    },
    counter(definition) {
      const counter = meter.createCounter(definition.name, {
        description: definition.description,
        unit: definition.unit,
      });
      return { series: (attributes) => ({ add: (value) => counter.add(value, attributes) }) };
    },
  };
}

/** A gauge: its series are read at each collection. */
export interface GaugeDefinition {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
}

/**
 * Reports every series of a gauge at a collection: `observe(value, attributes)` once per series,
 * each series' attribute set made once and given as the same object each time.
 */
export type GaugeCallback = (observe: (value: number, attributes: Attributes) => void) => void;

/**
 * Where gauges read at each collection go: perf-sidecar's own aggregation (`OperationMetrics`,
 * whose collection skips the SDK's per-observation attribute hashing and reports them only to the
 * readers that export) or {@link meterGauges}.
 */
export interface GaugeSink {
  gauge(definition: GaugeDefinition, callback: GaugeCallback): void;
}

/** A gauge sink over SDK observable gauges of `meter`. */
export function meterGauges(meter: Meter): GaugeSink {
  return {
    gauge(definition, callback) {
      meter
        .createObservableGauge(definition.name, {
          description: definition.description,
          unit: definition.unit,
        })
        .addCallback((result) => callback((value, attributes) => result.observe(value, attributes)));
    },
  };
}
