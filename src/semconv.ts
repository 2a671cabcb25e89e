/**
 * `perf-sidecar/semconv`: the names of every metric, attribute, span and event perf-sidecar
 * records, for dashboards, alert rules and tests that look them up. Constants only: importing this
 * entry loads nothing else. The OpenTelemetry semantic conventions perf-sidecar follows come from
 * `@opentelemetry/semantic-conventions`; these are its own names and the incubating ones it uses.
 */
export * from './alerts/semconv.ts';
export * from './cache/semconv.ts';
export * from './db/semconv.ts';
export * from './ingest/semconv.ts';
export * from './slo/semconv.ts';
export * from './telemetry/semconv.ts';
