/**
 * Starting and stopping perf-sidecar's telemetry: the NodeSDK with its resource, instrumentations,
 * metric readers, the target span processor, the optional OTLP trace and metric export (chosen by
 * the standard `OTEL_*` variables) and the alert sink.
 */
import { context, type Meter, metrics, propagation, trace } from '@opentelemetry/api';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import {
  type DetectedResource,
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  type ResourceDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import {
  ConsoleMetricExporter,
  type IMetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Redis } from 'ioredis';
import { RedisAlertStore } from '../alerts/redis-store.ts';
import { AlertSink } from '../alerts/sink.ts';
import { type AlertStore, MemoryAlertStore } from '../alerts/store.ts';
import { getConfig, type OtlpSignal, type PerfSidecarConfig } from '../config.ts';
import { errorText, PerfSidecarError } from '../shared/errors.ts';
import { getLogger, setLogLevel } from '../shared/logger.ts';
import { closeRedisClient, createRedisClient } from '../shared/redis.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import { withTimeout } from '../shared/timeout.ts';
import { untraced } from '../shared/tracing.ts';
import { redactUrl } from '../shared/urls.ts';
import {
  ATTR_TELEMETRY_DISTRO_NAME,
  ATTR_TELEMETRY_DISTRO_VERSION,
  hostPackageIdentity,
  type ServiceIdentity,
} from './identity.ts';
import { METRIC_OPERATION_TAIL_DURATION, TargetSpanProcessor } from './processor.ts';
import { PrometheusEndpoint } from './prometheus.ts';
import { ResourceSampler } from './resources.ts';
import { RedisRollupStore } from './rollup.ts';
import { METRIC_OPERATION_DURATION, METRIC_USER_OPERATION_DURATION } from './semconv.ts';
import { setTrackingState } from './state.ts';
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
  /** Redis rollups of the windows, when Redis is configured. */
  readonly rollups: RedisRollupStore | undefined;
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
  readonly sdk: NodeSDK | undefined;
  readonly instrumentations: readonly Instrumentation[];
  readonly ownedRedis: Promise<Redis> | undefined;
}

let running: Running | undefined;

/**
 * Drops `process.command_args` from the process detector's output: command lines can carry
 * passwords (`--redis-url=redis://:secret@...`), and resource attributes go on every span.
 */
const processDetectorWithoutArgs: ResourceDetector = {
  detect(config): DetectedResource {
    const detected = processDetector.detect(config);
    const attributes = { ...detected.attributes };
    delete attributes['process.command_args'];
    delete attributes['process.command_line'];
    return { ...detected, attributes };
  },
};

function defaultInstrumentations(): Instrumentation[] {
  return [
    new HttpInstrumentation(),
    // Parameter values stay out of spans (enhancedDatabaseReporting off): they can be personal data.
    new PgInstrumentation({ enhancedDatabaseReporting: false }),
    new IORedisInstrumentation(),
    new RuntimeNodeInstrumentation(),
  ];
}

/**
 * The span processors of the exporters `OTEL_TRACES_EXPORTER` chose (as the SDK does: console
 * through a simple processor, OTLP through a batch one with the `OTEL_BSP_*` settings, which
 * sdk-trace 3.x no longer reads itself). An OTLP exporter is given the resolved URL
 * and headers; what else the standard variables set (timeouts, compression, certificates,
 * signal-specific headers) it reads itself.
 */
function traceProcessors(config: PerfSidecarConfig): SpanProcessor[] {
  const { traces, headers } = config.otlp;
  return traces.exporters.map((name) =>
    name === 'console'
      ? new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() })
      : new BatchSpanProcessor({ exporter: otlpTraceExporter(traces, headers), ...traces.batch }),
  );
}

function otlpTraceExporter(signal: OtlpSignal, headers: Readonly<Record<string, string>>): SpanExporter {
  const url = signal.url === undefined ? {} : { url: signal.url };
  if (signal.protocol === 'grpc') return new GrpcTraceExporter(url);
  const options = { ...url, headers: { ...headers } };
  return signal.protocol === 'http/json' ? new JsonTraceExporter(options) : new ProtoTraceExporter(options);
}

