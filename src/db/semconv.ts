/**
 * Attribute, metric and event names of the database service, in one place. Stable OpenTelemetry
 * database conventions come from `@opentelemetry/semantic-conventions`; the incubating ones it uses
 * are copied here (as the contrib instrumentations do), since incubating names may change between
 * minor releases of that package.
 */
export {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_BATCH_SIZE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';

/** Incubating: rows returned by the statement. */
export const ATTR_DB_RESPONSE_RETURNED_ROWS = 'db.response.returned_rows';
/** Incubating: the pool's name, `host:port/database`. */
export const ATTR_DB_CLIENT_CONNECTION_POOL_NAME = 'db.client.connection.pool.name';
/** Incubating: `idle` or `used`. */
export const ATTR_DB_CLIENT_CONNECTION_STATE = 'db.client.connection.state';

/** Incubating: time to obtain a connection from the pool, seconds (histogram). */
export const METRIC_DB_CLIENT_CONNECTION_WAIT_TIME = 'db.client.connection.wait_time';
/** Incubating: checkouts that timed out (counter). */
export const METRIC_DB_CLIENT_CONNECTION_TIMEOUTS = 'db.client.connection.timeouts';

/**
 * perf-sidecar's observable gauge of pool connections by state (`used`, `idle`). An observable
 * gauge of its own name: instrumentation-pg already reports `db.client.connection.count` as an
 * up-down counter, and two instruments of one name would clash in the Prometheus output.
 */
export const METRIC_PERF_DB_POOL_CONNECTIONS = 'perf.db.pool.connections';
/** perf-sidecar's observable gauge of requests waiting for a pool connection. */
export const METRIC_PERF_DB_POOL_WAITING = 'perf.db.pool.waiting';

/** Span attribute: seconds the call waited for a pool connection. */
export const ATTR_PERF_DB_POOL_WAIT_SECONDS = 'perf.db.pool_wait_seconds';
/** Span attribute: set when `getByFilter` capped the requested limit. */
export const ATTR_PERF_DB_LIMIT_CAPPED = 'perf.db.limit_capped';
/** Span attribute: the statement took longer than the slow-query threshold. */
export const ATTR_PERF_DB_SLOW = 'perf.db.slow';
/** Span attribute: the statement hash (first 16 hex characters of its SHA-256). */
export const ATTR_PERF_DB_STATEMENT_HASH = 'perf.db.statement_hash';

/** Span event carrying the EXPLAIN plan of a slow statement. */
export const EVENT_DB_QUERY_PLAN = 'db.query.plan';
/** Attribute of {@link EVENT_DB_QUERY_PLAN}: the plan, `EXPLAIN (FORMAT JSON)` output. */
export const ATTR_DB_QUERY_PLAN = 'db.query.plan';
/** Attribute of {@link EVENT_DB_QUERY_PLAN}: whether the plan was cut to the length bound. */
export const ATTR_DB_QUERY_PLAN_TRUNCATED = 'db.query.plan.truncated';

/** Connection states of {@link METRIC_PERF_DB_POOL_CONNECTIONS}. */
export const CONNECTION_STATE_USED = 'used';
/** Connection states of {@link METRIC_PERF_DB_POOL_CONNECTIONS}. */
export const CONNECTION_STATE_IDLE = 'idle';

/** `db.operation.name` of the service's calls. */
export const OPERATION = {
  getById: 'getById',
  getByFilter: 'getByFilter',
  query: 'query',
  executeBatch: 'executeBatch',
} as const;

/** Alert label: the table of a slow statement, when known. */
export const ALERT_LABEL_TABLE = 'table';
/** Alert label: the statement hash of a slow statement (as {@link ATTR_PERF_DB_STATEMENT_HASH}). */
export const ALERT_LABEL_STATEMENT_HASH = 'statement_hash';
/** Alert label: why a `slow_query` alert that is not about one statement was raised. */
export const ALERT_LABEL_REASON = 'reason';
/** {@link ALERT_LABEL_REASON} of an exhausted pool. */
export const ALERT_REASON_POOL_EXHAUSTED = 'pool_exhausted';
/** Alert annotation: the statement text, with placeholders, never parameter values. */
export const ALERT_ANNOTATION_STATEMENT = 'statement';
