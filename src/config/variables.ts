/**
 * Every environment variable perf-sidecar reads, once: its name, how its text is read (which also
 * gives its accepted form), the value it has when unset, and what it is for. The table is shaped
 * like the configuration object, so the configuration's type, its defaults, the error messages and
 * the documentation table all come from here.
 */

import type { z } from 'zod';
import { cacheOptionsSchema } from '../cache/options.ts';
import { databaseOptionFields as db } from '../db/options.ts';
import { DATABASE_URL_FORM, databaseUrlText } from '../db/url.ts';
import { performanceOptionsSchema } from '../http/middleware/options.ts';
import { LOG_LEVELS, type LogLevel } from '../shared/logger.ts';
import { accepts, decimal, defaultOf, expectedOf, integer, unwrapped } from '../shared/options.ts';
import { redisUrlText, secretUrl } from '../shared/urls.ts';
import {
  absolutePathsText,
  booleanText,
  decimalText,
  headersText,
  listOfText,
  nameListText,
  oneOfText,
  patternText,
  type TextSchema,
  targetsText,
  wholeNumberText,
} from './text.ts';

/** Default operation targets in seconds, the built-in table. `PERF_TARGETS` merges over it. */
export const DEFAULT_TARGETS: Readonly<Record<string, number>> = Object.freeze({
  simple_query: 2,
  ai_operation: 30,
  document_ocr: 120,
  layout_generation: 30,
  validation: 5,
});

/** OTLP transports accepted by `OTEL_EXPORTER_OTLP_PROTOCOL`. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
/** An OTLP transport. */
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** Span exporters accepted by `OTEL_TRACES_EXPORTER` (a comma-separated list). */
export const TRACES_EXPORTERS = ['otlp', 'console', 'none'] as const;
/** Metric exporters accepted by `OTEL_METRICS_EXPORTER`; `prometheus` is the always-on `/metrics`. */
export const METRICS_EXPORTERS = ['otlp', 'console', 'prometheus', 'none'] as const;

/** Propagators accepted by `OTEL_PROPAGATORS` (a comma-separated list). */
export const PROPAGATORS = ['tracecontext', 'baggage', 'b3', 'b3multi', 'none'] as const;
/** A propagator named by `OTEL_PROPAGATORS`. */
export type PropagatorName = Exclude<(typeof PROPAGATORS)[number], 'none'>;
/** Samplers accepted by `OTEL_TRACES_SAMPLER`. */
export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
/** A sampler named by `OTEL_TRACES_SAMPLER`. */
export type SamplerName = (typeof SAMPLERS)[number];
/** Levels accepted by `OTEL_LOG_LEVEL` (the OpenTelemetry SDK's diagnostics), in any case. */
export const SDK_LOG_LEVELS = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'] as const;
/** A level of the OpenTelemetry SDK's diagnostics. */
export type SdkLogLevel = (typeof SDK_LOG_LEVELS)[number];

/** Most paths `DISK_PATHS` may list (each is one `statfs` per sample and two gauge series). */
export const MAX_DISK_PATHS = 8;

/** One environment variable. */
export interface Variable<T> {
  /** Its name. */
  readonly name: string;
  /** Reads its (present, non-empty) text; carries the accepted form. */
  readonly schema: TextSchema<T>;
  /** Its value when unset or empty. */
  readonly fallback: T;
  /** The default as the documentation shows it. */
  readonly default: string;
  /** The accepted form. */
  readonly expected: string;
  /** Whether its value may hold a secret (never echoed, never logged). */
  readonly secret: boolean;
  /** What it is for, in one line. */
  readonly description: string;
}

interface Extra {
  /** The default as shown, when the value alone does not say it (`unset (...)`). */
  readonly shown?: string;
  readonly secret?: boolean;
}

function variable<T>(
  name: string,
  schema: TextSchema<T>,
  fallback: T,
  description: string,
  extra: Extra = {},
): Variable<T> {
  return {
    name,
    schema,
    fallback,
    default: extra.shown ?? String(fallback),
    expected: expectedOf(schema) ?? 'a valid value',
    secret: extra.secret ?? false,
    description,
  };
}

/**
 * A variable that is the default of a part's option: the option's schema gives the bounds, the
 * accepted form and (unless the variable is where the default lives) the default, so the two
 * cannot disagree.
 *
 * @param text builds the text parser from the option's value schema.
 */
