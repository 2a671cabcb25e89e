/**
 * Objectives: the share of an operation's runs that must be good (within the target, and without
 * error unless errors are left out) over a period. A leaf: the configuration reads its bounds.
 */
import { z } from 'zod';

/** Shortest period, days. */
export const MIN_PERIOD_DAYS = 1;
/** Longest period, days. */
export const MAX_PERIOD_DAYS = 90;
/** Default objective (`PERF_SLO_OBJECTIVE`). */
export const DEFAULT_OBJECTIVE = 0.99;
/** Default period (`PERF_SLO_PERIOD_DAYS`). */
export const DEFAULT_PERIOD_DAYS = 30;

/** The accepted form of an objective. */
export const OBJECTIVE_FORM = 'a number between 0 and 1, both excluded (0.99 = 99 % of runs good)';
/** The accepted form of a period. */
export const PERIOD_FORM = `a whole number of days from ${MIN_PERIOD_DAYS} to ${MAX_PERIOD_DAYS}`;

/** An objective, complete. */
export interface Objective {
  /** Share of runs that must be good, in (0, 1). */
  readonly objective: number;
  /** Period the budget is counted over, days. */
  readonly periodDays: number;
  /** Whether a run that failed within its target is bad (default true). */
  readonly errors: boolean;
}

/** An objective as given: any part left out comes from the defaults. */
export type ObjectiveInput = Partial<Objective>;

/** Schema of an objective value. */
export const objectiveValueSchema = z
  .number({ error: OBJECTIVE_FORM })
  .refine((n) => Number.isFinite(n) && n > 0 && n < 1, { error: OBJECTIVE_FORM });

/** Schema of a period, days. */
export const periodDaysSchema = z
  .number({ error: PERIOD_FORM })
  .int({ error: PERIOD_FORM })
  .min(MIN_PERIOD_DAYS, { error: PERIOD_FORM })
  .max(MAX_PERIOD_DAYS, { error: PERIOD_FORM });

/** Schema of an {@link ObjectiveInput}. */
export const objectiveInputSchema = z.strictObject({
  objective: objectiveValueSchema.optional(),
  periodDays: periodDaysSchema.optional(),
  errors: z.boolean({ error: 'true or false' }).optional(),
});

/** `objective/periodDays/errors` as stored next to the counts (`0.99/30/1`). */
export function encodeObjective(o: Objective): string {
  return `${o.objective}/${o.periodDays}/${o.errors ? 1 : 0}`;
}

/** The objective of {@link encodeObjective}'s text, or `undefined` when it is not one. */
export function decodeObjective(text: string): Objective | undefined {
  const [objective, periodDays, errors] = text.split('/').map(Number);
  if (objectiveValueSchema.safeParse(objective).success && periodDaysSchema.safeParse(periodDays).success) {
    return { objective: objective as number, periodDays: periodDays as number, errors: errors !== 0 };
  }
  return undefined;
}
