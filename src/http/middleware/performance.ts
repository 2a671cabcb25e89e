/**
 * The performance middleware for Hono: route templates on the HTTP server span, correlation ids,
 * `slow_request` alerts, one structured log line per request, and the resource sampler.
 */
import { performance } from 'node:perf_hooks';
import { context, type Span, trace } from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import type { Hono, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { alertTraceOf } from '../../alerts/index.ts';
import { describeValue, InvalidArgumentError } from '../../errors.ts';
import { getLogger } from '../../logger.ts';
import {
  ATTR_CORRELATION_ID,
  NO_ROUTE,
  requireTelemetry,
  type Telemetry,
  withCorrelationId,
} from '../../telemetry/index.ts';
import { CORRELATION_HEADER, correlationIdFrom } from './correlation.ts';

/** Options of {@link performanceMiddleware}. Every default comes from the configuration. */
export interface PerformanceMiddlewareOptions {
  /**
   * One pino log line per request (method, route template, status, duration, trace id,
   * correlation id; never the query string or headers). Default true.
   */
  readonly enableDetailedMonitoring?: boolean;
  /** Seconds after which a request raises `slow_request`. Default `SLOW_REQUEST_THRESHOLD` (5). */
  readonly slowRequestThreshold?: number;
  /** Resident MiB that raises `high_memory` (resource sampler). Default `MEMORY_ALERT_THRESHOLD`. */
  readonly memoryAlertThreshold?: number;
  /**
   * Start the resource sampler (once per second, not per request: RSS, heap, CPU, event-loop delay
   * and utilisation; `high_memory` and `high_cpu` alerts). Default true.
   */
  readonly enableResourceMonitoring?: boolean;
  /** Sustained process CPU percent that raises `high_cpu`. Default `CPU_ALERT_THRESHOLD` (80). */
  readonly cpuAlertThreshold?: number;
  /** Telemetry to report to. Default: the running one (`startTelemetry()` must have been called). */
  readonly telemetry?: Telemetry;
}

/** Context variables the middleware sets. */
export interface PerformanceVariables {
  /** The request's correlation id (also on the span and the response header). */
  correlationId: string;
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(
      `options.${name}`,
      `is ${describeValue(value)}`,
      'a finite number greater than 0',
    );
  }
  return value;
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
  const telemetry = options.telemetry ?? requireTelemetry();
  const { config } = telemetry;
  const slowSeconds = positive(
    'slowRequestThreshold',
    options.slowRequestThreshold,
    config.slowRequestThresholdSeconds,
  );
  const memoryMb = positive(
    'memoryAlertThreshold',
    options.memoryAlertThreshold,
    config.memoryAlertThresholdMb,
  );
  const cpuPercent = positive(
    'cpuAlertThreshold',
    options.cpuAlertThreshold,
    config.cpuAlertThresholdPercent,
  );
  const detailed = options.enableDetailedMonitoring ?? true;
  if (options.enableResourceMonitoring ?? true) {
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
        span.setAttribute('http.route', route);
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
 * Adds {@link performanceMiddleware} to every route of `app` (one call for the whole app).
 *
 * @returns the same app.
 */
export function addPerformanceMiddleware<A extends Hono>(
  app: A,
  options: PerformanceMiddlewareOptions = {},
): A {
  app.use('*', performanceMiddleware(options));
  return app;
}
