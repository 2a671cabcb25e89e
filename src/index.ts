/**
 * perf-sidecar's root entry: track operations against their targets, start and stop the
 * telemetry, read the configuration, and the errors every part throws. It loads no optional peer
 * (`pg`, `ioredis`, `hono`, `@hono/node-server`, PGlite); the parts that need one have entries of
 * their own: `perf-sidecar/alerts`, `perf-sidecar/cache`, `perf-sidecar/db`, `perf-sidecar/http`,
 * and `perf-sidecar/semconv` for the names of metrics and attributes.
 *
 * @example
 * import { startTelemetry, trackOperation } from 'perf-sidecar';
 * startTelemetry();
 * const result = await trackOperation('document_ocr', { userId }, async (op) => ocr(file));
 */
export {
  CONFIG_VARIABLES,
  ConfigError,
  type ConfigProblem,
  type ConfigVariable,
  DEFAULT_TARGETS,
  getConfig,
  loadConfig,
  type OtlpProtocol,
  type PerfSidecarConfig,
} from './config.ts';
export { InvalidArgumentError, PerfSidecarError, type PerfSidecarErrorCode } from './shared/errors.ts';
export { createLogger, getLogger, type LogLevel, setLogger } from './shared/logger.ts';
export { MissingPeerError } from './shared/peers.ts';
export { VERSION } from './shared/scope.ts';
export * from './telemetry/index.ts';
