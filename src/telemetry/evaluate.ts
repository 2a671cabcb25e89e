/**
 * The span evaluator: the one implementation of targets, breaches, Apdex and `target_exceeded`
 * alerts, for the spans of the sidecar's own SDK (through `TargetSpanProcessor`) and for the spans
 * services export to it over OTLP (through `src/ingest`), both seen as a {@link SpanView}.
 *
 * A span's target is its `perf.target_seconds` attribute when that is a positive number, else the
 * target of the first matching rule of the current rule set (`PERF_RULES_FILE`), else none. Its
 * operation is its `perf.operation` attribute when that is a string, else the rule's operation,
 * else the span name. A span with a target, or with `perf.operation` (a tracked operation without
 * one: recorded, never breaching), records `perf.operation.duration` (and the tail and per-user
 * histograms), and on a breach counts `perf.target.breaches` (and `perf.target.frustrated` over
 * four times the target: Apdex's frustrated zone) and hands an alert to the sink. Every series
 * carries the span's `service.name`, as the service registry names it (bounded: `_other` past
 * `PERF_MAX_SERVICES`), and so does every alert, with the operation as recorded (`_other` past
 * `PERF_MAX_OPERATIONS`): alerts fold like series do, whatever names a client sends. A received
 * SERVER span with `http.route` also records `perf.service.http.duration`, target or not: the
 * `http` part of its service's summary.
 *
 * The path never waits on I/O (the sink's `emit` is synchronous) and allocates nothing of its own
 * when no alert fires: attribute sets, and the metric series recorded into, are made once per
 * (service, operation) and reused, the own service's are held directly, and an in-process span is
 * read through one reused view. Under `startTelemetry` the series are perf-sidecar's own
 * aggregation (`operation-metrics.ts`), not SDK instruments: no attribute hashing per span.
 */
import { type Attributes, type MeterProvider, metrics, SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
} from '@opentelemetry/semantic-conventions';
import { z } from 'zod';
import type { AlertInput, AlertTrace } from '../alerts/index.ts';
import { alertTraceOfIds } from '../alerts/internal.ts';

import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { roundTo } from '../shared/numbers.ts';
import { accepts, callable, decimal, integer, parseOptions, withMethods } from '../shared/options.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import type { ObjectiveInput } from '../slo/index.ts';
import { createInstruments, type EvaluatorInstruments, seriesOf } from './evaluate-instruments.ts';
import { type OperationLabels, ServiceLabels } from './evaluate-labels.ts';
import { meterSink, type OperationMetricSink } from './metric-sink.ts';
import { MAX_TARGET_SECONDS, operationNameProblem } from './operations.ts';
import { ReadableSpanView } from './readable-view.ts';
import {
  ATTR_CORRELATION_ID,
  ATTR_PERF_KIND,
  ATTR_PERF_OPERATION,
  ATTR_PERF_OUTCOME,
  ATTR_PERF_TARGET_SECONDS,
  ATTR_USER_ID,
  OTHER_OPERATION,
  OUTCOME_ERROR,
  OUTCOME_OK,
} from './semconv.ts';
import { ServiceRegistry } from './services.ts';
import type { RuleMatch, SpanView, TargetRuleSet, TraceEvaluator, Verdict } from './span-view.ts';

/** Receives alerts from the evaluator. `AlertSink` implements it. */
export interface AlertEmitter {
  /** Must be synchronous and must not throw. */
  emit(input: AlertInput): void;
}

/**
 * An option schema whose input type is `T` too. `withMethods` is typed `z.ZodType<T>`, whose input
 * type is `unknown`: without this, `z.input` of an options schema would accept anything there.
 */
export type Implements<T> = z.ZodType<T, T>;

/** The current target rules, looked up for every span without a target (rules reload at any time). */
export type TargetRules = () => TargetRuleSet | undefined;

/** Histogram bucket boundaries, seconds: up to four times the largest target (the Apdex frustrated edge). */
export const boundariesSchema = accepts(
  z
    .array(decimal(0, 4 * MAX_TARGET_SECONDS, { unit: 'seconds', minExclusive: true }))
    .max(1000)
    .readonly(),
  'at most 1000 bucket bounds',
);

