/**
 * Attribute, metric and scope names used by perf-sidecar. Kept in one place, as OpenTelemetry
 * contrib instrumentations do, so that the processor, the tracker, dashboards and tests agree.
 *
 * Constants only, importing nothing: the `perf-sidecar/semconv` entry re-exports this file, and a
 * dashboard or a test can read the names without loading the SDK. Names that the stable semantic
 * conventions define (`http.route`, `error.type`, `telemetry.distro.name`, ...) are taken from
 * `@opentelemetry/semantic-conventions` where they are used, not repeated here.
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
/** Span attribute: the user the operation runs for (incubating in the semantic conventions). */
export const ATTR_USER_ID = 'user.id';
/** Attribute of the operation tail histogram: over four times the target (Apdex frustrated). */
export const ATTR_PERF_TARGET_FRUSTRATED = 'perf.target_frustrated';
/**
 * Metric attribute the SDK puts on the overflow series once an instrument reaches its cardinality
 * limit (the OpenTelemetry specification's name; not in the semantic-conventions package).
 */
export const ATTR_OTEL_METRIC_OVERFLOW = 'otel.metric.overflow';
/** Resource attribute (incubating): the command's arguments. Removed from the resource: it can hold passwords. */
export const ATTR_PROCESS_COMMAND_ARGS = 'process.command_args';
/** Resource attribute (incubating): the full command line. Removed from the resource, as above. */
export const ATTR_PROCESS_COMMAND_LINE = 'process.command_line';

/** Histogram of evaluated span durations, seconds. */
export const METRIC_OPERATION_DURATION = 'perf.operation.duration';
/** Counter of target breaches. */
export const METRIC_TARGET_BREACHES = 'perf.target.breaches';
/** Counter of operations over four times their target (Apdex's frustrated zone). */
export const METRIC_TARGET_FRUSTRATED = 'perf.target.frustrated';
/**
 * Histogram of evaluated span durations per user (`user.id`, `perf.operation`, `perf.outcome`), for
 * per-user reports. Capped at `PERF_MAX_USER_SERIES` series and kept out of `/metrics` (per-user
 * labels do not belong in Prometheus).
 */
export const METRIC_USER_OPERATION_DURATION = 'perf.user.operation.duration';
/** Gauge: the latest target seen per operation, seconds. */
export const METRIC_OPERATION_TARGET = 'perf.operation.target';
/**
 * Histogram of durations of the operations that are not exported by name (past
 * `PERF_MAX_METRIC_OPERATIONS`, and `_other` past `PERF_MAX_OPERATIONS`), with `perf.operation`,
 * `perf.outcome`, `perf.target_exceeded` and `perf.target_frustrated`: kept out of `/metrics` and
 * OTLP, read by the per-minute windows so that reports still show those operations by name.
 */
export const METRIC_OPERATION_TAIL_DURATION = 'perf.operation.tail.duration';

/**
 * Histogram of the durations of the SERVER spans (with `http.route`) that services export to the
 * sidecar, by `service.name`, `http.request.method`, `http.route` and `perf.outcome` (`error` for a
 * 5xx status or an error span): the `http` part of each received service's summary. Kept out of
 * `/metrics` and OTLP (the services export their own `http.server.request.duration`).
 */
export const METRIC_SERVICE_HTTP_DURATION = 'perf.service.http.duration';

/** Route shown (in alerts and reports) for a request no route matched: never the raw path. */
export const NO_ROUTE = '(no route)';

/** Operation label used once `PERF_MAX_OPERATIONS` distinct names have been seen. */
export const OTHER_OPERATION = '_other';

/** Values of {@link ATTR_PERF_OUTCOME}. */
export const OUTCOME_OK = 'ok';
/** Values of {@link ATTR_PERF_OUTCOME}. */
export const OUTCOME_ERROR = 'error';

/** Gauge: resident set size at the latest resource sample, bytes. */
export const METRIC_SYSTEM_RSS = 'perf.system.memory.rss';
/** Gauge: V8 heap used at the latest resource sample, bytes. */
export const METRIC_SYSTEM_HEAP = 'perf.system.memory.heap_used';
/** Gauge: process CPU over the latest sample interval, ratio of one core (unit `1`; 1 = one core). */
export const METRIC_SYSTEM_CPU = 'perf.system.cpu.utilization';
/** Gauge: p99 event-loop delay over the latest sample interval, seconds. */
export const METRIC_SYSTEM_ELD_P99 = 'perf.system.eventloop.delay.p99';
/** Gauge: event-loop utilisation over the latest sample interval, 0..1. */
export const METRIC_SYSTEM_ELU = 'perf.system.eventloop.utilization';
/**
 * Gauge of instrumentation-pg (incubating in the semantic conventions): connections by state. Its
 * Prometheus name is given explicitly (`_count` is reserved for histograms).
 */
export const METRIC_DB_CLIENT_CONNECTION_COUNT = 'db.client.connection.count';
/** Gauge: used and free share of each sampled filesystem (semantic conventions' name, `perf.` first). */
export const METRIC_SYSTEM_FILESYSTEM_UTILIZATION = 'perf.system.filesystem.utilization';
/** Attribute of the filesystem gauge: the sampled path. */
export const ATTR_FILESYSTEM_PATH = 'perf.filesystem.path';
/** Attribute of the filesystem gauge: `used` or `free` (the incubating `system.filesystem.state`). */
export const ATTR_FILESYSTEM_STATE = 'system.filesystem.state';
