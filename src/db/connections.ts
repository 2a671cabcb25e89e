/**
 * The service's connections: the pg pool and its listeners, checkouts (waiting for an embedded
 * server that is still starting, pre-ping of connections idle past the threshold, the wait-time
 * metric), hand-backs that never return a broken connection or one inside a transaction, and the
 * errors of a checkout or a lost connection (pool exhaustion with its alert, unavailability).
 */
import type { Span } from '@opentelemetry/api';
import type pg from 'pg';
import type { Pool, PoolClient } from 'pg';
import { getLogger } from '../shared/logger.ts';
import { withTimeout } from '../shared/timeout.ts';
import type { EmbeddedLaunch } from './embedded.ts';
import { DatabaseUnavailableError, PoolExhaustedError } from './errors.ts';
import { type AlertSource, type DatabaseAlerts, PoolMetrics } from './monitor.ts';
import type { DatabaseSettings } from './options.ts';
import { endpointOf, poolConfig, poolNameOf } from './pool.ts';
import { ATTR_PERF_DB_POOL_WAIT_SECONDS } from './semconv.ts';
import type { DatabaseStats, PoolStats } from './types.ts';
import { asError, errorText, type Scrubber, untraced } from './utils.ts';

/** The pg module, loaded lazily by `createDatabase`. */
export type Pg = typeof pg;

/** Checkouts tried when pre-ping finds dead connections, before giving up. */
const CHECKOUT_ATTEMPTS = 3;
/** pg-pool's message when a checkout waited `connectionTimeoutMillis` with every connection in use. */
const POOL_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';
/** pg-pool's message when opening a new connection took longer than `connectionTimeoutMillis`. */
const CONNECT_TIMEOUT_MESSAGE = 'Connection terminated due to connection timeout';

/** The service's counters, shared by its collaborators (see `DatabaseStats`). */
export type Counters = { -readonly [K in Exclude<keyof DatabaseStats, 'cachedTables'>]: number };

/** Counters at zero. */
export function newCounters(): Counters {
  return { statements: 0, slowQueries: 0, poolTimeouts: 0, prePings: 0, prePingFailures: 0, explains: 0 };
}

/** One service call in progress: its span and what alerts need to know. */
export interface Call extends AlertSource {
  readonly span: Span;
}

/** What a pool-exhaustion alert names when the health check (no call, no span) hit it. */
const HEALTH_CHECK: AlertSource = {
  span: undefined,
  name: 'getHealthStatus',
  table: undefined,
  correlationId: undefined,
};

/** What {@link Connections} is made of. */
export interface ConnectionsOptions {
  readonly pg: Pg;
  readonly settings: DatabaseSettings;
  readonly url: string;
  /** The server, password redacted. */
  readonly target: string;
  /** The embedded server, when the service started one. */
  readonly server: EmbeddedLaunch | undefined;
  readonly counters: Counters;
  readonly alerts: DatabaseAlerts;
  readonly scrub: Scrubber;
  /** Requests waiting outside the pool's own queue (lookups sharing a catalogue read). */
  readonly alsoWaiting: () => number;
}

/** See the module comment. */
export class Connections {
  readonly pool: Pool;
  readonly #pg: Pg;
  readonly #settings: DatabaseSettings;
  readonly #target: string;
  readonly #server: EmbeddedLaunch | undefined;
  #serverReady = false;
  readonly #counters: Counters;
  readonly #alerts: DatabaseAlerts;
  readonly #scrub: Scrubber;
  readonly #alsoWaiting: () => number;
  readonly #metrics: PoolMetrics;
  /** Connections that emitted 'error' or 'end': the server or the network dropped them. */
  readonly #lost = new WeakSet<PoolClient>();
  /** When each pooled connection was last released, for pre-ping. */
  readonly #idleSince = new WeakMap<PoolClient, number>();

  constructor(options: ConnectionsOptions) {
    this.#pg = options.pg;
    this.#settings = options.settings;
    this.#target = options.target;
    this.#server = options.server;
    this.#counters = options.counters;
    this.#alerts = options.alerts;
    this.#scrub = options.scrub;
    this.#alsoWaiting = options.alsoWaiting;
    this.#server?.ready.then(
      () => {
        this.#serverReady = true;
      },
      () => undefined,
    );
    this.pool = new options.pg.Pool(poolConfig(options.settings, options.url));
    // Without a listener, an idle connection's error (the server restarting) would crash the process.
    this.pool.on('error', (error) => {
      getLogger().warn(
        { database: this.#target, err: this.#scrub.text(errorText(error)) },
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
          { database: this.#target, err: this.#scrub.text(errorText(error)) },
          'database connection lost',
        );
      });
      client.on('end', () => this.#lost.add(client));
    });
    this.#metrics = new PoolMetrics(poolNameOf(endpointOf(options.url)), () => this.stats());
  }

