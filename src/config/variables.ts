/**
 * Every environment variable perf-sidecar reads, once: its name, how its text is read (which also
 * gives its accepted form), the value it has when unset, and what it is for. The table is shaped
 * like the configuration object, so the configuration's type, its defaults, the error messages and
 * the documentation table all come from here.
 */

import { cacheOptionsSchema } from '../cache/options.ts';
import { databaseOptionFields as db } from '../db/options.ts';
import { DATABASE_URL_FORM, databaseUrlText } from '../db/url.ts';
import {
  performanceOptionsSchema,
  SERVER_SPAN_SOURCES,
  type ServerSpanSource,
} from '../http/middleware/options.ts';
import { LOG_LEVELS, type LogLevel } from '../shared/logger.ts';
import { accepts, decimal, defaultOf, integer } from '../shared/options.ts';
import { LINK_BASE_URL_FORM, linkBaseUrlText, redisUrlText } from '../shared/urls.ts';
import {
  DEFAULT_OBJECTIVE,
  DEFAULT_PERIOD_DAYS,
  MAX_PERIOD_DAYS,
  MIN_PERIOD_DAYS,
  OBJECTIVE_FORM,
  objectiveValueSchema,
} from '../slo/objectives.ts';
import { INGEST_SETTINGS } from './ingest.ts';
import { OTEL_RESOLVED_VARIABLES, SDK_VARIABLES } from './otel.ts';
import {
  absolutePathsText,
  booleanText,
  decimalText,
  nameListText,
  oneOfText,
  patternText,
  targetsText,
  wholeNumberText,
} from './text.ts';
import { optionVariable, variable } from './variable.ts';

export { FORWARD_PROTOCOLS, type ForwardProtocol } from './ingest.ts';
export { OTLP_PROTOCOLS, type OtlpProtocol } from './otel.ts';
export type { Variable } from './variable.ts';

/** Default operation targets in seconds, the built-in table. `PERF_TARGETS` merges over it. */
export const DEFAULT_TARGETS: Readonly<Record<string, number>> = Object.freeze({
  simple_query: 2,
  ai_operation: 30,
  document_ocr: 120,
  layout_generation: 30,
  validation: 5,
});

/** Most paths `DISK_PATHS` may list (each is one `statfs` per sample and two gauge series). */
export const MAX_DISK_PATHS = 8;

const middleware = performanceOptionsSchema.shape;
const serviceNameForm = '1 to 128 letters, digits, spaces or _ . : / -';

/**
 * The variables that map one to one onto a configuration field, shaped like the configuration.
 * (The OTLP variables are resolved together into `otlp`: see {@link OTLP_VARIABLES}.)
 */
