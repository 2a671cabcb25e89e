/**
 * What the database service adds to instrumentation-pg: the pool wait-time histogram and timeout
 * counter, observable gauges of the pool, the EXPLAIN rate limiter and the alerts it raises
 * (`slow_query`, for slow statements and for an exhausted pool) through the sink it is given: it
 * never looks for a running telemetry of its own.
 *
 * Instruments are bound to the global meter provider lazily and re-bound when it changes: the
 * metrics API has no proxy provider, so instruments taken before `startTelemetry()` (or from a
 * provider that was shut down) would record nowhere.
 */
import {
  type Attributes,
  type Counter,
  type Histogram,
  type MeterProvider,
  metrics,
  type ObservableGauge,
  type ObservableResult,
  type Span,
} from '@opentelemetry/api';
import type { AlertInput } from '../alerts/index.ts';
import { alertTraceOf } from '../alerts/internal.ts';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import type { AlertEmitter } from '../telemetry/index.ts';
import type { PoolExhaustedError } from './errors.ts';
import {
  ALERT_ANNOTATION_STATEMENT,
  ALERT_LABEL_REASON,
  ALERT_LABEL_STATEMENT_HASH,
  ALERT_LABEL_TABLE,
  ALERT_REASON_POOL_EXHAUSTED,
  ATTR_DB_CLIENT_CONNECTION_POOL_NAME,
  ATTR_DB_CLIENT_CONNECTION_STATE,
  CONNECTION_STATE_IDLE,
  CONNECTION_STATE_USED,
  METRIC_DB_CLIENT_CONNECTION_TIMEOUTS,
  METRIC_DB_CLIENT_CONNECTION_WAIT_TIME,
  METRIC_PERF_DB_POOL_CONNECTIONS,
  METRIC_PERF_DB_POOL_WAITING,
} from './semconv.ts';
import type { PoolStats } from './types.ts';
import { round } from './utils.ts';

/** Bucket boundaries of the wait-time histogram, seconds: from an idle connection to a timeout. */
const WAIT_BOUNDARIES = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60];

interface Bound {
  readonly provider: MeterProvider;
  readonly waitTime: Histogram;
  readonly timeouts: Counter;
  readonly connections: ObservableGauge;
  readonly waiting: ObservableGauge;
}

/** Pool metrics of one service; see the module comment. */
export class PoolMetrics {
  readonly #stats: () => PoolStats;
  readonly #pool: Attributes;
  readonly #used: Attributes;
  readonly #idle: Attributes;
  #bound: Bound | undefined;
  #closed = false;

  constructor(poolName: string, stats: () => PoolStats) {
    this.#stats = stats;
    this.#pool = Object.freeze({ [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: poolName });
    this.#used = Object.freeze({ ...this.#pool, [ATTR_DB_CLIENT_CONNECTION_STATE]: CONNECTION_STATE_USED });
    this.#idle = Object.freeze({ ...this.#pool, [ATTR_DB_CLIENT_CONNECTION_STATE]: CONNECTION_STATE_IDLE });
    this.#bind();
  }

  /** Records how long a checkout waited, seconds. */
  recordWait(seconds: number): void {
    this.#bind()?.waitTime.record(seconds, this.#pool);
  }

  /** Counts a checkout that timed out. */
  countTimeout(): void {
    this.#bind()?.timeouts.add(1, this.#pool);
  }

  /** Stops observing the pool. */
  close(): void {
    this.#closed = true;
    this.#unbind();
  }

