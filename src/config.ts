/**
 * perf-sidecar configuration: the only module that reads `process.env`.
 *
 * {@link loadConfig} turns an environment into one typed, validated, frozen {@link PerfSidecarConfig}.
 * Every variable is declared once, in `config/variables.ts` (`config/otel.ts` for the standard
 * OpenTelemetry ones), with how its text is read (which gives
 * its accepted form), its default and its description; {@link CONFIG_VARIABLES} lists them for the
 * documentation. An invalid value stops start-up with a {@link ConfigError} whose one message names
 * each bad variable, what is wrong with its value and what was expected. Secret values (URLs with
 * passwords, tokens, headers) are never echoed.
 *
 * Only entry points call {@link getConfig} (the preload, the sidecar server, `startSidecar` and the
 * module-level `start*()` helpers); library code gets its configuration passed in.
 */

import type { MetricTemporality } from './config/otel.ts';
import {
  DEFAULT_TARGETS,
  MAX_DISK_PATHS,
  type OtlpProtocol,
  RESOLVED_VARIABLES,
  SETTINGS,
  type Variable,
} from './config/variables.ts';
import { hasHashTag } from './shared/cluster.ts';
import { PerfSidecarError } from './shared/errors.ts';
import { hideUserinfo } from './shared/urls.ts';

export { DEFAULT_TARGETS, MAX_DISK_PATHS, type OtlpProtocol };

/** The values of a table of variables, shaped like the table. */
type ValuesOf<T> = { readonly [K in keyof T]: T[K] extends Variable<infer V> ? V : ValuesOf<T[K]> };

/** A push exporter chosen by `OTEL_TRACES_EXPORTER` or `OTEL_METRICS_EXPORTER`. */
export type PushExporter = 'otlp' | 'console';

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

/** OTLP export, by the standard OpenTelemetry variables. */
export interface OtlpConfig {
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
    /** `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`. */
    readonly temporality: MetricTemporality;
  };
}

/**
 * The validated configuration of one perf-sidecar process. Each field is documented with its
 * variable in {@link CONFIG_VARIABLES} (and docs/configuration.md).
 */
export type PerfSidecarConfig = ValuesOf<typeof SETTINGS> & {
  /** The OpenTelemetry SDK's own settings; `spanLimits` resolved from the `OTEL_*_LIMIT` variables. */
  readonly sdk: { readonly spanLimits: SpanLimitsConfig };
  /**
   * `PERF_MAX_METRIC_OPERATIONS`, at most `maxOperations`: operations with their own `/metrics`
   * series; later names are exported as `_other` (reports still show them by name).
   */
  readonly maxMetricOperations: number;
  /** OTLP export, by the standard OpenTelemetry variables. */
  readonly otlp: OtlpConfig;
};

/**
 * Span limits of the `OTEL_SPAN_*` and `OTEL_ATTRIBUTE_*` variables (the span-specific variable
 * over the general one); an absent field keeps the SDK's default.
 */
