/**
 * Attribute, metric and scope names used by perf-sidecar. Kept in one place, as OpenTelemetry
 * contrib instrumentations do, so that the processor, the tracker, dashboards and tests agree.
 */

/** Span attribute: the operation name (defaults to the span name when absent). */
export const ATTR_PERF_OPERATION = 'perf.operation';
/** Span attribute: target duration in seconds. Any span carrying it is evaluated. */
export const ATTR_PERF_TARGET_SECONDS = 'perf.target_seconds';
/** Span attribute stamped by the target processor: whether the span took longer than its target. */
export const ATTR_PERF_TARGET_EXCEEDED = 'perf.target_exceeded';
/** Span attribute: the operation kind (`ai_operation`, `simple_query`, ...), used for target lookup. */
export const ATTR_PERF_KIND = 'perf.kind';
/** Span attribute: heap-used change over the operation, MiB. */
export const ATTR_PERF_MEMORY_DELTA_MB = 'perf.memory_delta_mb';
/** Span attribute: process CPU time used over the operation, seconds (all threads). */
export const ATTR_PERF_CPU_SECONDS = 'perf.cpu_seconds';
/** Metric attribute: `ok` or `error`, from the span status. */
export const ATTR_PERF_OUTCOME = 'perf.outcome';
/** Span attribute: the caller's correlation id. */
export const ATTR_CORRELATION_ID = 'correlation.id';
/** Span attribute: the user the operation runs for. */
export const ATTR_USER_ID = 'user.id';

/** Histogram of evaluated span durations, seconds. */
export const METRIC_OPERATION_DURATION = 'perf.operation.duration';
/** Counter of target breaches. */
export const METRIC_TARGET_BREACHES = 'perf.target.breaches';

/** Operation label used once `PERF_MAX_OPERATIONS` distinct names have been seen. */
export const OTHER_OPERATION = '_other';

/** Values of {@link ATTR_PERF_OUTCOME}. */
export const OUTCOME_OK = 'ok';
/** Values of {@link ATTR_PERF_OUTCOME}. */
export const OUTCOME_ERROR = 'error';
