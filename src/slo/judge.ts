/**
 * The judgement of one operation's error budget at a minute: runs and bad runs over the period and
 * over every alert window, burn rates, the budget left, and which rows of the alert table hold.
 *
 * - Bad runs are runs over their target, plus (unless the objective leaves errors out) runs that
 *   failed within it. Budget = (1 - objective) x runs in the period; burn rate over a window = bad
 *   share in the window / (1 - objective).
 * - A row holds when both its windows burn at its threshold or more, and its long window has enough
 *   runs: at least `minRuns`, more than one bad run's worth (`1 / ((1 - objective) x threshold)`),
 *   and at least two bad runs, so that a single slow run of a quiet operation never pages. A row
 *   whose long window holds while its short window has no runs at all is `unconfirmed`: the
 *   monitor keeps an open episode open through it rather than resolve and fire again at the next
 *   run of a quiet operation.
 * - Thresholds are static (the workbook's `budget share x period / long window`) or dynamic
 *   (Pyrra's: `budget share x runs in the period / runs in the long window`, which fires at the same
 *   number of bad runs whatever the window's traffic: a quiet night needs a higher bad share than a
 *   busy day to spend the same share of the budget). While the data covers less than the period,
 *   the period's runs are estimated from the covered time, so a young operation is not held to a
 *   budget of a few runs.
 */
import type { OperationBook, RunCounts } from './book.ts';
import type { Objective } from './objectives.ts';
import {
  ALERT_WINDOWS,
  type AlertWindow,
  type BurnSeverity,
  burnThreshold,
  WINDOW_MINUTES,
} from './windows.ts';

/** How thresholds follow traffic: `static` (the workbook's) or `dynamic` (Pyrra's). */
export type BurnRateMode = 'static' | 'dynamic';

/** Settings of the judgement. */
export interface JudgeSettings {
  /** Fewest runs a long window needs before its row may fire. */
  readonly minRuns: number;
  /** Threshold mode. */
  readonly burnRate: BurnRateMode;
}

/** One row of the table, judged. */
export interface RowJudgement {
  readonly window: AlertWindow;
  /** Burn rates over the long and the short window (0 for a window without runs). */
  readonly longBurn: number;
  readonly shortBurn: number;
  /** The threshold both must reach (static or dynamic). */
  readonly threshold: number;
  readonly longRuns: number;
  readonly longBad: number;
  /** Whether the row fires: both windows at the threshold, and enough runs. */
  readonly holds: boolean;
  /**
   * Whether the long window would fire but the short window has no runs to confirm or deny it (a
   * quiet operation between runs): an open episode stays open through such a gap.
   */
  readonly unconfirmed: boolean;
}

/** A row that holds. */
export type FiringRow = RowJudgement;

/** The judgement (see the module comment). */
export interface Judgement {
  readonly objective: Objective;
  /** Runs and bad runs in the period (up to the judged minute). */
  readonly periodRuns: number;
  readonly periodBad: number;
  /** Good share so far in the period; `undefined` without runs. */
  readonly goodShare: number | undefined;
  /** Budget left, share of the period's budget: 1 untouched, 0 spent, negative overspent. */
  readonly budgetRemaining: number;
  /** Budget left, runs: how many more bad runs the period can take. */
  readonly budgetRemainingRuns: number;
  /** Burn rate per window (minutes); `undefined` for a window without runs. */
  readonly burnRates: ReadonlyMap<number, number | undefined>;
  /** The first row that holds per severity (the one with the shortest long window). */
  readonly firing: ReadonlyMap<BurnSeverity, FiringRow>;
  /** Every row, in table order. */
  readonly rows: readonly RowJudgement[];
}

/**
 * Runs and bad runs of the `minutes` ending with minute `last` (inclusive): from minute buckets up
 * to 6 h, else from hour buckets up to 3 d, else from day buckets. The oldest hour or day is only
 * partly inside the window: its share inside is counted (as if its runs were spread evenly), so a
 * 30-day period holds 30 days at any time of day, not 29 and a bit just after midnight.
 */
