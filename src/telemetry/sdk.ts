/**
 * Starting and stopping perf-sidecar's telemetry: the OpenTelemetry SDK with its resource,
 * instrumentations, metric readers, the target span processor, the optional OTLP trace and metric
 * export (chosen by the standard `OTEL_*` variables), the per-minute windows with their rollups and
 * the alert sink.
 *
 * `startTelemetry` builds each part once, in dependency order, from the builders of `resource.ts`,
 * `storage.ts`, `pipeline.ts` and `exporters.ts`; with monitoring disabled it uses the same
 * builders and leaves the SDK out.
 */
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { IMetricReader, MeterProvider } from '@opentelemetry/sdk-metrics';
import type { SpanExporter, SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Redis } from 'ioredis';
import type { AlertSink } from '../alerts/sink.ts';
import type { AlertStore } from '../alerts/store.ts';
import { getConfig, type PerfSidecarConfig } from '../config.ts';
import { errorText, PerfSidecarError } from '../shared/errors.ts';
import { getLogger, setLogLevel } from '../shared/logger.ts';
import { closeRedisClient } from '../shared/redis.ts';
import { withTimeout } from '../shared/timeout.ts';
import { redactUrl } from '../shared/urls.ts';
import { exportDestination, traceExportProcessors } from './exporters.ts';
import type { ServiceIdentity } from './identity.ts';
import { defaultInstrumentations, type MetricPipeline, startMetrics, startTracing } from './pipeline.ts';
import { TargetSpanProcessor } from './processor.ts';
import { buildResource } from './resource.ts';
import { ResourceSampler } from './resources.ts';
import type { RedisRollupStore } from './rollup.ts';
import type { RollupExporter } from './rollup-exporter.ts';
import { setTrackingState } from './state.ts';
import { buildAlerts, buildRollups, connectRedis, pingRedis, type TelemetryRedis } from './storage.ts';
import { durationBoundaries, resolveTarget } from './targets.ts';
import { MinuteWindows } from './windows.ts';

/** Options of {@link startTelemetry}. All optional: the defaults come from the configuration. */
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
   * {@link stopTelemetry}. For alerting that never waits, give it `enableOfflineQueue: false`
   * and a `commandTimeout`.
   */
  readonly redis?: Redis;
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
}

/** The configuration a running telemetry uses: `serviceName` is the resource's `service.name`. */
export type TelemetryConfig = PerfSidecarConfig & { readonly serviceName: string };

/** A running telemetry setup, returned by {@link startTelemetry}. */
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
  /** Per-minute windows over the metrics: what performance reports are computed from. */
  readonly windows: MinuteWindows;
  /** Redis rollups of the windows (what reports read), when Redis is configured. */
  readonly rollups: RedisRollupStore | undefined;
  /** The exporter that writes the windows' minutes to {@link Telemetry.rollups}, with it. */
  readonly rollupExporter: RollupExporter | undefined;
  /** The resource sampler (started by the sidecar or `performanceMiddleware`). */
  readonly resources: ResourceSampler;
  /** Prometheus text exposition of all metrics, for a `/metrics` endpoint. */
  renderPrometheus(): Promise<string>;
  /**
   * Round trip of a Redis `PING` on the telemetry's connection, ms; rejects when Redis is not
   * reachable. `undefined` when the telemetry has no Redis (memory-only mode, a custom alert store).
   */
  readonly pingRedis: (() => Promise<number>) | undefined;
}

interface Running extends Telemetry {
  /** The SDK's providers; `undefined` with monitoring disabled. */
  readonly providers: { readonly tracer: TracerProvider; readonly meter: MeterProvider } | undefined;
  readonly instrumentations: readonly Instrumentation[];
  readonly redis: TelemetryRedis | undefined;
}

let running: Running | undefined;

