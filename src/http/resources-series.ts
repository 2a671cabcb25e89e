/**
 * `GET /api/system/resources/series?service=&hours=`: one service's runtime figures per minute over
 * the last `hours` (see `telemetry/system-series.ts`). Its own module so that the app only
 * registers it; bad queries throw {@link InvalidArgumentError}, which the app answers with
 * `400 { error: 'invalid_query', detail }`. A valid service name without figures (one this process
 * has not heard of included) is answered with no points, as the summary answers it.
 */
import type { Context } from 'hono';
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import type { Telemetry } from '../telemetry/index.ts';
import {
  RESOURCE_SERIES_FIELD_FORMS,
  type ResourceSeriesQuery,
  resourceSeriesOf,
} from '../telemetry/internal.ts';

/** The query parameters of the resource series endpoint. */
export const RESOURCE_SERIES_PARAMETERS = ['service', 'hours'] as const;

/**
 * The handler of `GET /api/system/resources/series` for `telemetry`: checks the query text (known
 * parameters, each once, `hours` a whole number) and answers the series as JSON.
 *
 * @throws {InvalidArgumentError} naming the bad parameter and what it accepts (the app answers 400).
 */
export function resourceSeriesHandler(telemetry: Telemetry): (c: Context) => Promise<Response> {
  return async (c) => {
    for (const [name, values] of Object.entries(c.req.queries())) {
      if (!(RESOURCE_SERIES_PARAMETERS as readonly string[]).includes(name)) {
        throw new InvalidArgumentError(
          'query',
          `has the unknown parameter ${describeValue(name)}`,
          `only ${RESOURCE_SERIES_PARAMETERS.join(', ')}`,
        );
      }
      if (values.length > 1)
        throw new InvalidArgumentError(name, `is given ${values.length} times`, 'it once');
    }
    const service = c.req.query('service');
    const hours = c.req.query('hours');
    // Digits only: `Number()` would take "", " 5", "0x10" and "1e2".
    if (hours !== undefined && !/^\d{1,7}$/.test(hours)) {
      throw new InvalidArgumentError(
        'hours',
        `is ${describeValue(hours)}, not a whole number`,
        RESOURCE_SERIES_FIELD_FORMS.hours,
      );
    }
    const query: ResourceSeriesQuery = {
      ...(service !== undefined ? { service } : {}),
      ...(hours !== undefined ? { hours: Number(hours) } : {}),
    };
    return c.json(await resourceSeriesOf(telemetry, query));
  };
}
