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
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { AlertSink } from '../alerts/index.ts';
import { getConfig, HASH_TAG_FORM, hasHashTag, type PerfSidecarConfig } from '../config.ts';
import { describeValue, errorText, InvalidArgumentError, PerfSidecarError } from '../shared/errors.ts';
import { getLogger, setLogLevel } from '../shared/logger.ts';
import { parseOptions } from '../shared/options.ts';
import { closeRedisClient, isCluster } from '../shared/redis.ts';
import { withTimeout } from '../shared/timeout.ts';
import { redactUrl } from '../shared/urls.ts';
import {
  BudgetMonitor,
  encodeObjective,
  type ObjectiveInput,
  ObjectiveTable,
  objectiveInputSchema,
} from '../slo/index.ts';
import { exportDestination, traceExportProcessors } from './exporters.ts';
import { MAX_TARGET_SECONDS, OPERATION_NAME_FORM, operationNameProblem } from './operations.ts';
import { type MetricPipeline, startMetrics, startTracing } from './pipeline.ts';
import { TargetSpanProcessor } from './processor.ts';
import { buildResource } from './resource.ts';
import { ResourceSampler } from './resources.ts';
import { type RulesWatcher, watchRulesSync } from './rules-file.ts';
import { OTHER_OPERATION } from './semconv.ts';
import { ServiceRegistry } from './services.ts';
import { setTrackingState } from './state.ts';
import { buildAlerts, buildRollups, connectRedis, pingRedis, type TelemetryRedis } from './storage.ts';
import { SystemHistory } from './system-history.ts';
import { durationBoundaries, resolveTarget } from './targets.ts';
import type { Telemetry, TelemetryConfig, TelemetryOptions } from './types.ts';
import { MinuteWindows } from './windows.ts';

interface Running extends Telemetry {
  /** The SDK's providers; `undefined` with monitoring disabled. */
  readonly providers: { readonly tracer: TracerProvider; readonly meter: MeterProvider } | undefined;
  readonly instrumentations: readonly Instrumentation[];
  readonly redis: TelemetryRedis | undefined;
  /** The `PERF_RULES_FILE` watcher, closed on stop. */
  readonly rulesFile: RulesWatcher | undefined;
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
  const targets = Object.freeze({ ...config.targets, ...checkTargets(options.targets) });
  const slos = checkSlos(options.slos);
  if (isCluster(options.redis) && !hasHashTag(config.alerts.keyPrefix)) {
    throw new InvalidArgumentError(
      'options.redis',
      `is a Redis Cluster client while ALERT_KEY_PREFIX is "${config.alerts.keyPrefix}", without a hash tag`,
      HASH_TAG_FORM,
    );
  }
  // OTEL_SDK_DISABLED turns the SDK off as every OpenTelemetry SDK does: nothing recorded or exported.
  const enabled = config.monitoringEnabled && !config.sdk.disabled;