export function windowCounts(book: OperationBook, last: number, minutes: number): RunCounts {
  if (minutes <= 360) return book.sum('minute', last - minutes + 1, last);
  const level = minutes <= 4320 ? 'hour' : 'day';
  const unit = level === 'hour' ? 60 : 1440;
  const start = last - minutes + 1;
  const first = Math.floor(start / unit);
  const counts = book.sum(level, first + 1, Math.floor(last / unit));
  const edge = book.sum(level, first, first);
  const inside = ((first + 1) * unit - start) / unit;
  counts.runs += edge.runs * inside;
  counts.over += edge.over * inside;
  counts.failed += edge.failed * inside;
  return counts;
}

function badOf(counts: RunCounts, objective: Objective): number {
  return counts.over + (objective.errors ? counts.failed : 0);
}

/** Judges `book` against `objective` at minute `last` (the last complete minute). */
export function judge(
  book: OperationBook,
  objective: Objective,
  last: number,
  settings: JudgeSettings,
): Judgement {
  const allowed = 1 - objective.objective;
  const periodMinutes = objective.periodDays * 1440;
  const period = windowCounts(book, last, periodMinutes);
  const periodBad = badOf(period, objective);
  const budget = allowed * period.runs;
  const burnRates = new Map<number, number | undefined>();
  const windows = new Map<number, { runs: number; bad: number }>();
  for (const minutes of WINDOW_MINUTES) {
    const counts = windowCounts(book, last, minutes);
    const bad = badOf(counts, objective);
    windows.set(minutes, { runs: counts.runs, bad });
    burnRates.set(minutes, counts.runs > 0 ? bad / counts.runs / allowed : undefined);
  }
  // The period's runs, estimated from the covered time while the data is younger than the period.
  const first = book.firstMinute(last);
  const covered = first === undefined ? periodMinutes : Math.min(periodMinutes, last - first + 1);
  const firing = new Map<BurnSeverity, FiringRow>();
  const rows: RowJudgement[] = [];
  for (const window of ALERT_WINDOWS) {
    const long = windows.get(window.longMinutes) as { runs: number; bad: number };
    const short = windows.get(window.shortMinutes) as { runs: number; bad: number };
    const estimatedPeriodRuns = (period.runs * periodMinutes) / Math.max(covered, window.longMinutes);
    const threshold =
      settings.burnRate === 'static' || long.runs === 0
        ? burnThreshold(window, objective.periodDays)
        : (window.budgetShare * estimatedPeriodRuns) / long.runs;
    const longBurn = long.runs > 0 ? long.bad / long.runs / allowed : 0;
    const shortBurn = short.runs > 0 ? short.bad / short.runs / allowed : 0;
    // A hair of tolerance: 0.144 / 0.01 is 14.399999999999999 in floating point, and a burn at
    // exactly the threshold fires.
    const edge = threshold * (1 - 1e-9);
    // Enough runs that one bad run is under the threshold, and more than one bad run: a single slow
    // run can never fire a row by itself.
    const enough = long.runs >= settings.minRuns && long.runs * allowed * threshold > 1 && long.bad > 1;
    const longHolds = enough && longBurn >= edge;
    const row: RowJudgement = {
      window,
      longBurn,
      shortBurn,
      threshold,
      longRuns: long.runs,
      longBad: long.bad,
      holds: longHolds && short.runs > 0 && shortBurn >= edge,
      unconfirmed: longHolds && short.runs === 0,
    };
    rows.push(row);
    if (row.holds && !firing.has(window.severity)) firing.set(window.severity, row);
  }
  return {
    objective,
    periodRuns: period.runs,
    periodBad,
    goodShare: period.runs > 0 ? (period.runs - periodBad) / period.runs : undefined,
    budgetRemaining: budget > 0 ? 1 - periodBad / budget : 1,
    budgetRemainingRuns: budget - periodBad,
    burnRates,
    firing,
    rows,
  };
}
