/**
 * The monitored database service: a pg pool set up from SQLAlchemy-style settings, lookups
 * whose identifiers are checked against the catalogue, batches in one transaction, health, and the
 * monitoring instrumentation-pg lacks (a span per call, pool wait time, pool gauges, slow-query
 * alerts with optional EXPLAIN plans, pool-exhaustion errors and alerts).
 *
 * `pg` is imported lazily, inside {@link createDatabase}: a module loaded by the preload entry before
 * the ESM hooks are acknowledged must not load it, or the host's pg would not be instrumented.
 */

import {
  type Attributes,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type pg from 'pg';
import type { Pool, PoolClient, QueryResult } from 'pg';
import { getConfig } from '../config.ts';
import { describeValue, InvalidArgumentError, PerfSidecarError } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { importPeer } from '../shared/peers.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import { withTimeout } from '../shared/timeout.ts';
import { redactUrl } from '../shared/urls.ts';
import { ATTR_CORRELATION_ID } from '../telemetry/index.ts';
import { TableAccess } from './access.ts';
import {
  checkCallOptions,
  checkFilters,
  checkId,
  checkLimit,
  checkOffset,
  checkOrderBy,
  keyColumnOf,
} from './arguments.ts';
import {
  type CheckedOperation,
  checkOperations,
  checkParameters,
  checkStatementText,
  runBatch,
} from './batch.ts';
import { requireColumn, TableCatalogue, type TableInfo } from './catalogue.ts';
import { type EmbeddedLaunch, launchEmbeddedPostgres } from './embedded.ts';
import {
  BatchFailedError,
  DatabaseClosedError,
  DatabaseUnavailableError,
  EmbeddedPostgresError,
  PoolExhaustedError,
} from './errors.ts';
import { checkColumnName, parseTableName, type TableName } from './identifiers.ts';
import {
  type AlertSource,
  ExplainLimiter,
  PoolMetrics,
  raisePoolExhausted,
  raiseSlowQuery,
} from './monitor.ts';
import {
  type DatabaseSettings,
  type Endpoint,
  endpointOf,
  poolConfig,
  poolNameOf,
  resolveSettings,
} from './pool.ts';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_BATCH_SIZE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_PLAN,
  ATTR_DB_QUERY_PLAN_TRUNCATED,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_RETURNED_ROWS,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_PERF_DB_LIMIT_CAPPED,
  ATTR_PERF_DB_POOL_WAIT_SECONDS,
  ATTR_PERF_DB_SLOW,
  ATTR_PERF_DB_STATEMENT_HASH,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
  EVENT_DB_QUERY_PLAN,
  OPERATION,
} from './semconv.ts';
import {
  excerpt,
  isExplainable,
  isTransactionControl,
  type SortKey,
  selectByFilter,
  selectById,
  statementHash,
} from './sql.ts';
import type {
  BatchOperation,
  BatchResult,
  CallOptions,
  Database,
  DatabaseHealth,
  DatabaseOptions,
  DatabaseStats,
  FilterValue,
  GetByFilterOptions,
  GetByIdOptions,
  PoolStats,
  QueryOptions,
  Row,
  StatementResult,
} from './types.ts';
import { normaliseDatabaseUrl } from './url.ts';
import { asError, errorText, round, untraced } from './utils.ts';

/** Longest SQL text `query()` and batch operations accept, in characters. */
export const MAX_QUERY_TEXT_LENGTH = 1_000_000;
/** Checkouts tried when pre-ping finds dead connections, before giving up. */
const CHECKOUT_ATTEMPTS = 3;
/** pg-pool's message when a checkout waited `connectionTimeoutMillis` with every connection in use. */
const POOL_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';
/** pg-pool's message when opening a new connection took longer than `connectionTimeoutMillis`. */
const CONNECT_TIMEOUT_MESSAGE = 'Connection terminated due to connection timeout';

type Pg = typeof pg;

/** One service call in progress: its span and what alerts need to know. */
interface Call extends AlertSource {
  readonly span: Span;
}

/** What a pool-exhaustion alert names when the health check (no call, no span) hit it. */
const HEALTH_CHECK: AlertSource = {
  span: undefined,
  name: 'getHealthStatus',
  table: undefined,
  correlationId: undefined,
};

interface Counters {
  statements: number;
  slowQueries: number;
  poolTimeouts: number;
  prePings: number;
  prePingFailures: number;
  explains: number;
}

