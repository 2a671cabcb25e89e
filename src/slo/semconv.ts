/**
 * Names of the error-budget part: its metrics, their attributes and its Redis keys. A leaf: other
 * parts (the rollup writer) import the key names from here.
 */

/** Gauge: the objective of an operation (share of runs that must be good), 0 to 1. */
export const METRIC_SLO_OBJECTIVE = 'perf.slo.objective';
/** Gauge: share of the error budget left over the period (1 untouched, 0 spent, below 0 overspent). */
export const METRIC_SLO_BUDGET_REMAINING = 'perf.slo.budget.remaining';
/** Gauge: burn rate of an operation's error budget over one alert window (`perf.slo.window`). */
export const METRIC_SLO_BURN_RATE = 'perf.slo.burn_rate';
/** Gauge: 1 while a burn-rate alert of `perf.slo.severity` is firing for the operation, else 0. */
export const METRIC_SLO_ALERT_ACTIVE = 'perf.slo.alert.active';

/** Attribute: an alert window (`5m`, `30m`, `1h`, `6h`, `3d`). */
export const ATTR_SLO_WINDOW = 'perf.slo.window';
/** Attribute: a burn-rate alert severity (`page`, `ticket`). */
export const ATTR_SLO_SEVERITY = 'perf.slo.severity';

/** Alert type of burn-rate records. */
export const ALERT_TYPE_SLO_BURN_RATE = 'slo_burn_rate';

/**
 * Redis keys (after `ALERT_KEY_PREFIX`) of the budget counts, written with each rollup minute by
 * every instance: one hash per minute, hour and day (UTC), fields `<stat>:<field name>` (see
 * `sloFieldName` in `fields.ts`), stats `c` (runs), `b` (runs over their target) and `e` (runs that failed
 * within their target).
 */
export const SLO_KEYS = {
  /** `slo:m:YYYY-MM-DDTHH:MM`, kept {@link SLO_MINUTE_TTL_SECONDS}. */
  minute: 'slo:m:',
  /** `slo:h:YYYY-MM-DDTHH`, kept {@link SLO_HOUR_TTL_SECONDS}. */
  hour: 'slo:h:',
  /** `slo:d:YYYY-MM-DD`, kept {@link SLO_DAY_TTL_SECONDS}. */
  day: 'slo:d:',
  /** `slo:specs:YYYY-MM-DD`: field name to the objective its writer resolved that day (`0.99/30/1`). */
  specs: 'slo:specs:',
  /** `slo:traces:YYYY-MM-DD`: field name to the day's latest bad run (`trace span sampled epoch-ms`). */
  traces: 'slo:traces:',
  /** Hash: alert fingerprint to the firing episode (JSON: id, startsAt). */
  episodes: 'slo:episodes',
  /** String: the evaluator lease (a random token). */
  lease: 'slo:lease',
} as const;

/** Minute hashes live 6 h 20 min: the longest minute-resolution window (6 h) and some slack. */
export const SLO_MINUTE_TTL_SECONDS = 380 * 60;
/** Hour hashes live 3 d 3 h: the longest hour-resolution window (3 d) and some slack. */
export const SLO_HOUR_TTL_SECONDS = 75 * 3600;
/** Day hashes live 92 days: the longest period (90 days) and some slack. */
export const SLO_DAY_TTL_SECONDS = 92 * 86_400;
/** The objectives and bad runs of a day live 3 days (today's and yesterday's are read). */
export const SLO_FACTS_TTL_SECONDS = 3 * 86_400;
