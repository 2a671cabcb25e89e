/**
 * Statement execution and its bookkeeping: the span of each service call (`<operation> <table>`,
 * with the database attributes and, on failure, the SQLSTATE or error code), the statement on a
 * pooled connection (timing, counting, slow-query marking and alert, an optional EXPLAIN plan),
 * batches, and the untraced catalogue reads.
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
import type { PoolClient, QueryResult } from 'pg';
import { PerfSidecarError } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import { withTimeout } from '../shared/timeout.ts';
import { ATTR_CORRELATION_ID } from '../telemetry/semconv.ts';
import { type CheckedOperation, runBatch } from './batch.ts';
import type { Call, Connections, Counters } from './connections.ts';
import { BatchFailedError } from './errors.ts';
import { type DatabaseAlerts, ExplainLimiter } from './monitor.ts';
import type { DatabaseSettings } from './options.ts';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_PLAN,
  ATTR_DB_QUERY_PLAN_TRUNCATED,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_RETURNED_ROWS,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_ERROR_TYPE,
  ATTR_PERF_DB_SLOW,
  ATTR_PERF_DB_STATEMENT_HASH,
  EVENT_DB_QUERY_PLAN,
} from './semconv.ts';
import { excerpt, isExplainable, statementHash } from './sql.ts';
import type { BatchResult, CallOptions, Row } from './types.ts';
import { asError, errorText, type Scrubber, untraced } from './utils.ts';

/** What {@link Statements} is made of. */
export interface StatementsOptions {
  readonly settings: DatabaseSettings;
  readonly connections: Connections;
  readonly counters: Counters;
  readonly alerts: DatabaseAlerts;
  readonly scrub: Scrubber;
  /** Attributes of every span: the database system, namespace and server. */
  readonly attributes: Attributes;
}

/** See the module comment. */
export class Statements {
  readonly #options: StatementsOptions;
  readonly #settings: DatabaseSettings;
  readonly #explains: ExplainLimiter;
  #tracerOf: { readonly provider: TracerProvider; readonly tracer: Tracer } | undefined;

