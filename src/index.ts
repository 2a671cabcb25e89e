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
  type LogLevel,
  loadConfig,
  MAX_OPERATION_NAME_LENGTH,
  MAX_TARGET_SECONDS,
  normaliseDatabaseUrl,
  type OtlpProtocol,
  type PerfSidecarConfig,
  redactUrl,
} from './config.ts';
export * from './db/index.ts';
export { InvalidArgumentError, PerfSidecarError, type PerfSidecarErrorCode } from './errors.ts';
export * from './http/index.ts';
export { getLogger, setLogger } from './logger.ts';
export { closeRedisClient, createRedisClient, type RedisClientOptions } from './redis.ts';
export { SCOPE_NAME, VERSION } from './scope.ts';
export * from './telemetry/index.ts';
