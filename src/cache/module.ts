/**
 * The module-level cache: `startCache(redis)` once at start-up, then
 * `getCache()` anywhere (and in `cached` wrappers that are given no cache of their own).
 */
import { getConfig } from '../config.ts';
import { PerfSidecarError } from '../shared/errors.ts';
import type { RedisClient } from '../shared/redis.ts';
import { type Cache, createCache } from './cache.ts';
import type { CacheOptions } from './options.ts';

let current: Cache | undefined;

/** The prefix of `startCache()` without arguments on a cluster (`REDIS_CLUSTER=true`): the default's hash-tagged form. */
const CLUSTER_PREFIX = '{perf-cache}:';

/**
 * Creates the process's shared cache. Given a client or URL, it uses that Redis; given options,
 * those; given nothing, `REDIS_URL`, `REDIS_CLUSTER` and `CACHE_REDIS_COMMAND_TIMEOUT_MS` from the
 * configuration (unset `REDIS_URL`: memory-only mode; with `REDIS_CLUSTER=true` the prefix is
 * `{perf-cache}:`). Idempotent, like `startTelemetry`: a second call returns the existing cache and
 * ignores its argument; call {@link stopCache} first to replace it.
 *
 * @throws {InvalidArgumentError} for invalid options.
 * @throws {ConfigError} when called without an argument and the environment is invalid.
 */
export function startCache(redisOrOptions?: RedisClient | string | CacheOptions): Cache {
  if (current) return current;
  let options: CacheOptions;
  if (redisOrOptions === undefined) {
    const config = getConfig();
    options = {
      redis: config.redisUrl,
      redisCommandTimeoutMs: config.cacheRedisCommandTimeoutMs,
      // REDIS_URL names one node of a cluster: the prefix must then hold a hash tag, and there is no
      // variable to give one, so the default prefix gets its hash-tagged form.
      ...(config.redisCluster ? { redisCluster: true, prefix: CLUSTER_PREFIX } : {}),
    };
  } else if (typeof redisOrOptions === 'string' || isRedisClient(redisOrOptions)) {
    options = { redis: redisOrOptions };
  } else {
    options = redisOrOptions;
  }
  current = createCache(options);
  return current;
}

function isRedisClient(value: RedisClient | CacheOptions): value is RedisClient {
  return typeof (value as { duplicate?: unknown }).duplicate === 'function';
}

/**
 * The cache made by {@link startCache}.
 *
 * @throws {PerfSidecarError} `PERF_NOT_STARTED` before {@link startCache}.
 */
export function getCache(): Cache {
  if (!current) {
    throw new PerfSidecarError('PERF_NOT_STARTED', 'the cache is not initialized; call startCache() first');
  }
  return current;
}

/** Closes the cache made by {@link startCache} (if any), so that it can be initialized again. */
export async function stopCache(): Promise<void> {
  const cache = current;
  current = undefined;
  await cache?.close();
}

/** @deprecated Renamed {@link startCache}; this name goes in the next minor release. */
export const initializeCache: (redisOrOptions?: RedisClient | string | CacheOptions) => Cache = startCache;

/** @deprecated Renamed {@link stopCache}; this name goes in the next minor release. */
export const closeCache: () => Promise<void> = stopCache;
