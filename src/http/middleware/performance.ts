/**
 * The performance middleware for Hono: route templates on the HTTP server span, correlation ids,
 * `slow_request` alerts, one structured log line per request, and the resource sampler.
 */
import { performance } from 'node:perf_hooks';
import { context, type Span, trace } from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import { ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import type { Context, ErrorHandler, Hono, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { matchedRoutes } from 'hono/route';
import { alertTraceOf } from '../../alerts/internal.ts';
import { getLogger } from '../../shared/logger.ts';
import { getTelemetry, withCorrelationId } from '../../telemetry/index.ts';
import { ATTR_CORRELATION_ID, NO_ROUTE } from '../../telemetry/internal.ts';
import { CORRELATION_HEADER, correlationIdFrom } from './correlation.ts';
import { type PerformanceMiddlewareOptions, parsePerformanceOptions } from './options.ts';

export type { PerformanceMiddlewareOptions };

/** Context variables the middleware sets. */
export interface PerformanceVariables {
  /** The request's correlation id (also on the span and the response header). */
  correlationId: string;
}

/**
 * The route template Hono matched for the request (`/users/:id`), or `undefined` when only
 * middleware matched (a 404): raw paths must never become span names or metric labels.
 */
function routeTemplate(c: Parameters<MiddlewareHandler>[0]): string | undefined {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i];
    // Middleware registered with use() has the method ALL; a handler has its own method (or ALL
    // from app.all(), whose path is then not a wildcard).
    if (route && (route.method !== 'ALL' || (route.path !== '*' && route.path !== '/*'))) return route.path;
  }
  return undefined;
}

/** Body of the JSON 500 answered for an unhandled error in a route. */
export interface InternalErrorBody {
  readonly error: 'internal_error';
  /** Says where to look; never the error's own message (it may hold data the caller must not see). */
  readonly detail: string;
  /** The request's correlation id (`null` without the performance middleware). */
  readonly correlation_id: string | null;
  /** The trace id of the request's server span (`null` without tracing). */
  readonly trace_id: string | null;
}

/** Errors already logged, so that the error handler and the middleware log each one once. */
const loggedErrors = new WeakSet<object>();

/** The request's server span: the one instrumentation-http made, else the active one. */
function requestSpan(): Span | undefined {
  const active = context.active();
  return getRPCMetadata(active)?.span ?? trace.getSpan(active);
}

function correlationIdOf(c: Context): string | undefined {
  const id: unknown = c.get('correlationId');
  return typeof id === 'string' ? id : undefined;
}

/** Logs an unhandled route error once, through pino, with its stack and the request's ids. */
function logFailure(c: Context, error: Error, traceId: string | undefined): void {
  if (loggedErrors.has(error)) return;
  loggedErrors.add(error);
  const route = routeTemplate(c);
  getLogger().error(
    {
      // Only these fields: a client library's error can carry request headers (tokens, cookies).
      err: { type: error.name, message: error.message, stack: error.stack },
      method: c.req.method,
      route: route ?? null,
      correlation_id: correlationIdOf(c),
      trace_id: traceId,
    },
    'request failed',
  );
}

function internalError(c: Context, traceId: string | undefined): Response {
  const correlationId = correlationIdOf(c);
  const body: InternalErrorBody = {
    error: 'internal_error',
    detail: correlationId
      ? `the request failed; the server log has the details under correlation id ${correlationId}`
      : 'the request failed; the server log has the details',
    correlation_id: correlationId ?? null,
    trace_id: traceId ?? null,
  };
  return c.json(body, 500);
}

/** Hono's default error handler answers this; the middleware replaces it with a JSON 500. */
async function isHonoDefault500(res: Response): Promise<boolean> {
  if (res.status !== 500 || !res.headers.get('content-type')?.startsWith('text/plain')) return false;
  return (await res.clone().text()) === 'Internal Server Error';
}

/**
 * Creates an error handler for `app.onError()` that answers unhandled errors with a JSON 500
 * ({@link InternalErrorBody}: correlation id and trace id, never the error message or a stack) and
 * logs each error once through pino with its stack. `HTTPException`s keep their own response.
 * {@link addPerformanceMiddleware} installs it; add it yourself next to
 * `app.use(performanceMiddleware())`, or Hono's default handler prints the stack with
 * `console.error` before the middleware can turn its answer into JSON.
 *
 * @example
 * ```ts
 * app.use(performanceMiddleware());
 * app.onError(performanceErrorHandler());
 * ```
 */
export function performanceErrorHandler(): ErrorHandler {
  return function performanceErrorHandler_(error, c) {
    if (error instanceof HTTPException) return error.getResponse();
    const traceId = requestSpan()?.spanContext().traceId;
    logFailure(c, error, traceId);
    return internalError(c, traceId);
  };
}