/** Schema of the {@link SpanEvaluator} options: their one description, type and bounds. */
export const spanEvaluatorOptionsSchema = z.strictObject({
  /** Where breach alerts go. Without one, breaches are counted but not alerted. */
  alerts: (
    withMethods<AlertEmitter>(['emit'], 'an object with emit()') as Implements<AlertEmitter>
  ).optional(),
  /** The service registry: the own service and the name every other service is recorded under. */
  services: accepts(z.instanceof(ServiceRegistry), 'a ServiceRegistry') as Implements<ServiceRegistry>,
  /**
   * Distinct operation names per service that get their own metric series; later names are
   * recorded as `_other`. Also the most routes per service in `perf.service.http.duration`.
   */
  maxOperations: integer(1, 10_000_000),
  /**
   * Of those, how many get their own series in the exported metrics (`/metrics`); the others are
   * exported as `_other` and recorded by name in the tail histogram, which only the in-process
   * reports read. Default: `maxOperations` (all exported).
   */
  maxMetricOperations: integer(1, 10_000_000).optional(),
  /** Histogram bucket boundaries, seconds (see `durationBoundaries`). */
  boundaries: boundariesSchema,
  /** Meter provider. Default: the global one, looked up when the first span is evaluated. */
  meterProvider: (
    withMethods<MeterProvider>(['getMeter'], 'an OpenTelemetry MeterProvider') as Implements<MeterProvider>
  ).optional(),
  /**
   * @internal Where the operation metrics (durations, tail durations, breaches) go:
   * `startTelemetry` passes its `OperationMetrics`, bound to every reader. Default: SDK
   * instruments of `meterProvider`.
   */
  operationMetrics: (
    withMethods<OperationMetricSink>(
      ['histogram', 'counter'],
      'an operation metric sink',
    ) as Implements<OperationMetricSink>
  ).optional(),
  /** The current target rules (`PERF_RULES_FILE`). Default: none. */
  rules: callable<TargetRules>('a function returning the current target rules').optional(),
  /**
   * Whether every span over its target raises a `target_exceeded` alert (`PERF_ALERT_EACH_BREACH`).
   * Default true. Breaches are counted (and burn error budgets) either way.
   */
  eachBreach: accepts(z.boolean(), 'true or false').default(true),
});

/** What the error budgets know of an operation from its spans (see {@link SpanEvaluator.budgetOf}). */
export interface OperationBudgetFacts {
  /** The latest `perf.kind` (or rule kind) of its spans. */
  readonly kind: string | undefined;
  /** The objective of the rule that gave its target, when it had one. */
  readonly objective: ObjectiveInput | undefined;
  /** The latest bad run (over its target, or failed), when one had valid ids. */
  readonly badRun: AlertTrace | undefined;
  /** When that run ended, ms since epoch (0: none). */
  readonly badAtMs: number;
}

/** Options of {@link SpanEvaluator}. */
export type SpanEvaluatorOptions = z.input<typeof spanEvaluatorOptionsSchema>;

/**
 * What the evaluation of one span concluded, for the target processor to stamp on the span. One
 * object, overwritten by every evaluation: read it before the next span is evaluated.
 */
export interface EvaluationResult {
  /** The operation reported (`_other` when its name cannot be one: too long, control characters). */
  operation: string;
  targetSeconds: number | undefined;
  exceeded: boolean;
  /** Whether the target (and the operation, when the span had no `perf.operation`) came from a rule. */
  fromRule: boolean;
}

