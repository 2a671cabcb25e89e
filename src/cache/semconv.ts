/**
 * Names of the cache's metrics, attributes, attribute values and spans. Constants only, with no
 * imports, so that dashboards, tests and the root `perf-sidecar/semconv` entry can read them
 * without loading the cache (or OpenTelemetry). Every metric and attribute name the cache records
 * comes from here, except the stable OpenTelemetry ones (`db.system.name`), which come from
 * `@opentelemetry/semantic-conventions`.
 */

/** Observable counter of lookups, by `cache.name`, `cache.level` and `cache.result`. */
export const METRIC_CACHE_LOOKUPS = 'perf.cache.lookups';
/** Observable counter of L1 entries evicted for space, by `cache.name`. */
export const METRIC_CACHE_EVICTIONS = 'perf.cache.evictions';
/** Observable gauge of L1 entries, by `cache.name`. */
export const METRIC_CACHE_ENTRIES = 'perf.cache.entries';
/** Observable gauge of L1 bytes (serialized sizes), by `cache.name`. */
export const METRIC_CACHE_SIZE = 'perf.cache.size';
/** Observable gauge: 1 while the Redis circuit breaker is open or half-open, else 0. */
export const METRIC_CACHE_BREAKER_OPEN = 'perf.cache.breaker.open';
/** Histogram of Redis round trips, seconds, by `cache.name`, `cache.operation`, `perf.outcome`. */
export const METRIC_CACHE_REDIS_DURATION = 'perf.cache.redis.duration';
/** Histogram of factory runs, seconds, by `cache.name` and `perf.outcome`. */
export const METRIC_CACHE_FACTORY_DURATION = 'perf.cache.factory.duration';

/** Attribute: the cache's `name` option. */
export const ATTR_CACHE_NAME = 'cache.name';
/** Attribute: {@link CACHE_LEVEL_MEMORY} (L1) or {@link CACHE_LEVEL_REDIS} (L2). */
export const ATTR_CACHE_LEVEL = 'cache.level';
/** Attribute: {@link CACHE_RESULT_HIT}, {@link CACHE_RESULT_MISS} or {@link CACHE_RESULT_STALE}. */
export const ATTR_CACHE_RESULT = 'cache.result';
/** Attribute: the Redis round trip (`read`, `write`, `delete`, `invalidate`, `versions`, `clock`). */
export const ATTR_CACHE_OPERATION = 'cache.operation';

/** Value of {@link ATTR_CACHE_LEVEL}: the in-process LRU. */
export const CACHE_LEVEL_MEMORY = 'memory';
/** Value of {@link ATTR_CACHE_LEVEL}: Redis. */
export const CACHE_LEVEL_REDIS = 'redis';
/** Value of {@link ATTR_CACHE_RESULT}: a fresh value was found. */
export const CACHE_RESULT_HIT = 'hit';
/** Value of {@link ATTR_CACHE_RESULT}: no fresh value was found. */
export const CACHE_RESULT_MISS = 'miss';
/** Value of {@link ATTR_CACHE_RESULT}: a stale value was served within its grace period. */
export const CACHE_RESULT_STALE = 'stale';
/**
 * `db.system.name` of the cache's Redis spans. Incubating in OpenTelemetry's conventions, so copied
 * here as the contrib instrumentations do (the stable attribute name itself comes from
 * `@opentelemetry/semantic-conventions`, as in db/semconv.ts).
 */
export const DB_SYSTEM_NAME_VALUE_REDIS = 'redis';

/** Span around one factory run (the factory's own spans are its children). */
export const SPAN_CACHE_FACTORY = 'cache.factory';
/** Start of the name of the span around one Redis round trip: `cache.redis.<operation>`. */
export const SPAN_CACHE_REDIS_PREFIX = 'cache.redis.';