function optionVariable(
  name: string,
  text: (value: z.ZodNumber) => TextSchema<number>,
  option: z.ZodType,
  description: string,
  fallback = defaultOf(option),
): Variable<number> {
  if (typeof fallback !== 'number')
    throw new Error(`${name}: neither it nor its option has a numeric default`);
  return variable(name, text(unwrapped(option) as z.ZodNumber), fallback, description);
}

/** One of the OpenTelemetry span-limit variables: a whole number, unset leaving the SDK's default. */
function limitVariable(name: string, description: string): Variable<number | undefined> {
  return variable(
    name,
    wholeNumberText(integer(0, 1_000_000)),
    undefined as number | undefined,
    description,
    {
      shown: 'unset',
    },
  );
}

const middleware = performanceOptionsSchema.shape;
const otlpEndpointText = secretUrl((p) => p === 'http:' || p === 'https:', 'token');
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
    'Seconds after which an HTTP request raises slow_request.',
    5,
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
      'Days the Redis rollup hashes (metrics:*, user_metrics:*) live after their last write.',
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
    /** `ALERT_BUFFER_MAX` */
    bufferMax: variable(
      'ALERT_BUFFER_MAX',
      wholeNumberText(integer(1, 1_000_000)),
      10_000,
      'Alert records held while Redis is away; the oldest are dropped (and counted) past it.',
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
  /** The OpenTelemetry SDK's own variables, read as every OpenTelemetry SDK reads them. */
  sdk: {
    /** `OTEL_SDK_DISABLED` */
    disabled: variable(
      'OTEL_SDK_DISABLED',
      booleanText,
      false,
      'true registers no OpenTelemetry SDK: nothing is traced, measured or exported, and tracked operations only run their code.',
    ),
    /** `OTEL_LOG_LEVEL` */
    logLevel: variable(
      'OTEL_LOG_LEVEL',
      oneOfText(SDK_LOG_LEVELS, true),
      undefined as SdkLogLevel | undefined,
      "Level of the OpenTelemetry SDK's own diagnostics, printed on the console (perf-sidecar's lines follow LOG_LEVEL).",
      { shown: 'unset (no diagnostics)' },
    ),
    /** `OTEL_PROPAGATORS` */
    propagators: variable(
      'OTEL_PROPAGATORS',
      listOfText(PROPAGATORS),
      ['tracecontext', 'baggage'] as readonly (typeof PROPAGATORS)[number][],
      'Context propagation formats of incoming and outgoing requests.',
      { shown: 'tracecontext,baggage' },
    ),
    /** `OTEL_TRACES_SAMPLER` */
    sampler: variable(
      'OTEL_TRACES_SAMPLER',
      oneOfText(SAMPLERS),
      'parentbased_always_on' as SamplerName,
      'Which spans are recorded; the ratio samplers keep OTEL_TRACES_SAMPLER_ARG of the traces.',
    ),
    /** `OTEL_TRACES_SAMPLER_ARG` */
    samplerRatio: variable(
      'OTEL_TRACES_SAMPLER_ARG',
      decimalText(decimal(0, 1)),
      1,
      'Share of traces the ratio samplers keep (ignored by the others).',
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

/** Variables resolved together into another field (`maxMetricOperations`, `otlp`). */
export const RESOLVED_VARIABLES = {
  maxMetricOperations: variable(
    'PERF_MAX_METRIC_OPERATIONS',
    wholeNumberText(integer(1, 100_000), 'at most PERF_MAX_OPERATIONS is used'),
    100,
    'Of the operations with their own series, how many get their own /metrics series; later ones export as _other.',
  ),
  endpoint: variable(
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    accepts(otlpEndpointText, 'an http:// or https:// base URL, for example http://localhost:4318', true),
    undefined as string | undefined,
    'OTLP collector base URL; HTTP sends to its /v1/traces and /v1/metrics paths, gRPC to the URL itself.',
    { shown: 'unset (no OTLP export)', secret: true },
  ),
  tracesEndpoint: variable(
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    accepts(otlpEndpointText, 'an http:// or https:// URL, used as is', true),
    undefined as string | undefined,
    'Trace destination; setting it alone turns trace export on.',
    { shown: 'unset (OTLP endpoint + /v1/traces)', secret: true },
  ),
  metricsEndpoint: variable(
    'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
    accepts(otlpEndpointText, 'an http:// or https:// URL, used as is', true),
    undefined as string | undefined,
    'Metric push destination (with OTEL_METRICS_EXPORTER=otlp).',
    { shown: 'unset (OTLP endpoint + /v1/metrics)', secret: true },
  ),
  protocol: variable(
    'OTEL_EXPORTER_OTLP_PROTOCOL',
    oneOfText(OTLP_PROTOCOLS),
    'http/protobuf' as OtlpProtocol,
    'OTLP transport of every signal.',
  ),
  tracesProtocol: variable(
    'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    oneOfText(OTLP_PROTOCOLS),
    undefined as OtlpProtocol | undefined,
    'OTLP transport for traces.',
    { shown: 'unset (OTEL_EXPORTER_OTLP_PROTOCOL)' },
  ),
  metricsProtocol: variable(
    'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
    oneOfText(OTLP_PROTOCOLS),
    undefined as OtlpProtocol | undefined,
    'OTLP transport for metrics.',
    { shown: 'unset (OTEL_EXPORTER_OTLP_PROTOCOL)' },
  ),
  headers: variable(
    'OTEL_EXPORTER_OTLP_HEADERS',
    headersText,
    {} as Readonly<Record<string, string>>,
    'Headers sent with every OTLP request (for example an API key). Never logged.',
    { shown: 'unset', secret: true },
  ),
  tracesExporter: variable(
    'OTEL_TRACES_EXPORTER',
    listOfText(TRACES_EXPORTERS),
    undefined as (typeof TRACES_EXPORTERS)[number][] | undefined,
    'Where spans go; none turns trace export off even with an endpoint.',
    { shown: 'unset (otlp when an OTLP endpoint is set, else none)' },
  ),
  metricsExporter: variable(
    'OTEL_METRICS_EXPORTER',
    listOfText(METRICS_EXPORTERS),
    [] as (typeof METRICS_EXPORTERS)[number][],
    'Metric push next to /metrics (always served): otlp pushes to the OTLP endpoint.',
    { shown: 'unset (prometheus: /metrics only)' },
  ),
  spanAttributeCountLimit: limitVariable(
    'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT',
    'Most attributes on one span (else OTEL_ATTRIBUTE_COUNT_LIMIT, else 128).',
  ),
  attributeCountLimit: limitVariable(
    'OTEL_ATTRIBUTE_COUNT_LIMIT',
    'Most attributes on one span, event or link.',
  ),
  spanAttributeValueLengthLimit: limitVariable(
    'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT',
    'Longest span attribute value, characters (else OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, else unlimited).',
  ),
  attributeValueLengthLimit: limitVariable(
    'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT',
    'Longest attribute value, characters.',
  ),
  spanEventCountLimit: limitVariable('OTEL_SPAN_EVENT_COUNT_LIMIT', 'Most events on one span (else 128).'),
  spanLinkCountLimit: limitVariable('OTEL_SPAN_LINK_COUNT_LIMIT', 'Most links on one span (else 128).'),
  eventAttributeCountLimit: limitVariable(
    'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT',
    'Most attributes on one span event (else OTEL_ATTRIBUTE_COUNT_LIMIT, else 128).',
  ),
  linkAttributeCountLimit: limitVariable(
    'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT',
    'Most attributes on one span link (else OTEL_ATTRIBUTE_COUNT_LIMIT, else 128).',
  ),
  batchDelayMs: variable(
    'OTEL_BSP_SCHEDULE_DELAY',
    wholeNumberText(integer(0, 600_000, 'milliseconds')),
    5000,
    'Delay between two OTLP trace exports.',
  ),
  batchQueueSize: variable(
    'OTEL_BSP_MAX_QUEUE_SIZE',
    wholeNumberText(integer(1, 1_000_000)),
    2048,
    'Spans queued for export; past it new spans are dropped (bounded memory).',
  ),
  batchSize: variable(
    'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    wholeNumberText(integer(1, 1_000_000), 'at most OTEL_BSP_MAX_QUEUE_SIZE'),
    512,
    'Spans per OTLP trace export request.',
  ),
  batchTimeoutMs: variable(
    'OTEL_BSP_EXPORT_TIMEOUT',
    wholeNumberText(integer(1, 600_000, 'milliseconds')),
    30_000,
    'Longest one OTLP trace export may take.',
  ),
  metricIntervalMs: variable(
    'OTEL_METRIC_EXPORT_INTERVAL',
    wholeNumberText(integer(100, 3_600_000, 'milliseconds')),
    60_000,
    'Interval of the OTLP metric push.',
  ),
};
