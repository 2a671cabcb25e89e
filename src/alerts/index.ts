/**
 * Alerts: `alert.v1` records, deduplicated and delivered to capped Redis lists (or memory).
 */
export { type AlertConsumer, type ConsumeAlertsOptions, consumeAlerts } from './consumer.ts';
export { RedisAlertStore, type RedisAlertStoreOptions } from './redis-store.ts';
export {
  ALERT_LISTS,
  ALERT_NAMES,
  ALERT_SCHEMA,
  ALERT_TYPES,
  type AlertInput,
  type AlertListName,
  type AlertRecord,
  type AlertSeverity,
  type AlertTrace,
  type AlertType,
  type AlertUnit,
  alertLabels,
  alertRecordSchema,
  alertTraceOf,
  buildAlert,
  fingerprintOf,
  listForType,
  severityOf,
} from './schema.ts';
export * from './semconv.ts';
export {
  AlertSink,
  type AlertSinkOptions,
  type AlertSinkStats,
  MAX_ALERT_ENTRY_BYTES,
  MAX_ALERT_READ_BYTES_PER_LIST,
  MAX_ALERT_SCAN_PER_LIST,
  type RecentAlerts,
  type RecentAlertsQuery,
} from './sink.ts';
export { type AlertStore, MemoryAlertStore, type ScannedEntry, type StoreWrite } from './store.ts';
