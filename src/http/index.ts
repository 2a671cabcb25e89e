/** HTTP: the sidecar's Hono app, the performance middleware, health and the server runner. */
export {
  type AppOptions,
  AUTH_REALM,
  createApp,
  DEFAULT_ALERTS_LIMIT,
  MAX_ALERTS_LIMIT,
  READYZ_RETRY_AFTER_SECONDS,
} from './app.ts';
export {
  getSystemHealth,
  HEALTH_CONTENT_TYPE,
  type HealthCheck,
  HealthChecker,
  type HealthCheckerOptions,
  type HealthStatus,
  type SystemHealth,
} from './health.ts';
export {
  CORRELATION_HEADER,
  correlationIdFrom,
  MAX_CORRELATION_ID_LENGTH,
} from './middleware/correlation.ts';
export {
  addPerformanceMiddleware,
  type InternalErrorBody,
  type PerformanceMiddlewareOptions,
  type PerformanceVariables,
  performanceErrorHandler,
  performanceMiddleware,
} from './middleware/performance.ts';
export { type SidecarOptions, type SidecarServer, startSidecar } from './serve.ts';
