/**
 * Settings: the options checked and merged over the configuration once, and the mapping of the
 * original design's SQLAlchemy pool settings onto pg's Pool.
 *
 * | SQLAlchemy      | pg Pool                                                    |
 * | --------------- | ---------------------------------------------------------- |
 * | `pool_size`     | `min` (kept open) ; `max` = pool_size + max_overflow       |
 * | `max_overflow`  | the part of `max` above `min`, closed after `idleTimeoutMillis` |
 * | `pool_timeout`  | `connectionTimeoutMillis` (never 0: pg would wait forever) |
 * | `pool_recycle`  | `maxLifetimeSeconds`                                       |
 * | `pool_pre_ping` | the service's own check of connections idle past a threshold |
 */
import type { PoolConfig } from 'pg';
import type { PerfSidecarConfig } from '../config.ts';
import { describeValue, InvalidArgumentError } from '../errors.ts';
import type { DatabaseOptions, EmbeddedPostgresOptions } from './types.ts';

/** Embedded PostgreSQL options, checked and resolved. */
export interface EmbeddedSettings {
  readonly dataDir: string | undefined;
  readonly maxConnections: number;
  readonly port: number;
  readonly startTimeoutMs: number;
}

/** The options, checked and resolved: what a service runs with. */
export interface DatabaseSettings {
  /** PostgreSQL URL, or `undefined` for the embedded server. */
  readonly url: string | undefined;
  readonly poolSize: number;
  readonly maxOverflow: number;
  readonly poolTimeoutSeconds: number;
  readonly poolRecycleSeconds: number;
  readonly prePingIdleSeconds: number;
  readonly overflowIdleSeconds: number;
  readonly slowQuerySeconds: number;
  readonly explainSlow: boolean;
  readonly explainIntervalSeconds: number;
  readonly explainMaxStatements: number;
  readonly explainTimeoutMs: number;
  readonly maxPlanLength: number;
  readonly defaultLimit: number;
  readonly maxLimit: number;
  readonly maxOffset: number;
  readonly maxBatchSize: number;
  readonly maxCachedTables: number;
  readonly catalogueTtlSeconds: number;
  readonly maxStatementLength: number;
  readonly healthTimeoutSeconds: number;
  readonly statementTimeoutSeconds: number | undefined;
  readonly pipeline: boolean;
  readonly applicationName: string;
  readonly embedded: EmbeddedSettings;
}

interface Range {
  readonly min: number;
  readonly max: number;
  /** Whole numbers only. */
  readonly integer?: boolean;
  /** `min` itself is not accepted. */
  readonly minExclusive?: boolean;
}

function numberOption(argument: string, value: unknown, fallback: number, range: Range): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (range.integer !== true || Number.isInteger(value)) &&
    (range.minExclusive === true ? value > range.min : value >= range.min) &&
    value <= range.max;
  if (ok) return value;
  const kind = range.integer === true ? 'an integer' : 'a number';
  const lower = range.minExclusive === true ? `greater than ${range.min}` : `from ${range.min}`;
  throw new InvalidArgumentError(
    argument,
    `is ${describeValue(value)}`,
    `${kind} ${lower}, at most ${range.max}`,
  );
}

function booleanOption(argument: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  throw new InvalidArgumentError(argument, `is ${describeValue(value)}`, 'true or false');
}

const APPLICATION_NAME = /^[\x20-\x7e]{1,63}$/;

/**
 * Checks the options and merges them over the configuration.
 *
 * @param url the URL already checked by the caller (`undefined`: embedded).
 * @throws {InvalidArgumentError} naming the first bad option and the accepted form.
 */
