/**
 * Public types of the database service: call options, results, health and statistics. Its options
 * are the input type of the schema in `options.ts`.
 */
import type { Pool } from 'pg';

/** A result row: column name to value, as pg parses it. */
export type Row = Record<string, unknown>;

/** A value `getByFilter` compares a column with. `null` means `IS NULL`. */
export type FilterValue = string | number | bigint | boolean | Date | Uint8Array | null;

/** Equality filters: column name to value, all of which must match. */
export type Filters = Readonly<Record<string, FilterValue>>;

/** Sort direction; case-insensitive on input. */
export type OrderDirection = 'asc' | 'desc' | 'ASC' | 'DESC';

/** A column to order by, ascending unless a direction is given. */
export type OrderBy = string | { readonly column: string; readonly direction?: OrderDirection };

/** Options every service call accepts. */
export interface CallOptions {
  /** Correlation id of the request or job: recorded as `correlation.id` and copied into alerts. */
  readonly correlationId?: string;
}

/** Options of `getById`. */
export interface GetByIdOptions extends CallOptions {
  /**
   * Column holding the id. Default: the table's single-column primary key, else a column named
   * `id`.
   */
  readonly idColumn?: string;
}

/** Options of `getByFilter`. */
export interface GetByFilterOptions extends CallOptions {
  /** Most rows returned. Default `defaultLimit` (100); values above `maxLimit` (1000) are capped. */
  readonly limit?: number;
  /** Rows skipped first. Default 0; at most `maxOffset`. */
  readonly offset?: number;
  /**
   * Order of the rows. The primary key is appended as a tie-breaker (and used alone when no order
   * is given), so that limit/offset pages neither overlap nor skip rows.
   */
  readonly orderBy?: OrderBy;
}

/** Options of `query`. */
export interface QueryOptions extends CallOptions {
  /**
   * Table the statement is about, for the span (`db.collection.name`) and slow-query alerts. Only its
   * shape is checked (it is not put into SQL).
   */
  readonly table?: string;
}

/** One statement of a batch: a pg query config plus an optional label. */
export interface BatchOperation {
  /** One SQL statement with `$n` placeholders. Transaction control (BEGIN, COMMIT, ...) is refused. */
  readonly text: string;
  /** Parameter values. */
  readonly values?: readonly unknown[];
  /** Name of the operation, repeated in the error when it fails (1 to 128 printable characters). */
  readonly label?: string;
}

/** What one statement returned. */
export interface StatementResult<R extends Row = Row> {
  /** Command tag: `SELECT`, `INSERT`, `UPDATE`, ... */
  readonly command: string;
  /** Rows affected or returned, when the command reports it. */
  readonly rowCount: number | null;
  /** Rows returned (empty for commands without RETURNING). */
  readonly rows: R[];
}

/** What one batch operation returned, in the order given. */
export interface BatchResult<R extends Row = Row> extends StatementResult<R> {
  /** The operation's label, when it had one. */
  readonly label?: string;
}

/** Connection pool figures. */
export interface PoolStats {
  /** Open connections. */
  readonly total: number;
  /** Open connections not checked out. */
  readonly idle: number;
  /** Connections checked out. */
  readonly inUse: number;
  /**
   * Requests waiting for a connection: those queued in the pool, plus lookups waiting for a
   * catalogue read of the same table that another lookup started.
   */
  readonly waiting: number;
  /** Most connections: pool size plus overflow. */
  readonly max: number;
  /** Connections kept open however idle: the pool size. */
  readonly min: number;
}

/** The embedded PostgreSQL's own process, as health reports it. */
export interface EmbeddedServerStatus {
  /**
   * `starting` (calls wait for it, bounded by `embedded.startTimeoutMs`), `running`, `failed` (it
   * did not start), `exited` (it ended on its own), `stopped` (by `close()`).
   */
  readonly state: 'starting' | 'running' | 'failed' | 'exited' | 'stopped';
  /** Process id of the child process running PGlite (never the host's). */
  readonly pid: number;
  /** Its resident set size, bytes (when running). */
  readonly rssBytes?: number;
  /** Connections it serves (when running). */
  readonly connections?: number;
  /** Why it failed or exited. */
  readonly error?: string;
}

