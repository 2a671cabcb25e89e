/**
 * The OpenTelemetry variables perf-sidecar reads, as every OpenTelemetry SDK reads them: the SDK's
 * own (`OTEL_SDK_DISABLED`, `OTEL_LOG_LEVEL`, `OTEL_PROPAGATORS`, the sampler, the span limits) and
 * the OTLP export (`OTEL_EXPORTER_OTLP_*`, `OTEL_*_EXPORTER`, `OTEL_BSP_*`, the metric interval).
 */
import { accepts, decimal, integer } from '../shared/options.ts';
import { secretUrl } from '../shared/urls.ts';
import { booleanText, decimalText, headersText, listOfText, oneOfText, wholeNumberText } from './text.ts';
import { limitVariable, variable } from './variable.ts';

/** OTLP transports accepted by `OTEL_EXPORTER_OTLP_PROTOCOL`. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
/** An OTLP transport. */
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** Span exporters accepted by `OTEL_TRACES_EXPORTER` (a comma-separated list). */
export const TRACES_EXPORTERS = ['otlp', 'console', 'none'] as const;
/** Metric exporters accepted by `OTEL_METRICS_EXPORTER`; `prometheus` is the always-on `/metrics`. */
export const METRICS_EXPORTERS = ['otlp', 'console', 'prometheus', 'none'] as const;

/** Temporalities accepted by `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, in any case. */
export const METRIC_TEMPORALITIES = ['cumulative', 'delta', 'lowmemory'] as const;
/** The temporality preference of pushed OTLP metrics. */
export type MetricTemporality = (typeof METRIC_TEMPORALITIES)[number];

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

const otlpEndpointText = secretUrl((p) => p === 'http:' || p === 'https:', 'token');

/** The SDK's own settings, the `sdk` field of the configuration. */
export const SDK_VARIABLES = {
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
};

/** The OTLP variables and span limits, resolved by the configuration into `otlp` and `sdk.spanLimits`. */
export const OTEL_RESOLVED_VARIABLES = {
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
  metricsTemporality: variable(
    'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
    oneOfText(METRIC_TEMPORALITIES, true),
    'cumulative' as MetricTemporality,
    'Temporality of pushed OTLP metrics: delta sends counters, histograms and gauges as deltas; lowmemory only synchronous counters and histograms.',
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