export interface SpanLimitsConfig {
  readonly attributeCountLimit?: number;
  readonly attributeValueLengthLimit?: number;
  readonly eventCountLimit?: number;
  readonly linkCountLimit?: number;
  readonly attributePerEventCountLimit?: number;
  readonly attributePerLinkCountLimit?: number;
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

/** Environment variable documentation: name, default and accepted form. Drives the docs table. */
export interface ConfigVariable {
  /** Variable name. */
  readonly name: string;
  /** Default, as text (`unset (...)` when there is none). */
  readonly default: string;
  /** Accepted form. */
  readonly expected: string;
  /** Whether the value may hold a secret and must never be echoed. */
  readonly secret: boolean;
  /** One-line description. */
  readonly description: string;
}

type Env = Readonly<Record<string, string | undefined>>;
type Table = { readonly [key: string]: Variable<unknown> | Table };

function isVariable(entry: Variable<unknown> | Table): entry is Variable<unknown> {
  return typeof (entry as Variable<unknown>).name === 'string' && 'schema' in entry;
}

function variablesOf(table: Table): Variable<unknown>[] {
  return Object.values(table).flatMap((entry) => (isVariable(entry) ? [entry] : variablesOf(entry)));
}

/** Every variable perf-sidecar reads, with its default and accepted form (the docs table). */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = Object.freeze(
  [...variablesOf(SETTINGS), ...variablesOf(RESOLVED_VARIABLES)].map(
    ({ name, default: shown, expected, secret, description }) => ({
      name,
      default: shown,
      expected,
      secret,
      description,
    }),
  ),
);

function describeRaw(raw: string, secret: boolean): string {
  if (secret) return 'the value';
  // A URL that may not hold credentials can still be given some: the refusal must not echo them.
  const text = hideUserinfo(raw);
  const shown = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return JSON.stringify(shown);
}

/** Reads every variable of `table` from `env`, in table order, into an object shaped like it. */
function read(table: Table, env: Env, problems: ConfigProblem[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(table)) {
    if (!isVariable(entry)) {
      out[key] = read(entry, env, problems);
      continue;
    }
    const raw = env[entry.name];
    if (raw === undefined || raw.trim() === '') {
      out[key] = entry.fallback;
      continue;
    }
    const result = entry.schema.safeParse(raw);
    if (result.success) out[key] = result.data;
    else {
      problems.push({
        variable: entry.name,
        problem: `${describeRaw(raw, entry.secret)} ${result.error.issues[0]?.message ?? 'is invalid'}`,
        expected: entry.expected,
      });
    }
  }
  return out;
}

/** The accepted form of a key prefix on a Redis Cluster. */
export const HASH_TAG_FORM =
  'a prefix with a hash tag, such as {perf}: (on a Redis Cluster every telemetry key must share one hash slot)';

/** Whether a key prefix holds a Redis Cluster hash tag (see src/shared/cluster.ts). */
export { hasHashTag };

/**
 * Reads and validates the configuration from an environment (default `process.env`).
 *
 * @param env variables to read; tests pass their own object.
 * @returns a frozen configuration object.
 * @throws {ConfigError} naming every invalid variable, its problem and the expected form.
 */
export function loadConfig(env: Env = process.env): PerfSidecarConfig {
  const problems: ConfigProblem[] = [];
  const settings = read(SETTINGS, env, problems) as ValuesOf<typeof SETTINGS>;
  const resolved = read(RESOLVED_VARIABLES, env, problems) as ValuesOf<typeof RESOLVED_VARIABLES>;
  if (settings.redisCluster && settings.redisUrl === undefined) {
    problems.push({
      variable: 'REDIS_CLUSTER',
      problem: 'is true without REDIS_URL',
      expected: 'REDIS_URL set to one node of the cluster, or REDIS_CLUSTER unset',
    });
  }
  if (settings.redisCluster && !hasHashTag(settings.alerts.keyPrefix)) {
    problems.push({
      variable: 'ALERT_KEY_PREFIX',
      problem: `${settings.alerts.keyPrefix === '' ? 'is empty' : `is "${settings.alerts.keyPrefix}"`}, without a hash tag, while REDIS_CLUSTER is true`,
      expected: HASH_TAG_FORM,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze({
    ...settings,
    maxMetricOperations: Math.min(resolved.maxMetricOperations, settings.maxOperations),
    otlp: otlpConfig(resolved),
    sdk: { ...settings.sdk, spanLimits: spanLimitsOf(resolved) },
  });
}

function spanLimitsOf(v: ValuesOf<typeof RESOLVED_VARIABLES>): SpanLimitsConfig {
  const limits: Record<keyof SpanLimitsConfig, number | undefined> = {
    attributeCountLimit: v.spanAttributeCountLimit ?? v.attributeCountLimit,
    attributeValueLengthLimit: v.spanAttributeValueLengthLimit ?? v.attributeValueLengthLimit,
    eventCountLimit: v.spanEventCountLimit,
    linkCountLimit: v.spanLinkCountLimit,
    attributePerEventCountLimit: v.eventAttributeCountLimit ?? v.attributeCountLimit,
    attributePerLinkCountLimit: v.linkAttributeCountLimit ?? v.attributeCountLimit,
  };
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined));
}

function otlpConfig(v: ValuesOf<typeof RESOLVED_VARIABLES>): OtlpConfig {
  const endpoint = v.endpoint;
  const signal = (
    name: 'traces' | 'metrics',
    url: string | undefined,
    protocol: OtlpProtocol | undefined,
  ) => {
    const chosen = protocol ?? v.protocol;
    // gRPC takes the base endpoint; HTTP appends the signal path to it (never to a signal URL).
    const base = endpoint && (chosen === 'grpc' ? endpoint : `${endpoint.replace(/\/+$/, '')}/v1/${name}`);
    return { url: url ?? base, protocol: chosen };
  };
  const traces = signal('traces', v.tracesEndpoint, v.tracesProtocol);
  const metrics = signal('metrics', v.metricsEndpoint, v.metricsProtocol);
  const push = (names: readonly string[]) =>
    names.filter((n): n is PushExporter => n === 'otlp' || n === 'console');
  return {
    endpoint,
    protocol: v.protocol,
    headers: v.headers,
    traces: {
      ...traces,
      exporters: push(v.tracesExporter ?? (traces.url ? ['otlp'] : [])),
      batch: {
        scheduledDelayMillis: v.batchDelayMs,
        maxQueueSize: v.batchQueueSize,
        // The SDK requires batch <= queue; a larger batch is capped rather than refused.
        maxExportBatchSize: Math.min(v.batchSize, v.batchQueueSize),
        exportTimeoutMillis: v.batchTimeoutMs,
      },
    },
    metrics: {
      ...metrics,
      exporters: push(v.metricsExporter),
      intervalMs: v.metricIntervalMs,
      temporality: v.metricsTemporality,
    },
  };
}

let cached: PerfSidecarConfig | undefined;

/**
 * The process configuration, read from `process.env` once and cached. For entry points only.
 *
 * @throws {ConfigError} when the environment is invalid.
 */
export function getConfig(): PerfSidecarConfig {
  cached ??= loadConfig(process.env);
  return cached;
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (inner !== null && typeof inner === 'object' && !Object.isFrozen(inner)) deepFreeze(inner);
  }
  return Object.freeze(value);
}