/** The push readers `OTEL_METRICS_EXPORTER` chose, next to the Prometheus and in-process readers. */
function metricPushReaders(config: PerfSidecarConfig, exclude: readonly string[]): IMetricReader[] {
  const { metrics: signal, headers } = config.otlp;
  return signal.exporters.map((name) => {
    let exporter: PushMetricExporter;
    if (name === 'console') exporter = new ConsoleMetricExporter();
    else if (signal.protocol === 'grpc')
      exporter = new GrpcMetricExporter(signal.url ? { url: signal.url } : {});
    else {
      const options = { ...(signal.url ? { url: signal.url } : {}), headers: { ...headers } };
      exporter =
        signal.protocol === 'http/json' ? new JsonMetricExporter(options) : new ProtoMetricExporter(options);
    }
    return new PeriodicExportingMetricReader({
      exporter: withoutMetrics(exporter, exclude),
      exportIntervalMillis: signal.intervalMs,
      exportTimeoutMillis: Math.min(30_000, signal.intervalMs),
    });
  });
}

/** An exporter that leaves out the named instruments (per-user series stay in process). */
function withoutMetrics(exporter: PushMetricExporter, names: readonly string[]): PushMetricExporter {
  const excluded = new Set(names);
  return {
    export: (metrics, done) =>
      exporter.export(
        {
          ...metrics,
          scopeMetrics: metrics.scopeMetrics.map((scope) => ({
            ...scope,
            metrics: scope.metrics.filter((m) => !excluded.has(m.descriptor.name)),
          })),
        },
        done,
      ),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    ...(exporter.selectAggregationTemporality
      ? { selectAggregationTemporality: exporter.selectAggregationTemporality.bind(exporter) }
      : {}),
    ...(exporter.selectAggregation ? { selectAggregation: exporter.selectAggregation.bind(exporter) } : {}),
  };
}

/**
 * The resource: the SDK defaults, the given identity defaults (else the host's package.json),
 * perf-sidecar as `telemetry.distro.*`, then the detectors (host, OS, process without its command
 * line, and the environment: `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`). Also the resolved
 * `service.name`, computed from synchronous sources only, for alerts and reports.
 */
function makeResource(config: PerfSidecarConfig, identity: ServiceIdentity | undefined) {
  const own = identity ?? hostPackageIdentity();
  const defaults = defaultResource().merge(
    resourceFromAttributes({
      ...(own.name ? { [ATTR_SERVICE_NAME]: own.name } : {}),
      ...(own.version ? { [ATTR_SERVICE_VERSION]: own.version } : {}),
      [ATTR_TELEMETRY_DISTRO_NAME]: SCOPE_NAME,
      [ATTR_TELEMETRY_DISTRO_VERSION]: VERSION,
    }),
  );
  let resource = defaults.merge(
    detectResources({
      detectors: [
        serviceInstanceIdDetector,
        hostDetector,
        osDetector,
        processDetectorWithoutArgs,
        envDetector,
      ],
    }),
  );
  // A configuration passed in code wins over what the environment detector found.
  if (config.serviceName !== undefined) {
    resource = resource.merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }));
  }
  const fromEnv = envDetector.detect().attributes?.[ATTR_SERVICE_NAME];
  const serviceName =
    config.serviceName ??
    (typeof fromEnv === 'string' ? fromEnv : undefined) ??
    own.name ??
    String(defaultResource().attributes[ATTR_SERVICE_NAME] ?? 'unknown_service:node');
  return { resource, serviceName };
}

/**
 * Starts telemetry: the OpenTelemetry NodeSDK with a resource (service, host, process; never the
 * command line), the http, pg, ioredis and runtime-node instrumentations, a Prometheus reader
 * (served by the caller, no server of its own), an in-process reader, the target span processor,
 * an OTLP trace exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and the alert sink (Redis when
 * `REDIS_URL` is set, memory otherwise).
 *
 * Idempotent: a second call returns the running setup and ignores its options. With
 * `ENABLE_PERFORMANCE_MONITORING=false` no SDK is started; tracked operations only run their code.
 *
 * @throws {ConfigError} when the environment is invalid (and no `options.config` was given).
 */
