/**
 * Telemetry, the part the root entry `perf-sidecar` exposes: starting and stopping the
 * OpenTelemetry SDK with perf-sidecar's readers and processors, tracking operations against their
 * targets, correlation ids, the target span processor for a host's own SDK, and the performance
 * report. Names of metrics and attributes: `perf-sidecar/semconv`.
 */
export { activeCorrelationId, withCorrelationId } from './correlation.ts';
export type { ServiceIdentity } from './identity.ts';
export { type AlertEmitter, TargetSpanProcessor, type TargetSpanProcessorOptions } from './processor.ts';
export {
  getPerformanceReport,
  type HttpRouteReport,
  type OperationReport,
  type PerformanceReport,
  type PerformanceReportQuery,
  type ServiceReport,
  type SystemReport,
} from './report.ts';
export type { ResourceSampler } from './resources.ts';
export type { RedisRollupStore } from './rollup.ts';
export { RulesError } from './rules.ts';
export {
  getTelemetry,
  requireTelemetry,
  shutdownTelemetry,
  startTelemetry,
  stopTelemetry,
} from './sdk.ts';
export {
  type MonitoredWrapper,
  monitored,
  type OperationHandle,
  type OperationOptions,
  trackOperation,
} from './track.ts';
export type { Telemetry, TelemetryConfig, TelemetryOptions } from './types.ts';
export type { MinuteWindows } from './windows.ts';