  constructor(options: StatementsOptions) {
    this.#options = options;
    this.#settings = options.settings;
    this.#explains = new ExplainLimiter(
      options.settings.explainIntervalSeconds,
      options.settings.explainMaxStatements,
    );
  }

  /** Runs a service call inside its span: `<operation> <table>`, with the database attributes. */
  call<T>(
    operation: string,
    table: string | undefined,
    options: CallOptions | undefined,
    extra: Attributes,
    fn: (call: Call) => Promise<T>,
  ): Promise<T> {
    const name = table === undefined ? operation : `${operation} ${table}`;
    const correlationId = options?.correlationId;
    const attributes: Attributes = {
      ...this.#options.attributes,
      [ATTR_DB_OPERATION_NAME]: operation,
      ...extra,
    };
    if (table !== undefined) attributes[ATTR_DB_COLLECTION_NAME] = table;
    if (correlationId !== undefined) attributes[ATTR_CORRELATION_ID] = correlationId;
    return this.#tracer().startActiveSpan(name, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      try {
        return await fn({ span, name, table, correlationId });
      } catch (error) {
        this.#options.scrub.error(error);
        this.#recordFailure(span, error);
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /** Runs one statement of a call on a pooled connection: timing, counting, slow-query handling. */
  async run(call: Call, text: string, values: readonly unknown[]): Promise<QueryResult<Row>> {
    call.span.setAttribute(ATTR_DB_QUERY_TEXT, excerpt(text, this.#settings.maxStatementLength));
    const connections = this.#options.connections;
    const client = await connections.checkout(call);
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
    this.#options.counters.statements++;
    // A server error leaves the connection usable; anything else (a lost socket) does not.
    const lost = result === undefined && connections.isConnectionLoss(client, failure);
    const connectionOk = !lost && (result !== undefined || connections.isServerError(failure));
    let broken: Error | undefined = connectionOk ? undefined : asError(failure);
    try {
      if (seconds > this.#settings.slowQuerySeconds) {
        const hash = this.#slow(call, text, seconds);
        if (connectionOk && this.#settings.explainSlow && isExplainable(text) && this.#explains.allow(hash)) {
          broken = await this.#explain(call.span, client, text, values);
        }
      }
    } finally {
      connections.release(client, broken);
    }
    if (result === undefined) {
      throw lost ? connections.unavailable(failure, 'the connection was lost') : failure;
    }
    call.span.setAttribute(ATTR_DB_RESPONSE_RETURNED_ROWS, result.rows.length);
    return result;
  }

  /** Runs checked operations in one transaction on one connection (see `batch.ts`). */
  async batch(call: Call, operations: readonly CheckedOperation[]): Promise<BatchResult[]> {
    const connections = this.#options.connections;
    const client = await connections.checkout(call);
    const started = performance.now();
    const outcome = await runBatch(client, operations, this.#settings.pipeline);
    const seconds = (performance.now() - started) / 1000;
    this.#options.counters.statements += operations.length + 2;
    // Only a server error is known to leave the connection usable; after anything else it is replaced.
    const lost = !outcome.ok && connections.isConnectionLoss(client, outcome.error);
    const broken = !outcome.ok && (lost || !connections.isServerError(outcome.error));
    connections.release(client, broken ? asError(outcome.error) : undefined);
    if (seconds > this.#settings.slowQuerySeconds) {
      const text = operations.map((o) => o.text).join(';\n');
      this.#slow(call, `-- batch of ${operations.length} statements\n${text}`, seconds);
    }
    if (!outcome.ok && lost) {
      // COMMIT may have reached the server before the connection went: the outcome is unknown.
      throw connections.unavailable(
        outcome.error,
        'the connection was lost during the batch (whether it committed is unknown)',
      );
    }
    if (!outcome.ok) {
      const label = outcome.index === undefined ? undefined : operations[outcome.index]?.label;
      throw new BatchFailedError(
        { index: outcome.index, label, count: operations.length },
        this.#options.scrub.text(errorText(outcome.error)),
        { cause: outcome.error },
      );
    }
    return outcome.results;
  }

  /** A catalogue statement: pooled, counted, untraced (it is not the caller's own statement). */
  async housekeeping(call: Call, text: string, values: unknown[]): Promise<readonly Row[]> {
    const connections = this.#options.connections;
    const client = await connections.checkout(call);
    let broken: Error | undefined;
    try {
      const result = await untraced(() => client.query<Row>({ text, values }));
      this.#options.counters.statements++;
      return result.rows;
    } catch (error) {
      const lost = connections.isConnectionLoss(client, error);
      if (lost || !connections.isServerError(error)) broken = asError(error);
      throw lost ? connections.unavailable(error, 'the connection was lost') : error;
    } finally {
      connections.release(client, broken);
    }
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
    if (this.#options.connections.isServerError(error) && typeof sqlState === 'string') {
      span.setAttribute(ATTR_DB_RESPONSE_STATUS_CODE, sqlState);
      span.setAttribute(ATTR_ERROR_TYPE, sqlState);
    } else {
      span.setAttribute(ATTR_ERROR_TYPE, error instanceof PerfSidecarError ? error.code : err.name);
    }
  }

  /**
   * Marks the span and raises `slow_query`: the statement text (never parameter values). Returns
   * the statement hash, computed only here: hashing every statement would cost more than the span.
   */
  #slow(call: Call, text: string, seconds: number): string {
    this.#options.counters.slowQueries++;
    const hash = statementHash(text);
    call.span.setAttribute(ATTR_PERF_DB_SLOW, true);
    call.span.setAttribute(ATTR_PERF_DB_STATEMENT_HASH, hash);
    const statement = excerpt(text, this.#settings.maxStatementLength);
    this.#options.alerts.slowQuery(call, statement, hash, seconds, this.#settings.slowQuerySeconds);
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
      this.#options.counters.statements++;
      this.#options.counters.explains++;
      const plan = JSON.stringify(result.rows[0]?.['QUERY PLAN'] ?? null);
      span.addEvent(EVENT_DB_QUERY_PLAN, {
        [ATTR_DB_QUERY_PLAN]: excerpt(plan, this.#settings.maxPlanLength),
        [ATTR_DB_QUERY_PLAN_TRUNCATED]: plan.length > this.#settings.maxPlanLength,
      });
      return undefined;
    } catch (error) {
      getLogger().debug(
        { err: this.#options.scrub.text(errorText(error)) },
        'EXPLAIN of a slow statement failed',
      );
      return this.#options.connections.isServerError(error) ? undefined : asError(error);
    }
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