  /** Pool figures now. */
  stats(): PoolStats {
    const total = this.pool.totalCount;
    const idle = this.pool.idleCount;
    return {
      total,
      idle,
      inUse: total - idle,
      waiting: this.pool.waitingCount + this.#alsoWaiting(),
      max: this.#settings.poolSize + this.#settings.maxOverflow,
      min: this.#settings.poolSize,
    };
  }

  /** Whether an error came from the server (the connection is still usable after it). */
  isServerError(error: unknown): boolean {
    return error instanceof this.#pg.DatabaseError;
  }

  /**
   * A pooled connection, validated first when it sat idle past the pre-ping threshold. Records the
   * wait. Timeouts become {@link PoolExhaustedError} (plus an alert), connection failures
   * {@link DatabaseUnavailableError}.
   */
  async checkout(call?: Call): Promise<PoolClient> {
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
            this.#target,
            `pre-ping failed: ${this.#scrub.text(errorText(error))}`,
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
  release(client: PoolClient, error?: Error): void {
    const status = client.getTransactionStatus();
    if (error === undefined && status !== null && status !== 'I') {
      client.release(new Error(`connection left in transaction state ${status}`));
      return;
    }
    this.#idleSince.set(client, Date.now());
    client.release(error);
  }

  /**
   * Whether a statement failed because the connection is gone (the server shut down or crashed,
   * the socket broke) rather than because of the statement: then it must not be reused, and the
   * caller gets {@link DatabaseUnavailableError} instead of the driver's error.
   */
  isConnectionLoss(client: PoolClient, error: unknown): boolean {
    if (this.#lost.has(client)) return true;
    const code = (error as { code?: unknown } | undefined)?.code;
    if (typeof code !== 'string') return false;
    // SQLSTATE classes 08 (connection exception) and 57P (operator intervention: admin/crash
    // shutdown, cannot connect now), and the socket errors of a dropped connection.
    return /^(08|57P0[1-3])/.test(code) || /^E(CONNRESET|PIPE|CONNREFUSED|TIMEDOUT)$/.test(code);
  }

  /** A {@link DatabaseUnavailableError} for `error`, prefixed with what happened when given. */
  unavailable(error: unknown, what?: string): DatabaseUnavailableError {
    const reason = this.#scrub.text(errorText(error));
    return new DatabaseUnavailableError(this.#target, what === undefined ? reason : `${what}: ${reason}`, {
      cause: this.#scrub.error(error),
    });
  }

  /**
   * Stops the pool metrics and ends the pool, waiting at most `closeTimeoutSeconds` for checked-out
   * connections; past it the pool is left to end on its own.
   */
  async close(): Promise<void> {
    this.#metrics.close();
    try {
      await withTimeout(
        this.pool.end(),
        this.#settings.closeTimeoutSeconds * 1000,
        'closing the database pool',
      );
    } catch (error) {
      getLogger().warn(
        { database: this.#target, err: errorText(error) },
        'database pool did not close cleanly',
      );
    }
  }

  #checkoutError(error: unknown, waitedSeconds: number, call: Call | undefined): Error {
    const message = errorText(error);
    if (message === POOL_TIMEOUT_MESSAGE) {
      const stats = this.stats();
      const exhausted = new PoolExhaustedError({
        poolSize: this.#settings.poolSize,
        maxOverflow: this.#settings.maxOverflow,
        inUse: stats.inUse,
        waiting: stats.waiting,
        timeoutSeconds: this.#settings.poolTimeoutSeconds,
      });
      this.#counters.poolTimeouts++;
      this.#metrics.countTimeout();
      this.#alerts.poolExhausted(call ?? HEALTH_CHECK, exhausted, waitedSeconds);
      return exhausted;
    }
    if (message === CONNECT_TIMEOUT_MESSAGE) {
      const reason = `no connection could be opened within the ${this.#settings.poolTimeoutSeconds} s pool timeout`;
      return new DatabaseUnavailableError(this.#target, reason, { cause: this.#scrub.error(error) });
    }
    return this.unavailable(error);
  }
}
