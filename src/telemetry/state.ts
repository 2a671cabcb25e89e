/**
 * What the tracker needs to know on every call, resolved once: whether monitoring is on and the
 * target table. `startTelemetry` sets it from the configuration it was given.
 *
 * Before `startTelemetry` runs (a library that tracks operations in a process that never starts
 * telemetry, or tracks them before the host starts it), `trackOperation` must still honour
 * `ENABLE_PERFORMANCE_MONITORING` and `PERF_TARGETS`: {@link stateFromProcessConfig} reads them from
 * the process configuration. It is the one place in the telemetry part, apart from the
 * `startTelemetry` entry point, that reads the configuration itself.
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

/** The current state; read from the process configuration on first use when telemetry was not started. */
export function trackingState(): TrackingState {
  state ??= stateFromProcessConfig();
  return state;
}

/**
 * The state before `startTelemetry`: from `getConfig()` (see the module comment for why this part
 * reads the configuration here and nowhere else).
 */
function stateFromProcessConfig(): TrackingState {
  const config = getConfig();
  return {
    enabled: config.monitoringEnabled,
    targets: config.targets,
    tracer: trace.getTracer(SCOPE_NAME, VERSION),
  };
}

/**
 * Replaces the state (`undefined` returns to reading the configuration). Call after the global
 * tracer provider is registered: the tracer is looked up here.
 */
export function setTrackingState(next: Omit<TrackingState, 'tracer'> | undefined): void {
  state = next && { ...next, tracer: trace.getTracer(SCOPE_NAME, VERSION) };
}
