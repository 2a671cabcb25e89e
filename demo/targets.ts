/**
 * The demo's targets and slow-query threshold, before `--speed` scaling: the
 * configuration's defaults (read from an empty environment), plus `ai_layout_generation`,
 * the demo's name for its layout AI call. config.ts imports nothing that loads `http`, `pg` or
 * `ioredis`, so the preload (demo/register.ts) may read it before telemetry starts.
 */
import { loadConfig } from '../src/config.ts';

const defaults = loadConfig({});

/** The demo's targets, seconds, before `--speed` scaling. */
export const DESIGN_TARGETS: Readonly<Record<string, number>> = Object.freeze({
  ...defaults.targets,
  ai_layout_generation: defaults.targets.ai_operation as number,
});

/** The database service's default slow-query threshold, seconds, before scaling. */
export const DESIGN_SLOW_QUERY_SECONDS = defaults.db.slowQuerySeconds;
