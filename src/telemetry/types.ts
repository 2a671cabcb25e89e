/**
 * The options and the result of `startTelemetry`: what a caller can give and what a running
 * telemetry offers (kept apart from the start-up code, as contrib instrumentations keep their
 * configuration type in `types.ts`).
 */

import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { IMetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { AlertSink, AlertStore } from '../alerts/index.ts';
import type { PerfSidecarConfig } from '../config.ts';
import type { RedisClient } from '../shared/redis.ts';
import type { BudgetMonitor, ObjectiveInput } from '../slo/index.ts';
import type { SpanEvaluator, TargetRules } from './evaluate.ts';
import type { ServiceIdentity } from './identity.ts';
import type { OperationMetricSink } from './metric-sink.ts';
import type { TargetSpanProcessor } from './processor.ts';
import type { ResourceSampler } from './resources.ts';
import type { RedisRollupStore } from './rollup.ts';
import type { RollupExporter } from './rollup-exporter.ts';
import type { ServiceRegistry } from './services.ts';
import type { SystemHistory } from './system-history.ts';
import type { MinuteWindows } from './windows.ts';

/** Options of `startTelemetry`. All optional: the defaults come from the configuration. */
export interface TelemetryOptions {
  /** Configuration to use instead of the one read from `process.env`. */
  readonly config?: PerfSidecarConfig;
  /** Targets merged over the configured table (seconds by operation name or kind). */
  readonly targets?: Readonly<Record<string, number>>;
  /**
   * Default `service.name` / `service.version` of the resource, below `OTEL_SERVICE_NAME` and
   * `OTEL_RESOURCE_ATTRIBUTES`. Default: the host's package.json (name, version), else the SDK's
   * `unknown_service:node`. The sidecar server passes perf-sidecar's own.
   */
  readonly service?: ServiceIdentity;
  /**
   * Redis client for the alert lists, used instead of one made from `REDIS_URL`. It is not closed by
   * `stopTelemetry`. For alerting that never waits, give it `enableOfflineQueue: false`
   * and a `commandTimeout`.
   */
  readonly redis?: RedisClient;
  /** Alert store used instead of Redis or memory (advanced: a custom destination). */
  readonly alertStore?: AlertStore;
  /** Instrumentations used instead of the default http, pg, ioredis and runtime-node set. */
  readonly instrumentations?: readonly Instrumentation[];
  /** Extra span processors, run after the target processor (for example an in-memory exporter). */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** Span exporter used instead of the ones chosen by `OTEL_TRACES_EXPORTER` / `OTEL_EXPORTER_OTLP_*`. */
  readonly traceExporter?: SpanExporter;
  /** Extra metric readers, next to the Prometheus and in-process ones. */
  readonly metricReaders?: readonly IMetricReader[];
  /**
   * A promise the Redis connection waits for before ioredis is first imported. The preload entry
   * passes the ESM hooks' acknowledgement, so the host's ioredis is instrumented.
   */
  readonly dependenciesReady?: Promise<unknown>;
  /**
   * The current target rules, looked up for every span without `perf.target_seconds` (the
   * sidecar passes its `PERF_RULES_FILE` rules, which reload at any time). Default: none.
   */
  readonly rules?: TargetRules;
  /**
   * Objectives by operation name or kind, over `PERF_SLO_OBJECTIVE` / `PERF_SLO_PERIOD_DAYS` /
   * `PERF_SLO_ERRORS` (a rule of `PERF_RULES_FILE` that gives an objective comes first), for
   * example `{ checkout: { objective: 0.999 }, ai_operation: { objective: 0.95, periodDays: 7 } }`.
   */
  readonly slos?: Readonly<Record<string, ObjectiveInput>>;
}

/** The configuration a running telemetry uses: `serviceName` is the resource's `service.name`. */
export type TelemetryConfig = PerfSidecarConfig & { readonly serviceName: string };

/** A running telemetry setup, returned by `startTelemetry`. */
export interface Telemetry {
  /** The configuration it runs with, `serviceName` resolved (what alerts and reports carry). */
  readonly config: TelemetryConfig;
  /** Targets in effect (table plus overrides). */
  readonly targets: Readonly<Record<string, number>>;
  /** Whether performance monitoring is on (`ENABLE_PERFORMANCE_MONITORING`). */
  readonly enabled: boolean;
  /** Whether alerts stay in memory (no Redis). */
  readonly memoryOnly: boolean;
  /** The alert sink: raise alerts, read recent ones, see buffer statistics. */
  readonly alerts: AlertSink;
  /** The target span processor (also usable in a host's own SDK). */
  readonly processor: TargetSpanProcessor;
  /**
   * @internal The processor's span evaluator, which the OTLP receiver evaluates received spans
   * with (one implementation, one set of bounds).
   */
  readonly evaluator: SpanEvaluator;
  /**
   * @internal The services reported on (the own one and those exporting to the sidecar): their
   * recorded names and runtime figures, the receiver's runtime sink.
   */
  readonly services: ServiceRegistry;
  /**
   * @internal perf-sidecar's own metric aggregation, bound to every metric reader of the
   * telemetry (`operation-metrics.ts`): what the operation metrics and the performance middleware's
   * `http.server.request.duration` record into, a series per frozen attribute set with no SDK
   * `record` (which hashes the set once per reader). `undefined` with monitoring disabled.
   */
  readonly metricStore: OperationMetricSink | undefined;
  /** Per-minute windows over the metrics: what performance reports are computed from. */
  readonly windows: MinuteWindows;
  /** Redis rollups of the windows (what reports read), when Redis is configured. */
  readonly rollups: RedisRollupStore | undefined;
  /** @internal The exporter that writes the windows' minutes to {@link Telemetry.rollups}, with it. */
  readonly rollupExporter: RollupExporter | undefined;
  /**
   * The error budgets: every operation with a target judged against its objective each minute,
   * burn-rate alerts raised by one instance per deployment. `undefined` with monitoring off.
   */
  readonly budgets: BudgetMonitor | undefined;
  /** The resource sampler (started by the sidecar or `performanceMiddleware`). */
  readonly resources: ResourceSampler;
  /**
   * @internal Each service's runtime figures per minute over the last 24 hours, with the own
   * service's cache hit rates and pool use (what `GET /api/system/resources/series` draws).
   */
  readonly systemHistory: SystemHistory;
  /** Prometheus text exposition of all metrics, for a `/metrics` endpoint. */
  renderPrometheus(): Promise<string>;
  /**
   * Round trip of a Redis `PING` on the telemetry's connection, ms; rejects when Redis is not
   * reachable. `undefined` when the telemetry has no Redis (memory-only mode, a custom alert store).
   */
  readonly pingRedis: (() => Promise<number>) | undefined;
  /**
   * Reads `PERF_RULES_FILE` again (the sidecar calls it on SIGHUP). Resolves `true` when its rules
   * are now in force, `false` when the file could not be used (the rules before stay, and a warning
   * says why) or there is no rules file. Never rejects.
   */
  reloadRules(): Promise<boolean>;
}
