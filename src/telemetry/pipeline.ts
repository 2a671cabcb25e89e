/**
 * The SDK, assembled from its parts and registered with the OpenTelemetry API: the meter provider
 * with its readers and views, the tracer provider with its span processors, the context manager,
 * the propagator and the instrumentations. This is what NodeSDK did, without NodeSDK: importing it
 * loads every OTLP exporter package (and `@grpc/grpc-js`) whether or not anything is exported.
 */

import { context, type Meter, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type Instrumentation, registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import type { Resource } from '@opentelemetry/resources';
import {
  type IMetricReader,
  MeterProvider,
  type MetricReader,
  type ViewOptions,
} from '@opentelemetry/sdk-metrics';
import { type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { PerfSidecarConfig } from '../config.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import { isUntracedRequest } from '../shared/tracing.ts';
import { metricPushReaders } from './exporters.ts';
import { instrumentationMeterProvider } from './http-server-metric.ts';
import { OperationMetrics } from './operation-metrics.ts';
import { PrometheusEndpoint } from './prometheus.ts';
import { propagatorOf, samplerOf, setupDiagnostics } from './sdk-environment.ts';
import {
  METRIC_OPERATION_TAIL_DURATION,
  METRIC_SERVICE_HTTP_DURATION,
  METRIC_USER_OPERATION_DURATION,
} from './semconv.ts';
import { windowsMetricReader } from './windows.ts';

/**
 * Instruments kept in process: per-user series (user ids as Prometheus labels would be unbounded
 * cardinality), the tail histogram (operations past PERF_MAX_METRIC_OPERATIONS are exported as
 * `_other`) and the received services' requests (they export their own request metrics).
 */
const IN_PROCESS_ONLY = [
  METRIC_USER_OPERATION_DURATION,
  METRIC_OPERATION_TAIL_DURATION,
  METRIC_SERVICE_HTTP_DURATION,
];

/** The metric side of a running telemetry. */
export interface MetricPipeline {
  readonly provider: MeterProvider;
  /** perf-sidecar's meter, from that provider. */
  readonly meter: Meter;
  /** The `/metrics` exposition. */
  readonly prometheus: PrometheusEndpoint;
  /** The reader the per-minute windows collect. */
  readonly windowsReader: MetricReader;
  /** The operation metrics' own aggregation, bound to every reader (the target processor records into it). */
  readonly operations: OperationMetrics;
}

/**
 * Readers and views: Prometheus (served by the caller), the in-process windows reader, the push
 * readers `OTEL_METRICS_EXPORTER` chose and the caller's `extra` ones, in a meter provider
 * registered as the global one (unless `OTEL_SDK_DISABLED`).
 */
export function startMetrics(
  config: PerfSidecarConfig,
  resource: Resource,
  extra: readonly IMetricReader[],
): MetricPipeline {
  setupDiagnostics(config.sdk);
  const prometheus = new PrometheusEndpoint({ exclude: IN_PROCESS_ONLY });
  const windowsReader = windowsMetricReader();
  const operations = new OperationMetrics();
  const readers = [
    prometheus.reader,
    windowsReader,
    ...metricPushReaders(config.otlp, IN_PROCESS_ONLY),
    ...extra,
  ];
  const provider = new MeterProvider({
    resource,
    views: operationViews(config),
    // Every reader, the host's too, reports the operation metrics in its own temporality.
    // The windows' reader reads no gauges: it is not handed the SLO gauges at each summary request.
    readers: readers.map((reader) => operations.bind(reader, { gauges: reader !== windowsReader })),
  });
  if (!config.sdk.disabled) metrics.setGlobalMeterProvider(provider);
  return { provider, meter: provider.getMeter(SCOPE_NAME, VERSION), prometheus, windowsReader, operations };
}

/**
 * Cardinality limits of the SDK histograms, sized by the configured caps: the operation caps apply
 * per service, and there are at most `PERF_MAX_SERVICES` services plus `_other`. The operation
 * durations are not SDK instruments (see `operation-metrics.ts`): their series are bounded by the
 * evaluator's label sets themselves.
 */
function operationViews(config: PerfSidecarConfig): ViewOptions[] {
  const services = config.ingest.maxServices + 1;
  return [
    {
      instrumentName: METRIC_USER_OPERATION_DURATION,
      aggregationCardinalityLimit: config.summary.maxUserSeries + 1,
    },
    {
      // Two series (outcome) per route, at most PERF_MAX_OPERATIONS routes and `_other` per method.
      instrumentName: METRIC_SERVICE_HTTP_DURATION,
      aggregationCardinalityLimit: services * (config.maxOperations + 10) * 2 + 1,
    },
  ];
}

/**
 * The default instrumentations: http, pg, ioredis and runtime-node. With `PERF_HTTP_SERVER_SPANS=
 * middleware` the performance middleware makes the server spans, so instrumentation-http leaves
 * incoming requests alone (it does not even wrap `Server.prototype.emit`) and keeps client spans.
 */
function defaultInstrumentations(httpServerSpans: PerfSidecarConfig['httpServerSpans']): Instrumentation[] {
  return [
    httpServerSpans === 'middleware'
      ? new HttpInstrumentation({ disableIncomingRequestInstrumentation: true })
      : // The OTLP receiver's requests are ingest traffic, not the sidecar's work: tracing them
        // would make every export a span (and a report row) of the sidecar itself.
        new HttpInstrumentation({ ignoreIncomingRequestHook: (request) => isUntracedRequest(request) }),
    // Parameter values stay out of spans (enhancedDatabaseReporting off): they can be personal data.
    new PgInstrumentation({ enhancedDatabaseReporting: false }),
    new IORedisInstrumentation(),
    new RuntimeNodeInstrumentation(),
  ];
}

/** The trace side of a running telemetry. */
export interface TracePipeline {
  readonly provider: TracerProvider;
  /** The instrumentations registered (disabled again by `stopTelemetry`). */
  readonly instrumentations: readonly Instrumentation[];
}

/**
 * Registers tracing: the async-local-storage context manager, the propagator, a tracer provider
 * with `spanProcessors` (and the sampler and span limits of the SDK's variables), and the
 * instrumentations (default: {@link defaultInstrumentations} for `httpServerSpans`), given both
 * providers (the meter provider with instrumentation-http's `http.server.request.duration` taken
 * over by the operation metrics' store). Nothing is registered with `OTEL_SDK_DISABLED`.
 */
export function startTracing(
  sdk: PerfSidecarConfig['sdk'],
  resource: Resource,
  spanProcessors: SpanProcessor[],
  given: readonly Instrumentation[] | undefined,
  meters: Pick<MetricPipeline, 'provider' | 'operations'>,
  httpServerSpans: PerfSidecarConfig['httpServerSpans'] = 'instrumentation',
): TracePipeline {
  const provider = new TracerProvider({
    resource,
    spanProcessors,
    spanLimits: { ...sdk.spanLimits },
    sampler: samplerOf(sdk),
  });
  const instrumentations = given ? [...given] : defaultInstrumentations(httpServerSpans);
  if (sdk.disabled) return { provider, instrumentations };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const propagator = propagatorOf(sdk);
  if (propagator) propagation.setGlobalPropagator(propagator);
  trace.setGlobalTracerProvider(provider);
  // instrumentation-http's request histogram goes into the operation metrics' store: one record
  // instead of one per reader (see http-server-metric.ts).
  const meterProvider = instrumentationMeterProvider(meters.provider, meters.operations);
  registerInstrumentations({ instrumentations, tracerProvider: provider, meterProvider });
  return { provider, instrumentations };
}
