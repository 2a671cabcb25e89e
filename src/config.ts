/**
 * perf-sidecar configuration: the only module that reads `process.env`.
 *
 * {@link loadConfig} turns an environment into one typed, validated, frozen {@link PerfSidecarConfig}.
 * Every variable is listed in {@link CONFIG_VARIABLES} with its default and its expected form; the
 * README's configuration table is written from the same list. An invalid value stops start-up with
 * a {@link ConfigError} whose one message names each bad variable, what is wrong with its value and
 * what was expected. URL values are never echoed (they may carry a password).
 */
import { z } from 'zod';
import { DATABASE_URL_FORM, databaseUrlText } from './db/url.ts';
import { PerfSidecarError } from './shared/errors.ts';
import { LOG_LEVELS, type LogLevel } from './shared/logger.ts';
import { redisUrlText, secretUrl } from './shared/urls.ts';
import { MAX_TARGET_SECONDS, operationNameProblem } from './telemetry/operations.ts';

/** Default operation targets in seconds, the built-in table. `PERF_TARGETS` merges over it. */
export const DEFAULT_TARGETS: Readonly<Record<string, number>> = Object.freeze({
  simple_query: 2,
  ai_operation: 30,
  document_ocr: 120,
  layout_generation: 30,
  validation: 5,
});

/** OTLP trace transports accepted by `OTEL_EXPORTER_OTLP_PROTOCOL`. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
/** An OTLP trace transport. */
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** Span exporters accepted by `OTEL_TRACES_EXPORTER` (a comma-separated list). */
export const TRACES_EXPORTERS = ['otlp', 'console', 'none'] as const;
/** Metric exporters accepted by `OTEL_METRICS_EXPORTER`; `prometheus` is the always-on `/metrics`. */
export const METRICS_EXPORTERS = ['otlp', 'console', 'prometheus', 'none'] as const;
/** A push exporter chosen by `OTEL_TRACES_EXPORTER` or `OTEL_METRICS_EXPORTER`. */
export type PushExporter = 'otlp' | 'console';