/**
 * Creates the performance middleware.
 *
 * @param options see {@link PerformanceMiddlewareOptions}.
 * @throws {InvalidArgumentError} on a bad option.
 * @throws {PerfSidecarError} `PERF_NOT_STARTED` when no telemetry is given and none is running.
 * @example
 * ```ts
 * startTelemetry();
 * const app = new Hono();
 * app.use(performanceMiddleware({ slowRequestThreshold: 2 }));
 * ```
 */
export function performanceMiddleware(
  options: PerformanceMiddlewareOptions = {},
): MiddlewareHandler<{ Variables: PerformanceVariables }> {
  const o = parsePerformanceOptions(options);
  const telemetry = o.telemetry ?? getTelemetry();
  const { config } = telemetry;
  const slowSeconds = o.slowRequestThreshold ?? config.slowRequestThresholdSeconds;
  const memoryMb = o.memoryAlertThreshold ?? config.memoryAlertThresholdMb;
  const cpuPercent = o.cpuAlertThreshold ?? config.cpuAlertThresholdPercent;
  const detailed = o.enableDetailedMonitoring ?? true;
  if (o.enableResourceMonitoring ?? true) {
    telemetry.resources.setThresholds({
      memoryAlertThresholdMb: memoryMb,
      cpuAlertThresholdPercent: cpuPercent,
    });
    telemetry.resources.start();
  }
  // The request line's fields are fixed and hold no secrets, so it skips the logger's wildcard
  // redaction, which measured 6-9 µs per line (about a third of the middleware's cost).
  const log = getLogger().child({}, { redact: { paths: [] } });
  const service = config.serviceName;

  return async function performance_(c, next) {
    const started = performance.now();
    const correlationId = correlationIdFrom(c.req.header(CORRELATION_HEADER));
    c.set('correlationId', correlationId);
    const active = context.active();
    const rpc = getRPCMetadata(active);
    const span: Span | undefined = rpc?.span ?? trace.getSpan(active);

    // Operations tracked by the handler inherit the id (see activeCorrelationId).
    await withCorrelationId(correlationId, next);
    // Hono hands a route's error to app.onError and leaves it in c.error; log it once (unless
    // performanceErrorHandler already did) and never answer it with Hono's plain-text 500.
    const failure = c.error;
    if (failure !== undefined && !(failure instanceof HTTPException) && c.res.status >= 500) {
      const traceId = span?.spanContext().traceId;
      logFailure(c, failure, traceId);
      if (await isHonoDefault500(c.res)) c.res = internalError(c, traceId);
    }

    const seconds = (performance.now() - started) / 1000;
    const route = routeTemplate(c);
    const method = c.req.method;
    const status = c.res.status;
    try {
      c.res.headers.set(CORRELATION_HEADER, correlationId);
    } catch {
      // Immutable headers (Response.redirect(), a fetch() response passed through): copy first.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set(CORRELATION_HEADER, correlationId);
    }
    if (route !== undefined && rpc?.type === RPCType.HTTP) {
      // instrumentation-http reads this when the response ends, for the span and the metric.
      rpc.route = route;
    }
    if (span?.isRecording()) {
      span.setAttribute(ATTR_CORRELATION_ID, correlationId);
      if (route !== undefined) {
        span.setAttribute(ATTR_HTTP_ROUTE, route);
        span.updateName(`${method} ${route}`);
      }
    }
    const spanContext = span?.spanContext();
    if (seconds > slowSeconds) {
      const trace = spanContext ? alertTraceOf(spanContext) : undefined;
      const shownRoute = route ?? NO_ROUTE;
      telemetry.alerts.emit({
        type: 'slow_request',
        service,
        route: shownRoute,
        method,
        value: Math.round(seconds * 1e6) / 1e6,
        threshold: slowSeconds,
        unit: 's',
        summary: `${method} ${shownRoute} took ${seconds.toFixed(3)} s (status ${status}), over the ${slowSeconds} s threshold.`,
        annotations: { status: String(status) },
        correlationId,
        ...(trace ? { trace } : {}),
      });
    }
    if (detailed) {
      log.info(
        {
          method,
          route: route ?? null,
          status,
          duration_ms: Math.round(seconds * 1e6) / 1000,
          trace_id: spanContext?.traceId,
          correlation_id: correlationId,
        },
        'request',
      );
    }
  };
}

/**
 * Adds {@link performanceMiddleware} to every route of `app`, and {@link performanceErrorHandler}
 * as its error handler (replacing one set before).
 *
 * @returns the same app.
 */
export function addPerformanceMiddleware<A extends Hono>(
  app: A,
  options: PerformanceMiddlewareOptions = {},
): A {
  app.use('*', performanceMiddleware(options));
  app.onError(performanceErrorHandler());
  return app;
}
