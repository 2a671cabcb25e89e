/**
 * Folding one delta collection of the metric SDK into per-series duration aggregates: operations
 * (from the exported and the tail histograms), per-user operations, HTTP routes and alert counts,
 * each under the service (`service.name`) it belongs to.
 *
 * A pure function of the collection: no cap is applied here. What one collection holds is already
 * bounded by the SDK's cardinality limits (the views set by `startTelemetry`); the minute lists
 * that keep the result apply their own cap (see `minutes.ts`).
 */
import type { Attributes } from '@opentelemetry/api';
import { DataPointType, type HistogramMetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
  HTTP_REQUEST_METHOD_VALUE_OTHER,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';
import { ATTR_ALERT_TYPE, METRIC_ALERTS_EMITTED } from '../alerts/internal.ts';
import { addHistogramPoint, aggregateFor } from './aggregate.ts';
import { emptyServiceTotals, emptyTotals, type ServiceTotals, type WindowTotals } from './minutes.ts';
import {
  ATTR_OTEL_METRIC_OVERFLOW,
  ATTR_PERF_OPERATION,
  ATTR_PERF_OUTCOME,
  ATTR_PERF_TARGET_EXCEEDED,
  ATTR_PERF_TARGET_FRUSTRATED,
  ATTR_USER_ID,
  METRIC_OPERATION_DURATION,
  METRIC_OPERATION_TAIL_DURATION,
  METRIC_SERVICE_HTTP_DURATION,
  METRIC_TARGET_FRUSTRATED,
  METRIC_USER_OPERATION_DURATION,
  NO_ROUTE,
  OTHER_OPERATION,
  OUTCOME_ERROR,
} from './semconv.ts';

/**
 * The operations, users, HTTP routes and alert counts of one collection, per service: a point
 * whose `service.name` is `ownService` (or that has none: instrumentation-http's requests, the
 * alert counters) is the own service's, any other goes to that service's figures.
 */
export function foldMetrics(collection: ResourceMetrics, ownService?: string): WindowTotals {
  const out = emptyTotals();
  const partOf = (attributes: Attributes): ServiceTotals => {
    const service = attributes[ATTR_SERVICE_NAME];
    if (typeof service !== 'string' || service === ownService) return out;
    let part = out.services.get(service);
    if (!part) {
      part = emptyServiceTotals();
      out.services.set(service, part);
    }
    return part;
  };
  for (const scope of collection.scopeMetrics) {
    for (const metric of scope.metrics) {
      const name = metric.descriptor.name;
      if (metric.dataPointType === DataPointType.HISTOGRAM) {
        if (name === METRIC_OPERATION_DURATION) foldOperations(metric, partOf, false);
        else if (name === METRIC_OPERATION_TAIL_DURATION) foldOperations(metric, partOf, true);
        else if (name === METRIC_USER_OPERATION_DURATION) foldUsers(metric, partOf);
        else if (name === METRIC_HTTP_SERVER_REQUEST_DURATION) foldHttp(metric, () => out);
        else if (name === METRIC_SERVICE_HTTP_DURATION) foldHttp(metric, partOf);
      } else if (metric.dataPointType === DataPointType.SUM) {
        if (name === METRIC_TARGET_FRUSTRATED) {
          for (const point of metric.dataPoints) {
            if (point.value === 0) continue;
            const op = operationOf(point.attributes);
            // `_other` here also holds the operations exported as `_other`: the tail histogram has
            // their frustrated figures by name.
            if (op === OTHER_OPERATION) continue;
            const agg = aggregateFor(partOf(point.attributes).operations, op, true);
            agg.frustrated = (agg.frustrated ?? 0) + point.value;
          }
        } else if (name === METRIC_ALERTS_EMITTED) {
          for (const point of metric.dataPoints) {
            const type = String(point.attributes[ATTR_ALERT_TYPE] ?? 'unknown');
            out.alerts.set(type, (out.alerts.get(type) ?? 0) + point.value);
          }
        }
      }
    }
  }
  return out;
}

/** The figures a data point belongs to, by its `service.name`. */
type PartOf = (attributes: Attributes) => ServiceTotals;

/**
 * The operation histograms. The exported one's `_other` series holds every operation not exported
 * by name, which the tail histogram has by name (and true overflow as `_other`): it is skipped so
 * nothing is counted twice.
 */
function foldOperations(metric: HistogramMetricData, partOf: PartOf, tail: boolean): void {
  for (const point of metric.dataPoints) {
    if (point.value.count === 0) continue;
    const op = operationOf(point.attributes);
    if (!tail && op === OTHER_OPERATION) continue;
    const agg = aggregateFor(partOf(point.attributes).operations, op, true);
    addHistogramPoint(agg, point.value);
    const count = point.value.count;
    const failed = point.attributes[ATTR_PERF_OUTCOME] === OUTCOME_ERROR;
    const exceeded = point.attributes[ATTR_PERF_TARGET_EXCEEDED] === true;
    if (failed) agg.errors += count;
    if (exceeded) agg.breaches = (agg.breaches ?? 0) + count;
    if (failed && exceeded) agg.breachedErrors = (agg.breachedErrors ?? 0) + count;
    if (tail && point.attributes[ATTR_PERF_TARGET_FRUSTRATED] === true) {
      agg.frustrated = (agg.frustrated ?? 0) + count;
    }
  }
}

function foldUsers(metric: HistogramMetricData, partOf: PartOf): void {
  for (const point of metric.dataPoints) {
    if (point.value.count === 0) continue;
    const into = partOf(point.attributes).users;
    const overflow = point.attributes[ATTR_OTEL_METRIC_OVERFLOW] === true;
    const user = overflow ? OTHER_OPERATION : String(point.attributes[ATTR_USER_ID] ?? OTHER_OPERATION);
    let ops = into.get(user);
    if (!ops) {
      ops = new Map();
      into.set(user, ops);
    }
    const agg = aggregateFor(ops, operationOf(point.attributes), false);
    addHistogramPoint(agg, point.value);
    if (point.attributes[ATTR_PERF_OUTCOME] === OUTCOME_ERROR) agg.errors += point.value.count;
  }
}

/**
 * Requests: instrumentation-http's histogram (the own service's; errors by status and
 * `error.type`) and `perf.service.http.duration` (the received services'; errors by
 * `perf.outcome`).
 */
function foldHttp(metric: HistogramMetricData, partOf: PartOf): void {
  for (const point of metric.dataPoints) {
    if (point.value.count === 0) continue;
    const into = partOf(point.attributes).http;
    const method = String(point.attributes[ATTR_HTTP_REQUEST_METHOD] ?? HTTP_REQUEST_METHOD_VALUE_OTHER);
    const route = point.attributes[ATTR_HTTP_ROUTE];
    const agg = aggregateFor(into, `${method} ${typeof route === 'string' ? route : NO_ROUTE}`, false);
    addHistogramPoint(agg, point.value);
    const status = Number(point.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] ?? 0);
    if (
      status >= 500 ||
      point.attributes[ATTR_ERROR_TYPE] !== undefined ||
      point.attributes[ATTR_PERF_OUTCOME] === OUTCOME_ERROR
    ) {
      agg.errors += point.value.count;
    }
  }
}

function operationOf(attributes: Attributes): string {
  if (attributes[ATTR_OTEL_METRIC_OVERFLOW] === true) return OTHER_OPERATION;
  const op = attributes[ATTR_PERF_OPERATION];
  return typeof op === 'string' ? op : OTHER_OPERATION;
}