  // Before anything connects or registers: a broken rules file stops the start (RulesError).
  const rulesFile =
    options.rules === undefined && config.ingest.rulesFile !== undefined && enabled
      ? watchRulesSync({ file: config.ingest.rulesFile, targets })
      : undefined;
  const rules = options.rules ?? (rulesFile ? () => rulesFile.current() : undefined);
  const redis = connectRedis(config, options.redis, options.dependenciesReady);
  const meters = enabled ? startMetrics(config, resource, options.metricReaders ?? []) : undefined;
  try {
    const alerts = buildAlerts(config, options.alertStore, redis, meters?.meter);
    const systemHistory = new SystemHistory({
      ownService: serviceName,
      maxServices: config.ingest.maxServices,
      // The Prometheus reader is cumulative and always there with metrics: reading it takes nothing
      // from /metrics, and the history needs no reader of its own.
      ...(meters ? { collect: () => meters.prometheus.reader.collect() } : {}),
    });
    const services = new ServiceRegistry({
      runtimeSink: systemHistory,
      ownService: serviceName,
      maxServices: config.ingest.maxServices,
      alerts,
      memoryAlertThresholdMb: config.memoryAlertThresholdMb,
      cpuAlertThresholdPercent: config.cpuAlertThresholdPercent,
      cpuSustainSamples: config.cpuAlertSamples,
    });
    const processor = new TargetSpanProcessor({
      alerts,
      eachBreach: config.alerts.eachBreach,
      serviceName,
      services,
      maxOperations: config.maxOperations,
      maxMetricOperations: config.maxMetricOperations,
      boundaries: durationBoundaries(Object.values(targets)),
      ...(meters ? { meterProvider: meters.provider, operationMetrics: meters.operations } : {}),
      ...(rules ? { rules } : {}),
    });
    const evaluator = processor.evaluator;
    // The configured table names the own service's operations; other services have their spans' targets.
    const targetOf = (operation: string, service: string | undefined) =>
      evaluator.targetOf(operation, service) ??
      (service === undefined ? resolveTarget(targets, operation, undefined, undefined) : undefined);
    const objectives = new ObjectiveTable(
      { objective: config.slo.objective, periodDays: config.slo.periodDays, errors: config.slo.errors },
      slos,
    );
    const rollups = buildRollups(config, redis, targetOf, (operation, service) => {
      // `_other` is many operations under one name: no objective can speak for it.
      if (operation === OTHER_OPERATION) return undefined;
      const facts = evaluator.budgetOf(operation, service);
      const run = facts?.badRun;
      return {
        objective: encodeObjective(objectives.resolve(operation, facts)),
        badRun: run && `${run.trace_id} ${run.span_id} ${run.sampled ? 1 : 0} ${facts?.badAtMs ?? 0}`,
      };
    });
    const budgets = enabled
      ? new BudgetMonitor({
          objectives,
          settings: { minRuns: config.slo.minRuns, burnRate: config.slo.burnRate },
          maxOperations: config.slo.maxOperations,
          alerts,
          ownService: serviceName,
          facts: (operation, service) => evaluator.budgetOf(operation, service),
          hasTarget: (operation, service) => targetOf(operation, service) !== undefined,
          ...(redis && options.alertStore === undefined
            ? {
                redis: {
                  client: Promise.resolve(redis.client),
                  prefix: config.alerts.keyPrefix,
                  list: alerts.listName('performance_alerts'),
                  listMax: config.alerts.listMax,
                  leaseMs: config.slo.leaseSeconds * 1000,
                },
              }
            : {}),
          ...(meters ? { gauges: meters.operations } : {}),
        })
      : undefined;
    const windows = new MinuteWindows({
      ...(budgets ? { listener: (minute, totals) => budgets.recordMinute(minute, totals) } : {}),
      service: serviceName,
      retentionMinutes: config.summary.memoryHours * 60,
      maxPoints: config.summary.maxPoints,
      ...(meters ? { reader: meters.windowsReader } : {}),
      ...(rollups ? { exporter: rollups.exporter } : {}),
    });
    const tracing =
      meters &&
      startTracing(
        config.sdk,
        resource,
        spanProcessors(config, options, processor),
        options.instrumentations,
        meters,
        config.httpServerSpans,
      );
    // After the tracer provider is registered: the tracking state looks the tracer up.
    setTrackingState({ enabled, targets });
    if (enabled) {
      windows.start();
      systemHistory.start();
    }

    running = {
      config,
      targets,
      enabled,
      memoryOnly: options.alertStore === undefined && redis === undefined,
      alerts,
      processor,
      evaluator,
      services,
      metricStore: meters?.operations,
      windows,
      rollups: rollups?.store,
      rollupExporter: rollups?.exporter,
      budgets,
      resources: buildSampler(config, alerts, meters, systemHistory),
      systemHistory,
      renderPrometheus: meters ? () => meters.prometheus.render() : async () => '',
      pingRedis: redis && (() => pingRedis(redis)),
      reloadRules: rulesFile ? () => rulesFile.reload() : async () => false,
      rulesFile,
      providers: meters && tracing ? { tracer: tracing.provider, meter: meters.provider } : undefined,
      instrumentations: tracing?.instrumentations ?? [],
      redis,
    };
    // Last: nothing after it can fail and leave its timer running.
    budgets?.start();
    logStart(running, options);
    return running;
  } catch (error) {
    // Nothing may stay registered from a start that failed: a later start must be able to run.
    if (meters) {
      for (const api of [metrics, trace, propagation, context]) api.disable();
      void meters.provider.shutdown().catch(() => undefined);
    }
    void redis?.owned?.then(closeRedisClient).catch(() => undefined);
    rulesFile?.close();
    throw error;
  }
}

