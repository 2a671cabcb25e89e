/**
 * The process-wide database service: `startDatabase()` once at start-up, then `getDatabase()`
 * anywhere. The one place in `src/db` that reads the configuration and the running telemetry:
 * `startDatabase` is an entry point, `createDatabase` takes everything as options.
 */
import type { PerfSidecarConfig } from '../config.ts';
import { getConfig } from '../config.ts';
import { PerfSidecarError } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import type { Telemetry } from '../telemetry/index.ts';
import type { DatabaseOptions } from './options.ts';
import { createDatabase, type DatabaseService } from './service.ts';
import type { Database } from './types.ts';

/** What {@link configuredDatabaseOptions} reads of a telemetry. */
export type DatabaseTelemetry = Pick<Telemetry, 'enabled' | 'alerts'> & {
  readonly config: { readonly serviceName: string };
};

/**
 * The options a configuration and a telemetry give a database service: the URL (`DATABASE_URL`;
 * none: the embedded PostgreSQL), the pool and query settings and the allow-lists (`DB_*`), and,
 * when the telemetry is given and monitoring is enabled, its alert sink and service name. What the
 * sidecar server and `startDatabase` pass to `createDatabase`.
 *
 * @param config the configuration (`getConfig()` in an entry point).
 * @param telemetry the telemetry whose alert sink and service name the alerts use.
 * @example
 * const telemetry = getTelemetry();
 * const db = await createDatabase({ ...configuredDatabaseOptions(telemetry.config, telemetry), poolSize: 5 });
 */
export function configuredDatabaseOptions(
  config: PerfSidecarConfig,
  telemetry?: DatabaseTelemetry,
): DatabaseOptions {
  return {
    ...(config.databaseUrl === undefined ? {} : { url: config.databaseUrl }),
    // The DB_* settings carry the options' own names (the variables are declared from the options).
    ...given(config.db),
    // A disabled telemetry's sink still writes: monitoring off must mean no alerts.
    ...(telemetry?.enabled ? { alerts: telemetry.alerts, serviceName: telemetry.config.serviceName } : {}),
  };
}

/**
 * `options` without the keys whose value is `undefined` (those the caller left out); anything but
 * an object as it is, for the options schema to refuse.
 */
function given(options: DatabaseOptions): DatabaseOptions {
  if (typeof options !== 'object' || options === null) return options;
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

let current: Database | undefined;
let starting: Promise<Database> | undefined;

/**
 * Creates the process-wide database service and checks that it answers `SELECT 1`, so that a wrong
 * URL stops start-up with a clear error. What `options` leave out comes from the configuration
 * (`DATABASE_URL`, `DB_*`) and, when a telemetry is started with monitoring enabled, its alert sink
 * and service name (see {@link configuredDatabaseOptions}); start telemetry first (the preload entry
 * does) for slow-query alerts. Idempotent: later calls return the same service and ignore their
 * options. {@link getDatabase} returns it afterwards.
 *
 * @throws {InvalidArgumentError} for a bad option.
 * @throws {ConfigError} when the environment is invalid.
 * @throws {DatabaseUnavailableError} when PostgreSQL does not answer (the service is closed again).
 */
export function startDatabase(options: DatabaseOptions = {}): Promise<Database> {
  if (current) return Promise.resolve(current);
  starting ??= (async () => {
    // Imported here, not at load: `perf-sidecar/db` alone must not load the telemetry SDK.
    const { runningTelemetry } = await import('../telemetry/internal.ts');
    const filled = configuredDatabaseOptions(getConfig(), runningTelemetry());
    const own = given(options);
    const db = await createDatabase(typeof own === 'object' && own !== null ? { ...filled, ...own } : own);
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
