/**
 * Options of the performance middleware: one schema holding each option's type and bounds. The
 * defaults come from the running telemetry's configuration (`SLOW_REQUEST_THRESHOLD`,
 * `MEMORY_ALERT_THRESHOLD`, `CPU_ALERT_THRESHOLD`, `PERF_HTTP_SERVER_SPANS`), so the fields have
 * none here. A leaf: it loads neither hono nor the telemetry.
 */
import { z } from 'zod';
import { decimal, flag, oneOf, parseOptions, withMethods } from '../../shared/options.ts';
import type { Telemetry } from '../../telemetry/index.ts';
import { MAX_TARGET_SECONDS } from '../../telemetry/operations.ts';

/**
 * Who makes each request's HTTP server span and its `http.server.request.duration` record:
 * `instrumentation` (OpenTelemetry's instrumentation-http, which the middleware only names after the
 * route) or `middleware` (the middleware itself, with instrumentation-http's incoming side off).
 */
export const SERVER_SPAN_SOURCES = ['instrumentation', 'middleware'] as const;
/** One of {@link SERVER_SPAN_SOURCES}. */
export type ServerSpanSource = (typeof SERVER_SPAN_SOURCES)[number];

/** The performance middleware's options. */
const performanceOptionFields = {
  /**
   * The `request` log line (method, route template, status, duration, trace id, correlation id;
   * never the query string or headers): at info for slow requests (over `slowRequestThreshold` or
   * the route's target) and failed ones (5xx or an unhandled error), at debug for every other
   * request (so `LOG_LEVEL=debug` logs them all). `false`: no request line at all. Default true.
   */
  enableDetailedMonitoring: flag().optional(),
  /**
   * Who makes the HTTP server span and the `http.server.request.duration` record of each request
   * ({@link SERVER_SPAN_SOURCES}). `middleware` only pays off with instrumentation-http's incoming
   * side off, which `PERF_HTTP_SERVER_SPANS=middleware` does for the preload; when
   * instrumentation-http made a span anyway, the middleware names that one and makes none.
   * Default `PERF_HTTP_SERVER_SPANS` (`instrumentation`).
   *
   * @example
   * ```ts
   * // PERF_HTTP_SERVER_SPANS=middleware node --import perf-sidecar/register app.js
   * app.use(performanceMiddleware({ serverSpans: 'middleware' }));
   * ```
   */
  serverSpans: oneOf(SERVER_SPAN_SOURCES).optional(),
  /**
   * Seconds after which a request raises `slow_request` (and its log line is at info). Default
   * `SLOW_REQUEST_THRESHOLD` (5).
   */
  slowRequestThreshold: decimal(0, MAX_TARGET_SECONDS, { unit: 'seconds', minExclusive: true }).optional(),
  /** Resident MiB that raises `high_memory` (resource sampler). Default `MEMORY_ALERT_THRESHOLD` (500). */
  memoryAlertThreshold: decimal(0, 1_048_576, { unit: 'MiB', minExclusive: true }).optional(),
  /**
   * Start the resource sampler (once per second, not per request: RSS, heap, CPU, event-loop delay
   * and utilisation; `high_memory` and `high_cpu` alerts). Default true.
   */
  enableResourceMonitoring: flag().optional(),
  /** Sustained process CPU percent that raises `high_cpu`. Default `CPU_ALERT_THRESHOLD` (80). */
  cpuAlertThreshold: decimal(0, 10_000, { what: 'a percentage', minExclusive: true }).optional(),
  /** Telemetry to report to. Default: the running one (`startTelemetry()` must have been called). */
  telemetry: withMethods<Telemetry>(
    ['renderPrometheus'],
    'a telemetry returned by startTelemetry()',
  ).optional(),
};

/** The performance middleware's options (fields documented above, kept in the published types). */
export const performanceOptionsSchema: z.ZodObject<typeof performanceOptionFields, z.core.$strict> =
  z.strictObject(performanceOptionFields);

/** Options of `performanceMiddleware` and `addPerformanceMiddleware`. */
export type PerformanceMiddlewareOptions = z.input<typeof performanceOptionsSchema>;

/**
 * Checks middleware options.
 *
 * @throws {InvalidArgumentError} naming the first bad option, its value and the accepted form.
 */
export function parsePerformanceOptions(options: unknown): z.output<typeof performanceOptionsSchema> {
  return parseOptions(performanceOptionsSchema, options ?? {}, { what: 'a performance middleware option' });
}
