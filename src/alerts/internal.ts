/**
 * What the alert part shares with perf-sidecar's other parts and nothing else: not exported by the
 * package. Other parts import the alerts through `index.ts` and this file only.
 */
export { alertLabels, alertTraceOf, alertTraceOfIds, buildAlert, fingerprintOf } from './schema.ts';
export * from './semconv.ts';
