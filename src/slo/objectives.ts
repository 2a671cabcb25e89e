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
  .gt(0, { error: OBJECTIVE_FORM })
  .lt(1, { error: OBJECTIVE_FORM });

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

/** What an operation's spans said about its objective (the evaluator's facts). */
export interface ObjectiveFacts {
  /** The latest kind of its spans. */
  readonly kind?: string | undefined;
  /** The objective of the rule that gave its target. */
  readonly objective?: ObjectiveInput | undefined;
}

/**
 * The objectives in force: a rule's (from the rules file), else the table's entry for the
 * operation's name, else for its kind, else the defaults; each part (objective, period, errors)
 * falling back on its own.
 */
export class ObjectiveTable {
  readonly #defaults: Objective;
  readonly #table: Readonly<Record<string, ObjectiveInput>>;

  /**
   * @param defaults `PERF_SLO_OBJECTIVE`, `PERF_SLO_PERIOD_DAYS`, `PERF_SLO_ERRORS`.
   * @param table objectives by operation name or kind (`startTelemetry({ slos })`), checked.
   */
  constructor(defaults: Objective, table: Readonly<Record<string, ObjectiveInput>> = {}) {
    this.#defaults = defaults;
    this.#table = table;
  }

  /** The objective of operation `name`, given what its spans said. */
  resolve(name: string, facts?: ObjectiveFacts): Objective {
    const byName = Object.hasOwn(this.#table, name) ? this.#table[name] : undefined;
    const kind = facts?.kind;
    const byKind = kind !== undefined && Object.hasOwn(this.#table, kind) ? this.#table[kind] : undefined;
    const layers = [facts?.objective, byName, byKind];
    const pick = <K extends keyof Objective>(key: K): Objective[K] => {
      for (const layer of layers) {
        const value = layer?.[key];
        if (value !== undefined) return value as Objective[K];
      }
      return this.#defaults[key];
    };
    return { objective: pick('objective'), periodDays: pick('periodDays'), errors: pick('errors') };
  }
}
