/**
 * The sidecar's Hono app: the performance middleware, the system endpoints, `/metrics`, liveness
 * and readiness, bearer-token auth, and JSON errors (`{ error, detail }`, never a stack trace).
 */
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { ALERT_TYPES, type AlertType, type RecentAlerts } from '../alerts/index.ts';
import type { Database } from '../db/index.ts';
import type { Ingest } from '../ingest/index.ts';
import { errorText, InvalidArgumentError } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import type { PerformanceReportQuery, Telemetry } from '../telemetry/index.ts';
import { PROMETHEUS_CONTENT_TYPE, performanceReportOf } from '../telemetry/internal.ts';
import { addAlertStream } from './alert-stream.ts';
import { addDashboard, type DashboardOptions } from './dashboard.ts';
import { HEALTH_CONTENT_TYPE, HealthChecker } from './health.ts';
import {
  type PerformanceMiddlewareOptions,
  performanceErrorHandler,
  performanceMiddleware,
} from './middleware/performance.ts';
import { resourceSeriesHandler } from './resources-series.ts';
import { performanceSeriesHandler } from './series.ts';

/** Options of {@link createApp}. */
export interface AppOptions {
  /** The running telemetry the endpoints report on. */
  readonly telemetry: Telemetry;
  /** Database whose health `/api/system/performance/health` includes. Default: none. */
  readonly database?: Database;
  /**
   * Bearer token required on `/api/system/*` and `/metrics` (compared in constant time). Default:
   * `PERF_API_TOKEN`; none means no auth. `/livez` and `/readyz` stay open.
   */
  readonly apiToken?: string;
  /** Options of the performance middleware; `false` leaves it out. */
  readonly middleware?: PerformanceMiddlewareOptions | false;
  /** The OTLP receivers, whose counters the health checks include. Default: none. */
  readonly ingest?: Ingest;
  /**
   * Whether to serve the dashboard (`GET /`, `/ui/*`, `/api/system/dashboard`), registered after
   * every route of createApp's own but before any you add to the app it returns, which therefore
   * lose those paths to it (see {@link createApp}). Default true.
   */
  readonly dashboard?: boolean;
}

/** Most alerts one `/api/system/alerts` call returns. */
export const MAX_ALERTS_LIMIT = 1000;
/** Alerts returned when `limit` is absent. */
export const DEFAULT_ALERTS_LIMIT = 50;
/** Seconds a failing `/readyz` asks callers to wait before asking again. */
export const READYZ_RETRY_AFTER_SECONDS = 5;
/** The realm of the bearer challenge (`WWW-Authenticate: Bearer realm="perf-sidecar"`). */
export const AUTH_REALM = 'perf-sidecar';

/** Methods a route can be registered for (HEAD is answered by GET routes). */
const ROUTE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * The methods `app` has a route for at `path` (GET implies HEAD), in a fixed order; empty when no
 * method has one. Middleware (`app.use`, method ALL) does not count.
 */
function allowedMethods(app: Hono, path: string): string[] {
  const allowed: string[] = [];
  for (const method of ROUTE_METHODS) {
    const [matches] = app.router.match(method, path);
    if (matches.some(([[, route]]) => route.method === method)) {
      allowed.push(method);
      if (method === 'GET') allowed.push('HEAD');
    }
  }
  return allowed;
}

/** A 400 whose body is `{ error: 'invalid_query', detail }`. */
class BadQuery extends Error {}

type Query = Record<string, string[]>;

function onlyKnown(query: Query, known: readonly string[]): void {
  for (const [name, values] of Object.entries(query)) {
    if (!known.includes(name)) {
      throw new BadQuery(
        `unknown query parameter ${JSON.stringify(name.slice(0, 64))}; accepted: ${known.join(', ')}`,
      );
    }
    if (values.length > 1)
      throw new BadQuery(`query parameter ${name} is given ${values.length} times; give it once`);
  }
}