export const SETTINGS = {
  /** `REDIS_URL` */
  redisUrl: variable(
    'REDIS_URL',
    accepts(redisUrlText, 'redis://[user:password@]host:6379[/db] or rediss://…', true),
    undefined as string | undefined,
    'Redis for alert lists, summary rollups and startCache() without arguments; unset: alerts in a bounded in-process list, cache in memory only.',
    { shown: 'unset (memory-only mode)', secret: true },
  ),
  /** `REDIS_CLUSTER` */
  redisCluster: variable(
    'REDIS_CLUSTER',
    booleanText,
    false,
    'REDIS_URL is one node of a Redis Cluster (the others are discovered); ALERT_KEY_PREFIX must then hold a hash tag, such as {perf}:, so that every telemetry key shares one slot.',
  ),
  /** `DATABASE_URL`, normalised to the `postgresql://` scheme */
  databaseUrl: variable(
    'DATABASE_URL',
    accepts(databaseUrlText, DATABASE_URL_FORM, true),
    undefined as string | undefined,
    'PostgreSQL of the database service (startDatabase(), the sidecar); unset runs an embedded PGlite on loopback.',
    { shown: 'unset (embedded PostgreSQL)', secret: true },
  ),
  /** Connection-pool and query settings of the database service (`DB_*`). */
  db: {
    /** `DB_POOL_SIZE` */
    poolSize: optionVariable('DB_POOL_SIZE', wholeNumberText, db.poolSize, 'Connections kept warm.'),
    /** `DB_MAX_OVERFLOW` */
    maxOverflow: optionVariable(
      'DB_MAX_OVERFLOW',
      wholeNumberText,
      db.maxOverflow,
      'Extra connections above the pool size under load.',
    ),
    /** `DB_POOL_TIMEOUT` */
    poolTimeoutSeconds: optionVariable(
      'DB_POOL_TIMEOUT',
      decimalText,
      db.poolTimeoutSeconds,
      'Seconds to wait for a free connection.',
    ),
    /** `DB_POOL_RECYCLE` */
    poolRecycleSeconds: optionVariable(
      'DB_POOL_RECYCLE',
      wholeNumberText,
      db.poolRecycleSeconds,
      'Seconds after which a connection is closed and replaced.',
    ),
    /** `DB_PRE_PING_IDLE_SECONDS` */
    prePingIdleSeconds: optionVariable(
      'DB_PRE_PING_IDLE_SECONDS',
      (value) => wholeNumberText(value, '0 validates on every checkout'),
      db.prePingIdleSeconds,
      'A connection idle longer than this is validated with SELECT 1 before it is handed out.',
    ),
    /** `DB_SLOW_QUERY_SECONDS` */
    slowQuerySeconds: optionVariable(
      'DB_SLOW_QUERY_SECONDS',
      decimalText,
      db.slowQuerySeconds,
      'A database service statement slower than this raises slow_query.',
    ),
    /** `DB_EXPLAIN_SLOW` */
    explainSlow: variable(
      'DB_EXPLAIN_SLOW',
      booleanText,
      defaultOf(db.explainSlow) as boolean,
      'Attach the EXPLAIN (FORMAT JSON) plan of a slow statement to its span, at most once a minute per statement.',
    ),
    /** `DB_ALLOWED_SCHEMAS` */
    allowedSchemas: variable(
      'DB_ALLOWED_SCHEMAS',
      nameListText(
        /^[A-Za-z_][A-Za-z0-9_]{0,62}$/,
        'a schema name',
        'comma-separated schema names, for example public,app',
      ),
      undefined as readonly string[] | undefined,
      'Schemas getById/getByFilter may read; unset: every schema but the system ones.',
      { shown: 'unset (every schema but the system ones)' },
    ),
    /** `DB_ALLOWED_TABLES` */
    allowedTables: variable(
      'DB_ALLOWED_TABLES',
      nameListText(
        /^[A-Za-z_][A-Za-z0-9_]{0,62}\.[A-Za-z_][A-Za-z0-9_]{0,62}$/,
        'a schema.table name',
        'comma-separated schema.table names, for example app.users,pg_catalog.pg_settings',
      ),
      undefined as readonly string[] | undefined,
      'schema.table names getById/getByFilter may read besides DB_ALLOWED_SCHEMAS; set alone, only these.',
      { shown: 'unset' },
    ),
  },
  /** `ENABLE_PERFORMANCE_MONITORING` */
  monitoringEnabled: variable(
    'ENABLE_PERFORMANCE_MONITORING',
    booleanText,
    true,
    'false turns every API into a no-op that still runs the wrapped code.',
  ),
  /** `SLOW_REQUEST_THRESHOLD` */
  slowRequestThresholdSeconds: optionVariable(
    'SLOW_REQUEST_THRESHOLD',
    decimalText,
    middleware.slowRequestThreshold,
    'Seconds after which an HTTP request raises slow_request (and its request log line is written at info).',
    5,
  ),
  /** `PERF_HTTP_SERVER_SPANS` */
  httpServerSpans: variable(
    'PERF_HTTP_SERVER_SPANS',
    oneOfText(SERVER_SPAN_SOURCES),
    'instrumentation' as ServerSpanSource,
    "Who makes the HTTP server spans and http.server.request.duration: instrumentation-http (named by the Hono middleware), or the Hono middleware itself with instrumentation-http's incoming side off (cheaper; requests that reach no performance middleware get no span).",
  ),
  /** `MEMORY_ALERT_THRESHOLD` */
  memoryAlertThresholdMb: optionVariable(
    'MEMORY_ALERT_THRESHOLD',
    decimalText,
    middleware.memoryAlertThreshold,
    'Resident set size in MiB that raises high_memory.',
    500,
  ),
  /** `CPU_ALERT_THRESHOLD` */
  cpuAlertThresholdPercent: optionVariable(
    'CPU_ALERT_THRESHOLD',
    (value) => decimalText(value, '100 per core'),
    middleware.cpuAlertThreshold,
    'Process CPU percent that, sustained, raises high_cpu.',
    80,
  ),
  /** `CPU_ALERT_SAMPLES` */
  cpuAlertSamples: variable(
    'CPU_ALERT_SAMPLES',
    wholeNumberText(integer(1, 3600)),
    5,
    'Consecutive one-second samples over CPU_ALERT_THRESHOLD before high_cpu.',
  ),
  /** Disk usage sampling (the working directory's filesystem plus `paths`). */
  disk: {
    /** `DISK_PATHS` */
    paths: variable(
      'DISK_PATHS',
      absolutePathsText(MAX_DISK_PATHS),
      [] as readonly string[],
      'Extra absolute paths whose filesystems are sampled for disk usage, next to the working directory.',
      { shown: 'unset (the working directory only)' },
    ),
    /** `DISK_ALERT_THRESHOLD` */
    alertThresholdPercent: variable(
      'DISK_ALERT_THRESHOLD',
      decimalText(decimal(0, 100, { what: 'a percentage', minExclusive: true })),
      90,
      'Used percent of a sampled filesystem over which the health check warns.',
    ),
  },
  /** Performance summary history. */
  summary: {
    /** `PERF_SUMMARY_MEMORY_HOURS` */
    memoryHours: variable(
      'PERF_SUMMARY_MEMORY_HOURS',
      wholeNumberText(integer(1, 720)),
      24,
      'Hours of per-minute history kept in process memory.',
    ),
    /** `PERF_SUMMARY_MAX_POINTS` */
    maxPoints: variable(
      'PERF_SUMMARY_MAX_POINTS',
      wholeNumberText(integer(1000, 10_000_000)),
      200_000,
      'Most (minute, series) entries kept in memory and queued for Redis; the oldest minutes are dropped past it.',
    ),
    /** `PERF_ROLLUP_RETENTION_DAYS` */
    rollupRetentionDays: variable(
      'PERF_ROLLUP_RETENTION_DAYS',
      wholeNumberText(integer(1, 366)),
      31,
      'Days the Redis rollup hashes (metrics:*, metrics_by_*, user_metrics:*) live after their last write.',
    ),
    /** `PERF_MAX_USER_SERIES` */
    maxUserSeries: variable(
      'PERF_MAX_USER_SERIES',
      wholeNumberText(integer(1, 1_000_000)),
      10_000,
      'Most (user, operation, outcome) series kept for per-user reports; later users report as _other.',
    ),
  },
  /** `PERF_API_TOKEN` */
  apiToken: variable(
    'PERF_API_TOKEN',
    patternText(
      /^(?=.{16,512}$)[A-Za-z0-9._~+/-]+=*$/,
      'is not 16 to 512 bearer-token characters',
      '16 to 512 characters of A-Z a-z 0-9 - . _ ~ + / (then optional = padding): an RFC 6750 bearer token',
    ),
    undefined as string | undefined,
    'When set, /api/system/* and /metrics require Authorization: Bearer <token>.',
    { shown: 'unset (no auth)', secret: true },
  ),
  /** `PERF_JAEGER_URL`, without trailing slashes */
  jaegerUrl: variable(
    'PERF_JAEGER_URL',
    accepts(linkBaseUrlText, LINK_BASE_URL_FORM),
    undefined as string | undefined,
    "Base URL of the Jaeger UI, for the dashboard's links from an alert to its trace (this URL, then /trace/ and the trace id).",
    { shown: 'unset (alerts are not linked to traces)' },
  ),
  /** `PERF_TARGETS` merged over {@link DEFAULT_TARGETS} */
  targets: variable(
    'PERF_TARGETS',
    targetsText(DEFAULT_TARGETS),
    DEFAULT_TARGETS,
    'Targets merged over the built-in table: operation name (or kind) to seconds.',
    { shown: '{}' },
  ),
  /** `PERF_MAX_OPERATIONS` */
  maxOperations: variable(
    'PERF_MAX_OPERATIONS',
    wholeNumberText(integer(1, 100_000)),
    1000,
    'Distinct operation names with their own series; later names are reported as _other.',
  ),
  /** Alert delivery. */
  alerts: {
    /** `ALERT_LIST_MAX` */
    listMax: variable(
      'ALERT_LIST_MAX',
      wholeNumberText(integer(1, 1_000_000)),
      1000,
      'Length each alert list is trimmed to (newest kept).',
    ),
    /** `ALERT_REPEAT_SECONDS` */
    repeatSeconds: variable(
      'ALERT_REPEAT_SECONDS',
      wholeNumberText(integer(0, 86_400, 'seconds'), '0 writes every alert'),
      60,
      'One record per alert fingerprint per window; repeats are counted into it.',
    ),
    /** `ALERT_KEY_PREFIX` */
    keyPrefix: variable(
      'ALERT_KEY_PREFIX',
      patternText(
        /^[A-Za-z0-9:_.{}-]{0,64}$/,
        'has characters other than letters, digits and : _ . { } -',
        'up to 64 letters, digits or : _ . { } -',
        false,
      ),
      '',
      'Prefix of the alert list names.',
      { shown: 'empty' },
    ),
    /** `PERF_ALERT_EACH_BREACH` */
    eachBreach: variable(
      'PERF_ALERT_EACH_BREACH',
      booleanText,
      true,
      'Raise a target_exceeded alert for every span over its target; false leaves paging to the burn-rate alerts.',
    ),
    /** `ALERT_BUFFER_MAX` */
    bufferMax: variable(
      'ALERT_BUFFER_MAX',
      wholeNumberText(integer(1, 1_000_000)),
      10_000,
      'Alert records waiting for Redis, while it is away or behind the alerts raised; the oldest are dropped (and counted) past it.',
    ),
  },
  /** `REDIS_COMMAND_TIMEOUT_MS` */
  redisCommandTimeoutMs: variable(
    'REDIS_COMMAND_TIMEOUT_MS',
    wholeNumberText(integer(10, 60_000, 'milliseconds')),
    1000,
    'Longest any perf-sidecar Redis command may take before it fails.',
  ),
  /** `CACHE_REDIS_COMMAND_TIMEOUT_MS` */
  cacheRedisCommandTimeoutMs: optionVariable(
    'CACHE_REDIS_COMMAND_TIMEOUT_MS',
    wholeNumberText,
    cacheOptionsSchema.shape.redisCommandTimeoutMs,
    'Longest a cache Redis command may take (startCache() without arguments); the most a hung Redis adds to a cache call.',
  ),
  /** The sidecar's HTTP listener. */
  server: {
    /** `PORT` */
    port: variable(
      'PORT',
      wholeNumberText(integer(0, 65_535), '0 picks a free port'),
      8000,
      'Sidecar HTTP port.',
    ),
    /** `HOST`: loopback by default, the sidecar's endpoints are not meant for the open network */
    host: variable(
      'HOST',
      patternText(
        /^[A-Za-z0-9.:_-]{1,253}$/,
        'is not a host name or IP address',
        'a host name or IP address',
      ),
      '127.0.0.1',
      'Sidecar HTTP listen address.',
    ),
    /** `SHUTDOWN_TIMEOUT_MS` */
    shutdownTimeoutMs: variable(
      'SHUTDOWN_TIMEOUT_MS',
      wholeNumberText(integer(100, 600_000, 'milliseconds')),
      10_000,
      'Longest the sidecar process (npm start) spends shutting down on a signal; past it, it exits 1.',
    ),
  },
  /** `OTEL_SERVICE_NAME`; unset: the resource decides (see `startTelemetry`) */
  serviceName: variable(
    'OTEL_SERVICE_NAME',
    patternText(/^[\p{L}\p{N}_.:/ -]{1,128}$/u, `is not ${serviceNameForm}`, serviceNameForm),
    undefined as string | undefined,
    'service.name of spans, metrics and alerts (wins over OTEL_RESOURCE_ATTRIBUTES).',
    { shown: 'unset (host: package.json name, else unknown_service:node; sidecar: perf-sidecar)' },
  ),
  /** The OTLP receivers, target rules and forwarding (`src/ingest`). */
  ingest: INGEST_SETTINGS,
  /** The OpenTelemetry SDK's own variables, read as every OpenTelemetry SDK reads them. */
  sdk: SDK_VARIABLES,
  /** Error budgets and burn-rate alerts. */
  slo: {
    /** `PERF_SLO_OBJECTIVE` */
    objective: variable(
      'PERF_SLO_OBJECTIVE',
      decimalText(accepts(objectiveValueSchema, OBJECTIVE_FORM)),
      DEFAULT_OBJECTIVE,
      'Default objective: the share of runs of an operation that must be good (within target, and without error).',
    ),
    /** `PERF_SLO_PERIOD_DAYS` */
    periodDays: variable(
      'PERF_SLO_PERIOD_DAYS',
      wholeNumberText(integer(MIN_PERIOD_DAYS, MAX_PERIOD_DAYS, 'days')),
      DEFAULT_PERIOD_DAYS,
      'Default period the error budget is counted over, days.',
    ),
    /** `PERF_SLO_ERRORS` */
    errors: variable(
      'PERF_SLO_ERRORS',
      booleanText,
      true,
      'Whether a run that failed within its target is a bad run (false: only runs over target are).',
    ),
    /** `PERF_SLO_MIN_RUNS` */
    minRuns: variable(
      'PERF_SLO_MIN_RUNS',
      wholeNumberText(integer(1, 1_000_000)),
      10,
      'Fewest runs the long window of a burn-rate rule needs before it may fire (low traffic never pages on one slow run).',
    ),
    /** `PERF_SLO_BURN_RATE` */
    burnRate: variable(
      'PERF_SLO_BURN_RATE',
      oneOfText(['dynamic', 'static'] as const, true),
      'dynamic' as 'dynamic' | 'static',
      "Burn thresholds: dynamic (Pyrra's, scaled by the window's traffic) or static (the SRE workbook's).",
    ),
    /** `PERF_SLO_MAX_OPERATIONS` */
    maxOperations: variable(
      'PERF_SLO_MAX_OPERATIONS',
      wholeNumberText(integer(1, 100_000)),
      2000,
      'Most operations (over all services) with an error budget; about 15 KiB of memory each.',
    ),
    /** `PERF_SLO_LEASE_SECONDS` */
    leaseSeconds: variable(
      'PERF_SLO_LEASE_SECONDS',
      wholeNumberText(integer(75, 3600, 'seconds')),
      90,
      'How long the burn-rate evaluator lease lasts in Redis without renewal (more than the minute between evaluations): the longest an instance that died holds it.',
    ),
  },
  /** `LOG_LEVEL` */
  logLevel: variable(
    'LOG_LEVEL',
    oneOfText(LOG_LEVELS),
    'info' as LogLevel,
    "Level of perf-sidecar's own log lines (pino, JSON on stdout).",
  ),
};

/** Variables resolved together into another field (`maxMetricOperations`, `otlp`, `sdk.spanLimits`). */
export const RESOLVED_VARIABLES = {
  maxMetricOperations: variable(
    'PERF_MAX_METRIC_OPERATIONS',
    wholeNumberText(integer(1, 100_000), 'at most PERF_MAX_OPERATIONS is used'),
    100,
    'Of the operations with their own series, how many get their own /metrics series; later ones export as _other.',
  ),
  ...OTEL_RESOLVED_VARIABLES,
};
