/**
 * Names of the ingest's metrics and their attributes (exported by `perf-sidecar/semconv`).
 */

/** Spans received over OTLP, by {@link ATTR_INGEST_OUTCOME} (`accepted`, `rejected`, `refused`). */
export const METRIC_INGEST_SPANS = 'perf.ingest.spans';
/** Spans accepted over OTLP and not yet evaluated. */
export const METRIC_INGEST_QUEUE_SPANS = 'perf.ingest.queue.spans';
/**
 * Metric data points received and neither read for runtime figures nor forwarded, by
 * {@link ATTR_INGEST_REASON} (`not_runtime`, `not_read`).
 */
export const METRIC_INGEST_DATA_POINTS_DROPPED = 'perf.ingest.data_points.dropped';
/** Spans and data points forwarded (`forwarded`) or `dropped` (with {@link ATTR_INGEST_REASON}). */
export const METRIC_FORWARD_ITEMS = 'perf.forward.items';
/** What became of received or forwarded items. */
export const ATTR_INGEST_OUTCOME = 'perf.ingest.outcome';
/**
 * Why items were dropped: forwarded ones `queue_full`, `rejected`, `retries_exhausted`, `closed`,
 * `invalid`; received metric data points `not_runtime`, `not_read`.
 */
export const ATTR_INGEST_REASON = 'perf.ingest.reason';
