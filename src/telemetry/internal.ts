/**
 * What the telemetry part shares with perf-sidecar's other parts and nothing else: not exported by
 * the package. Other parts import the telemetry through `index.ts` and this file only.
 */

export { withCorrelationIdIn } from './correlation.ts';
export { type AlertEmitter, type EvaluationResult, SpanEvaluator, type TargetRules } from './evaluate.ts';
export { SeriesByContents } from './http-server-metric.ts';
export { isSidecarServer, SIDECAR_IDENTITY } from './identity.ts';
export type { HistogramDefinition, OperationMetricSink, ValueRecorder } from './metric-sink.ts';
export { PROMETHEUS_CONTENT_TYPE } from './prometheus.ts';
export { performanceReportOf } from './report.ts';
export { memoryNowMb } from './resources.ts';
export type { RuntimeSample, RuntimeSink } from './runtime-sample.ts';
export { runningTelemetry } from './sdk.ts';
export * from './semconv.ts';
export {
  type PerformanceSeries,
  type PerformanceSeriesQuery,
  performanceSeriesOf,
  type SeriesPoint,
} from './series.ts';
export { MAX_SERIES_POINTS, SERIES_FIELD_FORMS, SERIES_STEPS } from './series-query.ts';
export { OTHER_SERVICE, ServiceRegistry } from './services.ts';
export type { RuleMatch, SpanView, TargetRuleSet, TraceEvaluator, Verdict } from './span-view.ts';
export {
  MAX_RESOURCE_SERIES_HOURS,
  RESOURCE_SERIES_FIELD_FORMS,
  type ResourceSeries,
  type ResourceSeriesQuery,
  resourceSeriesOf,
} from './system-series.ts';
