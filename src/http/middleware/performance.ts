/**
 * The performance middleware for Hono: route templates on the HTTP server span (or the server span
 * itself, with `serverSpans: 'middleware'`), correlation ids, `slow_request` alerts, a structured
 * log line for slow and failed requests, and the resource sampler.
 */
import { performance } from 'node:perf_hooks';
import { context, type Context as OtelContext, type Span, trace } from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import { ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import type { Context, ErrorHandler, Hono, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { alertTraceOf } from '../../alerts/internal.ts';
import { getLogger } from '../../shared/logger.ts';
import { getTelemetry } from '../../telemetry/index.ts';
import { ATTR_CORRELATION_ID, NO_ROUTE, withCorrelationIdIn } from '../../telemetry/internal.ts';
import { CORRELATION_HEADER, correlationIdFrom } from './correlation.ts';
import { type PerformanceMiddlewareOptions, parsePerformanceOptions } from './options.ts';
import { RouteCache, type RouteFacts, routeTemplate } from './routes.ts';
import { type NodeBindings, nodeBindingsOf, ServerSpans } from './server-span.ts';
import { setOwnAttribute } from './span-attributes.ts';

export type { PerformanceMiddlewareOptions };

/** Context variables the middleware sets. */
export interface PerformanceVariables {
  /** The request's correlation id (also on the span and the response header). */
  correlationId: string;
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
 * Sets the correlation header on the Node response before the app answers: Node merges it into
 * the `writeHead` of whatever `Response` the app returns, so no `Headers` object is built for it
 * (setting it on `c.res.headers` after `next()` makes undici build one per request). `false` when
 * there is no Node response (another runtime, `app.request()`): then it is set after `next()`.
 */
function setEarly(node: NodeBindings | undefined, correlationId: string): boolean {
  if (node === undefined || node.outgoing.headersSent) return false;
  node.outgoing.setHeader(CORRELATION_HEADER, correlationId);
  return true;
}

/** Sets the correlation header on `c.res` (after `next()`, without a Node response). */
function setLate(c: Context, correlationId: string): void {
  try {
    c.res.headers.set(CORRELATION_HEADER, correlationId);
  } catch {
    // Immutable headers (Response.redirect(), a fetch() response passed through): copy first.
    c.res = new Response(c.res.body, c.res);
    c.res.headers.set(CORRELATION_HEADER, correlationId);
  }
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
  const routes = new RouteCache(telemetry.targets);
  // Disabled monitoring makes no spans: the SDK is not running.
  const serverSpans =
    (o.serverSpans ?? config.httpServerSpans) === 'middleware' && telemetry.enabled
      ? new ServerSpans(telemetry.metricStore)
      : undefined;

  /** Whether a request that took `seconds` is slow: over the threshold, or over its route's target. */
  const isSlow = (facts: RouteFacts, seconds: number): boolean => {
    if (seconds > slowSeconds) return true;
    // A rule's target (PERF_RULES_FILE) is known once a span of the route has been evaluated.
    const target = facts.tableTarget ?? telemetry.evaluator.targetOf(facts.name);
    return target !== undefined && seconds > target;
  };

  return async function performance_(c, next) {
    const started = performance.now();
    const node = nodeBindingsOf(c.env);
    const given = node ? node.incoming.headers[CORRELATION_HEADER] : c.req.header(CORRELATION_HEADER);
    const correlationId = correlationIdFrom(typeof given === 'string' ? given : undefined);
    c.set('correlationId', correlationId);
    const headerSet = setEarly(node, correlationId);
    const facts = routes.of(c);
    const request = serverSpanOf(c, facts, node, started, correlationId, serverSpans);
    // Without a Node response there is no close to wait for: an own span ends here.
    const endHere = request.own && node === undefined ? serverSpans : undefined;
    try {
      // Operations tracked by the handler inherit the id (see activeCorrelationId); one context
      // holds it and the server span.
      await context.with(request.context, next);
    } catch (thrown) {
      // Not an Error (Hono hands those to app.onError): the server answers 500.
      endHere?.end(request.span as Span, facts, started, 500, schemeOf(c), undefined);
      throw thrown;
    }
    const { span } = request;
    // Hono hands a route's error to app.onError and leaves it in c.error; log it once (unless
    // performanceErrorHandler already did) and never answer it with Hono's plain-text 500.
    const error = c.error;
    const unhandled = error !== undefined && !(error instanceof HTTPException);
    if (unhandled && c.res.status >= 500) {
      const traceId = span?.spanContext().traceId;
      logFailure(c, error, traceId);
      if (await isHonoDefault500(c.res)) c.res = internalError(c, traceId);
    }
    if (!headerSet) setLate(c, correlationId);

    const seconds = (performance.now() - started) / 1000;
    const method = facts.method;
    const status = c.res.status;
    endHere?.end(span as Span, facts, started, status, schemeOf(c), undefined);
    if (seconds > slowSeconds) {
      const spanContext = span?.spanContext();
      const trace = spanContext ? alertTraceOf(spanContext) : undefined;
      const shownRoute = facts.route ?? NO_ROUTE;
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
    if (!detailed) return;
    // Slow and failed requests at info, the others at debug: a line per request measured 6 µs,
    // more than the rest of the middleware.
    const notable = status >= 500 || unhandled || isSlow(facts, seconds);
    if (!notable && !log.isLevelEnabled('debug')) return;
    const line = {
      method,
      route: facts.route ?? null,
      status,
      duration_ms: Math.round(seconds * 1e6) / 1000,
      trace_id: span?.spanContext().traceId,
      correlation_id: correlationId,
    };
    if (notable) log.info(line, 'request');
    else log.debug(line, 'request');
  };
}

/**
 * A request's server span, whether the middleware made it, and the context to run the app in (with
 * the request's correlation id).
 */
interface RequestSpan {
  readonly span: Span | undefined;
  readonly own: boolean;
  readonly context: OtelContext;
}

/**
 * The request's server span: the middleware's own with `serverSpans` when instrumentation-http made
 * none (ended on the Node response's close), else instrumentation-http's (or the active span),
 * named after the route here, before the handler runs.
 */
function serverSpanOf(
  c: Context,
  facts: RouteFacts,
  node: NodeBindings | undefined,
  started: number,
  correlationId: string,
  serverSpans: ServerSpans | undefined,
): RequestSpan {
  const active = context.active();
  const rpc = getRPCMetadata(active);
  if (serverSpans !== undefined && rpc === undefined) {
    const { span, context: spanContext } = serverSpans.start(c, facts, node, active, correlationId);
    if (node) serverSpans.endOnClose(node, span, facts, started);
    return { span, own: true, context: spanContext };
  }
  const span = rpc?.span ?? trace.getSpan(active);
  // instrumentation-http's span is the SDK's too: set without the SDK's per-value check.
  if (span?.isRecording()) setOwnAttribute(span, ATTR_CORRELATION_ID, correlationId);
  if (facts.route !== undefined) {
    if (rpc?.type === RPCType.HTTP) {
      // instrumentation-http reads this when the response ends: it sets `http.route` on the span
      // and the metric and renames the span `GET /users/:id` itself.
      rpc.route = facts.route;
    } else if (span?.isRecording()) {
      setOwnAttribute(span, ATTR_HTTP_ROUTE, facts.route);
      span.updateName(facts.name);
    }
  }
  return { span, own: false, context: withCorrelationIdIn(active, correlationId) };
}

/** The request URL's scheme, without the colon. */
function schemeOf(c: Context): string {
  const url = c.req.url;
  return url.slice(0, url.indexOf(':'));
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
