/**
 * The `slo_burn_rate` records of episode transitions: their identifying labels (one fingerprint per
 * operation and severity, the same for the firing and the resolved record), their figures and their
 * one-sentence summaries.
 */
import { randomUUID } from 'node:crypto';
import type { AlertInput, AlertTrace } from '../alerts/index.ts';
import { alertLabels, fingerprintOf as fingerprintOfLabels } from '../alerts/internal.ts';
import { roundTo } from '../shared/numbers.ts';
import type { Episode } from './episodes.ts';
import type { RowJudgement } from './judge.ts';
import type { Judged } from './monitor.ts';
import { ALERT_TYPE_SLO_BURN_RATE } from './semconv.ts';
import { type BurnSeverity, windowLabel } from './windows.ts';

/** The identifying part of a record of `operation` of `service` at `severity`. */
function labelsOf(service: string, operation: string, severity: BurnSeverity): AlertInput {
  return {
    type: ALERT_TYPE_SLO_BURN_RATE,
    service,
    operation,
    labels: { severity },
    value: 0,
    threshold: 0,
    unit: 'x',
    summary: '-',
  };
}

/** The fingerprint of the episodes of `operation` of `service` at `severity`. */
export function fingerprintOf(service: string, operation: string, severity: BurnSeverity): string {
  return fingerprintOfLabels(alertLabels(labelsOf(service, operation, severity)));
}

/** The first row of `severity` (the figures a record shows when none of its rows is the one). */
export function rowOf(rows: readonly RowJudgement[], severity: BurnSeverity): RowJudgement {
  return rows.find((r) => r.window.severity === severity) as RowJudgement;
}

/**
 * The record of a transition: firing when there is no `episode` yet (its id `newId`), resolved
 * when there is, with the figures of `row`.
 */
export function transitionInput(
  judged: Judged,
  severity: BurnSeverity,
  row: RowJudgement,
  nowMs: number,
  episode: Episode | undefined,
  trace?: AlertTrace,
  newId?: string,
): AlertInput {
  const { judgement, service } = judged;
  const operation = judged.book.operation;
  const long = windowLabel(row.window.longMinutes);
  const short = windowLabel(row.window.shortMinutes);
  const left = Math.round(judgement.budgetRemaining * 100);
  const period = `${judgement.objective.periodDays}-day`;
  const rate = `${long}: ${row.longBurn.toFixed(1)}x, ${short}: ${row.shortBurn.toFixed(1)}x`;
  const summary = episode
    ? `Operation "${operation}" of ${service} no longer burns its error budget at the ${severity} rate (${rate}); ${left}% of its ${period} budget is left.`
    : `Operation "${operation}" of ${service} burns its error budget at ${row.longBurn.toFixed(1)}x over ${long} and ${row.shortBurn.toFixed(1)}x over ${short} (${severity} at ${row.threshold.toFixed(1)}x); ${left}% of its ${period} budget is left.`;
  return {
    ...labelsOf(service, operation, severity),
    severity,
    status: episode ? 'resolved' : 'firing',
    value: roundTo(row.longBurn, 3),
    threshold: roundTo(row.threshold, 3),
    summary,
    timeMs: nowMs,
    ...(episode ? { startsAtMs: episode.startsAtMs } : {}),
    ...(trace ? { trace } : {}),
    slo: {
      objective: judgement.objective.objective,
      period_days: judgement.objective.periodDays,
      long_window: long,
      short_window: short,
      long_burn_rate: roundTo(row.longBurn, 3),
      short_burn_rate: roundTo(row.shortBurn, 3),
      burn_threshold: roundTo(row.threshold, 3),
      long_runs: row.longRuns,
      long_bad_runs: row.longBad,
      budget_remaining: roundTo(judgement.budgetRemaining, 4),
      episode_id: episode?.id ?? newId ?? randomUUID(),
    },
  };
}

/** The resolved record of an episode whose operation is no longer judged: no figures to give. */
export function orphanInput(episode: Episode, nowMs: number): AlertInput {
  const severity = episode.severity === 'ticket' ? 'ticket' : 'page';
  return {
    ...labelsOf(episode.service, episode.operation, severity),
    severity,
    status: 'resolved',
    summary: `Operation "${episode.operation}" of ${episode.service} is no longer judged (no runs left in its budget's days, or past PERF_SLO_MAX_OPERATIONS); its ${severity} episode is closed.`,
    timeMs: nowMs,
    startsAtMs: episode.startsAtMs,
  };
}
