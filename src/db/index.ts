/**
 * The monitored PostgreSQL service: `createDatabase` (everything passed in) / `startDatabase` (the
 * configuration and the running telemetry fill the rest) + `getDatabase`, safe lookups, batches,
 * health, slow-query alerts, and the embedded PostgreSQL used when there is no URL.
 */
export { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded.ts';
export {
  BatchFailedError,
  DatabaseClosedError,
  DatabaseUnavailableError,
  EmbeddedPostgresError,
  PoolExhaustedError,
  type PoolExhaustion,
  TableNotAllowedError,
} from './errors.ts';
export { reportDatabaseAtStart } from './health.ts';
export {
  closeDatabase,
  configuredDatabaseOptions,
  type DatabaseTelemetry,
  getDatabase,
  initializeDatabase,
  startDatabase,
  stopDatabase,
} from './module.ts';
export type { DatabaseOptions, EmbeddedPostgresOptions } from './options.ts';
export { MAX_QUERY_TEXT_LENGTH } from './queries.ts';
export {
  ATTR_DB_CLIENT_CONNECTION_POOL_NAME,
  ATTR_DB_QUERY_PLAN,
  ATTR_DB_QUERY_PLAN_TRUNCATED,
  ATTR_PERF_DB_LIMIT_CAPPED,
  ATTR_PERF_DB_POOL_WAIT_SECONDS,
  ATTR_PERF_DB_SLOW,
  ATTR_PERF_DB_STATEMENT_HASH,
  EVENT_DB_QUERY_PLAN,
  METRIC_DB_CLIENT_CONNECTION_TIMEOUTS,
  METRIC_DB_CLIENT_CONNECTION_WAIT_TIME,
  METRIC_PERF_DB_POOL_CONNECTIONS,
  METRIC_PERF_DB_POOL_WAITING,
} from './semconv.ts';
export { createDatabase } from './service.ts';
export type {
  BatchOperation,
  BatchResult,
  CallOptions,
  Database,
  DatabaseHealth,
  DatabaseStats,
  EmbeddedServerStatus,
  Filters,
  FilterValue,
  GetByFilterOptions,
  GetByIdOptions,
  OrderBy,
  OrderDirection,
  PoolStats,
  QueryOptions,
  Row,
  StatementResult,
} from './types.ts';