/** The validated configuration of one perf-sidecar process. */
export interface PerfSidecarConfig {
  /** `REDIS_URL`. Where alert lists live. `undefined` runs in memory-only mode. */
  readonly redisUrl: string | undefined;
  /** `DATABASE_URL`, normalised to the `postgresql://` scheme. `undefined` when unset. */
  readonly databaseUrl: string | undefined;
  /** Connection-pool settings, in SQLAlchemy's terms (pool size, overflow, timeout, recycle, pre-ping). */
  readonly db: {
    /** `DB_POOL_SIZE`: connections kept warm. */
    readonly poolSize: number;
    /** `DB_MAX_OVERFLOW`: extra connections allowed above `poolSize` under load. */
    readonly maxOverflow: number;
    /** `DB_POOL_TIMEOUT`: seconds a caller waits for a free connection before an error. */
    readonly poolTimeoutSeconds: number;
    /** `DB_POOL_RECYCLE`: seconds after which a connection is closed and replaced. */
    readonly poolRecycleSeconds: number;
    /**
     * `DB_PRE_PING_IDLE_SECONDS`: a connection that sat idle longer than this is validated with a
     * `SELECT 1` before it is handed out (SQLAlchemy's `pre_ping`, but only for idle connections).
     * 0 validates on every checkout.
     */
    readonly prePingIdleSeconds: number;
    /** `DB_SLOW_QUERY_SECONDS`: a database service statement slower than this raises `slow_query`. */
    readonly slowQuerySeconds: number;
    /**
     * `DB_EXPLAIN_SLOW`: attach the `EXPLAIN (FORMAT JSON)` plan (never ANALYZE) of a slow statement
     * to its span as an event, at most once a minute per statement.
     */
    readonly explainSlow: boolean;
    /** `DB_ALLOWED_SCHEMAS`: schemas lookups may read; `undefined`: every non-system schema. */
    readonly allowedSchemas: readonly string[] | undefined;
    /** `DB_ALLOWED_TABLES`: `schema.table` names lookups may read (with `allowedSchemas`). */
    readonly allowedTables: readonly string[] | undefined;
  };
  /** `ENABLE_PERFORMANCE_MONITORING`. When false every API is a no-op that still runs user code. */
  readonly monitoringEnabled: boolean;
  /** `SLOW_REQUEST_THRESHOLD`: seconds after which an HTTP request raises `slow_request`. */
  readonly slowRequestThresholdSeconds: number;
  /** `MEMORY_ALERT_THRESHOLD`: resident set size in MiB that raises `high_memory`. */
  readonly memoryAlertThresholdMb: number;
  /** `CPU_ALERT_THRESHOLD`: process CPU percent that, sustained, raises `high_cpu`. */
  readonly cpuAlertThresholdPercent: number;
  /** `CPU_ALERT_SAMPLES`: consecutive one-second samples over the CPU threshold before `high_cpu`. */
  readonly cpuAlertSamples: number;
  /** Disk usage sampling (the working directory's filesystem plus `paths`). */
  readonly disk: {
    /** `DISK_PATHS`: extra absolute paths whose filesystems are sampled (at most {@link MAX_DISK_PATHS}). */
    readonly paths: readonly string[];
    /** `DISK_ALERT_THRESHOLD`: used percent of a filesystem over which the health check warns. */
    readonly alertThresholdPercent: number;
  };
  /** Performance summary history. */
  readonly summary: {
    /** `PERF_SUMMARY_MEMORY_HOURS`: hours of per-minute history kept in process memory. */
    readonly memoryHours: number;
    /**
     * `PERF_SUMMARY_MAX_POINTS`: most (minute, series) entries kept in memory (and queued for Redis
     * while it is away); the oldest minutes are dropped past it.
     */
    readonly maxPoints: number;
    /** `PERF_ROLLUP_RETENTION_DAYS`: days the Redis rollup hashes live after their last write. */
    readonly rollupRetentionDays: number;
    /** `PERF_MAX_USER_SERIES`: most (user, operation, outcome) series for per-user reports. */
    readonly maxUserSeries: number;
  };
  /**
   * `PERF_API_TOKEN`: when set, `/api/system/*` and `/metrics` require `Authorization: Bearer
   * <token>`. Never logged.
   */
  readonly apiToken: string | undefined;
  /** Operation targets in seconds: {@link DEFAULT_TARGETS} with `PERF_TARGETS` merged over them. */
  readonly targets: Readonly<Record<string, number>>;
  /**
   * `PERF_MAX_OPERATIONS`: distinct operation names that get their own metric series. Names beyond
   * the cap are reported under the operation `_other`, so label sets stay bounded.
   */
  readonly maxOperations: number;
  /**
   * `PERF_MAX_METRIC_OPERATIONS`: of those, how many get their own `/metrics` series; later names
   * are exported as `_other` (reports still show them by name), so a scrape stays small.
   */
  readonly maxMetricOperations: number;
  /** Alert delivery settings. */
  readonly alerts: {
    /** `ALERT_LIST_MAX`: each Redis (or in-memory) alert list is trimmed to this many records. */
    readonly listMax: number;
    /** `ALERT_REPEAT_SECONDS`: an alert fingerprint is written at most once per this window. */
    readonly repeatSeconds: number;
    /** `ALERT_KEY_PREFIX`: prefix of the alert list names, for example `myapp:`. */
    readonly keyPrefix: string;
    /** `ALERT_BUFFER_MAX`: records held in memory while Redis is unreachable; oldest dropped first. */
    readonly bufferMax: number;
  };
  /** `REDIS_COMMAND_TIMEOUT_MS`: how long any perf-sidecar Redis command may take before it fails. */
  readonly redisCommandTimeoutMs: number;
  /** `CACHE_REDIS_COMMAND_TIMEOUT_MS`: the cache's Redis command timeout for `startCache()`. */
  readonly cacheRedisCommandTimeoutMs: number;
  /** HTTP listener of the sidecar server. */
  readonly server: {
    /** `PORT`. */
    readonly port: number;
    /** `HOST`. Loopback by default: the sidecar's endpoints are not meant for the open network. */
    readonly host: string;
    /** `SHUTDOWN_TIMEOUT_MS`: longest a graceful shutdown of `npm start` may take before exit 1. */
    readonly shutdownTimeoutMs: number;
  };
  /**
   * `OTEL_SERVICE_NAME`: `service.name` on every span, metric and alert. Unset: the resource decides
   * (`OTEL_RESOURCE_ATTRIBUTES`, the host's package.json, else `unknown_service:node`; the sidecar
   * server itself is `perf-sidecar`).
   */
  readonly serviceName: string | undefined;
  /** OTLP export, by the standard OpenTelemetry variables. */
  readonly otlp: {
    /** `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL; HTTP signals go to `<endpoint>/v1/<signal>`. */
    readonly endpoint: string | undefined;
    /** `OTEL_EXPORTER_OTLP_PROTOCOL`. */
    readonly protocol: OtlpProtocol;
    /** `OTEL_EXPORTER_OTLP_HEADERS` as pairs (values are secrets: never logged). */
    readonly headers: Readonly<Record<string, string>>;
    /** Trace export: exporters in effect and the OTLP destination. */
    readonly traces: OtlpSignal & {
      /** `OTEL_BSP_*`: the batch span processor of the OTLP trace exporter. */
      readonly batch: {
        readonly scheduledDelayMillis: number;
        readonly maxQueueSize: number;
        readonly maxExportBatchSize: number;
        readonly exportTimeoutMillis: number;
      };
    };
    /** Metric push export (next to `/metrics`): exporters in effect and the OTLP destination. */
    readonly metrics: OtlpSignal & {
      /** `OTEL_METRIC_EXPORT_INTERVAL`: ms between two pushes. */
      readonly intervalMs: number;
    };
  };
  /** `LOG_LEVEL`: pino level of perf-sidecar's own log lines. */
  readonly logLevel: LogLevel;
}

/** One signal's OTLP settings, signal-specific variables resolved over the generic ones. */
export interface OtlpSignal {
  /**
   * Exporters in effect (`OTEL_<SIGNAL>_EXPORTER`, `none` giving an empty list). For traces, unset
   * means `otlp` when an OTLP endpoint is set and none otherwise (no retries to nowhere); for metrics
   * unset means none (`/metrics` is always served).
   */
  readonly exporters: readonly PushExporter[];
  /** `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` (used as is), else `<endpoint>/v1/<signal>` (HTTP). */
  readonly url: string | undefined;
  /** `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`. */
  readonly protocol: OtlpProtocol;
}

/** One invalid variable, as reported by {@link ConfigError}. */
export interface ConfigProblem {
  /** Environment variable name. */
  readonly variable: string;
  /** What is wrong with its value (never the value itself when it may be secret). */
  readonly problem: string;
  /** The form that is accepted. */
  readonly expected: string;
}

