/**
 * Names of the ingest's metrics and their attributes (exported by `perf-sidecar/semconv`).
 */

/** Spans received over OTLP, by {@link ATTR_INGEST_OUTCOME} (`accepted`, `rejected`, `refused`). */
export const METRIC_INGEST_SPANS = 'perf.ingest.spans';
/** Spans accepted over OTLP and not yet evaluated. */
export const METRIC_INGEST_QUEUE_SPANS = 'perf.ingest.queue.spans';
/** Spans and data points forwarded (`forwarded`) or `dropped` (with {@link ATTR_INGEST_REASON}). */
export const METRIC_FORWARD_ITEMS = 'perf.forward.items';
/** What became of received or forwarded items. */
export const ATTR_INGEST_OUTCOME = 'perf.ingest.outcome';
/** Why forwarded items were dropped: `queue_full`, `rejected`, `retries_exhausted`, `closed`, `invalid`. */
export const ATTR_INGEST_REASON = 'perf.ingest.reason';
