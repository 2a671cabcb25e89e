/**
 * Options of the database service and of the embedded PostgreSQL: one zod schema each, the one
 * place where an option's documentation, type, default and bounds are written. `DatabaseOptions`
 * is the schema's input type; the settings a service runs with are its output plus the two values
 * that depend on other options (`defaultLimit`, `embedded.maxConnections`), derived in
 * {@link resolveDatabaseSettings}.
 *
 * A leaf module, so that `src/config.ts` can build the `DB_*` variables from these fields
 * (`poolSize`, `maxOverflow`, ...): it loads zod and small helpers, and only types from the telemetry.
 * Per-call arguments (ids, filters, each lookup's options) are checked by hand in `arguments.ts`:
 * a schema parse on every call would cost more than the check.
 */
import { z } from 'zod';
import {
  accepts,
  decimal,
  flag,
  integer,
  matching,
  parseOptions,
  serviceName,
  withMethods,
} from '../shared/options.ts';
import type { AlertEmitter } from '../telemetry/index.ts';
import { describeIdentifier, isPlainIdentifier, MAX_IDENTIFIER_LENGTH } from './identifiers.ts';
import { databaseUrlOption } from './url.ts';

/** Most names in one allow-list. */
const MAX_NAMES = 1000;
/** `getByFilter` limit when neither `defaultLimit` is given nor `maxLimit` is smaller. */
const DEFAULT_LIMIT = 100;
/** Largest threshold in seconds (one day), as for operation targets and `DB_SLOW_QUERY_SECONDS`. */
const DAY_SECONDS = 86_400;

const PLAIN_NAME_FORM = `1 to ${MAX_IDENTIFIER_LENGTH} ASCII letters, digits or underscores, not starting with a digit`;

/** A custom issue whose problem text names the value as an identifier (escaped, never raw). */
function nameIssue(value: string, problem: string, expected: string): z.core.$ZodRawIssue {
  return {
    code: 'custom',
    input: value,
    message: problem,
    params: { problem: `${describeIdentifier(value)} ${problem}`, expected },
  };
}

/** One schema of `allowedSchemas`: a plain identifier. */
const schemaName = accepts(
  z.string().check((ctx) => {
    if (!isPlainIdentifier(ctx.value)) {
      ctx.issues.push(nameIssue(ctx.value, 'is not a plain schema name', PLAIN_NAME_FORM));
    }
  }),
  PLAIN_NAME_FORM,
);

/** One table of `allowedTables`: `schema.table`, both plain identifiers. */
const qualifiedTableName = accepts(
  z.string().check((ctx) => {
    const parts = ctx.value.split('.');
    if (parts.length === 2 && parts.every(isPlainIdentifier)) return;
    const problem = isPlainIdentifier(ctx.value) ? 'is not schema-qualified' : 'is not a plain table name';
    ctx.issues.push(nameIssue(ctx.value, problem, 'a schema.table name'));
  }),
  'a schema.table name',
);

/**
 * The alert sink, duck-typed. `withMethods` types what it accepts as `unknown`; the option's type
 * is the sink's own, so that a caller's mistake shows at compile time too.
 */
const alertSink = withMethods<AlertEmitter>(
  ['emit'],
  'an object with emit(input), such as getTelemetry().alerts',
) as z.ZodType<AlertEmitter, AlertEmitter>;

/** An allow-list: 1 to {@link MAX_NAMES} names, frozen once parsed. */
function nameList(name: z.ZodType<string, string>, what: string) {
  return accepts(z.array(name).min(1).max(MAX_NAMES), `an array of 1 to ${MAX_NAMES} ${what}`).readonly();
}

/**
 * The fields of {@link embeddedPostgresOptionsSchema}. A constant of its own, named in the schema's
 * type, so that the declaration files keep each field's comment (an inferred schema type would not).
 */
export const embeddedPostgresOptionFields = {
  /**
   * Where PGlite keeps its files. Default: in memory (the data is gone when the process ends).
   * A directory path persists it.
   */
  dataDir: accepts(z.string().min(1), 'a directory path').optional(),
  /**
   * Connections the socket server accepts at once. Default: the pool's `max` (size + overflow) plus
   * one for the health check when the service starts it, 100 from `startEmbeddedPostgres()`.
   */
  maxConnections: integer(1, 2000).optional(),
  /** Loopback port. Default 0 (a free port). */
  port: integer(0, 65_535).default(0),
  /** Longest start-up, ms (PGlite compiles its WebAssembly first). Default 60000. */
  startTimeoutMs: integer(1000, 600_000, 'ms').default(60_000),
};

/** Options of the embedded PostgreSQL (PGlite on a loopback port). */
export const embeddedPostgresOptionsSchema: z.ZodObject<typeof embeddedPostgresOptionFields, z.core.$strict> =
  accepts(z.strictObject(embeddedPostgresOptionFields), 'an object or undefined');

/**
 * The fields of {@link databaseOptionsSchema}: a constant of its own for the same reason as
 * {@link embeddedPostgresOptionFields}.
 */
