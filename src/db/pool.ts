/**
 * Settings: the options checked and merged over the configuration once, and the mapping of the
 * SQLAlchemy-style pool settings (DB_POOL_SIZE, ...) onto pg's Pool.
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
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import { checkNameList } from './access.ts';
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
  readonly closeTimeoutSeconds: number;
  readonly statementTimeoutSeconds: number | undefined;
  readonly pipeline: boolean;
  readonly applicationName: string;
  readonly allowedSchemas: readonly string[] | undefined;
  readonly allowedTables: readonly string[] | undefined;
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

/** Whole numbers from `min` to `max`. */
const whole = (min: number, max: number): Range => ({ min, max, integer: true });
/** Numbers greater than 0, at most `max`. */
const positive = (max: number): Range => ({ min: 0, max, minExclusive: true });

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

type NumberOptionName = {
  [K in keyof DatabaseOptions]-?: NonNullable<DatabaseOptions[K]> extends number ? K : never;
}[keyof DatabaseOptions];

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
  const number = (name: NumberOptionName, fallback: number, range: Range) =>
    numberOption(`options.${name}`, options[name], fallback, range);
  const poolSize = number('poolSize', db.poolSize, whole(1, 1000));
  const maxOverflow = number('maxOverflow', db.maxOverflow, whole(0, 1000));
  const maxLimit = number('maxLimit', 1000, whole(1, 100_000));
  const applicationName = options.applicationName ?? 'perf-sidecar';
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
    poolTimeoutSeconds: number('poolTimeoutSeconds', db.poolTimeoutSeconds, positive(3600)),
    poolRecycleSeconds: number('poolRecycleSeconds', db.poolRecycleSeconds, whole(1, 604_800)),
    prePingIdleSeconds: number('prePingIdleSeconds', db.prePingIdleSeconds, { min: 0, max: 86_400 }),
    overflowIdleSeconds: number('overflowIdleSeconds', 10, positive(86_400)),
    slowQuerySeconds: number('slowQuerySeconds', db.slowQuerySeconds, positive(86_400)),
    explainSlow: booleanOption('options.explainSlow', options.explainSlow, db.explainSlow),
    explainIntervalSeconds: number('explainIntervalSeconds', 60, { min: 1, max: 86_400 }),
    explainMaxStatements: number('explainMaxStatements', 1000, whole(1, 100_000)),
    explainTimeoutMs: number('explainTimeoutMs', 2000, whole(10, 60_000)),
    maxPlanLength: number('maxPlanLength', 16_384, whole(256, 1_000_000)),
    defaultLimit: number('defaultLimit', Math.min(100, maxLimit), whole(1, maxLimit)),
    maxLimit,
    maxOffset: number('maxOffset', 100_000, whole(0, 10_000_000)),
    maxBatchSize: number('maxBatchSize', 1000, whole(1, 100_000)),
    maxCachedTables: number('maxCachedTables', 256, whole(1, 100_000)),
    catalogueTtlSeconds: number('catalogueTtlSeconds', 300, { min: 0, max: 86_400 }),
    maxStatementLength: number('maxStatementLength', 2048, whole(64, 1_000_000)),
    healthTimeoutSeconds: number('healthTimeoutSeconds', 5, positive(300)),
    closeTimeoutSeconds: number('closeTimeoutSeconds', 10, positive(3600)),
    statementTimeoutSeconds:
      options.statementTimeoutSeconds === undefined
        ? undefined
        : number('statementTimeoutSeconds', 0, positive(86_400)),
    pipeline: booleanOption('options.pipeline', options.pipeline, true),
    applicationName,
    allowedSchemas:
      checkNameList('options.allowedSchemas', options.allowedSchemas, 'schema') ?? db.allowedSchemas,
    allowedTables: checkNameList('options.allowedTables', options.allowedTables, 'table') ?? db.allowedTables,
    // One above the pool's max: the health check opens its own connection when the pool is exhausted.
    embedded: resolveEmbeddedOptions(options.embedded ?? {}, poolSize + maxOverflow + 1),
  });
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
  const number = (name: 'maxConnections' | 'port' | 'startTimeoutMs', fallback: number, range: Range) =>
    numberOption(`options.embedded.${name}`, options[name], fallback, range);
  return Object.freeze({
    dataDir,
    maxConnections: number('maxConnections', defaultMaxConnections, whole(1, 2000)),
    port: number('port', 0, whole(0, 65_535)),
    startTimeoutMs: number('startTimeoutMs', 60_000, whole(1000, 600_000)),
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
