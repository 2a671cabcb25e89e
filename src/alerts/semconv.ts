/**
 * Names of the alert part's metrics and attributes, in one place (constants only, so that
 * `perf-sidecar/semconv` loads nothing else).
 */

/** Counter of alerts raised (before deduplication), by `alert.type`. */
export const METRIC_ALERTS_EMITTED = 'perf.alerts.emitted';
/**
 * Counter of alert records dropped because the buffer was full, by `alert.type`: Redis was
 * unavailable, or alerts were raised faster than they were written.
 */
export const METRIC_ALERTS_DROPPED = 'perf.alerts.dropped';
/** Gauge of alert records waiting for the store. */
export const METRIC_ALERTS_BUFFERED = 'perf.alerts.buffered';
/**
 * Counter of list entries that reads of the alert lists skipped, by `reason`: `invalid` (not
 * `alert.v1` JSON, written by another program) or `oversized` (over `MAX_ALERT_ENTRY_BYTES`).
 * Counted on every read that meets them.
 */
export const METRIC_ALERTS_READ_SKIPPED = 'perf.alerts.read.skipped';

/** Attribute of the alert metrics: the alert's type (`target_exceeded`, `slow_query`, ...). */
export const ATTR_ALERT_TYPE = 'alert.type';
/** Attribute of `perf.alerts.read.skipped`: why an entry was looked past (`invalid`, `oversized`). */
export const ATTR_ALERT_SKIP_REASON = 'reason';
