/**
 * Identity of perf-sidecar's own telemetry: the instrumentation scope of its tracer and meters and
 * the `service.version` default. A test keeps {@link VERSION} equal to package.json's version.
 */

/** Instrumentation scope name of perf-sidecar's tracer and meters. */
export const SCOPE_NAME = 'perf-sidecar';

/** perf-sidecar's version. */
export const VERSION = '0.2.0';