/**
 * Starts telemetry: the OpenTelemetry SDK with a resource (service, host, process; never the
 * command line), the http, pg, ioredis and runtime-node instrumentations, a Prometheus reader
 * (served by the caller, no server of its own), an in-process reader, the target span processor,
 * an OTLP trace exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (its package loaded only then),
 * and the alert sink (Redis when `REDIS_URL` is set, memory otherwise).
 *
 * Idempotent: a second call returns the running setup and ignores its options. With
 * `ENABLE_PERFORMANCE_MONITORING=false` no SDK is started; tracked operations only run their code.
 *
 * @throws {ConfigError} when the environment is invalid (and no `options.config` was given).
 */
export function startTelemetry(options: TelemetryOptions = {}): Telemetry {
  if (running) return running;
  // The entry point's one configuration read; everything below is given what it needs.
  const given = options.config ?? getConfig();
  const { resource, serviceName } = buildResource(given, options.service);
  const config: TelemetryConfig = Object.freeze({ ...given, serviceName });
  setLogLevel(config.logLevel);
  const targets = Object.freeze({ ...config.targets, ...options.targets });
  const enabled = config.monitoringEnabled;

  const redis = connectRedis(config, options.redis, options.dependenciesReady);
  const meters = enabled ? startMetrics(config, resource, options.metricReaders ?? []) : undefined;
  const alerts = buildAlerts(config, options.alertStore, redis, meters?.meter);
  const processor = new TargetSpanProcessor({
    alerts,
    serviceName,
    maxOperations: config.maxOperations,
    maxMetricOperations: config.maxMetricOperations,
    boundaries: durationBoundaries(Object.values(targets)),
    ...(meters ? { meterProvider: meters.provider } : {}),
  });
  const rollups = buildRollups(
    config,
    redis,
    (operation) => processor.targetOf(operation) ?? resolveTarget(targets, operation, undefined, undefined),
  );
  const windows = new MinuteWindows({
    retentionMinutes: config.summary.memoryHours * 60,
    maxPoints: config.summary.maxPoints,
    ...(meters ? { reader: meters.windowsReader } : {}),
    ...(rollups ? { exporter: rollups.exporter } : {}),
  });
  const instrumentations = !meters
    ? []
    : options.instrumentations
      ? [...options.instrumentations]
      : defaultInstrumentations();
  const tracer =
    meters &&
    startTracing(resource, spanProcessors(config, options, processor), instrumentations, meters.provider);
  // After the tracer provider is registered: the tracking state looks the tracer up.
  setTrackingState({ enabled, targets });
  if (enabled) windows.start();

  running = {
    config,
    targets,
    enabled,
    memoryOnly: options.alertStore === undefined && redis === undefined,
    alerts,
    processor,
    windows,
    rollups: rollups?.store,
    rollupExporter: rollups?.exporter,
    resources: buildSampler(config, alerts, meters),
    renderPrometheus: meters ? () => meters.prometheus.render() : async () => '',
    pingRedis: redis && (() => pingRedis(redis)),
    providers: meters && tracer ? { tracer, meter: meters.provider } : undefined,
    instrumentations,
    redis,
  };
  logStart(running, options);
  return running;
}

/** The target processor first, then the caller's, then the export ones. */
function spanProcessors(
  config: PerfSidecarConfig,
  options: TelemetryOptions,
  processor: TargetSpanProcessor,
): SpanProcessor[] {
  return [
    processor,
    ...(options.spanProcessors ?? []),
    ...traceExportProcessors(config.otlp, options.traceExporter),
  ];
}

function buildSampler(
  config: TelemetryConfig,
  alerts: AlertSink,
  meters: MetricPipeline | undefined,
): ResourceSampler {
  return new ResourceSampler({
    alerts,
    serviceName: config.serviceName,
    memoryAlertThresholdMb: config.memoryAlertThresholdMb,
    cpuAlertThresholdPercent: config.cpuAlertThresholdPercent,
    cpuSustainSamples: config.cpuAlertSamples,
    diskPaths: [process.cwd(), ...config.disk.paths],
    ...(meters ? { meter: meters.meter } : {}),
  });
}

