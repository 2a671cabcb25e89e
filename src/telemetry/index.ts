/**
 * Telemetry: the OpenTelemetry SDK setup, operation tracking with targets, and the target span
 * processor.
 */

export {
  apdexOf,
  breachesOf,
  countAbove,
  type DurationAggregate,
  quantile,
} from './aggregate.ts';
export { activeCorrelationId, withCorrelationId } from './correlation.ts';
export {
  ATTR_TELEMETRY_DISTRO_NAME,
  ATTR_TELEMETRY_DISTRO_VERSION,
  hostPackageIdentity,
  type ServiceIdentity,
  SIDECAR_IDENTITY,
} from './identity.ts';
export type { WindowTotals } from './minutes.ts';
export { type AlertEmitter, TargetSpanProcessor, type TargetSpanProcessorOptions } from './processor.ts';
export {
  PROMETHEUS_CONTENT_TYPE,
  PROMETHEUS_NAME_OVERRIDES,
  PrometheusEndpoint,
  type PrometheusNameInput,
  prometheusMetricName,
} from './prometheus.ts';
export { InProcessMetricReader } from './reader.ts';
export {
  checkReportQuery,
  DEFAULT_REPORT_HOURS,
  getPerformanceReport,
  type HttpRouteReport,
  MAX_REPORT_HOURS,
  type OperationReport,
  type PerformanceReport,
  type PerformanceReportQuery,
  performanceReportOf,
  type SystemReport,
} from './report.ts';
export {
  memoryNowMb,
  type ResourceSample,
  ResourceSampler,
  type ResourceSamplerOptions,
} from './resources.ts';
export {
  minuteParts,
  RedisRollupStore,
  type RedisRollupStoreOptions,
  type RollupQuery,
  type RollupTotals,
} from './rollup.ts';
export { RollupExporter, type RollupExporterOptions, type RollupWriter } from './rollup-exporter.ts';
export {
  getTelemetry,
  requireTelemetry,
  runningTelemetry,
  shutdownTelemetry,
  startTelemetry,
  stopTelemetry,
} from './sdk.ts';
export * from './semconv.ts';
export { durationBoundaries, resolveTarget } from './targets.ts';
export {
  type MonitoredWrapper,
  monitored,
  type OperationHandle,
  type OperationOptions,
  trackOperation,
} from './track.ts';
export type { Telemetry, TelemetryConfig, TelemetryOptions } from './types.ts';
export { MinuteWindows, type MinuteWindowsOptions } from './windows.ts';