  #bind(): Bound | undefined {
    if (this.#closed) return undefined;
    const provider = metrics.getMeterProvider();
    if (this.#bound?.provider === provider) return this.#bound;
    this.#unbind();
    const meter = provider.getMeter(SCOPE_NAME, VERSION);
    const connections = meter.createObservableGauge(METRIC_PERF_DB_POOL_CONNECTIONS, {
      description: 'Connections of the database service pool, by state (used, idle)',
      unit: '{connection}',
    });
    const waiting = meter.createObservableGauge(METRIC_PERF_DB_POOL_WAITING, {
      description: 'Requests waiting for a connection of the database service pool',
      unit: '{request}',
    });
    connections.addCallback(this.#observeConnections);
    waiting.addCallback(this.#observeWaiting);
    this.#bound = {
      provider,
      waitTime: meter.createHistogram(METRIC_DB_CLIENT_CONNECTION_WAIT_TIME, {
        description: 'Time the database service waited for a pool connection',
        unit: 's',
        advice: { explicitBucketBoundaries: WAIT_BOUNDARIES },
      }),
      timeouts: meter.createCounter(METRIC_DB_CLIENT_CONNECTION_TIMEOUTS, {
        description: 'Pool checkouts that timed out because every connection was in use',
        unit: '{timeout}',
      }),
      connections,
      waiting,
    };
    return this.#bound;
  }

  #unbind(): void {
    this.#bound?.connections.removeCallback(this.#observeConnections);
    this.#bound?.waiting.removeCallback(this.#observeWaiting);
    this.#bound = undefined;
  }

  readonly #observeConnections = (result: ObservableResult): void => {
    const stats = this.#stats();
    result.observe(stats.inUse, this.#used);
    result.observe(stats.idle, this.#idle);
  };

  readonly #observeWaiting = (result: ObservableResult): void => {
    result.observe(this.#stats().waiting, this.#pool);
  };
}

/**
 * Allows at most one EXPLAIN per statement per interval. Remembers at most `maxStatements`
 * statements; the one explained longest ago is forgotten first.
 */
export class ExplainLimiter {
  readonly #intervalMs: number;
  readonly #maxStatements: number;
  readonly #last = new Map<string, number>();

  constructor(intervalSeconds: number, maxStatements: number) {
    this.#intervalMs = intervalSeconds * 1000;
    this.#maxStatements = maxStatements;
  }

  /** Whether the statement may be explained now; if so, the time is recorded. */
  allow(statementHash: string, nowMs: number = Date.now()): boolean {
    const last = this.#last.get(statementHash);
    if (last !== undefined && nowMs - last < this.#intervalMs) return false;
    // Re-inserting keeps the map in explain-time order, so the first key is the oldest.
    this.#last.delete(statementHash);
    this.#last.set(statementHash, nowMs);
    while (this.#last.size > this.#maxStatements) {
      const oldest = this.#last.keys().next();
      if (oldest.done) break;
      this.#last.delete(oldest.value);
    }
    return true;
  }

  /** Statements remembered now. */
  get size(): number {
    return this.#last.size;
  }
}

/** The service call an alert comes from. */
export interface AlertSource {
  /** The call's span (its trace goes into the alert), when there is one. */
  readonly span: Span | undefined;
  /** The span name, `getById users`: the alert's `operation` label. */
  readonly name: string;
  /** The table, when known: the alert's `table` label. */
  readonly table: string | undefined;
  /** The caller's correlation id. */
  readonly correlationId: string | undefined;
}

/**
 * The alerts of one service (`slow_query`, for slow statements and for an exhausted pool), raised
 * through the sink it was given: synchronous, never waits, never throws. Without a sink nothing is
 * raised.
 */
export class DatabaseAlerts {
  readonly #sink: AlertEmitter | undefined;
  readonly #service: string;

  /**
   * @param sink where alerts go (`undefined`: none are raised).
   * @param serviceName the `service` label.
   */
  constructor(sink: AlertEmitter | undefined, serviceName: string) {
    this.#sink = sink;
    this.#service = serviceName;
  }

  /**
   * Raises `slow_query` for a statement (or batch) slower than the threshold: labels `table` (when
   * known) and `statement_hash`, the annotation `statement` (text with placeholders, never values).
   *
   * @param statement the statement text, already cut to its length bound.
   */
  slowQuery(
    source: AlertSource,
    statement: string,
    statementHash: string,
    seconds: number,
    thresholdSeconds: number,
  ): void {
    const where = source.table === undefined ? '' : ` on table "${source.table}"`;
    this.#raise(source, {
      labels: {
        ...(source.table === undefined ? {} : { [ALERT_LABEL_TABLE]: source.table }),
        [ALERT_LABEL_STATEMENT_HASH]: statementHash,
      },
      annotations: { [ALERT_ANNOTATION_STATEMENT]: statement },
      value: round(seconds, 6),
      threshold: thresholdSeconds,
      unit: 's',
      summary: `Query${where} took ${seconds.toFixed(3)} s, over the ${thresholdSeconds} s slow-query threshold (${source.name}).`,
    });
  }

  /** Raises the `slow_query`-class alert of an exhausted pool (label `reason: pool_exhausted`). */
  poolExhausted(source: AlertSource, error: PoolExhaustedError, waitedSeconds: number): void {
    this.#raise(source, {
      labels: { [ALERT_LABEL_REASON]: ALERT_REASON_POOL_EXHAUSTED },
      value: round(waitedSeconds, 6),
      threshold: error.pool.timeoutSeconds,
      unit: 's',
      summary: `Database pool exhausted: ${error.message}`,
    });
  }

  #raise(source: AlertSource, input: Omit<AlertInput, 'service' | 'operation' | 'type'>): void {
    if (this.#sink === undefined) return;
    const trace = source.span && alertTraceOf(source.span.spanContext());
    try {
      this.#sink.emit({
        type: 'slow_query',
        service: this.#service,
        operation: source.name,
        ...input,
        ...(trace ? { trace } : {}),
        ...(source.correlationId === undefined ? {} : { correlationId: source.correlationId }),
      });
    } catch (error) {
      // A sink passed in may break its contract; the statement it reports on must not fail for it.
      getLogger().warn({ err: errorText(error) }, 'the database alert sink threw; the alert is lost');
    }
  }
}
