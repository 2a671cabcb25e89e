/**
 * The target span processor: evaluates every ended span that carries `perf.target_seconds`,
 * whoever created it, and records the duration of tracked operations (`perf.operation`) that have
 * no target (they never breach).
 *
 * In `onEnding` (span still writable, duration known) it stamps `perf.target_exceeded`, records the
 * `perf.operation.duration` histogram and, on a breach, counts `perf.target.breaches` and hands an
 * alert to the sink. The path never waits on I/O (the sink's `emit` is synchronous) and allocates
 * nothing of its own when no alert fires: metric attribute sets are built once per operation and
 * reused.
 */
import {
  type Attributes,
  type Counter,
  type Histogram,
  type MeterProvider,
  metrics,
  SpanStatusCode,
} from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { z } from 'zod';
import type { AlertInput } from '../alerts/index.ts';
import { alertTraceOf } from '../alerts/internal.ts';
import { roundTo } from '../shared/numbers.ts';
import { accepts, decimal, integer, parseOptions, serviceName, withMethods } from '../shared/options.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import { MAX_TARGET_SECONDS } from './operations.ts';
import {
  ATTR_CORRELATION_ID,
  ATTR_PERF_OPERATION,
  ATTR_PERF_OUTCOME,
  ATTR_PERF_TARGET_EXCEEDED,
  ATTR_PERF_TARGET_FRUSTRATED,
  ATTR_PERF_TARGET_SECONDS,
  ATTR_USER_ID,
  METRIC_OPERATION_DURATION,
  METRIC_OPERATION_TAIL_DURATION,
  METRIC_OPERATION_TARGET,
  METRIC_TARGET_BREACHES,
  METRIC_TARGET_FRUSTRATED,
  METRIC_USER_OPERATION_DURATION,
  OTHER_OPERATION,
  OUTCOME_ERROR,
  OUTCOME_OK,
} from './semconv.ts';

/** Receives alerts from the processor. `AlertSink` implements it. */
export interface AlertEmitter {
  /** Must be synchronous and must not throw. */
  emit(input: AlertInput): void;
}

/**
 * An option schema whose input type is `T` too. `withMethods` is typed `z.ZodType<T>`, whose input
 * type is `unknown`: without this, `z.input` of an options schema would accept anything there.
 */
export type Implements<T> = z.ZodType<T, T>;

/** Schema of the {@link TargetSpanProcessor} options: their one description, type and bounds. */
export const targetSpanProcessorOptionsSchema = z.strictObject({
  /** Where breach alerts go. Without one, breaches are stamped and counted but not alerted. */
  alerts: (
    withMethods<AlertEmitter>(['emit'], 'an object with emit()') as Implements<AlertEmitter>
  ).optional(),
  /** `service` label of the alerts. */
  serviceName: serviceName(),
  /**
   * Distinct operation names that get their own metric series; later names are recorded as
   * `_other`. Bounds the label sets of both metrics.
   */
  maxOperations: integer(1, 10_000_000),
  /**
   * Of those, how many get their own series in the exported metrics (`/metrics`); the others are
   * exported as `_other` and recorded by name in {@link METRIC_OPERATION_TAIL_DURATION}, which
   * only the in-process reports read. Default: `maxOperations` (all exported).
   */
  maxMetricOperations: integer(1, 10_000_000).optional(),
  /** Histogram bucket boundaries, seconds (see `durationBoundaries`). */
  boundaries: accepts(
    // Up to four times the largest target (MAX_TARGET_SECONDS): the Apdex frustrated edge.
    z
      .array(decimal(0, 4 * MAX_TARGET_SECONDS, { unit: 'seconds', minExclusive: true }))
      .max(1000)
      .readonly(),
    'at most 1000 bucket bounds',
  ),
  /** Meter provider. Default: the global one, looked up when the first span ends. */
  meterProvider: (
    withMethods<MeterProvider>(['getMeter'], 'an OpenTelemetry MeterProvider') as Implements<MeterProvider>
  ).optional(),
});

/** Options of {@link TargetSpanProcessor}. */
export type TargetSpanProcessorOptions = z.input<typeof targetSpanProcessorOptionsSchema>;

/** Label sets of one outcome x exceeded combination, index `(error ? 2 : 0) + (exceeded ? 1 : 0)`. */
type FourSets = readonly [Attributes, Attributes, Attributes, Attributes];

/**
 * What the processor keeps per operation: the exported histogram's four attribute sets, the
 * exported operation-only set (both `_other` for an operation not exported by name), the tail
 * histogram's six sets (index `(error ? 3 : 0) + (exceeded ? (frustrated ? 2 : 1) : 0)`, only for
 * operations not exported by name), the name used in per-user series, and the latest target seen
 * (for the `perf.operation.target` gauge).
 */
