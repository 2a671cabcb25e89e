/**
 * The metric attribute sets of one service, built once per (service, operation) and per (service,
 * method, route) and reused for every span after: the evaluator's hot path allocates none.
 *
 * Bounded per service: at most `maxOperations` operation names get their own sets (later names,
 * and names that are not operation names, share the `_other` ones), of which the first
 * `maxMetricOperations` are exported by name; at most `maxOperations` routes get their own sets
 * (later ones are recorded as the route `_other`).
 */
import type { Attributes } from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
} from '@opentelemetry/semantic-conventions';
import type { ObjectiveInput } from '../slo/index.ts';
import type { CountAdder, ValueRecorder } from './metric-sink.ts';
import { operationNameProblem } from './operations.ts';
import {
  ATTR_PERF_OPERATION,
  ATTR_PERF_OUTCOME,
  ATTR_PERF_TARGET_EXCEEDED,
  ATTR_PERF_TARGET_FRUSTRATED,
  OTHER_OPERATION,
  OUTCOME_ERROR,
  OUTCOME_OK,
} from './semconv.ts';

/** Label sets of one outcome x exceeded combination, index `(error ? 2 : 0) + (exceeded ? 1 : 0)`. */
export type FourSets = readonly [Attributes, Attributes, Attributes, Attributes];

/** The `ok` and `error` label sets of one route, index `error ? 1 : 0`. */
export type RouteSets = readonly [Attributes, Attributes];

/** The series an operation records into, in the order of its label sets (see {@link OperationLabels}). */
export interface OperationSeries {
  readonly duration: readonly [ValueRecorder, ValueRecorder, ValueRecorder, ValueRecorder];
  readonly tail: readonly ValueRecorder[] | undefined;
  readonly breaches: CountAdder;
  readonly frustrated: CountAdder;
}

/**
 * What is kept per operation: the exported histogram's four attribute sets, the exported
 * operation-only set (both `_other` for an operation not exported by name), the tail histogram's
 * six sets (index `(error ? 3 : 0) + (exceeded ? (frustrated ? 2 : 1) : 0)`, only for operations
 * not exported by name), the name used in per-user series, and the latest target seen (for the
 * `perf.operation.target` gauge).
 */
export interface OperationLabels {
  readonly sets: FourSets;
  readonly operation: Attributes;
  readonly tail: readonly Attributes[] | undefined;
  readonly name: string;
  /** Whether the operation has its own exported series (the target gauge shows only those). */
  readonly exported: boolean;
  target: number;
  /** The latest `perf.kind` (or rule kind) seen: objectives can be given per kind. */
  kind: string | undefined;
  /** The objective of the rule that gave the target, when it had one. */
  objective: ObjectiveInput | undefined;
  /** The latest bad run (over its target, or failed): its trace, span, flags and end, ms. */
  badTraceId: string;
  badSpanId: string;
  badFlags: number;
  badAtMs: number;
  /** The series its spans record into, made by the evaluator on the first one. */
  series: OperationSeries | undefined;
}

/** Fields of a new {@link OperationLabels} that change as spans come. */
function changing(): Pick<
  OperationLabels,
  'target' | 'kind' | 'objective' | 'badTraceId' | 'badSpanId' | 'badFlags' | 'badAtMs' | 'series'
> {
  return {
    series: undefined,
    target: 0,
    kind: undefined,
    objective: undefined,
    badTraceId: '',
    badSpanId: '',
    badFlags: 0,
    badAtMs: 0,
  };
}

/** Longest route template given its own series, characters; longer ones are recorded as `_other`. */
export const MAX_ROUTE_LENGTH = 256;

/** HTTP methods recorded by name; any other is recorded as `_OTHER`, as the semantic conventions say. */
const KNOWN_METHODS = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
]);
const OTHER_METHOD = '_OTHER';