/** Thrown by {@link loadConfig} when one or more variables are invalid. */
export class ConfigError extends PerfSidecarError {
  /** Each invalid variable. */
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.variable}: ${p.problem}; expected ${p.expected}`);
    super('PERF_CONFIG_INVALID', `perf-sidecar configuration is invalid:\n${lines.join('\n')}`);
    this.problems = problems;
  }
}

/** Environment variable documentation: name, default and accepted form. Drives the README table. */
export interface ConfigVariable {
  /** Variable name. */
  readonly name: string;
  /** Default, as text (`unset` when there is none). */
  readonly default: string;
  /** Accepted form. */
  readonly expected: string;
  /** Whether the value may hold a secret and must never be echoed. */
  readonly secret: boolean;
  /** One-line description. */
  readonly description: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Most paths `DISK_PATHS` may list (each is one `statfs` per sample and two gauge series). */
export const MAX_DISK_PATHS = 8;

const diskPathsText: z.ZodType<string[], string> = z.string().transform((text, ctx) => {
  const paths = [
    ...new Set(
      text
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== ''),
    ),
  ];
  const bad = paths.find((p) => !p.startsWith('/') || p.length > 4096 || p.includes('\0'));
  if (bad !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `has ${JSON.stringify(bad.slice(0, 64))}, not an absolute path`,
    });
  } else if (paths.length > MAX_DISK_PATHS) {
    ctx.addIssue({ code: 'custom', message: `lists ${paths.length} paths, more than ${MAX_DISK_PATHS}` });
  }
  return paths;
});

interface VariableSpec<T> extends ConfigVariable {
  /** Parses the raw (present, non-empty) text. */
  readonly schema: z.ZodType<T, string>;
  /** Value used when the variable is unset or empty. */
  readonly fallback: T;
}

const WHOLE_NUMBER = /^[+-]?\d+$/;

function integer(min: number, max: number): z.ZodType<number, string> {
  return z
    .string()
    .trim()
    .regex(WHOLE_NUMBER, 'is not a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `is below ${min}`).max(max, `is above ${max}`));
}

function decimal(minExclusive: number, max: number): z.ZodType<number, string> {
  return z
    .string()
    .trim()
    .regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, 'is not a number')
    .transform(Number)
    .pipe(
      z
        .number()
        .refine(Number.isFinite, 'is not finite')
        .refine((n) => n > minExclusive, `must be greater than ${minExclusive}`)
        .refine((n) => n <= max, `is above ${max}`),
    );
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);
const booleanText: z.ZodType<boolean, string> = z
  .string()
  .trim()
  .transform((text, ctx) => {
    const word = text.toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
    ctx.addIssue({ code: 'custom', message: 'is not a boolean word' });
    return z.NEVER;
  });

function oneOf<const T extends string>(values: readonly T[]): z.ZodType<T, string> {
  return z
    .string()
    .trim()
    .transform((text, ctx) => {
      if ((values as readonly string[]).includes(text)) return text as T;
      ctx.addIssue({ code: 'custom', message: 'is not one of the accepted values' });
      return z.NEVER;
    });
}

const MAX_PERF_TARGETS = 1_000;

const targetsText: z.ZodType<Record<string, number>, string> = z.string().transform((text, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
    return z.NEVER;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    ctx.addIssue({ code: 'custom', message: 'is JSON but not an object' });
    return z.NEVER;
  }
  const entries = Object.entries(parsed);
  if (entries.length > MAX_PERF_TARGETS) {
    ctx.addIssue({
      code: 'custom',
      message: `has ${entries.length} entries, over the limit of ${MAX_PERF_TARGETS}`,
    });
    return z.NEVER;
  }
  const out: Record<string, number> = {};
  for (const [name, seconds] of entries) {
    const nameProblem = operationNameProblem(name);
    if (nameProblem) {
      ctx.addIssue({ code: 'custom', message: `has a name that ${nameProblem}` });
      return z.NEVER;
    }
    if (
      typeof seconds !== 'number' ||
      !Number.isFinite(seconds) ||
      seconds <= 0 ||
      seconds > MAX_TARGET_SECONDS
    ) {
      ctx.addIssue({
        code: 'custom',
        message: `gives ${JSON.stringify(name)} the target ${JSON.stringify(seconds)}, not a number of seconds in (0, ${MAX_TARGET_SECONDS}]`,
      });
      return z.NEVER;
    }
    out[name] = seconds;
  }
  return out;
});

const otlpEndpointText = secretUrl((p) => p === 'http:' || p === 'https:', 'token');

/** A comma-separated list of names from `values`, `none` alone or not at all. */
function listOf<const T extends string>(values: readonly T[]): z.ZodType<T[], string> {
  return z.string().transform((text, ctx) => {
    const names = [...new Set(text.split(',').map((n) => n.trim()))].filter((n) => n !== '');
    const unknown = names.filter((n) => !(values as readonly string[]).includes(n));
    if (unknown.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `names ${JSON.stringify(unknown.join(','))}, not an accepted value`,
      });
      return z.NEVER;
    }
    if (names.includes('none') && names.length > 1) {
      ctx.addIssue({ code: 'custom', message: 'combines none with other exporters' });
      return z.NEVER;
    }
    return names as T[];
  });
}

/** `key=value` pairs separated by commas, values URL-encoded (the OpenTelemetry headers format). */
const headersText: z.ZodType<Record<string, string>, string> = z.string().transform((text, ctx) => {
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const key = at > 0 ? pair.slice(0, at).trim() : '';
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$/.test(key) || Object.keys(out).length >= 64) {
      ctx.addIssue({ code: 'custom', message: 'is not a list of up to 64 key=value pairs (value hidden)' });
      return z.NEVER;
    }
    try {
      out[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      ctx.addIssue({ code: 'custom', message: `has a badly encoded value for ${JSON.stringify(key)}` });
      return z.NEVER;
    }
  }
  return out;
});

const hostText: z.ZodType<string, string> = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9.:_-]{1,253}$/, 'is not a host name or IP address');

const prefixText: z.ZodType<string, string> = z
  .string()
  .regex(/^[A-Za-z0-9:_.{}-]{0,64}$/, 'has characters other than letters, digits and : _ . { } -');

const serviceNameText: z.ZodType<string, string> = z
  .string()
  .trim()
  .regex(/^[\p{L}\p{N}_.:/ -]{1,128}$/u, 'is not 1 to 128 letters, digits, spaces or _ . : / -');

/** A comma-separated list of at most 1000 names of the given shape (blanks around commas dropped). */
function nameList(shape: RegExp, what: string): z.ZodType<readonly string[], string> {
  return z
    .string()
    .transform((text) =>
      text
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
    )
    .pipe(
      z
        .array(z.string().regex(shape, `holds a name that is not ${what}`))
        .min(1, 'names nothing')
        .max(1000, 'holds more than 1000 names'),
    );
}

function spec<T>(entry: VariableSpec<T>): VariableSpec<T> {
  return entry;
}

const SPECS = {
  REDIS_URL: spec({
    name: 'REDIS_URL',
    default: 'unset (memory-only mode)',
    expected: 'redis://[user:password@]host:6379[/db] or rediss://…',
    secret: true,
    description:
      'Redis for alert lists and for startCache() without arguments; unset: alerts in a bounded in-process list, cache in memory only.',
    schema: redisUrlText,
    fallback: undefined as string | undefined,
  }),
  DATABASE_URL: spec({
    name: 'DATABASE_URL',
    default: 'unset (embedded PostgreSQL)',
    expected: DATABASE_URL_FORM,
    secret: true,
    description: 'PostgreSQL for the monitored database service; unset runs an embedded PGlite on loopback.',
    schema: databaseUrlText,
    fallback: undefined as string | undefined,
  }),
  DB_POOL_SIZE: spec({
    name: 'DB_POOL_SIZE',
    default: '20',
    expected: 'an integer from 1 to 1000',
    secret: false,
    description: 'Connections kept warm.',
    schema: integer(1, 1000),
    fallback: 20,
  }),
  DB_MAX_OVERFLOW: spec({
    name: 'DB_MAX_OVERFLOW',
    default: '30',
    expected: 'an integer from 0 to 1000',
    secret: false,
    description: 'Extra connections above the pool size under load.',
    schema: integer(0, 1000),
    fallback: 30,
  }),
  DB_POOL_TIMEOUT: spec({
    name: 'DB_POOL_TIMEOUT',
    default: '30',
    expected: 'a number of seconds greater than 0, at most 3600',
    secret: false,
    description: 'Seconds to wait for a free connection.',
    schema: decimal(0, 3600),
    fallback: 30,
  }),
  DB_POOL_RECYCLE: spec({
    name: 'DB_POOL_RECYCLE',
    default: '3600',
    expected: 'an integer number of seconds from 1 to 604800',
    secret: false,
    description: 'Seconds after which a connection is replaced.',
    schema: integer(1, 604_800),
    fallback: 3600,
  }),
  DB_PRE_PING_IDLE_SECONDS: spec({
    name: 'DB_PRE_PING_IDLE_SECONDS',
    default: '30',
    expected: 'an integer number of seconds from 0 to 86400 (0 validates on every checkout)',
    secret: false,
    description: 'Connections idle longer than this are validated with SELECT 1 before use.',
    schema: integer(0, 86_400),
    fallback: 30,
  }),
  DB_SLOW_QUERY_SECONDS: spec({
    name: 'DB_SLOW_QUERY_SECONDS',
    default: '2.0',
    expected: `a number of seconds greater than 0, at most ${MAX_TARGET_SECONDS}`,
    secret: false,
    description: 'Database service statements slower than this raise slow_query.',
    schema: decimal(0, MAX_TARGET_SECONDS),
    fallback: 2,
  }),
  DB_EXPLAIN_SLOW: spec({
    name: 'DB_EXPLAIN_SLOW',
    default: 'false',
    expected: 'true/false (also 1/0, yes/no, on/off)',
    secret: false,
    description: 'Attach the EXPLAIN (FORMAT JSON) plan of slow statements to their spans.',
    schema: booleanText,
    fallback: false,
  }),
  DB_ALLOWED_SCHEMAS: spec({
    name: 'DB_ALLOWED_SCHEMAS',
    default: 'unset (every schema but the system ones)',
    expected: 'comma-separated schema names, for example public,app',
    secret: false,
    description:
      'Schemas getById/getByFilter may read; system schemas (pg_catalog, information_schema, pg_toast, pg_temp_*) only when listed.',
    schema: nameList(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'a schema name'),
    fallback: undefined as readonly string[] | undefined,
  }),
  DB_ALLOWED_TABLES: spec({
    name: 'DB_ALLOWED_TABLES',
    default: 'unset',
    expected: 'comma-separated schema.table names, for example app.users,pg_catalog.pg_settings',
    secret: false,
    description:
      'Tables getById/getByFilter may read, besides those in DB_ALLOWED_SCHEMAS; when set alone, only these.',
    schema: nameList(/^[A-Za-z_][A-Za-z0-9_]{0,62}\.[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'a schema.table name'),
    fallback: undefined as readonly string[] | undefined,
  }),
  ENABLE_PERFORMANCE_MONITORING: spec({
    name: 'ENABLE_PERFORMANCE_MONITORING',
    default: 'true',
    expected: 'true/false (also 1/0, yes/no, on/off)',
    secret: false,
    description: 'false turns every API into a no-op that still runs the wrapped code.',
    schema: booleanText,
    fallback: true,
  }),
  SLOW_REQUEST_THRESHOLD: spec({
    name: 'SLOW_REQUEST_THRESHOLD',
    default: '5.0',
    expected: `a number of seconds greater than 0, at most ${MAX_TARGET_SECONDS}`,
    secret: false,
    description: 'HTTP requests slower than this raise slow_request.',
    schema: decimal(0, MAX_TARGET_SECONDS),
    fallback: 5,
  }),
  MEMORY_ALERT_THRESHOLD: spec({
    name: 'MEMORY_ALERT_THRESHOLD',
    default: '500',
    expected: 'a number of MiB greater than 0, at most 1048576',
    secret: false,
    description: 'Resident set size (MiB) that raises high_memory.',
    schema: decimal(0, 1_048_576),
    fallback: 500,
  }),
  CPU_ALERT_THRESHOLD: spec({
    name: 'CPU_ALERT_THRESHOLD',
    default: '80',
    expected: 'a percentage greater than 0, at most 10000 (100 per core)',
    secret: false,
    description: 'Sustained process CPU percent that raises high_cpu.',
    schema: decimal(0, 10_000),
    fallback: 80,
  }),
  CPU_ALERT_SAMPLES: spec({
    name: 'CPU_ALERT_SAMPLES',
    default: '5',
    expected: 'an integer from 1 to 3600',
    secret: false,
    description: 'Consecutive one-second samples over CPU_ALERT_THRESHOLD before high_cpu is raised.',
    schema: integer(1, 3600),
    fallback: 5,
  }),
  DISK_PATHS: spec({
    name: 'DISK_PATHS',
    default: 'unset (the working directory only)',
    expected: `comma-separated absolute paths, at most ${MAX_DISK_PATHS}`,
    secret: false,
    description: 'Filesystems sampled for disk usage besides the one holding the working directory.',
    schema: diskPathsText,
    fallback: [] as string[],
  }),
  DISK_ALERT_THRESHOLD: spec({
    name: 'DISK_ALERT_THRESHOLD',
    default: '90',
    expected: 'a percentage greater than 0, at most 100',
    secret: false,
    description: 'Used percent of a sampled filesystem over which the disk health check warns.',
    schema: decimal(0, 100),
    fallback: 90,
  }),
  PERF_TARGETS: spec({
    name: 'PERF_TARGETS',
    default: '{}',
    expected: `a JSON object of operation name to seconds, for example {"simple_query":1.5,"export":60}`,
    secret: false,
    description: 'Targets merged over the built-in table.',
    schema: targetsText,
    fallback: {} as Record<string, number>,
  }),
  PERF_MAX_OPERATIONS: spec({
    name: 'PERF_MAX_OPERATIONS',
    default: '1000',
    expected: 'an integer from 1 to 100000',
    secret: false,
    description: 'Distinct operation names with their own metric series; later names report as _other.',
    schema: integer(1, 100_000),
    fallback: 1000,
  }),
  PERF_MAX_METRIC_OPERATIONS: spec({
    name: 'PERF_MAX_METRIC_OPERATIONS',
    default: '100',
    expected: 'an integer from 1 to 100000 (at most PERF_MAX_OPERATIONS is used)',
    secret: false,
    description:
      'Operation names with their own /metrics series; later ones export as _other but keep their own summary figures.',
    schema: integer(1, 100_000),
    fallback: 100,
  }),
  PERF_MAX_USER_SERIES: spec({
    name: 'PERF_MAX_USER_SERIES',
    default: '10000',
    expected: 'an integer from 1 to 1000000',
    secret: false,
    description:
      'Distinct (user, operation, outcome) series kept for per-user reports; later ones fold into user _other. Never exported to /metrics.',
    schema: integer(1, 1_000_000),
    fallback: 10_000,
  }),
  PERF_SUMMARY_MEMORY_HOURS: spec({
    name: 'PERF_SUMMARY_MEMORY_HOURS',
    default: '24',
    expected: 'an integer from 1 to 720',
    secret: false,
    description:
      'Hours of per-minute summary history kept in memory (without Redis, the longest window a report covers).',
    schema: integer(1, 720),
    fallback: 24,
  }),
  PERF_SUMMARY_MAX_POINTS: spec({
    name: 'PERF_SUMMARY_MAX_POINTS',
    default: '200000',
    expected: 'an integer from 1000 to 10000000',
    secret: false,
    description:
      'Most (minute, series) entries of summary history in memory; the oldest minutes are dropped past it.',
    schema: integer(1000, 10_000_000),
    fallback: 200_000,
  }),
  PERF_ROLLUP_RETENTION_DAYS: spec({
    name: 'PERF_ROLLUP_RETENTION_DAYS',
    default: '31',
    expected: 'an integer from 1 to 366',
    secret: false,
    description: 'Days the Redis rollup hashes (metrics:*, user_metrics:*) live after their last write.',
    schema: integer(1, 366),
    fallback: 31,
  }),
  PERF_API_TOKEN: spec({
    name: 'PERF_API_TOKEN',
    default: 'unset (no auth)',
    expected:
      '16 to 512 characters of A-Z a-z 0-9 - . _ ~ + / (then optional = padding): an RFC 6750 bearer token',
    secret: true,
    description: 'When set, /api/system/* and /metrics require Authorization: Bearer <token>.',
    schema: z
      .string()
      .trim()
      .regex(/^(?=.{16,512}$)[A-Za-z0-9._~+/-]+=*$/, 'is not 16 to 512 bearer-token characters'),
    fallback: undefined as string | undefined,
  }),
  ALERT_LIST_MAX: spec({
    name: 'ALERT_LIST_MAX',
    default: '1000',
    expected: 'an integer from 1 to 1000000',
    secret: false,
    description: 'Length each alert list is trimmed to (newest kept).',
    schema: integer(1, 1_000_000),
    fallback: 1000,
  }),
  ALERT_REPEAT_SECONDS: spec({
    name: 'ALERT_REPEAT_SECONDS',
    default: '60',
    expected: 'an integer number of seconds from 0 to 86400 (0 writes every alert)',
    secret: false,
    description: 'One record per alert fingerprint per window; repeats are counted into it.',
    schema: integer(0, 86_400),
    fallback: 60,
  }),
  ALERT_KEY_PREFIX: spec({
    name: 'ALERT_KEY_PREFIX',
    default: 'empty',
    expected: 'up to 64 letters, digits or : _ . { } -',
    secret: false,
    description: 'Prefix of the alert list names.',
    schema: prefixText,
    fallback: '',
  }),
  ALERT_BUFFER_MAX: spec({
    name: 'ALERT_BUFFER_MAX',
    default: '10000',
    expected: 'an integer from 1 to 1000000',
    secret: false,
    description: 'Alert records held while Redis is away; the oldest are dropped (and counted) past it.',
    schema: integer(1, 1_000_000),
    fallback: 10_000,
  }),
  REDIS_COMMAND_TIMEOUT_MS: spec({
    name: 'REDIS_COMMAND_TIMEOUT_MS',
    default: '1000',
    expected: 'an integer number of milliseconds from 10 to 60000',
    secret: false,
    description: 'Longest any perf-sidecar Redis command may take before it fails.',
    schema: integer(10, 60_000),
    fallback: 1000,
  }),
  CACHE_REDIS_COMMAND_TIMEOUT_MS: spec({
    name: 'CACHE_REDIS_COMMAND_TIMEOUT_MS',
    default: '250',
    expected: 'an integer number of milliseconds from 10 to 60000',
    secret: false,
    description:
      'Longest a cache Redis command may take (startCache() without arguments); the most a hung Redis adds to a cache call.',
    schema: integer(10, 60_000),
    fallback: 250,
  }),
  PORT: spec({
    name: 'PORT',
    default: '8000',
    expected: 'an integer from 0 to 65535 (0 picks a free port)',
    secret: false,
    description: 'Sidecar HTTP port.',
    schema: integer(0, 65_535),
    fallback: 8000,
  }),
  HOST: spec({
    name: 'HOST',
    default: '127.0.0.1',
    expected: 'a host name or IP address',
    secret: false,
    description: 'Sidecar HTTP listen address.',
    schema: hostText,
    fallback: '127.0.0.1',
  }),
  SHUTDOWN_TIMEOUT_MS: spec({
    name: 'SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    expected: 'an integer number of milliseconds from 100 to 600000',
    secret: false,
    description:
      'Longest the sidecar process (npm start) spends shutting down on a signal; past it, it exits 1.',
    schema: integer(100, 600_000),
    fallback: 10_000,
  }),
  OTEL_SERVICE_NAME: spec({
    name: 'OTEL_SERVICE_NAME',
    default: 'unset (host: package.json name, else unknown_service:node; sidecar: perf-sidecar)',
    expected: '1 to 128 letters, digits, spaces or _ . : / -',
    secret: false,
    description: 'service.name of spans, metrics and alerts (wins over OTEL_RESOURCE_ATTRIBUTES).',
    schema: serviceNameText,
    fallback: undefined as string | undefined,
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: spec({
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    default: 'unset (no OTLP export)',
    expected: 'an http:// or https:// base URL, for example http://localhost:4318',
    secret: true,
    description:
      'OTLP collector base URL; HTTP sends to its /v1/traces and /v1/metrics paths, gRPC to the URL itself.',
    schema: otlpEndpointText,
    fallback: undefined as string | undefined,
  }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: spec({
    name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    default: 'unset (OTLP endpoint + /v1/traces)',
    expected: 'an http:// or https:// URL, used as is',
    secret: true,
    description: 'Trace destination; setting it alone turns trace export on.',
    schema: otlpEndpointText,
    fallback: undefined as string | undefined,
  }),
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: spec({
    name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
    default: 'unset (OTLP endpoint + /v1/metrics)',
    expected: 'an http:// or https:// URL, used as is',
    secret: true,
    description: 'Metric push destination (with OTEL_METRICS_EXPORTER=otlp).',
    schema: otlpEndpointText,
    fallback: undefined as string | undefined,
  }),
  OTEL_EXPORTER_OTLP_PROTOCOL: spec({
    name: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    default: 'http/protobuf',
    expected: OTLP_PROTOCOLS.join(' | '),
    secret: false,
    description: 'OTLP transport of every signal.',
    schema: oneOf(OTLP_PROTOCOLS),
    fallback: 'http/protobuf' as OtlpProtocol,
  }),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: spec({
    name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    default: 'unset (OTEL_EXPORTER_OTLP_PROTOCOL)',
    expected: OTLP_PROTOCOLS.join(' | '),
    secret: false,
    description: 'OTLP transport for traces.',
    schema: oneOf(OTLP_PROTOCOLS),
    fallback: undefined as OtlpProtocol | undefined,
  }),
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: spec({
    name: 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
    default: 'unset (OTEL_EXPORTER_OTLP_PROTOCOL)',
    expected: OTLP_PROTOCOLS.join(' | '),
    secret: false,
    description: 'OTLP transport for metrics.',
    schema: oneOf(OTLP_PROTOCOLS),
    fallback: undefined as OtlpProtocol | undefined,
  }),
  OTEL_EXPORTER_OTLP_HEADERS: spec({
    name: 'OTEL_EXPORTER_OTLP_HEADERS',
    default: 'unset',
    expected: 'key=value pairs separated by commas, values URL-encoded',
    secret: true,
    description: 'Headers sent with every OTLP request (for example an API key). Never logged.',
    schema: headersText,
    fallback: {} as Record<string, string>,
  }),
  OTEL_TRACES_EXPORTER: spec({
    name: 'OTEL_TRACES_EXPORTER',
    default: 'unset (otlp when an OTLP endpoint is set, else none)',
    expected: 'a comma-separated list of otlp, console; or none',
    secret: false,
    description: 'Where spans go; none turns trace export off even with an endpoint.',
    schema: listOf(TRACES_EXPORTERS),
    fallback: undefined as (typeof TRACES_EXPORTERS)[number][] | undefined,
  }),
  OTEL_METRICS_EXPORTER: spec({
    name: 'OTEL_METRICS_EXPORTER',
    default: 'unset (prometheus: /metrics only)',
    expected: 'a comma-separated list of otlp, console, prometheus; or none',
    secret: false,
    description: 'Metric push next to /metrics (always served): otlp pushes to the OTLP endpoint.',
    schema: listOf(METRICS_EXPORTERS),
    fallback: [] as (typeof METRICS_EXPORTERS)[number][],
  }),
  OTEL_BSP_SCHEDULE_DELAY: spec({
    name: 'OTEL_BSP_SCHEDULE_DELAY',
    default: '5000',
    expected: 'an integer number of milliseconds from 0 to 600000',
    secret: false,
    description: 'Delay between two OTLP trace exports.',
    schema: integer(0, 600_000),
    fallback: 5000,
  }),
  OTEL_BSP_MAX_QUEUE_SIZE: spec({
    name: 'OTEL_BSP_MAX_QUEUE_SIZE',
    default: '2048',
    expected: 'an integer from 1 to 1000000',
    secret: false,
    description: 'Spans queued for export; past it new spans are dropped (bounded memory).',
    schema: integer(1, 1_000_000),
    fallback: 2048,
  }),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: spec({
    name: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    default: '512',
    expected: 'an integer from 1 to 1000000 (at most OTEL_BSP_MAX_QUEUE_SIZE)',
    secret: false,
    description: 'Spans per OTLP trace export request.',
    schema: integer(1, 1_000_000),
    fallback: 512,
  }),
  OTEL_BSP_EXPORT_TIMEOUT: spec({
    name: 'OTEL_BSP_EXPORT_TIMEOUT',
    default: '30000',
    expected: 'an integer number of milliseconds from 1 to 600000',
    secret: false,
    description: 'Longest one OTLP trace export may take.',
    schema: integer(1, 600_000),
    fallback: 30_000,
  }),
  OTEL_METRIC_EXPORT_INTERVAL: spec({
    name: 'OTEL_METRIC_EXPORT_INTERVAL',
    default: '60000',
    expected: 'an integer number of milliseconds from 100 to 3600000',
    secret: false,
    description: 'Interval of the OTLP metric push.',
    schema: integer(100, 3_600_000),
    fallback: 60_000,
  }),
  LOG_LEVEL: spec({
    name: 'LOG_LEVEL',
    default: 'info',
    expected: LOG_LEVELS.join(' | '),
    secret: false,
    description: "Level of perf-sidecar's own log lines (pino, JSON on stdout).",
    schema: oneOf(LOG_LEVELS),
    fallback: 'info' as LogLevel,
  }),
} as const;

type SpecTable = typeof SPECS;
type Parsed = { [K in keyof SpecTable]: SpecTable[K]['fallback'] };

/** Every variable perf-sidecar reads, with its default and accepted form (the README table). */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = Object.values(SPECS).map(
  ({ name, default: dflt, expected, secret, description }) => ({
    name,
    default: dflt,
    expected,
    secret,
    description,
  }),
);

function describeRaw(raw: string, secret: boolean): string {
  if (secret) return 'the value';
  const shown = raw.length > 64 ? `${raw.slice(0, 64)}…` : raw;
  return JSON.stringify(shown);
}

/**
 * Reads and validates the configuration from an environment (default `process.env`).
 *
 * @param env variables to read; tests pass their own object.
 * @returns a frozen configuration object.
 * @throws {ConfigError} naming every invalid variable, its problem and the expected form.
 */
export function loadConfig(env: Env = process.env): PerfSidecarConfig {
  const problems: ConfigProblem[] = [];
  const parsed = {} as Record<string, unknown>;
  for (const [key, entry] of Object.entries(SPECS) as [keyof SpecTable, VariableSpec<unknown>][]) {
    const raw = env[key];
    if (raw === undefined || raw.trim() === '') {
      parsed[key] = entry.fallback;
      continue;
    }
    const result = entry.schema.safeParse(raw);
    if (result.success) {
      parsed[key] = result.data;
    } else {
      const message = result.error.issues[0]?.message ?? 'is invalid';
      problems.push({
        variable: key,
        problem: `${describeRaw(raw, entry.secret)} ${message}`,
        expected: entry.expected,
      });
    }
  }
  const p = parsed as Parsed;
  if (problems.length > 0) throw new ConfigError(problems);

  return deepFreeze({
    redisUrl: p.REDIS_URL,
    databaseUrl: p.DATABASE_URL,
    db: {
      poolSize: p.DB_POOL_SIZE,
      maxOverflow: p.DB_MAX_OVERFLOW,
      poolTimeoutSeconds: p.DB_POOL_TIMEOUT,
      poolRecycleSeconds: p.DB_POOL_RECYCLE,
      prePingIdleSeconds: p.DB_PRE_PING_IDLE_SECONDS,
      slowQuerySeconds: p.DB_SLOW_QUERY_SECONDS,
      explainSlow: p.DB_EXPLAIN_SLOW,
      allowedSchemas: p.DB_ALLOWED_SCHEMAS,
      allowedTables: p.DB_ALLOWED_TABLES,
    },
    monitoringEnabled: p.ENABLE_PERFORMANCE_MONITORING,
    slowRequestThresholdSeconds: p.SLOW_REQUEST_THRESHOLD,
    memoryAlertThresholdMb: p.MEMORY_ALERT_THRESHOLD,
    cpuAlertThresholdPercent: p.CPU_ALERT_THRESHOLD,
    cpuAlertSamples: p.CPU_ALERT_SAMPLES,
    disk: { paths: p.DISK_PATHS, alertThresholdPercent: p.DISK_ALERT_THRESHOLD },
    summary: {
      memoryHours: p.PERF_SUMMARY_MEMORY_HOURS,
      maxPoints: p.PERF_SUMMARY_MAX_POINTS,
      rollupRetentionDays: p.PERF_ROLLUP_RETENTION_DAYS,
      maxUserSeries: p.PERF_MAX_USER_SERIES,
    },
    apiToken: p.PERF_API_TOKEN,
    targets: { ...DEFAULT_TARGETS, ...p.PERF_TARGETS },
    maxOperations: p.PERF_MAX_OPERATIONS,
    maxMetricOperations: Math.min(p.PERF_MAX_METRIC_OPERATIONS, p.PERF_MAX_OPERATIONS),
    alerts: {
      listMax: p.ALERT_LIST_MAX,
      repeatSeconds: p.ALERT_REPEAT_SECONDS,
      keyPrefix: p.ALERT_KEY_PREFIX,
      bufferMax: p.ALERT_BUFFER_MAX,
    },
    redisCommandTimeoutMs: p.REDIS_COMMAND_TIMEOUT_MS,
    cacheRedisCommandTimeoutMs: p.CACHE_REDIS_COMMAND_TIMEOUT_MS,
    server: { port: p.PORT, host: p.HOST, shutdownTimeoutMs: p.SHUTDOWN_TIMEOUT_MS },
    serviceName: p.OTEL_SERVICE_NAME,
    otlp: otlpConfig(p),
    logLevel: p.LOG_LEVEL,
  });
}

function otlpConfig(p: Parsed): PerfSidecarConfig['otlp'] {
  const endpoint = p.OTEL_EXPORTER_OTLP_ENDPOINT;
  const signal = (
    name: 'traces' | 'metrics',
    url: string | undefined,
    protocol: OtlpProtocol | undefined,
  ) => {
    const chosen = protocol ?? p.OTEL_EXPORTER_OTLP_PROTOCOL;
    // gRPC takes the base endpoint; HTTP appends the signal path to it (never to a signal URL).
    const base = endpoint && (chosen === 'grpc' ? endpoint : `${endpoint.replace(/\/+$/, '')}/v1/${name}`);
    return { url: url ?? base, protocol: chosen };
  };
  const traces = signal('traces', p.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, p.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL);
  const metrics = signal(
    'metrics',
    p.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    p.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
  );
  const push = (names: readonly string[]) =>
    names.filter((n): n is PushExporter => n === 'otlp' || n === 'console');
  return {
    endpoint,
    protocol: p.OTEL_EXPORTER_OTLP_PROTOCOL,
    headers: p.OTEL_EXPORTER_OTLP_HEADERS,
    traces: {
      ...traces,
      exporters: push(p.OTEL_TRACES_EXPORTER ?? (traces.url ? ['otlp'] : [])),
      batch: {
        scheduledDelayMillis: p.OTEL_BSP_SCHEDULE_DELAY,
        maxQueueSize: p.OTEL_BSP_MAX_QUEUE_SIZE,
        // The SDK requires batch <= queue; a larger batch is capped rather than refused.
        maxExportBatchSize: Math.min(p.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, p.OTEL_BSP_MAX_QUEUE_SIZE),
        exportTimeoutMillis: p.OTEL_BSP_EXPORT_TIMEOUT,
      },
    },
    metrics: {
      ...metrics,
      exporters: push(p.OTEL_METRICS_EXPORTER),
      intervalMs: p.OTEL_METRIC_EXPORT_INTERVAL,
    },
  };
}

let cached: PerfSidecarConfig | undefined;

/**
 * The process configuration, read from `process.env` once and cached.
 *
 * @throws {ConfigError} when the environment is invalid.
 */
export function getConfig(): PerfSidecarConfig {
  cached ??= loadConfig(process.env);
  return cached;
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (inner !== null && typeof inner === 'object') deepFreeze(inner);
  }
  return Object.freeze(value);
}