interface OperationLabels {
  readonly sets: FourSets;
  readonly operation: Attributes;
  readonly tail: readonly Attributes[] | undefined;
  readonly name: string;
  /** Whether the operation has its own exported series (the target gauge shows only those). */
  readonly exported: boolean;
  target: number;
}

function fourSets(name: string): FourSets {
  const make = (outcome: string, exceeded: boolean): Attributes =>
    Object.freeze({
      [ATTR_PERF_OPERATION]: name,
      [ATTR_PERF_OUTCOME]: outcome,
      [ATTR_PERF_TARGET_EXCEEDED]: exceeded,
    });
  return [
    make(OUTCOME_OK, false),
    make(OUTCOME_OK, true),
    make(OUTCOME_ERROR, false),
    make(OUTCOME_ERROR, true),
  ];
}

function tailSets(name: string): readonly Attributes[] {
  const sets: Attributes[] = [];
  for (const outcome of [OUTCOME_OK, OUTCOME_ERROR]) {
    for (const [exceeded, frustrated] of [
      [false, false],
      [true, false],
      [true, true],
    ] as const) {
      sets.push(
        Object.freeze({
          [ATTR_PERF_OPERATION]: name,
          [ATTR_PERF_OUTCOME]: outcome,
          [ATTR_PERF_TARGET_EXCEEDED]: exceeded,
          [ATTR_PERF_TARGET_FRUSTRATED]: frustrated,
        }),
      );
    }
  }
  return sets;
}

/** See the module comment. */
export class TargetSpanProcessor implements SpanProcessor {
  readonly #options: z.output<typeof targetSpanProcessorOptionsSchema>;
  readonly #labels = new Map<string, OperationLabels>();
  /** Operation names seen that took a slot (at most `maxOperations`). */
  #named = 0;
  readonly #maxMetric: number;
  /** The exported `_other` sets, shared by every operation not exported by name. */
  readonly #otherSets = fourSets(OTHER_OPERATION);
  readonly #otherOperation: Attributes = Object.freeze({ [ATTR_PERF_OPERATION]: OTHER_OPERATION });
  #histogram: Histogram | undefined;
  #tailHistogram: Histogram | undefined;
  #userHistogram: Histogram | undefined;
  #breaches: Counter | undefined;
  #frustrated: Counter | undefined;
  /** Set once the SDK calls `onEnding`; until then `onEnd` does the (read-only) evaluation. */
  #hasOnEnding = false;

