/**
 * The span evaluator's instruments: their names, descriptions, units and buckets (one definition,
 * whichever sink records them), and the series of an operation, made on its first span.
 *
 * The operation metrics (durations, tail durations, breaches, frustrated) go to an
 * {@link OperationMetricSink}; per-user durations (a new attribute set per span: user ids come
 * from the spans), received requests and the target gauge stay SDK instruments of the meter.
 */
import type { Histogram, Meter } from '@opentelemetry/api';
import type { OperationLabels, OperationSeries, ServiceLabels } from './evaluate-labels.ts';
import type { CountAdder, OperationMetricSink, ValueRecorder } from './metric-sink.ts';
import {
  METRIC_OPERATION_DURATION,
  METRIC_OPERATION_TAIL_DURATION,
  METRIC_OPERATION_TARGET,
  METRIC_SERVICE_HTTP_DURATION,
  METRIC_TARGET_BREACHES,
  METRIC_TARGET_FRUSTRATED,
  METRIC_USER_OPERATION_DURATION,
} from './semconv.ts';

type SeriesMaker<T> = { series(attributes: OperationLabels['operation']): T };

/** What the evaluator records into. */
export interface EvaluatorInstruments {
  readonly duration: SeriesMaker<ValueRecorder>;
  readonly tail: SeriesMaker<ValueRecorder>;
  readonly breaches: SeriesMaker<CountAdder>;
  readonly frustrated: SeriesMaker<CountAdder>;
  readonly user: Histogram;
  readonly http: Histogram;
}

/**
 * Creates the instruments: the operation metrics in `sink`, the others in `meter`, with the
 * `perf.operation.target` gauge observing `services()` at each collection.
 */
export function createInstruments(
  meter: Meter,
  sink: OperationMetricSink,
  boundaries: readonly number[],
  services: () => Iterable<ServiceLabels>,
): EvaluatorInstruments {
  const advice = { explicitBucketBoundaries: [...boundaries] };
  const instruments: EvaluatorInstruments = {
    duration: sink.histogram({
      name: METRIC_OPERATION_DURATION,
      description: 'Duration of operations that carry a target (perf.target_seconds)',
      unit: 's',
      boundaries,
    }),
    tail: sink.histogram({
      name: METRIC_OPERATION_TAIL_DURATION,
      description:
        'Duration of operations not exported by name (past PERF_MAX_METRIC_OPERATIONS), in process only',
      unit: 's',
      boundaries,
    }),
    user: meter.createHistogram(METRIC_USER_OPERATION_DURATION, {
      description: 'Duration of operations that carry a target and a user.id, per user',
      unit: 's',
      advice,
    }),
    http: meter.createHistogram(METRIC_SERVICE_HTTP_DURATION, {
      description:
        'Duration of the HTTP server spans services export to the sidecar, by route, in process only',
      unit: 's',
      advice,
    }),
    breaches: sink.counter({
      name: METRIC_TARGET_BREACHES,
      description: 'Operations that took longer than their target',
      unit: '{breach}',
    }),
    frustrated: sink.counter({
      name: METRIC_TARGET_FRUSTRATED,
      description: 'Operations that took longer than four times their target (Apdex frustrated)',
      unit: '{operation}',
    }),
  };
  meter
    .createObservableGauge(METRIC_OPERATION_TARGET, {
      description: 'Target of each operation (the latest one seen), for target lines on dashboards',
      unit: 's',
    })
    .addCallback((result) => {
      for (const service of services()) {
        for (const labels of service.values()) {
          if (labels.exported && labels.target > 0) result.observe(labels.target, labels.operation);
        }
      }
    });
  return instruments;
}

/**
 * The series of an operation's label sets. Operations not exported by name share the `_other`
 * sets, and a sink hands out one series per set, so they share those series too.
 */
export function seriesOf(instruments: EvaluatorInstruments, labels: OperationLabels): OperationSeries {
  const { duration, tail, breaches, frustrated } = instruments;
  const [okIn, okOver, errorIn, errorOver] = labels.sets;
  return {
    duration: [
      duration.series(okIn),
      duration.series(okOver),
      duration.series(errorIn),
      duration.series(errorOver),
    ],
    tail: labels.tail?.map((set) => tail.series(set)),
    breaches: breaches.series(labels.operation),
    frustrated: frustrated.series(labels.operation),
  };
}