function fourSets(service: string, name: string): FourSets {
  const make = (outcome: string, exceeded: boolean): Attributes =>
    Object.freeze({
      [ATTR_SERVICE_NAME]: service,
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

function tailSets(service: string, name: string): readonly Attributes[] {
  const sets: Attributes[] = [];
  for (const outcome of [OUTCOME_OK, OUTCOME_ERROR]) {
    for (const [exceeded, frustrated] of [
      [false, false],
      [true, false],
      [true, true],
    ] as const) {
      sets.push(
        Object.freeze({
          [ATTR_SERVICE_NAME]: service,
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

function routeSets(service: string, method: string, route: string): RouteSets {
  const make = (outcome: string): Attributes =>
    Object.freeze({
      [ATTR_SERVICE_NAME]: service,
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_HTTP_ROUTE]: route,
      [ATTR_PERF_OUTCOME]: outcome,
    });
  return [make(OUTCOME_OK), make(OUTCOME_ERROR)];
}

/** Whether a route template may be a label value: bounded, no control characters. */
function isRoute(route: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  return route.length > 0 && route.length <= MAX_ROUTE_LENGTH && !/[\u0000-\u001f\u007f-\u009f]/.test(route);
}

/** See the module comment. */
export class ServiceLabels {
  /** The name the service is recorded under. */
  readonly service: string;
  readonly #maxOperations: number;
  readonly #maxMetric: number;
  readonly #labels = new Map<string, OperationLabels>();
  /** Operation names seen that took a slot (at most `maxOperations`). */
  #named = 0;
  /** The exported `_other` sets, shared by every operation not exported by name. */
  readonly #otherSets: FourSets;
  readonly #otherOperation: Attributes;
  /** Route sets by method, then route. */
  readonly #routes = new Map<string, Map<string, RouteSets>>();
  #routeCount = 0;

  constructor(service: string, maxOperations: number, maxMetricOperations: number) {
    this.service = service;
    this.#maxOperations = maxOperations;
    this.#maxMetric = Math.min(maxMetricOperations, maxOperations);
    this.#otherSets = fourSets(service, OTHER_OPERATION);
    this.#otherOperation = Object.freeze({
      [ATTR_SERVICE_NAME]: service,
      [ATTR_PERF_OPERATION]: OTHER_OPERATION,
    });
  }

  /** The labels of an operation, if it has been seen. */
  get(operation: string): OperationLabels | undefined {
    return this.#labels.get(operation);
  }

  /** Every operation's labels (at most `maxOperations` + 1). */
  values(): IterableIterator<OperationLabels> {
    return this.#labels.values();
  }

  /** The labels of `operation`, made on its first span. */
  labelsFor(operation: string): OperationLabels {
    const known = this.#labels.get(operation);
    if (known) return known;
    // A name that cannot be a label value (too long, control characters) is never a series of its
    // own; checked here, once per new name, not per span.
    const own =
      this.#named < this.#maxOperations &&
      operation !== OTHER_OPERATION &&
      operationNameProblem(operation) === undefined;
    const name = own ? operation : OTHER_OPERATION;
    const shared = name === OTHER_OPERATION ? this.#labels.get(OTHER_OPERATION) : undefined;
    if (shared) return shared;
    // The first maxMetricOperations names are exported by name; later ones (and `_other`) are
    // exported as `_other` and recorded by name in the tail histogram.
    const exported = own && this.#named < this.#maxMetric;
    const labels: OperationLabels = exported
      ? {
          sets: fourSets(this.service, name),
          operation: Object.freeze({ [ATTR_SERVICE_NAME]: this.service, [ATTR_PERF_OPERATION]: name }),
          tail: undefined,
          name,
          exported,
          ...changing(),
        }
      : {
          sets: this.#otherSets,
          operation: this.#otherOperation,
          tail: tailSets(this.service, name),
          name,
          exported: name === OTHER_OPERATION,
          ...changing(),
        };
    if (own) this.#named++;
    // Only real names (and `_other` once) take a slot, so the map holds at most maxOperations + 1.
    this.#labels.set(name, labels);
    return labels;
  }

  /**
   * The label sets of a (method, route): `method` outside the known methods is `_OTHER`, a route
   * past the cap (or not a route template) is `_other`.
   */
  routeSetsFor(method: string, route: string): RouteSets {
    let byRoute = this.#routes.get(method);
    const known = byRoute?.get(route);
    if (known) return known;
    const m = KNOWN_METHODS.has(method) || method === OTHER_METHOD ? method : OTHER_METHOD;
    if (m !== method) return this.routeSetsFor(m, route);
    const r = this.#routeCount < this.#maxOperations && isRoute(route) ? route : OTHER_OPERATION;
    if (r !== route) {
      const other = byRoute?.get(OTHER_OPERATION);
      if (other) return other;
    }
    if (!byRoute) {
      byRoute = new Map();
      this.#routes.set(m, byRoute);
    }
    const sets = routeSets(this.service, m, r);
    byRoute.set(r, sets);
    if (r !== OTHER_OPERATION) this.#routeCount++;
    return sets;
  }
}