export function resolveSettings(
  options: DatabaseOptions,
  config: PerfSidecarConfig,
  url: string | undefined,
): DatabaseSettings {
  const db = config.db;
  const o = options;
  const poolSize = numberOption('options.poolSize', o.poolSize, db.poolSize, {
    min: 1,
    max: 1000,
    integer: true,
  });
  const maxOverflow = numberOption('options.maxOverflow', o.maxOverflow, db.maxOverflow, {
    min: 0,
    max: 1000,
    integer: true,
  });
  const poolMax = poolSize + maxOverflow;
  const maxLimit = numberOption('options.maxLimit', o.maxLimit, 1000, {
    min: 1,
    max: 100_000,
    integer: true,
  });
  const applicationName = o.applicationName ?? 'perf-sidecar';
  if (typeof applicationName !== 'string' || !APPLICATION_NAME.test(applicationName)) {
    throw new InvalidArgumentError(
      'options.applicationName',
      `is ${describeValue(applicationName)}`,
      '1 to 63 printable ASCII characters',
    );
  }
  return Object.freeze({
    url,
    poolSize,
    maxOverflow,
    poolTimeoutSeconds: numberOption(
      'options.poolTimeoutSeconds',
      o.poolTimeoutSeconds,
      db.poolTimeoutSeconds,
      {
        min: 0,
        max: 3600,
        minExclusive: true,
      },
    ),
    poolRecycleSeconds: numberOption(
      'options.poolRecycleSeconds',
      o.poolRecycleSeconds,
      db.poolRecycleSeconds,
      {
        min: 1,
        max: 604_800,
        integer: true,
      },
    ),
    prePingIdleSeconds: numberOption(
      'options.prePingIdleSeconds',
      o.prePingIdleSeconds,
      db.prePingIdleSeconds,
      {
        min: 0,
        max: 86_400,
      },
    ),
    overflowIdleSeconds: numberOption('options.overflowIdleSeconds', o.overflowIdleSeconds, 10, {
      min: 0,
      max: 86_400,
      minExclusive: true,
    }),
    slowQuerySeconds: numberOption('options.slowQuerySeconds', o.slowQuerySeconds, db.slowQuerySeconds, {
      min: 0,
      max: 86_400,
      minExclusive: true,
    }),
    explainSlow: booleanOption('options.explainSlow', o.explainSlow, db.explainSlow),
    explainIntervalSeconds: numberOption('options.explainIntervalSeconds', o.explainIntervalSeconds, 60, {
      min: 1,
      max: 86_400,
    }),
    explainMaxStatements: numberOption('options.explainMaxStatements', o.explainMaxStatements, 1000, {
      min: 1,
      max: 100_000,
      integer: true,
    }),
    explainTimeoutMs: numberOption('options.explainTimeoutMs', o.explainTimeoutMs, 2000, {
      min: 10,
      max: 60_000,
      integer: true,
    }),
    maxPlanLength: numberOption('options.maxPlanLength', o.maxPlanLength, 16_384, {
      min: 256,
      max: 1_000_000,
      integer: true,
    }),
    defaultLimit: numberOption('options.defaultLimit', o.defaultLimit, Math.min(100, maxLimit), {
      min: 1,
      max: maxLimit,
      integer: true,
    }),
    maxLimit,
    maxOffset: numberOption('options.maxOffset', o.maxOffset, 100_000, {
      min: 0,
      max: 10_000_000,
      integer: true,
    }),
    maxBatchSize: numberOption('options.maxBatchSize', o.maxBatchSize, 1000, {
      min: 1,
      max: 100_000,
      integer: true,
    }),
    maxCachedTables: numberOption('options.maxCachedTables', o.maxCachedTables, 256, {
      min: 1,
      max: 100_000,
      integer: true,
    }),
    catalogueTtlSeconds: numberOption('options.catalogueTtlSeconds', o.catalogueTtlSeconds, 300, {
      min: 0,
      max: 86_400,
    }),
    maxStatementLength: numberOption('options.maxStatementLength', o.maxStatementLength, 2048, {
      min: 64,
      max: 1_000_000,
      integer: true,
    }),
    healthTimeoutSeconds: numberOption('options.healthTimeoutSeconds', o.healthTimeoutSeconds, 5, {
      min: 0,
      max: 300,
      minExclusive: true,
    }),
    statementTimeoutSeconds:
      o.statementTimeoutSeconds === undefined
        ? undefined
        : numberOption('options.statementTimeoutSeconds', o.statementTimeoutSeconds, 0, {
            min: 0,
            max: 86_400,
            minExclusive: true,
          }),
    pipeline: booleanOption('options.pipeline', o.pipeline, true),
    applicationName,
    embedded: resolveEmbeddedOptions(o.embedded ?? {}, poolMax),
  });
}

/** Host, port and database named by a PostgreSQL URL (pg's defaults filled in). */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly database: string;
}

/** The endpoint of a URL; the database defaults to the user name, as in libpq, then `postgres`. */
export function endpointOf(url: string): Endpoint {
  const parsed = new URL(url);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(parsed.port || 5432),
    database:
      decodeURIComponent(parsed.pathname.replace(/^\//, '')) ||
      decodeURIComponent(parsed.username) ||
      'postgres',
  };
}

/**
 * Checks the embedded PostgreSQL options.
 *
 * @param defaultMaxConnections connection limit when none is given (the service passes its pool's
 *   `max`, so that the embedded server never refuses one of the pool's connections).
 * @throws {InvalidArgumentError} naming the bad option.
 */
export function resolveEmbeddedOptions(
  options: EmbeddedPostgresOptions,
  defaultMaxConnections: number,
): EmbeddedSettings {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      'options.embedded',
      `is ${describeValue(options)}`,
      'an object or undefined',
    );
  }
  const { dataDir } = options;
  if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir.length === 0)) {
    throw new InvalidArgumentError(
      'options.embedded.dataDir',
      `is ${describeValue(dataDir)}`,
      'a directory path',
    );
  }
  return Object.freeze({
    dataDir,
    maxConnections: numberOption(
      'options.embedded.maxConnections',
      options.maxConnections,
      defaultMaxConnections,
      {
        min: 1,
        max: 2000,
        integer: true,
      },
    ),
    port: numberOption('options.embedded.port', options.port, 0, { min: 0, max: 65_535, integer: true }),
    startTimeoutMs: numberOption('options.embedded.startTimeoutMs', options.startTimeoutMs, 60_000, {
      min: 1000,
      max: 600_000,
      integer: true,
    }),
  });
}

/**
 * The pool name of the OpenTelemetry conventions, `host:port/database`, as instrumentation-pg
 * derives it, so that both sets of pool metrics carry the same name.
 */
export function poolNameOf(endpoint: Endpoint): string {
  return `${endpoint.host}:${endpoint.port}/${endpoint.database}`;
}

/**
 * The pg Pool options for the settings (see the module comment for the mapping).
 *
 * Host, port and database are passed next to the connection string only so that
 * instrumentation-pg names the pool `host:port/database` instead of `unknown_host:...`; pg itself
 * takes them from the connection string.
 */
export function poolConfig(settings: DatabaseSettings, url: string): PoolConfig {
  const config: PoolConfig = {
    connectionString: url,
    ...endpointOf(url),
    min: settings.poolSize,
    max: settings.poolSize + settings.maxOverflow,
    idleTimeoutMillis: Math.max(1, Math.round(settings.overflowIdleSeconds * 1000)),
    connectionTimeoutMillis: Math.max(1, Math.round(settings.poolTimeoutSeconds * 1000)),
    maxLifetimeSeconds: settings.poolRecycleSeconds,
    application_name: settings.applicationName,
    pipeline: settings.pipeline,
  };
  if (settings.statementTimeoutSeconds !== undefined) {
    config.statement_timeout = Math.max(1, Math.round(settings.statementTimeoutSeconds * 1000));
  }
  return config;
}