/** See the module comment. Made by {@link createDatabase}. */
class DatabaseService implements Database {
  readonly pool: Pool;
  readonly target: string;
  readonly embedded: boolean;
  readonly #pg: Pg;
  readonly #settings: DatabaseSettings;
  readonly #url: string;
  readonly #attributes: Attributes;
  readonly #catalogue: TableCatalogue;
  readonly #access: TableAccess;
  readonly #metrics: PoolMetrics;
  readonly #explains: ExplainLimiter;
  /** Connections that emitted 'error' or 'end': the server or the network dropped them. */
  readonly #lost = new WeakSet<PoolClient>();
  /** When each pooled connection was last released, for pre-ping. */
  readonly #idleSince = new WeakMap<PoolClient, number>();
  /** getById statements by catalogue entry; entries go when the catalogue drops the table. */
  readonly #byIdTexts = new WeakMap<TableInfo, string>();
  readonly #server: EmbeddedLaunch | undefined;
  #serverReady = false;
  /** The URL's password, scrubbed from every message the service passes on. */
  readonly #secret: string | undefined;
  readonly #counters: Counters = {
    statements: 0,
    slowQueries: 0,
    poolTimeouts: 0,
    prePings: 0,
    prePingFailures: 0,
    explains: 0,
  };
  #serverVersion: string | undefined;
  #tracerOf: { readonly provider: TracerProvider; readonly tracer: Tracer } | undefined;
  #closing: Promise<void> | undefined;

  constructor(pgModule: Pg, settings: DatabaseSettings, url: string, server: EmbeddedLaunch | undefined) {
    this.#pg = pgModule;
    this.#settings = settings;
    this.#url = url;
    this.#server = server;
    this.embedded = server !== undefined;
    this.target = redactUrl(url);
    const password = new URL(url).password;
    this.#secret = password === '' ? undefined : decodeURIComponent(password);
    server?.ready.then(
      (version) => {
        this.#serverReady = true;
        this.#serverVersion = version;
      },
      () => undefined,
    );
    const endpoint: Endpoint = endpointOf(url);
    this.#attributes = Object.freeze({
      [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
      [ATTR_DB_NAMESPACE]: endpoint.database,
      [ATTR_SERVER_ADDRESS]: endpoint.host,
      [ATTR_SERVER_PORT]: endpoint.port,
    });
    this.pool = new pgModule.Pool(poolConfig(settings, url));
    // Without a listener, an idle connection's error (the server restarting) would crash the process.
    this.pool.on('error', (error) => {
      getLogger().warn(
        { database: this.target, err: this.#scrub(errorText(error)) },
        'idle database connection failed',
      );
    });
    // pg-pool listens for errors only while a connection is idle: one checked out (by the service or
    // by a caller of `pool.connect()`) that the server drops (57P01 on a fast shutdown, EPIPE) would
    // emit an unhandled 'error' and end the process. This listener stays for the connection's life.
    this.pool.on('connect', (client) => {
      client.on('error', (error) => {
        this.#lost.add(client);
        getLogger().debug(
          { database: this.target, err: this.#scrub(errorText(error)) },
          'database connection lost',
        );
      });
      client.on('end', () => this.#lost.add(client));
    });
    this.#catalogue = new TableCatalogue({
      maxTables: settings.maxCachedTables,
      ttlMs: settings.catalogueTtlSeconds * 1000,
    });
    this.#access = new TableAccess(settings);
    this.#metrics = new PoolMetrics(poolNameOf(endpoint), () => this.poolStats());
    this.#explains = new ExplainLimiter(settings.explainIntervalSeconds, settings.explainMaxStatements);
  }

  async getById<R extends Row = Row>(
    table: string,
    id: string | number | bigint,
    options?: GetByIdOptions,
  ): Promise<R | undefined> {
    this.#assertOpen('getById');
    const name = parseTableName('table', table);
    this.#access.checkQualified('table', table, name);
    const value = checkId(id);
    const opts = checkCallOptions(options);
    const idColumn =
      opts?.idColumn === undefined ? undefined : checkColumnName('options.idColumn', opts.idColumn);
    return this.#call(OPERATION.getById, table, opts, {}, async (call) => {
      const info = await this.#table(call, table, name);
      const text =
        idColumn === undefined
          ? this.#byIdText(info)
          : selectById(info, requireColumn('options.idColumn', info, idColumn));
      const result = await this.#run(call, text, [value]);
      return result.rows[0] as R | undefined;
    });
  }

  async getByFilter<R extends Row = Row>(
    table: string,
    filters?: Readonly<Record<string, FilterValue>>,
    options?: GetByFilterOptions,
  ): Promise<R[]> {
    this.#assertOpen('getByFilter');
    const name = parseTableName('table', table);
    this.#access.checkQualified('table', table, name);
    const entries = checkFilters(filters);
    const opts = checkCallOptions(options);
    const { limit, capped } = checkLimit(opts?.limit, this.#settings);
    const offset = checkOffset(opts?.offset, this.#settings);
    const order = checkOrderBy(opts?.orderBy);
    const attributes = capped ? { [ATTR_PERF_DB_LIMIT_CAPPED]: true } : {};
    return this.#call(OPERATION.getByFilter, table, opts, attributes, async (call) => {
      const info = await this.#table(call, table, name);
      for (const [column] of entries) requireColumn(`filters.${column}`, info, column);
      const sort: SortKey[] = [];
      if (order !== undefined) {
        sort.push({
          column: requireColumn('options.orderBy', info, order.column),
          direction: order.direction,
        });
      }
      // The primary key as the last sort key makes limit/offset pages deterministic.
      if (info.primaryKey !== undefined && order?.column !== info.primaryKey) {
        sort.push({ column: info.primaryKey, direction: 'asc' });
      }
      const statement = selectByFilter(info, entries, sort, limit, offset);
      return (await this.#run(call, statement.text, statement.values)).rows as R[];
    });
  }

  async query<R extends Row = Row>(
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<StatementResult<R>> {
    this.#assertOpen('query');
    const checked = checkStatementText('text', text, MAX_QUERY_TEXT_LENGTH);
    if (isTransactionControl(checked)) {
      throw new InvalidArgumentError(
        'text',
        'is a transaction control statement (BEGIN, COMMIT, ...); each query() may run on another connection',
        'executeBatch() for statements that must share a transaction',
      );
    }
    const values = checkParameters('params', params);
    const opts = checkCallOptions(options);
    if (opts?.table !== undefined) parseTableName('options.table', opts.table);
    return this.#call(OPERATION.query, opts?.table, opts, {}, async (call) => {
      const result = await this.#run(call, checked, values);
      return { command: result.command, rowCount: result.rowCount, rows: result.rows as R[] };
    });
  }

  async executeBatch(operations: readonly BatchOperation[], options?: CallOptions): Promise<BatchResult[]> {
    this.#assertOpen('executeBatch');
    const checked = checkOperations(operations, this.#settings.maxBatchSize, MAX_QUERY_TEXT_LENGTH);
    const opts = checkCallOptions(options);
    if (checked.length === 0) return [];
    const attributes = { [ATTR_DB_OPERATION_BATCH_SIZE]: checked.length };
    return this.#call(OPERATION.executeBatch, undefined, opts, attributes, (call) =>
      this.#batch(call, checked),
    );
  }

  async getHealthStatus(): Promise<DatabaseHealth> {
    const embeddedServer = await this.#server?.status();
    const ended = (): Omit<DatabaseHealth, 'status'> => {
      const pool = this.poolStats();
      return {
        pool,
        connection_pool: pool,
        ...(this.#serverVersion === undefined ? {} : { serverVersion: this.#serverVersion }),
        target: this.target,
        embedded: this.embedded,
        ...(embeddedServer === undefined ? {} : { embeddedServer }),
        checkedAt: new Date().toISOString(),
      };
    };
    if (this.#closing) return { status: 'fail', error: 'the database service is closed', ...ended() };
    if (embeddedServer?.state === 'starting') {
      // Calls made now wait for it (bounded): the service works, a little late.
      return { status: 'warn', warning: 'the embedded PostgreSQL is starting', ...ended() };
    }
    if (embeddedServer !== undefined && embeddedServer.state !== 'running') {
      const reason = `the embedded PostgreSQL is ${embeddedServer.state}${embeddedServer.error === undefined ? '' : `: ${embeddedServer.error}`}`;
      return { status: 'fail', error: reason, ...ended() };
    }
    const seconds = this.#settings.healthTimeoutSeconds;
    try {
      // With every connection checked out, a pooled ping would queue behind the callers and time
      // out: it would report a working server as down. It asks on a connection of its own instead.
      const stats = this.poolStats();
      const saturated = stats.idle === 0 && stats.total >= stats.max;
      const latencyMs = await withTimeout(
        untraced(() => (saturated ? this.#pingOutsidePool(seconds) : this.#ping())),
        seconds * 1000,
        `SELECT 1 (health check)`,
      );
      const health = ended();
      const { inUse, max, waiting } = health.pool;
      if (waiting === 0) return { status: 'pass', latencyMs: round(latencyMs, 3), ...health };
      return {
        status: 'warn',
        latencyMs: round(latencyMs, 3),
        warning: `the pool is exhausted: ${inUse} of ${max} connections in use, ${waiting} requests waiting for one`,
        ...health,
      };
    } catch (error) {
      return { status: 'fail', error: this.#scrub(errorText(error)), ...ended() };
    }
  }

  poolStats(): PoolStats {
    const total = this.pool.totalCount;
    const idle = this.pool.idleCount;
    return {
      total,
      idle,
      inUse: total - idle,
      // Lookups sharing a cold catalogue read wait for its one checkout: they are waiting too.
      waiting: this.pool.waitingCount + this.#catalogue.waiting,
      max: this.#settings.poolSize + this.#settings.maxOverflow,
      min: this.#settings.poolSize,
    };
  }

  stats(): DatabaseStats {
    return { ...this.#counters, cachedTables: this.#catalogue.size };
  }

  clearCatalogue(): void {
    this.#catalogue.clear();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#metrics.close();
      try {
        await withTimeout(
          this.pool.end(),
          this.#settings.closeTimeoutSeconds * 1000,
          'closing the database pool',
        );
      } catch (error) {
        getLogger().warn(
          { database: this.target, err: errorText(error) },
          'database pool did not close cleanly',
        );
      }
      await this.#server?.stop();
    })();
    return this.#closing;
  }

  /**
   * Checks that a statement runs: one checkout and `SELECT 1`.
   *
   * @throws {DatabaseUnavailableError} or {@link PoolExhaustedError} when it does not.
   */
  async verify(): Promise<void> {
    await untraced(() => this.#ping());
  }

  #assertOpen(method: string): void {
    if (this.#closing) throw new DatabaseClosedError(method);
  }

  /** `selectById` on the table's default key column, built once per catalogue entry. */
  #byIdText(info: TableInfo): string {
    let text = this.#byIdTexts.get(info);
    if (text === undefined) {
      text = selectById(info, keyColumnOf(info));
      this.#byIdTexts.set(info, text);
    }
    return text;
  }

  /** The table's catalogue entry, once the access rules allow what the name resolved to. */
  async #table(call: Call, given: string, name: TableName): Promise<TableInfo> {
    const info = await this.#catalogue.table('table', name, (text, values) =>
      this.#housekeeping(call, text, values),
    );
    // The search path decides where an unqualified name lands (it may list pg_catalog).
    this.#access.check('table', given, info.schema, info.name);
    return info;
  }

  /** Runs a service call inside its span: `<operation> <table>`, with the database attributes. */
  #call<T>(
    operation: string,
    table: string | undefined,
    options: CallOptions | undefined,
    extra: Attributes,
    fn: (call: Call) => Promise<T>,
  ): Promise<T> {
    const name = table === undefined ? operation : `${operation} ${table}`;
    const correlationId = options?.correlationId;
    const attributes: Attributes = { ...this.#attributes, [ATTR_DB_OPERATION_NAME]: operation, ...extra };
    if (table !== undefined) attributes[ATTR_DB_COLLECTION_NAME] = table;
    if (correlationId !== undefined) attributes[ATTR_CORRELATION_ID] = correlationId;
    return this.#tracer().startActiveSpan(name, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      try {
        return await fn({ span, name, table, correlationId });
      } catch (error) {
        this.#scrubError(error);
        this.#recordFailure(span, error);
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /**
   * perf-sidecar's tracer, looked up again when the global provider changes: a tracer taken before a
   * telemetry restart would keep pointing at the provider that was shut down.
   */
  #tracer(): Tracer {
    const provider = trace.getTracerProvider();
    if (this.#tracerOf?.provider !== provider) {
      this.#tracerOf = { provider, tracer: provider.getTracer(SCOPE_NAME, VERSION) };
    }
    return this.#tracerOf.tracer;
  }

  #recordFailure(span: Span, error: unknown): void {
    const err = asError(error);
    span.recordException(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    const sqlState = (error as { code?: unknown }).code;
    if (error instanceof this.#pg.DatabaseError && typeof sqlState === 'string') {
      span.setAttribute(ATTR_DB_RESPONSE_STATUS_CODE, sqlState);
      span.setAttribute(ATTR_ERROR_TYPE, sqlState);
    } else {
      span.setAttribute(ATTR_ERROR_TYPE, error instanceof PerfSidecarError ? error.code : err.name);
    }
  }

  /**
   * A pooled connection, validated first when it sat idle past the pre-ping threshold. Records the
   * wait. Timeouts become {@link PoolExhaustedError} (plus an alert), connection failures
   * {@link DatabaseUnavailableError}.
   */
  async #checkout(call?: Call): Promise<PoolClient> {
    const started = performance.now();
    // The embedded server starts in the background: calls made meanwhile wait for it, bounded by
    // its start-up timeout (its failure rejects them with EmbeddedPostgresError).
    if (this.#server !== undefined && !this.#serverReady) await this.#server.ready;
    const prePingMs = this.#settings.prePingIdleSeconds * 1000;
    for (let attempt = 1; ; attempt++) {
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        const waited = (performance.now() - started) / 1000;
        this.#metrics.recordWait(waited);
        throw this.#checkoutError(error, waited, call);
      }
      const idleSince = this.#idleSince.get(client);
      if (idleSince !== undefined && Date.now() - idleSince >= prePingMs) {
        this.#counters.prePings++;
        try {
          await untraced(() => client.query('SELECT 1'));
          this.#counters.statements++;
        } catch (error) {
          // A dead connection: drop it and take another (a new one if none is idle).
          this.#counters.prePingFailures++;
          client.release(asError(error));
          if (attempt < CHECKOUT_ATTEMPTS) continue;
          throw new DatabaseUnavailableError(
            this.target,
            `pre-ping failed: ${this.#scrub(errorText(error))}`,
          );
        }
      }
      const waited = (performance.now() - started) / 1000;
      this.#metrics.recordWait(waited);
      call?.span.setAttribute(ATTR_PERF_DB_POOL_WAIT_SECONDS, waited);
      return client;
    }
  }

  /**
   * Returns a connection to the pool, or destroys it when `error` is given or it is still inside a
   * transaction (it must never be handed to the next caller that way).
   */
  #release(client: PoolClient, error?: Error): void {
    const status = client.getTransactionStatus();
    if (error === undefined && status !== null && status !== 'I') {
      client.release(new Error(`connection left in transaction state ${status}`));
      return;
    }
    this.#idleSince.set(client, Date.now());
    client.release(error);
  }

  #checkoutError(error: unknown, waitedSeconds: number, call: Call | undefined): Error {
    const message = errorText(error);
    if (message === POOL_TIMEOUT_MESSAGE) {
      const stats = this.poolStats();
      const exhausted = new PoolExhaustedError({
        poolSize: this.#settings.poolSize,
        maxOverflow: this.#settings.maxOverflow,
        inUse: stats.inUse,
        waiting: stats.waiting,
        timeoutSeconds: this.#settings.poolTimeoutSeconds,
      });
      this.#counters.poolTimeouts++;
      this.#metrics.countTimeout();
      raisePoolExhausted(call ?? HEALTH_CHECK, exhausted, waitedSeconds);
      return exhausted;
    }
    const reason =
      message === CONNECT_TIMEOUT_MESSAGE
        ? `no connection could be opened within the ${this.#settings.poolTimeoutSeconds} s pool timeout`
        : this.#scrub(message);
    return new DatabaseUnavailableError(this.target, reason, { cause: this.#scrubError(error) });
  }

  /** Runs one statement of a call on a pooled connection: timing, counting, slow-query handling. */
  async #run(call: Call, text: string, values: readonly unknown[]): Promise<QueryResult<Row>> {
    call.span.setAttribute(ATTR_DB_QUERY_TEXT, excerpt(text, this.#settings.maxStatementLength));
    const client = await this.#checkout(call);
    const started = performance.now();
    let result: QueryResult<Row> | undefined;
    let failure: unknown;
    try {
      // (text, values) rather than a config object: pg copies config objects on every call.
      result = lastResult(await client.query<Row>(text, values as unknown[]));
    } catch (error) {
      failure = error;
    }
    const seconds = (performance.now() - started) / 1000;
    this.#counters.statements++;
    // A server error leaves the connection usable; anything else (a lost socket) does not.
    const lost = result === undefined && this.#isConnectionLoss(client, failure);
    const connectionOk = !lost && (result !== undefined || failure instanceof this.#pg.DatabaseError);
    let broken: Error | undefined = connectionOk ? undefined : asError(failure);
    try {
      if (seconds > this.#settings.slowQuerySeconds) {
        const hash = this.#slow(call, text, seconds);
        if (connectionOk && this.#settings.explainSlow && isExplainable(text) && this.#explains.allow(hash)) {
          broken = await this.#explain(call.span, client, text, values);
        }
      }
    } finally {
      this.#release(client, broken);
    }
    if (result === undefined) throw lost ? this.#unavailable(failure, 'the connection was lost') : failure;
    call.span.setAttribute(ATTR_DB_RESPONSE_RETURNED_ROWS, result.rows.length);
    return result;
  }

  async #batch(call: Call, operations: readonly CheckedOperation[]): Promise<BatchResult[]> {
    const client = await this.#checkout(call);
    const started = performance.now();
    const outcome = await runBatch(client, operations, this.#settings.pipeline);
    const seconds = (performance.now() - started) / 1000;
    this.#counters.statements += operations.length + 2;
    // Only a server error is known to leave the connection usable; after anything else it is replaced.
    const lost = !outcome.ok && this.#isConnectionLoss(client, outcome.error);
    const broken = !outcome.ok && (lost || !(outcome.error instanceof this.#pg.DatabaseError));
    this.#release(client, broken ? asError(outcome.error) : undefined);
    if (seconds > this.#settings.slowQuerySeconds) {
      const text = operations.map((o) => o.text).join(';\n');
      this.#slow(call, `-- batch of ${operations.length} statements\n${text}`, seconds);
    }
    if (!outcome.ok && lost) {
      // COMMIT may have reached the server before the connection went: the outcome is unknown.
      throw this.#unavailable(
        outcome.error,
        'the connection was lost during the batch (whether it committed is unknown)',
      );
    }
    if (!outcome.ok) {
      const label = outcome.index === undefined ? undefined : operations[outcome.index]?.label;
      throw new BatchFailedError(
        { index: outcome.index, label, count: operations.length },
        this.#scrub(errorText(outcome.error)),
        { cause: outcome.error },
      );
    }
    return outcome.results;
  }

  /**
   * Marks the span and raises `slow_query`: the statement text (never parameter values). Returns
   * the statement hash, computed only here: hashing every statement would cost more than the span.
   */
  #slow(call: Call, text: string, seconds: number): string {
    this.#counters.slowQueries++;
    const hash = statementHash(text);
    call.span.setAttribute(ATTR_PERF_DB_SLOW, true);
    call.span.setAttribute(ATTR_PERF_DB_STATEMENT_HASH, hash);
    const statement = excerpt(text, this.#settings.maxStatementLength);
    raiseSlowQuery(call, statement, hash, seconds, this.#settings.slowQuerySeconds);
    return hash;
  }

  /**
   * Attaches `EXPLAIN (FORMAT JSON)` of the statement (planned, never run: no ANALYZE) to the span,
   * on the same connection before it goes back to the pool. Returns an error when the connection
   * must be destroyed (the EXPLAIN did not answer in time and is still running on it).
   */
  async #explain(
    span: Span,
    client: PoolClient,
    text: string,
    values: readonly unknown[],
  ): Promise<Error | undefined> {
    const explained = untraced(() => client.query<Row>(`EXPLAIN (FORMAT JSON) ${text}`, values as unknown[]));
    try {
      const result = await withTimeout(
        explained,
        this.#settings.explainTimeoutMs,
        'EXPLAIN of a slow statement',
      );
      this.#counters.statements++;
      this.#counters.explains++;
      const plan = JSON.stringify(result.rows[0]?.['QUERY PLAN'] ?? null);
      span.addEvent(EVENT_DB_QUERY_PLAN, {
        [ATTR_DB_QUERY_PLAN]: excerpt(plan, this.#settings.maxPlanLength),
        [ATTR_DB_QUERY_PLAN_TRUNCATED]: plan.length > this.#settings.maxPlanLength,
      });
      return undefined;
    } catch (error) {
      getLogger().debug({ err: this.#scrub(errorText(error)) }, 'EXPLAIN of a slow statement failed');
      return error instanceof this.#pg.DatabaseError ? undefined : asError(error);
    }
  }

  /** A catalogue statement: pooled, counted, untraced (it is not the caller's own statement). */
  async #housekeeping(call: Call, text: string, values: unknown[]): Promise<readonly Row[]> {
    const client = await this.#checkout(call);
    let broken: Error | undefined;
    try {
      const result = await untraced(() => client.query<Row>({ text, values }));
      this.#counters.statements++;
      return result.rows;
    } catch (error) {
      const lost = this.#isConnectionLoss(client, error);
      if (lost || !(error instanceof this.#pg.DatabaseError)) broken = asError(error);
      throw lost ? this.#unavailable(error, 'the connection was lost') : error;
    } finally {
      this.#release(client, broken);
    }
  }

  /**
   * Whether a statement failed because the connection is gone (the server shut down or crashed,
   * the socket broke) rather than because of the statement: then it must not be reused, and the
   * caller gets {@link DatabaseUnavailableError} instead of the driver's error.
   */
  #isConnectionLoss(client: PoolClient, error: unknown): boolean {
    if (this.#lost.has(client)) return true;
    const code = (error as { code?: unknown } | undefined)?.code;
    if (typeof code !== 'string') return false;
    // SQLSTATE classes 08 (connection exception) and 57P (operator intervention: admin/crash
    // shutdown, cannot connect now), and the socket errors of a dropped connection.
    return /^(08|57P0[1-3])/.test(code) || /^E(CONNRESET|PIPE|CONNREFUSED|TIMEDOUT)$/.test(code);
  }

  /** A {@link DatabaseUnavailableError} for a connection lost under a statement. */
  #unavailable(error: unknown, what: string): DatabaseUnavailableError {
    return new DatabaseUnavailableError(this.target, `${what}: ${this.#scrub(errorText(error))}`, {
      cause: this.#scrubError(error),
    });
  }

  /** `SELECT 1` on a pooled connection (and `SHOW server_version` once). Returns the latency, ms. */
  async #ping(): Promise<number> {
    const started = performance.now();
    const client = await this.#checkout();
    let broken: Error | undefined;
    try {
      await client.query('SELECT 1');
      const latencyMs = performance.now() - started;
      this.#counters.statements++;
      if (this.#serverVersion === undefined) {
        const version = await client.query<{ server_version: string }>('SHOW server_version');
        this.#counters.statements++;
        this.#serverVersion = version.rows[0]?.server_version;
      }
      return latencyMs;
    } catch (error) {
      if (!(error instanceof this.#pg.DatabaseError)) broken = asError(error);
      throw new DatabaseUnavailableError(this.target, this.#scrub(errorText(error)), {
        cause: this.#scrubError(error),
      });
    } finally {
      this.#release(client, broken);
    }
  }

  /**
   * `SELECT 1` on a connection opened for it and closed again, outside the pool (which is
   * exhausted). Returns the latency, ms.
   */
  async #pingOutsidePool(seconds: number): Promise<number> {
    const started = performance.now();
    const ms = Math.max(1, Math.round(seconds * 1000));
    const {
      min: _min,
      max: _max,
      idleTimeoutMillis: _idle,
      ...config
    } = poolConfig(this.#settings, this.#url);
    const client = new this.#pg.Client({ ...config, connectionTimeoutMillis: ms, query_timeout: ms });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      this.#counters.statements++;
      return performance.now() - started;
    } catch (error) {
      throw new DatabaseUnavailableError(this.target, this.#scrub(errorText(error)), {
        cause: this.#scrubError(error),
      });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The text with the URL's password (plain or URL-encoded) replaced by `***`. */
  #scrub(text: string): string {
    const secret = this.#secret;
    if (secret === undefined) return text;
    return text.replaceAll(secret, '***').replaceAll(encodeURIComponent(secret), '***');
  }

  /** Scrubs an error's message in place (driver errors can echo connection details) and returns it. */
  #scrubError(error: unknown): unknown {
    if (this.#secret !== undefined && error instanceof Error) error.message = this.#scrub(error.message);
    return error;
  }
}

/**
 * The result of a statement text. Several statements in one text without parameters (the simple
 * protocol) answer with one result each; the service reports the last, as psql shows it.
 */
function lastResult(result: QueryResult<Row> | QueryResult<Row>[]): QueryResult<Row> {
  if (!Array.isArray(result)) return result;
  const last = result.at(-1);
  if (last === undefined) throw new Error('the server answered a statement text with no result');
  return last;
}

/**
 * Creates a database service. The URL comes from `options.url`, else `DATABASE_URL`; with neither,
 * an embedded PostgreSQL (PGlite) is started on a loopback port in a child process (and stopped by
 * `close()`). No
 * connection is opened until the first call; use {@link startDatabase} to fail fast.
 *
 * @param options see {@link DatabaseOptions}; defaults come from the configuration.
 * @throws {InvalidArgumentError} for a bad option (the URL is never echoed).
 * @throws {EmbeddedPostgresError} when the embedded PostgreSQL's process cannot be started. It
 *   starts in the background, in a child process: `createDatabase()` returns before it is up, calls
 *   wait for it, and a start-up failure rejects them with this error.
 * @example
 * const db = await createDatabase({ poolSize: 5 });
 * const user = await db.getById('users', 42, { correlationId: 'req-1' });
 * await db.close();
 */
export async function createDatabase(options: DatabaseOptions = {}): Promise<Database> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', `is ${describeValue(options)}`, 'an object or undefined');
  }
  const config = options.config ?? getConfig();
  const url =
    options.url === undefined ? config.databaseUrl : normaliseDatabaseUrl(options.url, 'options.url');
  const settings = resolveSettings(options, config, url);
  const { default: pgModule } = await importPeer('pg', () => import('pg'));
  if (url !== undefined) return new DatabaseService(pgModule, settings, url, undefined);
  // Returns before PGlite is up: start-up must not hold up the host (calls wait for it).
  const server = await launchEmbeddedPostgres(settings.embedded);
  try {
    return new DatabaseService(pgModule, settings, server.url, server);
  } catch (error) {
    await server.stop();
    throw error instanceof PerfSidecarError
      ? error
      : new EmbeddedPostgresError(errorText(error), { cause: error });
  }
}

/**
 * Checks the database once at start-up and says so in the log when the check fails, with the
 * reason and the server (password redacted), so that a wrong `DATABASE_URL` is visible at once
 * rather than only in the health endpoint. Logs nothing when it passes (the start-up line shows
 * the database). Never rejects; the caller need not wait for it.
 *
 * @param database the service whose health to check.
 */
export async function reportDatabaseAtStart(database: Database): Promise<void> {
  try {
    const health = await database.getHealthStatus();
    if (health.status !== 'fail') return;
    getLogger().warn(
      { database: health.target, err: health.error },
      `the database check is failing at start: ${health.error ?? 'no reason given'}`,
    );
  } catch (error) {
    getLogger().warn(
      { database: database.target, err: errorText(error) },
      'the database check failed at start',
    );
  }
}

let current: Database | undefined;
let starting: Promise<Database> | undefined;

/**
 * Creates the process-wide database service (see {@link createDatabase}) and checks that it answers
 * `SELECT 1`, so that a wrong URL stops start-up with a clear error. Idempotent: later calls return
 * the same service and ignore their options. {@link getDatabase} returns it afterwards.
 *
 * @throws {DatabaseUnavailableError} when PostgreSQL does not answer (the service is closed again).
 */
export function startDatabase(options: DatabaseOptions = {}): Promise<Database> {
  if (current) return Promise.resolve(current);
  starting ??= (async () => {
    const db = await createDatabase(options);
    try {
      await (db as DatabaseService).verify();
    } catch (error) {
      await db.close();
      throw error;
    }
    const { min, max } = db.poolStats();
    getLogger().info(
      { database: db.target, embedded: db.embedded, pool: { min, max } },
      'database service ready',
    );
    current = db;
    return db;
  })().finally(() => {
    starting = undefined;
  });
  return starting;
}

/**
 * The service made by {@link startDatabase}.
 *
 * @throws {PerfSidecarError} `PERF_NOT_STARTED` before it.
 */
export function getDatabase(): Database {
  if (current === undefined) {
    throw new PerfSidecarError(
      'PERF_NOT_STARTED',
      'the database service is not initialized; call startDatabase() first',
    );
  }
  return current;
}

/** Closes the service made by {@link startDatabase}, if any; {@link startDatabase} may run again. */
export async function stopDatabase(): Promise<void> {
  const db = current;
  current = undefined;
  await db?.close();
}

/** @deprecated Renamed {@link startDatabase}; this name goes in the next minor release. */
export const initializeDatabase: (options?: DatabaseOptions) => Promise<Database> = startDatabase;

/** @deprecated Renamed {@link stopDatabase}; this name goes in the next minor release. */
export const closeDatabase: () => Promise<void> = stopDatabase;