  /** @throws {InvalidArgumentError} naming the first bad option. */
  constructor(options: TargetSpanProcessorOptions) {
    this.#options = parseOptions(targetSpanProcessorOptionsSchema, options, {
      what: 'a target span processor option',
    });
    const { maxMetricOperations, maxOperations } = this.#options;
    this.#maxMetric = Math.min(maxMetricOperations ?? maxOperations, maxOperations);
  }

  /** The latest target seen for an operation, seconds (`undefined` before its first span). */
  targetOf(operation: string): number | undefined {
    const target = this.#labels.get(operation)?.target;
    return target === undefined || target === 0 ? undefined : target;
  }

  onStart(): void {
    // Targets are read when the span ends: they may be set at any point of its life.
  }

  onEnding(span: Span): void {
    this.#hasOnEnding = true;
    this.#evaluate(span, true);
  }

  onEnd(span: ReadableSpan): void {
    if (!this.#hasOnEnding) this.#evaluate(span, false);
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  #evaluate(span: ReadableSpan | Span, writable: boolean): void {
    const targetAttribute = span.attributes[ATTR_PERF_TARGET_SECONDS];
    const target = typeof targetAttribute === 'number' && targetAttribute > 0 ? targetAttribute : undefined;
    const named = span.attributes[ATTR_PERF_OPERATION];
    // Spans with a target, and tracked operations without one (recorded, never breaching, so that
    // every tracked operation shows in metrics and reports).
    if (target === undefined && typeof named !== 'string') return;
    const duration = span.duration;
    const seconds = duration[0] + duration[1] / 1e9;
    const exceeded = target !== undefined && seconds > target;
    if (writable && target !== undefined) (span as Span).setAttribute(ATTR_PERF_TARGET_EXCEEDED, exceeded);

    const operation = typeof named === 'string' ? named : span.name;
    const error = span.status.code === SpanStatusCode.ERROR;
    const labels = this.#labelsFor(operation);
    if (target !== undefined) labels.target = target;
    if (this.#histogram === undefined) this.#createInstruments();
    this.#histogram?.record(seconds, labels.sets[(error ? 2 : 0) + (exceeded ? 1 : 0)]);
    const frustrated = exceeded && target !== undefined && seconds > target * 4;
    if (labels.tail) {
      const at = (error ? 3 : 0) + (exceeded ? (frustrated ? 2 : 1) : 0);
      this.#tailHistogram?.record(seconds, labels.tail[at]);
    }
    const user = span.attributes[ATTR_USER_ID];
    if (typeof user === 'string' || typeof user === 'number') {
      this.#userHistogram?.record(seconds, {
        [ATTR_USER_ID]: String(user),
        [ATTR_PERF_OPERATION]: labels.name,
        [ATTR_PERF_OUTCOME]: error ? OUTCOME_ERROR : OUTCOME_OK,
      });
    }
    if (!exceeded || target === undefined) return;

    this.#breaches?.add(1, labels.operation);
    // Apdex's frustrated zone (over 4T): with breaches it gives Apdex in PromQL without bucket edges.
    if (frustrated) this.#frustrated?.add(1, labels.operation);
    const alerts = this.#options.alerts;
    if (alerts === undefined) return;
    const trace = alertTraceOf(span.spanContext());
    const correlation = span.attributes[ATTR_CORRELATION_ID];
    const ratio = seconds / target;
    alerts.emit({
      type: 'target_exceeded',
      service: this.#options.serviceName,
      operation,
      value: roundTo(seconds, 6),
      threshold: target,
      unit: 's',
      summary: `Operation "${operation}" took ${seconds.toFixed(3)} s, over its ${target} s target (${ratio.toFixed(1)}x)${error ? ' and failed' : ''}.`,
      ...(trace ? { trace } : {}),
      ...(typeof correlation === 'string' ? { correlationId: correlation } : {}),
      ...(typeof user === 'string' || typeof user === 'number' ? { userId: String(user) } : {}),
    });
  }

  #labelsFor(operation: string): OperationLabels {
    const known = this.#labels.get(operation);
    if (known) return known;
    const own = this.#named < this.#options.maxOperations && operation !== OTHER_OPERATION;
    const name = own ? operation : OTHER_OPERATION;
    const shared = name === OTHER_OPERATION ? this.#labels.get(OTHER_OPERATION) : undefined;
    if (shared) return shared;
    // The first maxMetricOperations names are exported by name; later ones (and `_other`) are
    // exported as `_other` and recorded by name in the tail histogram.
    const exported = own && this.#named < this.#maxMetric;
    const labels: OperationLabels = exported
      ? {
          sets: fourSets(name),
          operation: Object.freeze({ [ATTR_PERF_OPERATION]: name }),
          tail: undefined,
          name,
          exported,
          target: 0,
        }
      : {
          sets: this.#otherSets,
          operation: this.#otherOperation,
          tail: tailSets(name),
          name,
          exported: name === OTHER_OPERATION,
          target: 0,
        };
    if (own) this.#named++;
    // Only real names (and `_other` once) take a slot, so the map holds at most maxOperations + 1.
    this.#labels.set(name, labels);
    return labels;
  }

  #createInstruments(): void {
    const provider = this.#options.meterProvider ?? metrics.getMeterProvider();
    const meter = provider.getMeter(SCOPE_NAME, VERSION);
    this.#histogram = meter.createHistogram(METRIC_OPERATION_DURATION, {
      description: 'Duration of operations that carry a target (perf.target_seconds)',
      unit: 's',
      advice: { explicitBucketBoundaries: [...this.#options.boundaries] },
    });
    this.#tailHistogram = meter.createHistogram(METRIC_OPERATION_TAIL_DURATION, {
      description:
        'Duration of operations not exported by name (past PERF_MAX_METRIC_OPERATIONS), in process only',
      unit: 's',
      advice: { explicitBucketBoundaries: [...this.#options.boundaries] },
    });
    this.#userHistogram = meter.createHistogram(METRIC_USER_OPERATION_DURATION, {
      description: 'Duration of operations that carry a target and a user.id, per user',
      unit: 's',
      advice: { explicitBucketBoundaries: [...this.#options.boundaries] },
    });
    this.#breaches = meter.createCounter(METRIC_TARGET_BREACHES, {
      description: 'Operations that took longer than their target',
      unit: '{breach}',
    });
    this.#frustrated = meter.createCounter(METRIC_TARGET_FRUSTRATED, {
      description: 'Operations that took longer than four times their target (Apdex frustrated)',
      unit: '{operation}',
    });
    meter
      .createObservableGauge(METRIC_OPERATION_TARGET, {
        description: 'Target of each operation (the latest one seen), for target lines on dashboards',
        unit: 's',
      })
      .addCallback((result) => {
        for (const labels of this.#labels.values()) {
          if (labels.exported && labels.target > 0) result.observe(labels.target, labels.operation);
        }
      });
  }
}