export function startTelemetry(options: TelemetryOptions = {}): Telemetry {
  if (running) return running;
  const given = options.config ?? getConfig();
  const { resource, serviceName } = makeResource(given, options.service);
  const config: TelemetryConfig = Object.freeze({ ...given, serviceName });
  setLogLevel(config.logLevel);
  const targets = Object.freeze({ ...config.targets, ...options.targets });
  const log = getLogger();

  const memoryOnly =
    options.alertStore === undefined && options.redis === undefined && config.redisUrl === undefined;
  const ownedRedis =
    options.redis === undefined && config.redisUrl !== undefined
      ? createOwnedRedis(config.redisUrl, config, options)
      : undefined;
  const redis: Redis | Promise<Redis> | undefined = options.redis ?? ownedRedis;
  const store = makeStore(config, options, redis);
  const rollups =
    redis === undefined
      ? undefined
      : new RedisRollupStore({
          client: redis,
          keyPrefix: config.alerts.keyPrefix,
          retentionDays: config.summary.rollupRetentionDays,
          maxOperations: config.maxOperations + 1,
        });
  const pingRedis = redis === undefined ? undefined : () => ping(redis);
  const processorOptions = {
    serviceName: config.serviceName,
    maxOperations: config.maxOperations,
    maxMetricOperations: config.maxMetricOperations,
    boundaries: durationBoundaries(Object.values(targets)),
  };
  // Per-user series stay in process: user ids as Prometheus labels would be unbounded cardinality.
  // The tail histogram too: operations past PERF_MAX_METRIC_OPERATIONS are exported as `_other`.
  const inProcessOnly = [METRIC_USER_OPERATION_DURATION, METRIC_OPERATION_TAIL_DURATION];
  const prometheus = new PrometheusEndpoint({ exclude: inProcessOnly });
  const pushReaders = metricPushReaders(config, inProcessOnly);
  // The processor is created below; the windows only ask for targets when they write rollups.
  let processorRef: TargetSpanProcessor | undefined;
  const windows = new MinuteWindows({
    retentionMinutes: config.summary.memoryHours * 60,
    maxPoints: config.summary.maxPoints,
    ...(rollups ? { rollups } : {}),
    targetOf: (operation) =>
      processorRef?.targetOf(operation) ?? resolveTarget(targets, operation, undefined, undefined),
  });

  if (!config.monitoringEnabled) {
    const alerts = new AlertSink({ store, ...alertSettings(config) });
    const processor = new TargetSpanProcessor({ ...processorOptions, alerts });
    setTrackingState({ enabled: false, targets });
    running = {
      config,
      targets,
      enabled: false,
      memoryOnly,
      alerts,
      processor,
      windows,
      rollups,
      resources: makeSampler(config, alerts, undefined),
      renderPrometheus: async () => '',
      pingRedis,
      sdk: undefined,
      instrumentations: [],
      ownedRedis,
    };
    log.info('performance monitoring is disabled (ENABLE_PERFORMANCE_MONITORING=false)');
    return running;
  }

  // The sink's meter must come from the SDK's provider, so it is created after start; the processor
  // only needs it when the first span ends, by which time the sink exists.
  let alerts: AlertSink | undefined;
  const processor = new TargetSpanProcessor({
    ...processorOptions,
    alerts: { emit: (input) => alerts?.emit(input) },
  });
  processorRef = processor;
  const exportProcessors = options.traceExporter
    ? [new BatchSpanProcessor({ exporter: options.traceExporter, ...config.otlp.traces.batch })]
    : traceProcessors(config);
  const spanProcessors: SpanProcessor[] = [processor, ...(options.spanProcessors ?? []), ...exportProcessors];
  const instrumentations = options.instrumentations
    ? [...options.instrumentations]
    : defaultInstrumentations();

  const sdk = new NodeSDK({
    resource,
    // Detected above, so that the resolved service.name is known before the SDK starts.
    autoDetectResources: false,
    instrumentations,
    spanProcessors,
    metricReaders: [prometheus.reader, windows.reader, ...pushReaders, ...(options.metricReaders ?? [])],
    views: [
      {
        instrumentName: METRIC_USER_OPERATION_DURATION,
        aggregationCardinalityLimit: config.summary.maxUserSeries + 1,
      },
      {
        // Four series per operation (outcome x exceeded) plus `_other`; the SDK's default cap of
        // 2000 would otherwise fold operations into an overflow series before PERF_MAX_METRIC_OPERATIONS.
        instrumentName: METRIC_OPERATION_DURATION,
        aggregationCardinalityLimit: (config.maxMetricOperations + 1) * 4 + 1,
      },
      {
        // Six series (outcome x exceeded/frustrated) per operation not exported by name, plus `_other`.
        instrumentName: METRIC_OPERATION_TAIL_DURATION,
        aggregationCardinalityLimit: (config.maxOperations - config.maxMetricOperations + 1) * 6 + 1,
      },
    ],
    // No OTel log pipeline: perf-sidecar logs with pino, and an empty list stops the SDK from
    // building a default OTLP log exporter that would retry against nowhere.
    logRecordProcessors: [],
  });
  sdk.start();
  const meter = metrics.getMeter(SCOPE_NAME, VERSION);
  alerts = new AlertSink({ store, ...alertSettings(config), meter });
  setTrackingState({ enabled: true, targets });
  windows.start();

  running = {
    config,
    targets,
    enabled: true,
    memoryOnly,
    alerts,
    processor,
    windows,
    rollups,
    resources: makeSampler(config, alerts, meter),
    renderPrometheus: () => prometheus.render(),
    pingRedis,
    sdk,
    instrumentations,
    ownedRedis,
  };
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
  return running;

  function alertSettings(c: PerfSidecarConfig) {
    return {
      repeatSeconds: c.alerts.repeatSeconds,
      bufferMax: c.alerts.bufferMax,
      keyPrefix: c.alerts.keyPrefix,
    };
  }
}

