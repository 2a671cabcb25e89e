/**
 * The monitored database service: a pg pool set up from SQLAlchemy-style settings, lookups
 * whose identifiers are checked against the catalogue, batches in one transaction, health, and the
 * monitoring instrumentation-pg lacks (a span per call, pool wait time, pool gauges, slow-query
 * alerts with optional EXPLAIN plans, pool-exhaustion errors and alerts).
 *
 * This file is the facade: {@link createDatabase} and the `Database` implementation, which wires
 * and delegates to its collaborators: `Connections` (pool, checkouts), `Statements` (spans,
 * statements, alerts, EXPLAIN), `Lookups`, `Queries` (the app's own SQL) and `HealthCheck`.
 *
 * `pg` is imported lazily, inside {@link createDatabase}: a module loaded by the preload entry before
 * the ESM hooks are acknowledged must not load it, or the host's pg would not be instrumented.
 */
import type { Pool } from 'pg';
import { PerfSidecarError } from '../shared/errors.ts';
import { importPeer } from '../shared/peers.ts';
import { redactUrl } from '../shared/urls.ts';
import { TableAccess } from './access.ts';
import { TableCatalogue } from './catalogue.ts';
import { Connections, type Counters, newCounters, type Pg } from './connections.ts';
import { type EmbeddedLaunch, launchEmbeddedPostgres } from './embedded.ts';
import { DatabaseClosedError, EmbeddedPostgresError } from './errors.ts';
import { HealthCheck } from './health.ts';
import { Lookups } from './lookups.ts';
import { DatabaseAlerts } from './monitor.ts';
import { type DatabaseOptions, type DatabaseSettings, resolveDatabaseSettings } from './options.ts';
import { endpointOf, serverAttributesOf } from './pool.ts';
import { Queries } from './queries.ts';
import { Statements } from './statements.ts';
import type {
  BatchOperation,
  BatchResult,
  CallOptions,
  Database,
  DatabaseHealth,
  DatabaseStats,
  FilterValue,
  GetByFilterOptions,
  GetByIdOptions,
  PoolStats,
  QueryOptions,
  Row,
  StatementResult,
} from './types.ts';
import { errorText, scrubberFor, untraced } from './utils.ts';

/** See the module comment. Made by {@link createDatabase}. */
export class DatabaseService implements Database {
  readonly pool: Pool;
  readonly target: string;
  readonly embedded: boolean;
  readonly #server: EmbeddedLaunch | undefined;
  readonly #counters: Counters = newCounters();
  readonly #catalogue: TableCatalogue;
  readonly #connections: Connections;
  readonly #lookups: Lookups;
  readonly #queries: Queries;
  readonly #health: HealthCheck;
  #closing: Promise<void> | undefined;

  constructor(pg: Pg, settings: DatabaseSettings, url: string, server: EmbeddedLaunch | undefined) {
    this.#server = server;
    this.embedded = server !== undefined;
    const target = redactUrl(url);
    this.target = target;
    const counters = this.#counters;
    const scrub = scrubberFor(url);
    const alerts = new DatabaseAlerts(settings.alerts, settings.serviceName);
    const catalogue = new TableCatalogue({
      maxTables: settings.maxCachedTables,
      ttlMs: settings.catalogueTtlSeconds * 1000,
    });
    this.#catalogue = catalogue;
    // Lookups sharing a cold catalogue read wait for its one checkout: they are waiting too.
    const alsoWaiting = () => catalogue.waiting;
    const connections = new Connections({
      pg,
      settings,
      url,
      target,
      server,
      counters,
      alerts,
      scrub,
      alsoWaiting,
    });
    this.#connections = connections;
    this.pool = connections.pool;
    const attributes = serverAttributesOf(endpointOf(url));
    const statements = new Statements({ settings, connections, counters, alerts, scrub, attributes });
    this.#lookups = new Lookups(statements, settings, new TableAccess(settings), catalogue);
    this.#queries = new Queries(statements, settings.maxBatchSize);
    const closed = () => this.#closing !== undefined;
    this.#health = new HealthCheck({
      pg,
      settings,
      url,
      target,
      server,
      connections,
      counters,
      scrub,
      closed,
    });
  }

  async getById<R extends Row = Row>(
    table: string,
    id: string | number | bigint,
    options?: GetByIdOptions,
  ): Promise<R | undefined> {
    this.#assertOpen('getById');
    return this.#lookups.getById<R>(table, id, options);
  }

  async getByFilter<R extends Row = Row>(
    table: string,
    filters?: Readonly<Record<string, FilterValue>>,
    options?: GetByFilterOptions,
  ): Promise<R[]> {
    this.#assertOpen('getByFilter');
    return this.#lookups.getByFilter<R>(table, filters, options);
  }

  async query<R extends Row = Row>(
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<StatementResult<R>> {
    this.#assertOpen('query');
    return this.#queries.query<R>(text, params, options);
  }

  async executeBatch(operations: readonly BatchOperation[], options?: CallOptions): Promise<BatchResult[]> {
    this.#assertOpen('executeBatch');
    return this.#queries.executeBatch(operations, options);
  }

  getHealthStatus(): Promise<DatabaseHealth> {
    return this.#health.status();
  }

  poolStats(): PoolStats {
    return this.#connections.stats();
  }

  stats(): DatabaseStats {
    return { ...this.#counters, cachedTables: this.#catalogue.size };
  }

  clearCatalogue(): void {
    this.#catalogue.clear();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#connections.close();
      await this.#server?.stop();
    })();
    return this.#closing;
  }

  /**
   * Checks that a statement runs: one checkout and `SELECT 1`.
   *
   * @throws {DatabaseUnavailableError} or `PoolExhaustedError` when it does not.
   */
  async verify(): Promise<void> {
    await untraced(() => this.#health.ping());
  }

  #assertOpen(method: string): void {
    if (this.#closing) throw new DatabaseClosedError(method);
  }
}

/**
 * Creates a database service from its options alone: it reads neither the configuration nor a
 * running telemetry. Without `options.url` an embedded PostgreSQL (PGlite) is started on a
 * loopback port in a child process (and stopped by `close()`). No connection is opened until the
 * first call; use `startDatabase` for the process-wide service, filled from the configuration and
 * checked at start.
 *
 * @param options see {@link DatabaseOptions}; alerts are raised only through `options.alerts`.
 * @throws {InvalidArgumentError} for a bad option (the URL is never echoed).
 * @throws {EmbeddedPostgresError} when the embedded PostgreSQL's process cannot be started. It
 *   starts in the background, in a child process: `createDatabase()` returns before it is up, calls
 *   wait for it, and a start-up failure rejects them with this error.
 * @example
 * const db = await createDatabase({ url: process.env.DATABASE_URL, poolSize: 5, alerts: getTelemetry().alerts });
 * const user = await db.getById('users', 42, { correlationId: 'req-1' });
 * await db.close();
 */
export async function createDatabase(options: DatabaseOptions = {}): Promise<Database> {
  const settings = resolveDatabaseSettings(options);
  const { default: pgModule } = await importPeer('pg', () => import('pg'));
  if (settings.url !== undefined) return new DatabaseService(pgModule, settings, settings.url, undefined);
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
