/**
 * HTTP (`perf-sidecar/http`; needs the optional peer `hono`, and `@hono/node-server` for
 * `startSidecar`): the performance middleware for a Hono app, the sidecar's Hono app with its
 * endpoints, health, the built-in dashboard page, and the server runner.
 */
export { type AppOptions, createApp, dashboardOptionsOf } from './app.ts';
export {
  addDashboard,
  DASHBOARD_CSP,
  type DashboardConfig,
  type DashboardOptions,
  type DashboardThresholds,
  DEFAULT_DASHBOARD_ASSETS,
} from './dashboard.ts';
export {
  getSystemHealth,
  HEALTH_CONTENT_TYPE,
  type HealthCheck,
  HealthChecker,
  type HealthCheckerOptions,
  type HealthStatus,
  type SystemHealth,
} from './health.ts';
export { CORRELATION_HEADER } from './middleware/correlation.ts';
export {
  addPerformanceMiddleware,
  type InternalErrorBody,
  type PerformanceMiddlewareOptions,
  type PerformanceVariables,
  performanceErrorHandler,
  performanceMiddleware,
} from './middleware/performance.ts';
export { type SidecarOptions, type SidecarServer, startSidecar } from './serve.ts';