/** Health of the database, as `getHealthStatus()` reports it. */
export interface DatabaseHealth {
  /**
   * `pass`: `SELECT 1` answered. `warn`: it answered, but requests were waiting for a connection
   * (the pool is exhausted; `warning` gives the figures). `fail`: no answer within the health
   * timeout, or an error. When every connection is checked out, `SELECT 1` runs on a connection
   * opened for the check, so that an exhausted pool reads as `warn`, not as a timeout.
   */
  readonly status: 'pass' | 'warn' | 'fail';
  /** Round trip of `SELECT 1` including the checkout, ms (absent on failure). */
  readonly latencyMs?: number;
  /** Pool figures at the end of the check. */
  readonly pool: PoolStats;
  /** The same object as `pool`, under the name used by code that reads `health.connection_pool`. */
  readonly connection_pool: PoolStats;
  /** Why the status is `warn`, with the pool figures. */
  readonly warning?: string;
  /** `server_version` of the server (absent until a check succeeded). */
  readonly serverVersion?: string;
  /** The server, password redacted. */
  readonly target: string;
  /** Whether this is the embedded PostgreSQL (PGlite). */
  readonly embedded: boolean;
  /** The embedded PostgreSQL's process, separately from the host's (only when `embedded`). */
  readonly embeddedServer?: EmbeddedServerStatus;
  /** Why the check failed (no secrets). */
  readonly error?: string;
  /** When the check ended, ISO 8601 UTC. */
  readonly checkedAt: string;
}

/** Counters since the service was created. */
export interface DatabaseStats {
  /** Statements sent by the service (lookups, queries, batch statements, catalogue reads, pings). */
  readonly statements: number;
  /** Statements (or batches) slower than the slow-query threshold. */
  readonly slowQueries: number;
  /** Checkouts that timed out because the pool was exhausted. */
  readonly poolTimeouts: number;
  /** Pre-ping validations run (checkouts of connections idle past the threshold). */
  readonly prePings: number;
  /** Pre-pings that found a dead connection (it was replaced). */
  readonly prePingFailures: number;
  /** EXPLAIN plans attached to slow statements. */
  readonly explains: number;
  /** Tables in the catalogue cache. */
  readonly cachedTables: number;
}

/**
 * The monitored database service. Every method returns a promise; invalid arguments reject it with
 * an `InvalidArgumentError` before any SQL is sent.
 */
export interface Database {
  /**
   * One row by id, or `undefined`. The table name is checked and resolved through the catalogue;
   * the id is a parameter.
   */
  getById<R extends Row = Row>(
    table: string,
    id: string | number | bigint,
    options?: GetByIdOptions,
  ): Promise<R | undefined>;
  /** Rows matching every equality filter, with limit, offset and order. Names are checked, values are parameters. */
  getByFilter<R extends Row = Row>(
    table: string,
    filters?: Filters,
    options?: GetByFilterOptions,
  ): Promise<R[]>;
  /**
   * Any statement, monitored like the lookups. Values are parameters (`$1`, `$2`, ...). A text of
   * several statements (possible only without parameters) answers with the last one's result; a
   * connection such a text leaves inside a transaction is destroyed, never reused.
   */
  query<R extends Row = Row>(
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<StatementResult<R>>;
  /** Statements in one transaction on one connection, all or nothing; results in order. */
  executeBatch(operations: readonly BatchOperation[], options?: CallOptions): Promise<BatchResult[]>;
  /** Status, `SELECT 1` latency, pool figures and server version; never throws, never the password. */
  getHealthStatus(): Promise<DatabaseHealth>;
  /** Pool figures now. */
  poolStats(): PoolStats;
  /** Counters since creation. */
  stats(): DatabaseStats;
  /** Forgets cached table columns (after a migration). */
  clearCatalogue(): void;
  /** The server, password redacted. */
  readonly target: string;
  /** Whether this is the embedded PostgreSQL. */
  readonly embedded: boolean;
  /**
   * The underlying pg pool, for what the service does not cover (LISTEN, COPY, cursors when
   * `pipeline` is off). Its queries are traced by the pg instrumentation but bypass the service's
   * spans, slow-query alerts and pool-wait metric.
   */
  readonly pool: Pool;
  /**
   * Ends every connection, waiting at most `closeTimeoutSeconds` (10) for checked-out ones, and
   * stops the embedded server if any.
   */
  close(): Promise<void>;
}
