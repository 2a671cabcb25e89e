/**
 * What the tracker needs to know on every call, resolved once: whether monitoring is on and the
 * target table. `startTelemetry` sets it; without it the tracker reads the process configuration.
 */
import { type Tracer, trace } from '@opentelemetry/api';
import { getConfig } from '../config.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';

/** Tracker state. */
export interface TrackingState {
  /** `ENABLE_PERFORMANCE_MONITORING`. */
  readonly enabled: boolean;
  /** Targets in seconds by operation name or kind. */
  readonly targets: Readonly<Record<string, number>>;
  /**
   * perf-sidecar's tracer, looked up whenever the state changes: a tracer taken from the API before
   * a restart would still point at the previous (shut down) provider.
   */
  readonly tracer: Tracer;
}

let state: TrackingState | undefined;

/** The current state; read from the environment on first use when telemetry was not started. */
export function trackingState(): TrackingState {
  if (state === undefined) {
    const config = getConfig();
    state = {
      enabled: config.monitoringEnabled,
      targets: config.targets,
      tracer: trace.getTracer(SCOPE_NAME, VERSION),
    };
  }
  return state;
}

/**
 * Replaces the state (`undefined` returns to reading the configuration). Call after the global
 * tracer provider is registered: the tracer is looked up here.
 */
export function setTrackingState(next: Omit<TrackingState, 'tracer'> | undefined): void {
  state = next && { ...next, tracer: trace.getTracer(SCOPE_NAME, VERSION) };
}
