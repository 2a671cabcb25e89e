/**
 * Health of the database: `SELECT 1` with its latency (on a connection of its own when the pool is
 * exhausted), the pool figures, the server version and the embedded server's state; and the
 * start-up check that says in the log when the database is failing.
 */
import { getLogger } from '../shared/logger.ts';
import { withTimeout } from '../shared/timeout.ts';
import type { Connections, Counters, Pg } from './connections.ts';
import type { EmbeddedLaunch } from './embedded.ts';
import type { DatabaseSettings } from './options.ts';
import { poolConfig } from './pool.ts';
import type { Database, DatabaseHealth } from './types.ts';
import { asError, errorText, round, type Scrubber, untraced } from './utils.ts';

/** What {@link HealthCheck} is made of. */
export interface HealthCheckOptions {
  readonly pg: Pg;
  readonly settings: DatabaseSettings;
  readonly url: string;
  /** The server, password redacted. */
  readonly target: string;
  readonly server: EmbeddedLaunch | undefined;
  readonly connections: Connections;
  readonly counters: Counters;
  readonly scrub: Scrubber;
  /** Whether the service is closed (or closing). */
  readonly closed: () => boolean;
}

/** See the module comment. */
export class HealthCheck {
  readonly #options: HealthCheckOptions;
  #serverVersion: string | undefined;

  constructor(options: HealthCheckOptions) {
    this.#options = options;
    options.server?.ready.then(
      (version) => {
        this.#serverVersion = version;
      },
      () => undefined,
    );
  }

  /** See `Database.getHealthStatus`: never throws, never shows the password. */
  async status(): Promise<DatabaseHealth> {
    const { connections, server, settings, target } = this.#options;
    const embeddedServer = await server?.status();
    const ended = (): Omit<DatabaseHealth, 'status'> => {
      const pool = connections.stats();
      return {
        pool,
        connection_pool: pool,
        ...(this.#serverVersion === undefined ? {} : { serverVersion: this.#serverVersion }),
        target,
        embedded: server !== undefined,
        ...(embeddedServer === undefined ? {} : { embeddedServer }),
        checkedAt: new Date().toISOString(),
      };
    };
    if (this.#options.closed())
      return { status: 'fail', error: 'the database service is closed', ...ended() };
    if (embeddedServer?.state === 'starting') {
      // Calls made now wait for it (bounded): the service works, a little late.
      return { status: 'warn', warning: 'the embedded PostgreSQL is starting', ...ended() };
    }
    if (embeddedServer !== undefined && embeddedServer.state !== 'running') {
      const reason = `the embedded PostgreSQL is ${embeddedServer.state}${embeddedServer.error === undefined ? '' : `: ${embeddedServer.error}`}`;
      return { status: 'fail', error: reason, ...ended() };
    }
    const seconds = settings.healthTimeoutSeconds;
    try {
      // With every connection checked out, a pooled ping would queue behind the callers and time
      // out: it would report a working server as down. It asks on a connection of its own instead.
      const stats = connections.stats();
      const saturated = stats.idle === 0 && stats.total >= stats.max;
      const latencyMs = await withTimeout(
        untraced(() => (saturated ? this.#pingOutsidePool(seconds) : this.ping())),
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
      return { status: 'fail', error: this.#options.scrub.text(errorText(error)), ...ended() };
    }
  }

  /**
   * `SELECT 1` on a pooled connection (and `SHOW server_version` once). Returns the latency, ms.
   *
   * @throws {DatabaseUnavailableError} or `PoolExhaustedError` when it does not answer.
   */
  async ping(): Promise<number> {
    const { connections, counters } = this.#options;
    const started = performance.now();
    const client = await connections.checkout();
    let broken: Error | undefined;
    try {
      await client.query('SELECT 1');
      const latencyMs = performance.now() - started;
      counters.statements++;
      if (this.#serverVersion === undefined) {
        const version = await client.query<{ server_version: string }>('SHOW server_version');
        counters.statements++;
        this.#serverVersion = version.rows[0]?.server_version;
      }
      return latencyMs;
    } catch (error) {
      if (!connections.isServerError(error)) broken = asError(error);
      throw connections.unavailable(error);
    } finally {
      connections.release(client, broken);
    }
  }

  /**
   * `SELECT 1` on a connection opened for it and closed again, outside the pool (which is
   * exhausted). Returns the latency, ms.
   */
  async #pingOutsidePool(seconds: number): Promise<number> {
    const { pg, settings, url, connections, counters } = this.#options;
    const started = performance.now();
    const ms = Math.max(1, Math.round(seconds * 1000));
    const { min: _min, max: _max, idleTimeoutMillis: _idle, ...config } = poolConfig(settings, url);
    const client = new pg.Client({ ...config, connectionTimeoutMillis: ms, query_timeout: ms });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      counters.statements++;
      return performance.now() - started;
    } catch (error) {
      throw connections.unavailable(error);
    } finally {
      await client.end().catch(() => undefined);
    }
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
