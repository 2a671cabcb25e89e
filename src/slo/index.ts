/**
 * Error budgets and burn-rate alerts: objectives per operation, the budget book every instance
 * keeps, the judgement of each operation against the SRE workbook's multi-window, multi-burn-rate
 * table, and the monitor that raises `slo_burn_rate` episodes (one evaluator per deployment, by a
 * Redis lease). Started by `startTelemetry`; no subpath export.
 */
export type { BudgetBook, OperationBook, RunCounts } from './book.ts';
export { type BurnRateMode, type FiringRow, type Judgement, type JudgeSettings, judge } from './judge.ts';
export {
  type BudgetFacts,
  type BudgetFigures,
  BudgetMonitor,
  type BudgetMonitorOptions,
} from './monitor.ts';
export {
  DEFAULT_OBJECTIVE,
  DEFAULT_PERIOD_DAYS,
  encodeObjective,
  MAX_PERIOD_DAYS,
  MIN_PERIOD_DAYS,
  OBJECTIVE_FORM,
  type Objective,
  type ObjectiveFacts,
  type ObjectiveInput,
  ObjectiveTable,
  objectiveInputSchema,
  objectiveValueSchema,
  PERIOD_FORM,
  periodDaysSchema,
} from './objectives.ts';
export {
  ALERT_WINDOWS,
  type AlertWindow,
  type BurnSeverity,
  burnThreshold,
  WINDOW_MINUTES,
  windowLabel,
} from './windows.ts';
