/**
 * perf-sidecar's public API.
 *
 * @example
 * import { startTelemetry, trackOperation } from 'perf-sidecar';
 * startTelemetry();
 * const result = await trackOperation('document_ocr', { userId }, async (op) => ocr(file));
 */
export * from './alerts/index.ts';
export * from './cache/index.ts';
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
export * from './db/index.ts';
export { normaliseDatabaseUrl } from './db/url.ts';
export * from './http/index.ts';
export { InvalidArgumentError, PerfSidecarError, type PerfSidecarErrorCode } from './shared/errors.ts';
export type { LogLevel } from './shared/logger.ts';
export { getLogger, setLogger } from './shared/logger.ts';
export { closeRedisClient, createRedisClient, type RedisClientOptions } from './shared/redis.ts';
export { SCOPE_NAME, VERSION } from './shared/scope.ts';
export { redactUrl } from './shared/urls.ts';
export * from './telemetry/index.ts';
export { MAX_OPERATION_NAME_LENGTH, MAX_TARGET_SECONDS } from './telemetry/operations.ts';
