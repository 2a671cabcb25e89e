/**
 * The database part (`perf-sidecar/db`; needs the optional peers `pg`, and for the embedded
 * PostgreSQL `@electric-sql/pglite` and `@electric-sql/pglite-socket`). The monitored PostgreSQL service: `createDatabase` (everything passed in) / `startDatabase` (the
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