/** Where a signal goes, for the start-up line (URLs redacted). */
function exportDestination(signal: OtlpSignal): string {
  if (signal.exporters.length === 0) return 'not exported';
  return signal.exporters
    .map((name) =>
      name === 'console'
        ? 'console'
        : `otlp ${signal.protocol} ${signal.url ? redactUrl(signal.url) : '(exporter default)'}`,
    )
    .join(', ');
}

function makeStore(
  config: PerfSidecarConfig,
  options: TelemetryOptions,
  redis: Redis | Promise<Redis> | undefined,
): AlertStore {
  if (options.alertStore) return options.alertStore;
  if (redis === undefined) return new MemoryAlertStore(config.alerts.listMax);
  // The connection is shared with the rollups and closed by stopTelemetry, not by the store.
  return new RedisAlertStore({ client: redis, listMax: config.alerts.listMax, ownsClient: false });
}

function createOwnedRedis(url: string, config: PerfSidecarConfig, options: TelemetryOptions): Promise<Redis> {
  const client = Promise.resolve(options.dependenciesReady).then(() =>
    createRedisClient({
      url,
      commandTimeoutMs: config.redisCommandTimeoutMs,
      connectionName: 'perf-sidecar:telemetry',
      keepProcessAlive: false,
    }),
  );
  // Reported by the alert store; without this the rejection would also be unhandled here.
  client.catch(() => undefined);
  return client;
}

function makeSampler(config: TelemetryConfig, alerts: AlertSink, meter: Meter | undefined): ResourceSampler {
  return new ResourceSampler({
    alerts,
    serviceName: config.serviceName,
    memoryAlertThresholdMb: config.memoryAlertThresholdMb,
    cpuAlertThresholdPercent: config.cpuAlertThresholdPercent,
    cpuSustainSamples: config.cpuAlertSamples,
    diskPaths: [process.cwd(), ...config.disk.paths],
    ...(meter ? { meter } : {}),
  });
}

async function ping(redis: Redis | Promise<Redis>): Promise<number> {
  const client = await redis;
  if (client.status !== 'ready') throw new Error(`redis connection is ${client.status}`);
  const started = performance.now();
  await untraced(() => client.ping());
  return performance.now() - started;
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
  if (current.sdk) {
    try {
      await withTimeout(current.sdk.shutdown(), left(0.8), 'telemetry SDK shutdown');
    } catch (error) {
      log.warn({ err: errorText(error) }, 'telemetry SDK shutdown did not complete');
    }
  }
  if (current.ownedRedis) {
    try {
      await closeRedisClient(await current.ownedRedis);
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
