/**
 * OTLP ingest, the part that makes the sidecar a sidecar: services in any language export OTLP to
 * it as they would to a Collector; it evaluates every span against its target, raises the same
 * alerts, keeps the summary per service and forwards the annotated spans. `startSidecar({ ingest:
 * true })` (and `npm start`, unless `PERF_INGEST=false`) starts it. Reference: docs/ingest.md.
 */
export type { ReceiverStats } from './core.ts';
export type { ForwarderStats } from './forward.ts';
export { type Ingest, type IngestOptions, type IngestStats, startIngest } from './ingest.ts';
