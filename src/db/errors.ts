/**
 * Errors of the database service. Each has a stable `code`; messages carry the figures needed to act
 * and never a password (URLs are redacted, driver messages scrubbed).
 */
import { InvalidArgumentError, PerfSidecarError } from '../shared/errors.ts';

/** Pool figures at the moment a checkout timed out. */
export interface PoolExhaustion {
  /** `DB_POOL_SIZE`. */
  readonly poolSize: number;
  /** `DB_MAX_OVERFLOW`. */
  readonly maxOverflow: number;
  /** Connections checked out when the wait ended. */
  readonly inUse: number;
  /** Other requests still waiting for a connection. */
  readonly waiting: number;
  /** `DB_POOL_TIMEOUT`, seconds: how long the request waited. */
  readonly timeoutSeconds: number;
}

/**
 * No connection became free within the pool timeout: every one of `pool_size + max_overflow`
 * connections was in use. The message follows SQLAlchemy's ("QueuePool limit of size 20 overflow
 * 30 reached") and adds the in-use and waiting counts.
 */
export class PoolExhaustedError extends PerfSidecarError {
  /** The pool figures. */
  readonly pool: PoolExhaustion;

  constructor(pool: PoolExhaustion) {
    super(
      'PERF_DB_POOL_EXHAUSTED',
      `QueuePool limit of size ${pool.poolSize} overflow ${pool.maxOverflow} reached, connection timed out, ` +
        `timeout ${pool.timeoutSeconds.toFixed(2)} s: ${pool.inUse} connections in use, ${pool.waiting} other requests waiting ` +
        '(raise DB_POOL_SIZE / DB_MAX_OVERFLOW, or release connections sooner)',
    );
    this.pool = pool;
  }
}

/** PostgreSQL could not be reached (refused, unknown host, connect timeout, authentication). */
export class DatabaseUnavailableError extends PerfSidecarError {
  /** The server, password redacted. */
  readonly target: string;

  constructor(target: string, reason: string, options?: ErrorOptions) {
    super('PERF_DB_UNAVAILABLE', `PostgreSQL at ${target} is unavailable: ${reason}`, options);
    this.target = target;
  }
}

/**
 * A batch failed and was rolled back as a whole. `index` (and `label`) name the failing operation;
 * they are `undefined` when the transaction itself failed (at BEGIN or COMMIT, for example a deferred
 * constraint). `cause` is the driver's error, with its SQLSTATE `code`, `detail` and `constraint`.
 */
export class BatchFailedError extends PerfSidecarError {
  /** Index of the failing operation in the array given to `executeBatch`. */
  readonly index: number | undefined;
  /** Label of the failing operation, when it had one. */
  readonly label: string | undefined;
  /** Operations in the batch. */
  readonly operationCount: number;

  constructor(
    failure: {
      readonly index: number | undefined;
      readonly label: string | undefined;
      readonly count: number;
    },
    reason: string,
    options?: ErrorOptions,
  ) {
    const which =
      failure.index === undefined
        ? 'the transaction'
        : `operation ${failure.index}${failure.label === undefined ? '' : ` (${JSON.stringify(failure.label)})`}`;
    super(
      'PERF_DB_BATCH_FAILED',
      `batch of ${failure.count} operations rolled back: ${which} failed: ${reason}`,
      options,
    );
    this.index = failure.index;
    this.label = failure.label;
    this.operationCount = failure.count;
  }
}

/** The service was used after `close()`. */
export class DatabaseClosedError extends PerfSidecarError {
  constructor(method: string) {
    super('PERF_DB_CLOSED', `database.${method}() was called after close(); create a new database service`);
  }
}

/** The embedded PostgreSQL (PGlite) could not be started. */
export class EmbeddedPostgresError extends PerfSidecarError {
  constructor(reason: string, options?: ErrorOptions) {
    super(
      'PERF_DB_EMBEDDED_FAILED',
      `the embedded PostgreSQL (PGlite) could not be started: ${reason}`,
      options,
    );
  }
}

/**
 * A lookup named a table it may not read: one in a system schema (`pg_catalog`,
 * `information_schema`, ...) or one outside the configured allow-lists. An
 * {@link InvalidArgumentError} (code `PERF_INVALID_ARGUMENT`), so that it maps to a client error.
 */
export class TableNotAllowedError extends InvalidArgumentError {
  /** The table as resolved, `schema.name`. */
  readonly table: string;

  constructor(argument: string, table: string, problem: string, expected: string) {
    super(argument, problem, expected);
    this.table = table;
  }
}
