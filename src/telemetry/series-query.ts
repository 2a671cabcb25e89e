/**
 * The query of a performance series (`GET /api/system/performance/series`): one operation, the
 * summary's `service` and `hours` rules, and a step in minutes per point, bounded so that one call
 * never answers more than {@link MAX_SERIES_POINTS} points.
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../shared/errors.ts';
import { accepts, parseOptions } from '../shared/options.ts';
import { OPERATION_NAME_FORM } from './operations.ts';
import { MAX_REPORT_HOURS, reportQuerySchema } from './report-query.ts';

/** Minutes per point a series accepts. */
export const SERIES_STEPS = [1, 5, 15, 60] as const;
/** Most points one series answers: a step that gives more is refused. */
export const MAX_SERIES_POINTS = 1440;
/** Most points the default step gives (when some accepted step can). */
export const DEFAULT_SERIES_POINTS = 360;
/** Default window of a series, hours: a chart of the last hour. */
export const DEFAULT_SERIES_HOURS = 1;

const STEP_FORM = `one of ${SERIES_STEPS.join(', ')} (minutes per point)`;

const seriesQueryFields = {
  /** The operation (required: a series is of one operation); the summary's rule for its name. */
  operation: reportQuerySchema.shape.operation,
  /** The service, as the summary's `service` (default: the own service). */
  service: reportQuerySchema.shape.service,
  /** Window length, whole hours, the summary's bounds; default 1. */
  hours: accepts(
    z.number().int().min(1).max(MAX_REPORT_HOURS),
    `a whole number of hours from 1 to ${MAX_REPORT_HOURS}`,
  ).default(DEFAULT_SERIES_HOURS),
  /** Minutes per point; default: the smallest accepted step that gives at most 360 points. */
  step: accepts(
    z.number().refine((n) => (SERIES_STEPS as readonly number[]).includes(n)),
    STEP_FORM,
  ).optional(),
};

/** What to draw a series of. */
export interface PerformanceSeriesQuery {
  /** The operation (1 to 128 printable characters). */
  readonly operation: string;
  /** A service that exports to the sidecar (its recorded name); default the own service. */
  readonly service?: string;
  /** Window length, whole hours from 1 to 720. Default 1. */
  readonly hours?: number;
  /** Minutes per point: 1, 5, 15 or 60. Default: the smallest giving at most 360 points. */
  readonly step?: number;
}

/** A checked series query, defaults filled. */
export interface CheckedSeriesQuery {
  readonly operation: string;
  readonly service: string | undefined;
  readonly hours: number;
  readonly step: number;
}

/** The accepted form of each field, for the HTTP layer's errors on text that is not a number. */
export const SERIES_FIELD_FORMS = {
  hours: `a whole number of hours from 1 to ${MAX_REPORT_HOURS}`,
  step: STEP_FORM,
} as const;

/**
 * The default step for a window: the smallest accepted one that gives at most
 * {@link DEFAULT_SERIES_POINTS} points, else the largest (hours over 360 give up to 720 points).
 */
export function defaultStep(hours: number): number {
  const minutes = hours * 60;
  return SERIES_STEPS.find((step) => minutes / step <= DEFAULT_SERIES_POINTS) ?? SERIES_STEPS.at(-1) ?? 60;
}

/**
 * Checks a series query, each field named alone (as the HTTP API's query parameters are).
 *
 * @throws {InvalidArgumentError} naming `query`, `operation`, `service`, `hours` or `step`, what was
 * wrong and the accepted form; `step` also when it gives more than {@link MAX_SERIES_POINTS} points.
 */
export function checkSeriesQuery(query: unknown): CheckedSeriesQuery {
  if (query === null || typeof query !== 'object') {
    throw new InvalidArgumentError(
      'query',
      'is not an object',
      'an object { operation, service?, hours?, step? }',
    );
  }
  const q = query as Record<string, unknown>;
  if (q.operation === undefined) {
    throw new InvalidArgumentError(
      'operation',
      'is missing (a series is of one operation)',
      OPERATION_NAME_FORM,
    );
  }
  const operation = parseOptions(seriesQueryFields.operation, q.operation, {
    argument: 'operation',
  }) as string;
  const service = parseOptions(seriesQueryFields.service, q.service, { argument: 'service' });
  const hours = parseOptions(seriesQueryFields.hours, q.hours, { argument: 'hours' });
  const asked = parseOptions(seriesQueryFields.step, q.step, { argument: 'step' });
  const step = asked ?? defaultStep(hours);
  const points = (hours * 60) / step;
  if (points > MAX_SERIES_POINTS) {
    const fitting = SERIES_STEPS.filter((s) => (hours * 60) / s <= MAX_SERIES_POINTS);
    throw new InvalidArgumentError(
      'step',
      `is ${step}, which gives ${points} points over ${hours} hours, over the limit of ${MAX_SERIES_POINTS}`,
      `${fitting.join(', ')} for ${hours} hours (or fewer hours)`,
    );
  }
  return { operation, service, hours, step };
}
