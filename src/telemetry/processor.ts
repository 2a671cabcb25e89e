/**
 * The target span processor: hands every ended span of the SDK it is registered with to its
 * {@link SpanEvaluator} (the one implementation of targets, breaches, Apdex and alerts; see
 * `evaluate.ts`), and stamps the verdict on the span while it is still writable: in `onEnding`,
 * `perf.target_exceeded` on every span with a target, and `perf.target_seconds` and
 * `perf.operation` as well on a span whose target came from a target rule, so that exported traces
 * carry what the span was held to.
 *
 * Nothing on the path waits on I/O or allocates when no alert fires (see `evaluate.ts`).
 */
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { z } from 'zod';
import { InvalidArgumentError } from '../shared/errors.ts';
import { integer, parseOptions, serviceName } from '../shared/options.ts';
import {
  type AlertEmitter,
  boundariesSchema,
  type Implements,
  SpanEvaluator,
  spanEvaluatorOptionsSchema,
} from './evaluate.ts';
import { ATTR_PERF_OPERATION, ATTR_PERF_TARGET_EXCEEDED, ATTR_PERF_TARGET_SECONDS } from './semconv.ts';
import { ServiceRegistry } from './services.ts';

export type { AlertEmitter, Implements };

/** Services a processor's own registry admits when none is given: the own one and the rest as `_other`. */
const DEFAULT_MAX_SERVICES = 100;

/** Schema of the {@link TargetSpanProcessor} options: their one description, type and bounds. */
export const targetSpanProcessorOptionsSchema = z.strictObject({
  /** Where breach alerts go. Without one, breaches are stamped and counted but not alerted. */
  alerts: spanEvaluatorOptionsSchema.shape.alerts,
  /** `service` label of the alerts and `service.name` of the metrics. */
  serviceName: serviceName(),
  /**
   * Distinct operation names that get their own metric series; later names are recorded as
   * `_other`. Bounds the label sets of both metrics.
   */
  maxOperations: integer(1, 10_000_000),
  /**
   * Of those, how many get their own series in the exported metrics (`/metrics`); the others are
   * exported as `_other` and recorded by name in the tail histogram
   * (`perf.operation.tail.duration`), which only the in-process reports read. Default:
   * `maxOperations` (all exported).
   */
  maxMetricOperations: integer(1, 10_000_000).optional(),
  /** Histogram bucket boundaries, seconds (see `durationBoundaries`). */
  boundaries: boundariesSchema,
  /** Meter provider. Default: the global one, looked up when the first span ends. */
  meterProvider: spanEvaluatorOptionsSchema.shape.meterProvider,
  /**
   * @internal Where the operation metrics go (`startTelemetry`'s own aggregation, bound to its
   * readers). Default: SDK instruments of `meterProvider`.
   */
  operationMetrics: spanEvaluatorOptionsSchema.shape.operationMetrics,
  /** The current target rules, for spans without `perf.target_seconds`. Default: none. */
  rules: spanEvaluatorOptionsSchema.shape.rules,
  /** Whether every breach raises a `target_exceeded` alert (`PERF_ALERT_EACH_BREACH`). Default true. */
  eachBreach: spanEvaluatorOptionsSchema.shape.eachBreach,
  /**
   * @internal The service registry shared with the OTLP receiver and the reports (its own service
   * must be `serviceName`). Default: a registry of its own.
   */
  services: spanEvaluatorOptionsSchema.shape.services.optional(),
});

/** Options of {@link TargetSpanProcessor}. */
export type TargetSpanProcessorOptions = z.input<typeof targetSpanProcessorOptionsSchema>;

/** See the module comment. */
export class TargetSpanProcessor implements SpanProcessor {
  /**
   * The evaluator this processor hands its spans to: the sidecar's OTLP receiver evaluates
   * received spans with this very instance, so both share label sets, targets and bounds.
   */
  readonly evaluator: SpanEvaluator;
  /** Set once the SDK calls `onEnding`; until then `onEnd` does the (read-only) evaluation. */
  #hasOnEnding = false;

  /** @throws {InvalidArgumentError} naming the first bad option. */
  constructor(options: TargetSpanProcessorOptions) {
    const o = parseOptions(targetSpanProcessorOptionsSchema, options, {
      what: 'a target span processor option',
    });
    const services =
      o.services ?? new ServiceRegistry({ ownService: o.serviceName, maxServices: DEFAULT_MAX_SERVICES });
    if (services.own !== o.serviceName) {
      throw new InvalidArgumentError(
        'options.services',
        `is the registry of ${JSON.stringify(services.own)}`,
        `the registry of serviceName (${JSON.stringify(o.serviceName)})`,
      );
    }
    this.evaluator = new SpanEvaluator({
      services,
      maxOperations: o.maxOperations,
      boundaries: o.boundaries,
      ...(o.alerts ? { alerts: o.alerts } : {}),
      ...(o.maxMetricOperations !== undefined ? { maxMetricOperations: o.maxMetricOperations } : {}),
      ...(o.meterProvider ? { meterProvider: o.meterProvider } : {}),
      ...(o.operationMetrics ? { operationMetrics: o.operationMetrics } : {}),
      ...(o.rules ? { rules: o.rules } : {}),
      eachBreach: o.eachBreach,
    });
  }

  /** The latest target seen for an operation of the own service, seconds (`undefined` before its first span). */
  targetOf(operation: string): number | undefined {
    return this.evaluator.targetOf(operation);
  }

  onStart(): void {
    // Targets are read when the span ends: they may be set at any point of its life.
  }

  onEnding(span: Span): void {
    this.#hasOnEnding = true;
    const result = this.evaluator.evaluateSpan(span);
    if (result === undefined || result.targetSeconds === undefined) return;
    span.setAttribute(ATTR_PERF_TARGET_EXCEEDED, result.exceeded);
    if (result.fromRule) {
      span.setAttribute(ATTR_PERF_TARGET_SECONDS, result.targetSeconds);
      if (span.attributes[ATTR_PERF_OPERATION] === undefined) {
        span.setAttribute(ATTR_PERF_OPERATION, result.operation);
      }
    }
  }

  onEnd(span: ReadableSpan): void {
    if (!this.#hasOnEnding) this.evaluator.evaluateSpan(span);
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
