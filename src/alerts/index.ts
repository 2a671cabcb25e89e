/**
 * Alerts (`perf-sidecar/alerts`): `alert.v1` records, deduplicated and delivered to capped Redis
 * lists (or memory) by the sink, and a reliable consumer of those lists. Names of the alert
 * metrics: `perf-sidecar/semconv`.
 */
export { type AlertConsumer, type ConsumeAlertsOptions, consumeAlerts } from './consumer.ts';
export {
  type AlertListener,
  AlertListenersFullError,
  MAX_ALERT_LISTENERS,
} from './listeners.ts';
export { RedisAlertStore, type RedisAlertStoreOptions } from './redis-store.ts';
export {
  ALERT_LISTS,
  ALERT_SCHEMA,
  ALERT_TYPES,
  type AlertInput,
  type AlertListName,
  type AlertRecord,
  type AlertSeverity,
  type AlertSlo,
  type AlertStatus,
  type AlertTrace,
  type AlertType,
  type AlertUnit,
  alertRecordSchema,
} from './schema.ts';
export {
  AlertSink,
  type AlertSinkOptions,
  type AlertSinkStats,
  type RecentAlerts,
  type RecentAlertsQuery,
} from './sink.ts';
export { type AlertStore, MemoryAlertStore, type ScannedEntry, type StoreWrite } from './store.ts';