/** The start-up line: where alerts, traces and metrics go (URLs redacted, headers never). */
function logStart(telemetry: Telemetry, options: TelemetryOptions): void {
  const { config, memoryOnly } = telemetry;
  const log = getLogger();
  if (!telemetry.enabled) {
    log.info('performance monitoring is disabled (ENABLE_PERFORMANCE_MONITORING=false)');
    return;
  }
  log.info(
    {
      service: config.serviceName,
      alerts: memoryOnly ? 'memory' : config.redisUrl ? redactUrl(config.redisUrl) : 'custom',
      traces: options.traceExporter ? 'custom exporter' : exportDestination(config.otlp.traces),
      metrics: [
        '/metrics',
        ...(config.otlp.metrics.exporters.length > 0 ? [exportDestination(config.otlp.metrics)] : []),
      ],
    },
    memoryOnly ? 'telemetry started (memory-only mode: alerts kept in process)' : 'telemetry started',
  );
}

/** The running telemetry, or `undefined` before {@link startTelemetry} (internal: entry points only). */
export function runningTelemetry(): Telemetry | undefined {
  return running;
}

/**
 * The running telemetry.
 *
 * @throws {PerfSidecarError} `PERF_NOT_STARTED` before {@link startTelemetry}.
 */
export function getTelemetry(): Telemetry {
  if (!running) {
    throw new PerfSidecarError('PERF_NOT_STARTED', 'telemetry is not started; call startTelemetry() first');
  }
  return running;
}

/** @deprecated Renamed {@link getTelemetry}; this name goes in the next minor release. */
export const requireTelemetry: () => Telemetry = getTelemetry;

/**
 * Stops telemetry: writes the last summary minutes, flushes pending alerts, then spans (export)
 * and metrics, all within `timeoutMs` (default 5000) plus a Redis QUIT, closes the connections it opened, disables the instrumentations and
 * unregisters the global providers, so that {@link startTelemetry} can run again.
 */
export async function stopTelemetry(timeoutMs = 5000): Promise<void> {
  const current = running;
  if (!current) return;
  running = undefined;
  setTrackingState(undefined);
  const log = getLogger();
  // The telemetry's own sockets do not keep the process alive; this timer does, until the flushes
  // below are done, so that a shutdown started from 'beforeExit' completes.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    await stop(current, timeoutMs, log);
  } finally {
    clearInterval(keepAlive);
  }
}

async function stop(current: Running, timeoutMs: number, log: ReturnType<typeof getLogger>): Promise<void> {
  // One deadline for the whole stop; each step gets a share of what is left. Alerts come before
  // the SDK: they are the records other programs consume, spans are the less precious export.
  const deadline = performance.now() + timeoutMs;
  const left = (share: number) => Math.max(100, (deadline - performance.now()) * share);
  current.resources.stop();
  // The last minutes go to Redis before the SDK (and its readers) shut down.
  try {
    await withTimeout(current.windows.stop(), left(0.3), 'summary rollup flush');
  } catch (error) {
    log.warn({ err: errorText(error) }, 'last summary minutes were not saved');
  }
  await current.alerts.close(left(0.5));
  if (current.providers) {
    const { tracer, meter } = current.providers;
    try {
      await withTimeout(
        Promise.all([tracer.shutdown(), meter.shutdown()]),
        left(0.8),
        'telemetry SDK shutdown',
      );
    } catch (error) {
      log.warn({ err: errorText(error) }, 'telemetry SDK shutdown did not complete');
    }
  }
  if (current.redis?.owned) {
    try {
      await closeRedisClient(await current.redis.owned);
    } catch {
      // Never connected: nothing to close.
    }
  }
  for (const instrumentation of current.instrumentations) instrumentation.disable();
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
}

/** @deprecated Renamed {@link stopTelemetry}; this name goes in the next minor release. */
export const shutdownTelemetry: (timeoutMs?: number) => Promise<void> = stopTelemetry;
