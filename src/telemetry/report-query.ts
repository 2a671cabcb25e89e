/**
 * The query of a performance report: its fields, each with its accepted form, and the check that
 * names a bad field alone (as the HTTP API's query parameters are named).
 */
import { z } from 'zod';
import { ID_FORM, isId } from '../shared/errors.ts';
import { accepts, parseOptions, serviceName } from '../shared/options.ts';
import { OPERATION_NAME_FORM, operationNameProblem } from './operations.ts';

/** Longest window, hours (30 days). */
export const MAX_REPORT_HOURS = 720;
/** Default window, hours. */
export const DEFAULT_REPORT_HOURS = 24;

/**
 * The fields of a report query, each with its accepted form. Each is parsed on its own, so that an
 * error names the field alone (`hours: ...`), as the HTTP API's query parameters are named.
 */
const reportQueryFields = {
  /** Only this operation. */
  operation: accepts(
    z.string().superRefine((name, ctx) => {
      const problem = operationNameProblem(name);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, params: { problem } });
    }),
    OPERATION_NAME_FORM,
  ).optional(),
  /** Only this user's operations (spans carrying `user.id`); a number is read as its decimal text. */
  userId: accepts(
    // The same rule as trackOperation's userId (checkOptionalId), so any id it records can be asked for.
    z.union([z.string(), z.number().finite().transform(String)]).pipe(z.string().refine(isId)),
    ID_FORM,
  ).optional(),
  /**
   * Only this service: its operations, requests, users and system figures (default: the own
   * service's). A `service.name`, as the service registry records it (`_other` for the services
   * past `PERF_MAX_SERVICES`).
   */
  service: serviceName().optional(),
  /** Window length, whole hours from 1 to 720. Default 24. */
  hours: accepts(
    z.number().int().min(1).max(MAX_REPORT_HOURS),
    `a whole number of hours from 1 to ${MAX_REPORT_HOURS}`,
  ).default(DEFAULT_REPORT_HOURS),
};

/** Schema of a report query (see {@link checkReportQuery} for how its errors name the fields). */
export const reportQuerySchema = z.object(reportQueryFields);

/** What to report on. */
export type PerformanceReportQuery = z.input<typeof reportQuerySchema>;

/** A checked report query, defaults filled. */
export type CheckedQuery = z.output<typeof reportQuerySchema>;

const queryObject = accepts(z.looseObject({}), 'an object { operation?, userId?, service?, hours? }');

/**
 * Checks a report query: `undefined` or an object whose fields {@link reportQuerySchema} describes
 * (other keys are ignored).
 *
 * @throws {InvalidArgumentError} naming the bad field alone (`hours`, `operation`, `userId`, `service`) or
 * `query`, and the expected form.
 */
export function checkReportQuery(query: unknown): CheckedQuery {
  const q = query === undefined ? {} : parseOptions(queryObject, query, { argument: 'query' });
  return {
    operation: parseOptions(reportQueryFields.operation, q.operation, { argument: 'operation' }),
    userId: parseOptions(reportQueryFields.userId, q.userId, { argument: 'userId' }),
    service: parseOptions(reportQueryFields.service, q.service, { argument: 'service' }),
    hours: parseOptions(reportQueryFields.hours, q.hours, { argument: 'hours' }),
  };
}