function wholeNumber(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,7}$/.test(text) || Number(text) < min || Number(text) > max) {
    const shown =
      text.length > 32
        ? `${JSON.stringify(text.slice(0, 32))}… (${text.length} characters)`
        : JSON.stringify(text);
    throw new BadQuery(`${name}: ${shown} is not accepted; expected a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

/**
 * The dashboard's options for an app built with `options`: the own service, the alert thresholds
 * the middleware applies (its options, else the configuration), whether the API needs a token,
 * and the Jaeger UI for trace links.
 */
export function dashboardOptionsOf(options: AppOptions): DashboardOptions {
  const { telemetry } = options;
  const { config } = telemetry;
  const middleware = options.middleware === false ? undefined : options.middleware;
  const { jaegerUrl } = config;
  return {
    service: telemetry.services.own,
    thresholds: {
      memoryMb: middleware?.memoryAlertThreshold ?? config.memoryAlertThresholdMb,
      cpuPercent: middleware?.cpuAlertThreshold ?? config.cpuAlertThresholdPercent,
    },
    auth: (options.apiToken ?? config.apiToken) !== undefined,
    ...(jaegerUrl !== undefined ? { jaegerUrl } : {}),
  };
}

/**
 * Builds the sidecar's Hono app:
 * - `GET /livez`: process only, no I/O.
 * - `GET /readyz`: the health status; 503 with `Retry-After` when failing.
 * - `GET /api/system/performance?operation=&user_id=&service=&hours=`: the performance report (of
 *   the own service, or of `service`), with the list of services seen.
 * - `GET /api/system/performance/health`: `application/health+json`; 503 when failing.
 * - `GET /api/system/alerts?type=&limit=`: recent alerts, newest first, with the entries skipped
 *   (`skipped.invalid`: not `alert.v1`; `skipped.oversized`: too large to read) and `truncated`
 *   (the bounded scan ended before `limit` records or the end of a list).
 * - `GET /metrics`: Prometheus text.
 * - The dashboard (`GET /`, `GET /ui/:file`, `GET /favicon.ico`, `GET /api/system/dashboard`),
 *   unless `dashboard: false`.
 *
 * The dashboard is registered here, before any route you add to the returned app, and Hono answers
 * a request with the first matching route: a `GET /` (or `/ui/:file`, `/favicon.ico`) you add
 * afterwards is never reached. To serve your own `/`, pass `dashboard: false`, add your routes, then
 * `addDashboard(app, dashboardOptionsOf(options))`, as `startSidecar` does with its `routes`.
 *
 * @example
 * ```ts
 * const app = createApp({ telemetry, dashboard: false });
 * app.get('/', (c) => c.text('my page'));
 * addDashboard(app, dashboardOptionsOf({ telemetry }));
 * ```
 */
export function createApp(options: AppOptions): Hono {
  const { telemetry } = options;
  const token = options.apiToken ?? telemetry.config.apiToken;
  const health = new HealthChecker({
    telemetry,
    ...(options.database ? { database: options.database } : {}),
    ...(options.ingest ? { ingest: options.ingest } : {}),
  });
  const app = new Hono();

  if (options.middleware !== false) app.use('*', performanceMiddleware({ telemetry, ...options.middleware }));

  if (token !== undefined) {
    const unauthorized = () =>
      new Response(
        JSON.stringify({
          error: 'unauthorized',
          detail: 'this endpoint requires Authorization: Bearer <PERF_API_TOKEN>',
        }),
        { status: 401, headers: { 'content-type': 'application/json' } },
      );
    const auth = bearerAuth({
      token,
      realm: AUTH_REALM,
      noAuthenticationHeader: { message: unauthorized },
      invalidAuthenticationHeader: {
        message: unauthorized,
        wwwAuthenticateHeader: `Bearer realm="${AUTH_REALM}", error="invalid_request"`,
      },
      invalidToken: {
        message: unauthorized,
        wwwAuthenticateHeader: `Bearer realm="${AUTH_REALM}", error="invalid_token"`,
      },
    });
    app.use('/api/system/*', auth);
    app.use('/metrics', auth);
  }

  app.get('/livez', (c) => c.json({ status: 'pass' }));

  app.get('/readyz', async (c) => {
    const body = await health.check();
    if (body.status === 'fail') {
      c.header('Retry-After', String(READYZ_RETRY_AFTER_SECONDS));
      return c.json({ status: body.status }, 503);
    }
    return c.json({ status: body.status });
  });

  app.get('/api/system/performance', async (c) => {
    const query = c.req.queries();
    onlyKnown(query, ['operation', 'user_id', 'service', 'hours']);
    const hours = wholeNumber('hours', c.req.query('hours'), 1, 720);
    const operation = c.req.query('operation');
    const userId = c.req.query('user_id');
    const service = c.req.query('service');
    const request: PerformanceReportQuery = {
      ...(hours !== undefined ? { hours } : {}),
      ...(operation !== undefined ? { operation } : {}),
      ...(userId !== undefined ? { userId } : {}),
      ...(service !== undefined ? { service } : {}),
    };
    return c.json(await performanceReportOf(telemetry, request));
  });
  app.get('/api/system/performance/series', performanceSeriesHandler(telemetry));
  app.get('/api/system/resources/series', resourceSeriesHandler(telemetry));

  app.get('/api/system/performance/health', async (c) => {
    const body = await health.check();
    return c.body(JSON.stringify(body), body.status === 'fail' ? 503 : 200, {
      'content-type': HEALTH_CONTENT_TYPE,
      'cache-control': 'no-store',
    });
  });

  app.get('/api/system/alerts', async (c) => {
    onlyKnown(c.req.queries(), ['type', 'limit']);
    const type = c.req.query('type');
    if (type !== undefined && !(ALERT_TYPES as readonly string[]).includes(type)) {
      throw new BadQuery(
        `type: ${JSON.stringify(type.slice(0, 64))} is not an alert type; expected one of ${ALERT_TYPES.join(', ')}`,
      );
    }
    const limit = wholeNumber('limit', c.req.query('limit'), 1, MAX_ALERTS_LIMIT) ?? DEFAULT_ALERTS_LIMIT;
    let found: RecentAlerts;
    try {
      found = await telemetry.alerts.scanRecent({ limit, ...(type ? { type: type as AlertType } : {}) });
    } catch (error) {
      getLogger().warn({ err: errorText(error) }, 'could not read alert lists');
      return c.json(
        { error: 'alerts_unavailable', detail: 'the alert lists could not be read (is Redis reachable?)' },
        503,
      );
    }
    const { alerts, skipped, truncated } = found;
    return c.json({ count: alerts.length, alerts, skipped, truncated });
  });
  addAlertStream(app, telemetry, { onlyKnown, wholeNumber, badQuery: (detail) => new BadQuery(detail) });

  app.get('/metrics', async (c) => {
    const text = await telemetry.renderPrometheus();
    return c.body(text, 200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
  });

  // Last, so that any route above wins over the page's paths.
  if (options.dashboard !== false) addDashboard(app, dashboardOptionsOf(options));

  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const shownPath = path.slice(0, 256);
    const allowed = allowedMethods(app, path);
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '));
      return c.json(
        {
          error: 'method_not_allowed',
          detail: `${c.req.method} is not allowed on ${shownPath}; allowed: ${allowed.join(', ')}`,
        },
        405,
      );
    }
    return c.json({ error: 'not_found', detail: `no route for ${c.req.method} ${shownPath}` }, 404);
  });
  const unhandled = performanceErrorHandler();
  app.onError((error, c) => {
    if (error instanceof BadQuery) return c.json({ error: 'invalid_query', detail: error.message }, 400);
    if (error instanceof InvalidArgumentError) {
      // Name the query parameter, not the library argument behind it.
      const detail =
        error.argument === 'userId' ? error.message.replace(/^userId:/, 'user_id:') : error.message;
      return c.json({ error: 'invalid_query', detail }, 400);
    }
    return unhandled(error, c);
  });
  return app;
}
