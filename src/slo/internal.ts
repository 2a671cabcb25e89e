/**
 * What the error-budget part shares with perf-sidecar's other parts (the rollup writer) and
 * nothing else: not exported by the package.
 */
export { sloFieldName } from './fields.ts';