export const databaseOptionFields = {
  /**
   * PostgreSQL URL. Default: none, and an embedded PostgreSQL (PGlite) is started on a loopback
   * port and stopped by `close()`. Never echoed in errors (it may hold a password).
   */
  url: databaseUrlOption.optional(),
  /**
   * Where `slow_query` alerts go (slow statements, an exhausted pool): any object with a
   * synchronous `emit(input)` that never throws, such as `getTelemetry().alerts`. Default: none,
   * and no alert is raised (spans, metrics and counters still record everything).
   */
  alerts: alertSink.optional(),
  /** The `service` label of its alerts. Default `unknown_service:node`, as OpenTelemetry names a nameless service. */
  serviceName: serviceName().default('unknown_service:node'),
  /** Connections kept open (pg `min`). Default 20 (`DB_POOL_SIZE`). */
  poolSize: integer(1, 1000).default(20),
  /** Connections allowed above `poolSize` (pg `max` = size + overflow). Default 30 (`DB_MAX_OVERFLOW`). */
  maxOverflow: integer(0, 1000).default(30),
  /**
   * Longest wait for a connection, seconds (pg `connectionTimeoutMillis`; it also bounds opening a
   * new connection). Default 30 (`DB_POOL_TIMEOUT`). Never 0, which would wait forever.
   */
  poolTimeoutSeconds: decimal(0, 3600, { unit: 'seconds', minExclusive: true }).default(30),
  /** Connection lifetime, whole seconds (pg `maxLifetimeSeconds`). Default 3600 (`DB_POOL_RECYCLE`). */
  poolRecycleSeconds: integer(1, 604_800, 'seconds').default(3600),
  /**
   * A connection idle longer than this many whole seconds is validated with `SELECT 1` before use,
   * and replaced when dead. Default 30 (`DB_PRE_PING_IDLE_SECONDS`); 0 validates on every checkout.
   */
  prePingIdleSeconds: integer(0, DAY_SECONDS, 'seconds').default(30),
  /**
   * Idle time after which a connection above `poolSize` (an overflow connection) is closed, seconds
   * (pg `idleTimeoutMillis`). Default 10.
   */
  overflowIdleSeconds: decimal(0, DAY_SECONDS, { unit: 'seconds', minExclusive: true }).default(10),
  /** Statements slower than this raise `slow_query`, seconds. Default 2 (`DB_SLOW_QUERY_SECONDS`). */
  slowQuerySeconds: decimal(0, DAY_SECONDS, { unit: 'seconds', minExclusive: true }).default(2),
  /** Attach EXPLAIN plans of slow statements to their spans. Default false (`DB_EXPLAIN_SLOW`). */
  explainSlow: flag().default(false),
  /** At most one EXPLAIN per statement text per this many seconds. Default 60. */
  explainIntervalSeconds: decimal(1, DAY_SECONDS, { unit: 'seconds' }).default(60),
  /** Statement texts the EXPLAIN rate limiter remembers (oldest forgotten first). Default 1000. */
  explainMaxStatements: integer(1, 100_000).default(1000),
  /** Longest an EXPLAIN may take before it is abandoned, ms. Default 2000. */
  explainTimeoutMs: integer(10, 60_000, 'ms').default(2000),
  /** Longest plan (JSON characters) put on a span event; longer plans are cut. Default 16384. */
  maxPlanLength: integer(256, 1_000_000).default(16_384),
  /** `getByFilter` limit when none is given, at most `maxLimit`. Default 100 (`maxLimit` when smaller). */
  defaultLimit: integer(1, 100_000).optional(),
  /** Largest `getByFilter` limit; larger ones are capped to it. Default 1000. */
  maxLimit: integer(1, 100_000).default(1000),
  /** Largest `getByFilter` offset (deep offsets scan and drop rows). Default 100000. */
  maxOffset: integer(0, 10_000_000).default(100_000),
  /** Most operations in one `executeBatch`. Default 1000. */
  maxBatchSize: integer(1, 100_000).default(1000),
  /** Tables whose columns are cached. Default 256. */
  maxCachedTables: integer(1, 100_000).default(256),
  /** How long cached columns are trusted, seconds (added columns appear after it). Default 300. */
  catalogueTtlSeconds: decimal(0, DAY_SECONDS, { unit: 'seconds' }).default(300),
  /** Longest statement text (characters) put in spans and alerts; longer ones are cut. Default 2048. */
  maxStatementLength: integer(64, 1_000_000).default(2048),
  /**
   * Longest `close()` waits for checked-out connections to come back, seconds; after it the pool is
   * left to end on its own and the embedded server (if any) is stopped anyway. Default 10.
   */
  closeTimeoutSeconds: decimal(0, 3600, { unit: 'seconds', minExclusive: true }).default(10),
  /** Longest `getHealthStatus()` waits for `SELECT 1`, seconds. Default 5. */
  healthTimeoutSeconds: decimal(0, 300, { unit: 'seconds', minExclusive: true }).default(5),
  /**
   * Server-side `statement_timeout` of every pooled connection, seconds. Default: unset (the
   * server's setting).
   */
  statementTimeoutSeconds: decimal(0, DAY_SECONDS, { unit: 'seconds', minExclusive: true }).optional(),
  /**
   * Open pool connections in pg's pipeline mode, so that a batch is sent in one write instead of a
   * round trip per statement. Default true. Pipeline mode refuses pg-cursor, pg-query-stream and the
   * `rows` query option on these connections.
   */
  pipeline: flag().default(true),
  /** `application_name` of the connections (visible in `pg_stat_activity`). Default `perf-sidecar`. */
  applicationName: matching(/^[\x20-\x7e]{1,63}$/, '1 to 63 printable ASCII characters').default(
    'perf-sidecar',
  ),
  /**
   * Schemas `getById` / `getByFilter` may read, matched exactly. Default (`DB_ALLOWED_SCHEMAS`
   * unset): every schema but the system ones (`pg_catalog`, `information_schema`, `pg_toast`,
   * `pg_temp_*`, any `pg_*`), which are refused unless listed here or in `allowedTables`.
   * `query()` is not restricted: its SQL is the app's own.
   */
  allowedSchemas: nameList(schemaName, 'schema names').optional(),
  /**
   * `schema.table` names `getById` / `getByFilter` may read, besides the tables of
   * `allowedSchemas`; when given without `allowedSchemas`, only these. Default: none
   * (`DB_ALLOWED_TABLES`).
   */
  allowedTables: nameList(qualifiedTableName, 'schema.table names').optional(),
  /** Embedded PostgreSQL options, used only when there is no URL. */
  embedded: embeddedPostgresOptionsSchema.prefault({}),
};