/**
 * Checks `startTelemetry({ targets })` before anything starts: operation names (or kinds) to
 * seconds, as `PERF_TARGETS` takes them.
 *
 * @throws {InvalidArgumentError} naming the bad entry and the accepted form.
 */
function checkTargets(targets: unknown): Readonly<Record<string, number>> | undefined {
  if (targets === undefined) return undefined;
  if (typeof targets !== 'object' || targets === null || Array.isArray(targets)) {
    throw new InvalidArgumentError('options.targets', `is ${describeValue(targets)}`, TARGETS_FORM);
  }
  for (const [name, seconds] of Object.entries(targets)) {
    const problem = operationNameProblem(name);
    if (problem !== undefined) {
      throw new InvalidArgumentError('options.targets', `has a name that ${problem}`, TARGETS_FORM);
    }
    if (
      typeof seconds !== 'number' ||
      !Number.isFinite(seconds) ||
      seconds <= 0 ||
      seconds > MAX_TARGET_SECONDS
    ) {
      throw new InvalidArgumentError(`options.targets.${name}`, `is ${describeValue(seconds)}`, TARGET_FORM);
    }
  }
  return targets as Readonly<Record<string, number>>;
}

/**
 * Checks `startTelemetry({ slos })` before anything starts: operation names (or kinds) to objectives.
 *
 * @throws {InvalidArgumentError} naming the bad entry and the accepted form.
 */
function checkSlos(slos: unknown): Readonly<Record<string, ObjectiveInput>> {
  if (slos === undefined) return {};
  if (typeof slos !== 'object' || slos === null || Array.isArray(slos)) {
    throw new InvalidArgumentError('options.slos', `is ${describeValue(slos)}`, SLOS_FORM);
  }
  for (const [name, value] of Object.entries(slos)) {
    const problem = operationNameProblem(name);
    if (problem !== undefined)
      throw new InvalidArgumentError('options.slos', `has a name that ${problem}`, SLOS_FORM);
    parseOptions(objectiveInputSchema, value, {
      argument: `options.slos.${name}`,
      what: 'an objective field',
      expected: 'an object { objective?, periodDays?, errors? }',
    });
  }
  return slos as Readonly<Record<string, ObjectiveInput>>;
}

const SLOS_FORM = `an object of operation names or kinds (${OPERATION_NAME_FORM}) to objectives { objective?, periodDays?, errors? }`;

const TARGET_FORM = `a number of seconds greater than 0, at most ${MAX_TARGET_SECONDS}`;
const TARGETS_FORM = `an object of operation names (${OPERATION_NAME_FORM}) to ${TARGET_FORM}`;

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

/** The resource sampler, its gauges on the SDK's meter when there is one, its samples kept in `history`. */
function buildSampler(
  config: TelemetryConfig,
  alerts: AlertSink,
  meters: MetricPipeline | undefined,
  history: SystemHistory,
): ResourceSampler {
  return new ResourceSampler({
    onSample: (sample) => history.recordOwn(sample),
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
    log.info(
      config.sdk.disabled
        ? 'performance monitoring is off: the OpenTelemetry SDK is disabled (OTEL_SDK_DISABLED=true)'
        : 'performance monitoring is disabled (ENABLE_PERFORMANCE_MONITORING=false)',
    );
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
  current.systemHistory.stop();
  current.rulesFile?.close();
  try {
    await withTimeout(current.budgets?.stop() ?? Promise.resolve(), left(0.1), 'error budget evaluation');
  } catch (error) {
    log.warn({ err: errorText(error) }, 'the error budget evaluation did not stop in time');
  }
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
