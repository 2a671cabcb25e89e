/**
 * The original design's targets and slow-query threshold, before `--speed` scaling. A module of its
 * own without imports: the preload (demo/register.ts) reads it before telemetry starts, when nothing
 * that loads `http`, `pg` or `ioredis` may be imported yet (they would escape instrumentation).
 */

/** The original design's targets, seconds, before `--speed` scaling. */
export const DESIGN_TARGETS: Readonly<Record<string, number>> = Object.freeze({
  ai_layout_generation: 30,
  ai_operation: 30,
  layout_generation: 30,
  document_ocr: 120,
  validation: 5,
  simple_query: 2,
});

/** The database service's default slow-query threshold, seconds, before scaling. */
export const DESIGN_SLOW_QUERY_SECONDS = 2;