/**
 * Options of `createDatabase` and `startDatabase`. Everything is optional and every bound is
 * finite. `createDatabase` reads nothing else: `startDatabase` fills the URL, the pool and query
 * settings and the allow-lists from the configuration (`DATABASE_URL`, `DB_*`), and the alert sink
 * from the running telemetry.
 */
export const databaseOptionsSchema: z.ZodObject<typeof databaseOptionFields, z.core.$strict> = z
  .strictObject(databaseOptionFields)
  .check((ctx) => {
    const { defaultLimit, maxLimit } = ctx.value;
    if (defaultLimit !== undefined && defaultLimit > maxLimit) {
      ctx.issues.push({
        code: 'custom',
        input: defaultLimit,
        path: ['defaultLimit'],
        message: 'defaultLimit is above maxLimit',
        params: { expected: `an integer from 1 to ${maxLimit} (maxLimit)` },
      });
    }
  });

/** Options of `createDatabase` and `startDatabase` (see {@link databaseOptionsSchema}). */
export type DatabaseOptions = Readonly<z.input<typeof databaseOptionsSchema>>;

/** Options of the embedded PostgreSQL (see {@link embeddedPostgresOptionsSchema}). */
export type EmbeddedPostgresOptions = Readonly<z.input<typeof embeddedPostgresOptionsSchema>>;

/** Embedded PostgreSQL options, checked and resolved. */
export type EmbeddedSettings = Readonly<
  Omit<z.output<typeof embeddedPostgresOptionsSchema>, 'maxConnections'> & { maxConnections: number }
>;

/** The options, checked and resolved: what a service runs with. `url` undefined: embedded. */
export type DatabaseSettings = Readonly<
  Omit<z.output<typeof databaseOptionsSchema>, 'defaultLimit' | 'embedded'> & {
    defaultLimit: number;
    embedded: EmbeddedSettings;
  }
>;

/**
 * Checks the options of `createDatabase` and fills the defaults.
 *
 * @throws {InvalidArgumentError} naming the first bad option and the accepted form (never the URL).
 */
export function resolveDatabaseSettings(options: unknown): DatabaseSettings {
  const parsed = parseOptions(databaseOptionsSchema, options, { what: 'a database option' });
  const { poolSize, maxOverflow, maxLimit, embedded } = parsed;
  return Object.freeze({
    ...parsed,
    defaultLimit: parsed.defaultLimit ?? Math.min(DEFAULT_LIMIT, maxLimit),
    // One above the pool's max: the health check opens its own connection when the pool is exhausted.
    embedded: Object.freeze({
      ...embedded,
      maxConnections: embedded.maxConnections ?? poolSize + maxOverflow + 1,
    }),
  });
}

/**
 * Checks the options of `startEmbeddedPostgres` and fills the defaults.
 *
 * @param defaultMaxConnections connection limit when none is given.
 * @throws {InvalidArgumentError} naming the first bad option.
 */
export function resolveEmbeddedSettings(options: unknown, defaultMaxConnections: number): EmbeddedSettings {
  const parsed = parseOptions(embeddedPostgresOptionsSchema, options, {
    what: 'an embedded PostgreSQL option',
  });
  return Object.freeze({ ...parsed, maxConnections: parsed.maxConnections ?? defaultMaxConnections });
}
