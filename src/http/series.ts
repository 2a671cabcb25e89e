/**
 * `GET /api/system/performance/series?operation=&service=&hours=&step=`: one operation's points of
 * `step` minutes over the summary's window (see `telemetry/series.ts`). Its own module so that the
 * app only registers it; bad queries throw {@link InvalidArgumentError}, which the app answers with
 * `400 { error: 'invalid_query', detail }`.
 */
import type { Context } from 'hono';
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import type { Telemetry } from '../telemetry/index.ts';
import {
  type PerformanceSeriesQuery,
  performanceSeriesOf,
  SERIES_FIELD_FORMS,
} from '../telemetry/internal.ts';

/** The query parameters of the series endpoint. */
export const SERIES_PARAMETERS = ['operation', 'service', 'hours', 'step'] as const;

/**
 * The handler of `GET /api/system/performance/series` for `telemetry`: checks the query text (known
 * parameters, each once, numbers as whole numbers) and answers the series as JSON.
 *
 * @throws {InvalidArgumentError} naming the bad parameter and what it accepts (the app answers 400).
 */
export function performanceSeriesHandler(telemetry: Telemetry): (c: Context) => Promise<Response> {
  return async (c) => {
    for (const [name, values] of Object.entries(c.req.queries())) {
      if (!(SERIES_PARAMETERS as readonly string[]).includes(name)) {
        throw new InvalidArgumentError(
          'query',
          `has the unknown parameter ${describeValue(name)}`,
          `only ${SERIES_PARAMETERS.join(', ')}`,
        );
      }
      if (values.length > 1)
        throw new InvalidArgumentError(name, `is given ${values.length} times`, 'it once');
    }
    const operation = c.req.query('operation');
    const service = c.req.query('service');
    const hours = wholeNumber('hours', c.req.query('hours'));
    const step = wholeNumber('step', c.req.query('step'));
    const query: PerformanceSeriesQuery = {
      // A missing operation reaches the check, which says a series needs one.
      operation: operation as string,
      ...(service !== undefined ? { service } : {}),
      ...(hours !== undefined ? { hours } : {}),
      ...(step !== undefined ? { step } : {}),
    };
    return c.json(await performanceSeriesOf(telemetry, query));
  };
}

/** The number a parameter's text spells (bounds are the query check's), `undefined` when absent. */
function wholeNumber(name: 'hours' | 'step', text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  // Digits only: `Number()` would take "", " 5", "0x10" and "1e2".
  if (!/^\d{1,7}$/.test(text)) {
    throw new InvalidArgumentError(
      name,
      `is ${describeValue(text)}, not a whole number`,
      SERIES_FIELD_FORMS[name],
    );
  }
  return Number(text);
}