/** See the module comment. */
export class SpanEvaluator implements TraceEvaluator {
  /** The service registry the evaluator names services with (shared with reports and the receiver). */
  readonly services: ServiceRegistry;
  readonly #options: z.output<typeof spanEvaluatorOptionsSchema>;
  readonly #ownName: string;
  /** The own service's labels, held directly: in-process spans skip the service lookup. */
  readonly #own: ServiceLabels;
  /** Labels of every service by recorded name (the own one included): at most maxServices + 1. */
  readonly #byService = new Map<string, ServiceLabels>();
  readonly #maxMetric: number;
  readonly #view: ReadableSpanView;
  #viewBusy = false;
  readonly #result: EvaluationResult = {
    operation: '',
    targetSeconds: undefined,
    exceeded: false,
    fromRule: false,
  };
  #instruments: EvaluatorInstruments | undefined;
  #ruleFailureLogged = false;
  #failureLogged = false;

  /** @throws {InvalidArgumentError} naming the first bad option. */
  constructor(options: SpanEvaluatorOptions) {
    this.#options = parseOptions(spanEvaluatorOptionsSchema, options, { what: 'a span evaluator option' });
    const { maxMetricOperations, maxOperations, services } = this.#options;
    this.services = services;
    this.#ownName = services.own;
    this.#maxMetric = Math.min(maxMetricOperations ?? maxOperations, maxOperations);
    this.#own = new ServiceLabels(this.#ownName, maxOperations, this.#maxMetric);
    this.#byService.set(this.#ownName, this.#own);
    this.#view = new ReadableSpanView(this.#ownName);
  }

  /**
   * The latest target seen for an operation of `service` (default: the own one), seconds;
   * `undefined` before its first span with a target.
   */
  targetOf(operation: string, service?: string): number | undefined {
    const labels = service === undefined ? this.#own : this.#byService.get(service);
    const target = labels?.get(operation)?.target;
    return target === undefined || target === 0 ? undefined : target;
  }

  /**
   * What the spans of an operation of `service` (default: the own one) told about its error budget:
   * its kind, a rule's objective, its latest bad run. `undefined` before its first span.
   */
  budgetOf(operation: string, service?: string): OperationBudgetFacts | undefined {
    const labels = (service === undefined ? this.#own : this.#byService.get(service))?.get(operation);
    if (labels === undefined) return undefined;
    return {
      kind: labels.kind,
      objective: labels.objective,
      badRun:
        labels.badAtMs === 0
          ? undefined
          : alertTraceOfIds(labels.badTraceId, labels.badSpanId, labels.badFlags),
      badAtMs: labels.badAtMs,
    };
  }

  /**
   * Evaluates a received span (see the module comment). `undefined` for a span that is neither an
   * operation nor has a target (a SERVER span with `http.route` is still recorded as a request).
   * Never throws.
   */
  evaluate(span: SpanView): Verdict | undefined {
    try {
      if (!this.#run(span, true)) return undefined;
    } catch (error) {
      // Only a broken meter or view could get here: the span is left out, the receiver goes on.
      if (!this.#failureLogged) {
        this.#failureLogged = true;
        getLogger().warn({ err: errorText(error) }, 'a received span could not be evaluated');
      }
      return undefined;
    }
    const { operation, targetSeconds, exceeded } = this.#result;
    return { operation, targetSeconds, exceeded };
  }

  /**
   * @internal The target processor's entry: evaluates an in-process span of the own service as
   * {@link evaluate} does (requests excepted: instrumentation-http records the own service's) and
   * returns the shared {@link EvaluationResult}, or `undefined` when the span was not evaluated.
   */
  evaluateSpan(span: ReadableSpan): EvaluationResult | undefined {
    // One view for every span; a span ending inside an evaluation (an alert sink's own span) gets
    // a view of its own.
    const reuse = !this.#viewBusy;
    const view = reuse ? this.#view : new ReadableSpanView(this.#ownName);
    view.span = span;
    if (reuse) this.#viewBusy = true;
    try {
      return this.#run(view, false) ? this.#result : undefined;
    } finally {
      view.span = undefined;
      if (reuse) this.#viewBusy = false;
    }
  }

  #run(view: SpanView, requests: boolean): boolean {
    const attributes = view.attributes;
    const targetAttribute = attributes[ATTR_PERF_TARGET_SECONDS];
    let target =
      typeof targetAttribute === 'number' && targetAttribute > 0 && targetAttribute < Number.POSITIVE_INFINITY
        ? targetAttribute
        : undefined;
    const named = attributes[ATTR_PERF_OPERATION];
    let ruleOperation: string | undefined;
    let fromRule = false;
    let rule: RuleMatch | undefined;
    if (target === undefined && this.#options.rules !== undefined) {
      rule = this.#match(view);
      if (rule !== undefined) {
        target = rule.targetSeconds;
        ruleOperation = rule.operation;
        fromRule = true;
      }
    }
    const request =
      requests && view.kind === SpanKind.SERVER && typeof attributes[ATTR_HTTP_ROUTE] === 'string';
    // Spans with a target, and tracked operations without one (recorded, never breaching, so that
    // every tracked operation shows in metrics and reports).
    const evaluated = target !== undefined || typeof named === 'string';
    if (!evaluated && !request) return false;

    const service = view.service === this.#ownName ? this.#own : this.#labelsOf(view.service);
    const instruments = this.#instruments ?? this.#createInstruments();
    const seconds = view.durationSeconds;
    const error = view.error;
    if (request) this.#recordRequest(instruments, service, attributes, seconds, error);
    if (!evaluated) return false;

    const operation = typeof named === 'string' ? named : (ruleOperation ?? view.name);
    const exceeded = target !== undefined && seconds > target;
    const labels = service.labelsFor(operation);
    if (target !== undefined) labels.target = target;
    const kind = attributes[ATTR_PERF_KIND];
    if (typeof kind === 'string') labels.kind = kind;
    else if (rule?.kind !== undefined) labels.kind = rule.kind;
    if (rule !== undefined) labels.objective = rule.objective;
    if ((exceeded || error) && target !== undefined) {
      labels.badTraceId = view.traceId;
      labels.badSpanId = view.spanId;
      labels.badFlags = view.traceFlags;
      labels.badAtMs = Date.now();
    }
    const series = labels.series ?? this.#seriesOf(instruments, labels);
    series.duration[(error ? 2 : 0) + (exceeded ? 1 : 0)]?.record(seconds);
    const frustrated = exceeded && target !== undefined && seconds > target * 4;
    if (series.tail) series.tail[(error ? 3 : 0) + (exceeded ? (frustrated ? 2 : 1) : 0)]?.record(seconds);
    const user = attributes[ATTR_USER_ID];
    if (typeof user === 'string' || typeof user === 'number') {
      instruments.user.record(seconds, {
        [ATTR_SERVICE_NAME]: service.service,
        [ATTR_USER_ID]: String(user),
        [ATTR_PERF_OPERATION]: labels.name,
        [ATTR_PERF_OUTCOME]: error ? OUTCOME_ERROR : OUTCOME_OK,
      });
    }
    const reported = reportedOperation(operation, labels);
    if (exceeded && target !== undefined) {
      series.breaches.add(1);
      // Apdex's frustrated zone (over 4T): with breaches it gives Apdex in PromQL without bucket edges.
      if (frustrated) series.frustrated.add(1);
      if (this.#options.eachBreach)
        this.#alert(view, service.service, labels.name, seconds, target, error, user);
    }
    // Written last: an evaluation nested in the alert above has already used the result.
    const result = this.#result;
    result.operation = reported;
    result.targetSeconds = target;
    result.exceeded = exceeded;
    result.fromRule = fromRule;
    return true;
  }

  /** The first matching rule, if its target is usable; a rule set that throws matches nothing. */
  #match(view: SpanView): RuleMatch | undefined {
    try {
      const match = this.#options.rules?.()?.match(view);
      if (match === undefined) return undefined;
      const t = match.targetSeconds;
      return typeof t === 'number' && t > 0 && t < Number.POSITIVE_INFINITY ? match : undefined;
    } catch (error) {
      if (!this.#ruleFailureLogged) {
        this.#ruleFailureLogged = true;
        getLogger().warn({ err: errorText(error) }, 'target rules failed on a span; it was held to no rule');
      }
      return undefined;
    }
  }

  /** The labels of a service other than the own one, made on its first span. */
  #labelsOf(service: string): ServiceLabels {
    const name = this.services.nameOf(service);
    let labels = this.#byService.get(name);
    if (!labels) {
      labels = new ServiceLabels(name, this.#options.maxOperations, this.#maxMetric);
      this.#byService.set(name, labels);
    }
    return labels;
  }

  /** The series of an operation, made on its first span and kept with its labels. */
  #seriesOf(
    instruments: EvaluatorInstruments,
    labels: OperationLabels,
  ): NonNullable<OperationLabels['series']> {
    const series = seriesOf(instruments, labels);
    labels.series = series;
    return series;
  }

  #recordRequest(
    instruments: EvaluatorInstruments,
    service: ServiceLabels,
    attributes: Attributes,
    seconds: number,
    error: boolean,
  ): void {
    // The stable attributes first; `http.method` / `http.status_code` are what older SDKs send.
    const method = attributes[ATTR_HTTP_REQUEST_METHOD] ?? attributes['http.method'];
    const status = attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] ?? attributes['http.status_code'];
    const failed =
      error ||
      (typeof status === 'number' && status >= 500) ||
      (typeof status === 'string' && Number(status) >= 500) ||
      attributes[ATTR_ERROR_TYPE] !== undefined;
    const sets = service.routeSetsFor(
      typeof method === 'string' ? method : '_OTHER',
      attributes[ATTR_HTTP_ROUTE] as string,
    );
    instruments.http.record(seconds, sets[failed ? 1 : 0]);
  }

  /**
   * Raises `target_exceeded` under the names the span is recorded under: past PERF_MAX_SERVICES
   * or PERF_MAX_OPERATIONS that is `_other`, so that an exporter sending ever new names folds into
   * one fingerprint (deduplicated) instead of flooding the alert lists with one alert per name.
   */
  #alert(
    view: SpanView,
    service: string,
    operation: string,
    seconds: number,
    target: number,
    error: boolean,
    user: unknown,
  ): void {
    const alerts = this.#options.alerts;
    if (alerts === undefined) return;
    const trace = alertTraceOfIds(view.traceId, view.spanId, view.traceFlags);
    const correlation = view.attributes[ATTR_CORRELATION_ID];
    const ratio = seconds / target;
    alerts.emit({
      type: 'target_exceeded',
      service,
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

  #createInstruments(): EvaluatorInstruments {
    const provider = this.#options.meterProvider ?? metrics.getMeterProvider();
    const meter = provider.getMeter(SCOPE_NAME, VERSION);
    this.#instruments = createInstruments(
      meter,
      this.#options.operationMetrics ?? meterSink(meter),
      this.#options.boundaries,
      () => this.#byService.values(),
    );
    return this.#instruments;
  }
}

/**
 * The name an operation is reported under in verdicts (written onto the span): its own, even past
 * the operation cap (a span is one record, not a series), unless it cannot be an operation name at
 * all. Alerts use the recorded name instead (`labels.name`; see `#alert`).
 */
function reportedOperation(operation: string, labels: OperationLabels): string {
  if (labels.name === operation) return operation;
  return operationNameProblem(operation) === undefined ? operation : OTHER_OPERATION;
}
