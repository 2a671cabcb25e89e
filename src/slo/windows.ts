/**
 * The multi-window, multi-burn-rate alert table of the SRE workbook (chapter 5, table 5-8), for any
 * period: each row pages or tickets when both its long and its short window burn the error budget
 * at its threshold or more.
 *
 * The table is defined by budget shares, not burn rates: a row fires when its long window has
 * consumed `budgetShare` of the period's budget. Its threshold is then
 * `budgetShare x period / long window` (0.02 x 720 h / 1 h = 14.4 for 30 days), which is how the
 * workbook scales it to other periods. The short window (1/12 of the long one) only confirms that
 * the burn is still going on, so that an alert resolves soon after the burn stops.
 */

/** Severity of a burn-rate alert: `page` wakes someone, `ticket` is looked at in working hours. */
export type BurnSeverity = 'page' | 'ticket';

/** One row of the table. */
export interface AlertWindow {
  readonly severity: BurnSeverity;
  /** Long window, minutes. */
  readonly longMinutes: number;
  /** Short window, minutes. */
  readonly shortMinutes: number;
  /** Share of the period's budget the long window must have consumed (0.02 = 2 %). */
  readonly budgetShare: number;
}

/** The workbook's table: page at 2 % of the budget in 1 h or 5 % in 6 h, ticket at 10 % in 3 d. */
export const ALERT_WINDOWS: readonly AlertWindow[] = Object.freeze([
  Object.freeze({ severity: 'page', longMinutes: 60, shortMinutes: 5, budgetShare: 0.02 }),
  Object.freeze({ severity: 'page', longMinutes: 360, shortMinutes: 30, budgetShare: 0.05 }),
  Object.freeze({ severity: 'ticket', longMinutes: 4320, shortMinutes: 360, budgetShare: 0.1 }),
] as const);

/** Every window any row uses, minutes, shortest first (the summary reports a burn rate for each). */
export const WINDOW_MINUTES: readonly number[] = Object.freeze(
  [...new Set(ALERT_WINDOWS.flatMap((w) => [w.shortMinutes, w.longMinutes]))].sort((a, b) => a - b),
);

/** The label of a window: `5m`, `1h`, `3d`. */
export function windowLabel(minutes: number): string {
  if (minutes % 1440 === 0) return `${minutes / 1440}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return `${minutes}m`;
}

/** The burn-rate threshold of a row for a period of `periodDays` days (the workbook's scaling). */
export function burnThreshold(window: AlertWindow, periodDays: number): number {
  return (window.budgetShare * periodDays * 1440) / window.longMinutes;
}
