/**
 * Telemetry: the OpenTelemetry SDK setup, operation tracking with targets, and the target span
 * processor.
 */

export { type AlertEmitter, TargetSpanProcessor, type TargetSpanProcessorOptions } from './processor.ts';
export { PROMETHEUS_CONTENT_TYPE, PrometheusEndpoint } from './prometheus.ts';
export { InProcessMetricReader } from './reader.ts';
export {
  getTelemetry,
  requireTelemetry,
  shutdownTelemetry,
  startTelemetry,
  type Telemetry,
  type TelemetryOptions,
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
