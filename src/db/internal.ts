/**
 * What the database part shares with perf-sidecar's other parts and nothing else: not exported by
 * the package. Other parts import the database part through `index.ts` and this file only.
 */
export { reportDatabaseAtStart } from './health.ts';
