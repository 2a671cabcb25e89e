/**
 * The cache (`perf-sidecar/cache`): an in-process LRU in front of Redis, with tags, single-flight
 * factories, grace, a circuit breaker, a pub/sub invalidation bus and statistics. Redis needs the
 * optional peer `ioredis`. Names of its metrics and spans: `perf-sidecar/semconv`.
 */
export {
  type BatchFactory,
  type BatchFactoryContext,
  type BatchTags,
  Cache,
  type CacheStats,
  createCache,
  type Factory,
  type FactoryContext,
  type FactoryStats,
  type GetOrSetManyOptions,
  type LevelStats,
  MAX_BATCH_KEYS,
  type MemoryCacheStats,
  type RedisCacheStats,
  type SetManyOptions,
} from './cache.ts';
export { type CachedOptions, type CachedWrapper, cached } from './cached.ts';
export type { GetOrSetOptions, SetOptions } from './call-options.ts';
export type { BreakerState } from './circuit-breaker.ts';
export { CacheClosedError, CacheFactoryTimeoutError } from './errors.ts';
export { closeCache, getCache, initializeCache, startCache, stopCache } from './module.ts';
export { CACHE_DEFAULTS, type CacheOptions } from './options.ts';
export { type CacheSerializer, jsonSerializer } from './serializer.ts';
