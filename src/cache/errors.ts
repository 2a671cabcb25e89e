/**
 * Errors of the cache part. Bad arguments and values the serializer refuses are
 * `InvalidArgumentError`s (shared with the rest of perf-sidecar); these two are the cache's own.
 */
import { PerfSidecarError } from '../errors.ts';

/** A call was made on a cache after {@link Cache.close}. */
export class CacheClosedError extends PerfSidecarError {
  constructor(name: string) {
    super('PERF_CACHE_CLOSED', `cache "${name}" is closed; create a new one with createCache()`);
  }
}

/**
 * A `getOrSet` factory ran longer than the hard timeout and no value within its grace period
 * existed to serve instead. The factory's signal is aborted; a result it delivers later is dropped.
 */
export class CacheFactoryTimeoutError extends PerfSidecarError {
  /** The hard timeout that passed, ms. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super(
      'PERF_CACHE_FACTORY_TIMEOUT',
      `cache factory did not settle within factoryHardTimeoutMs (${timeoutMs} ms) and no stale value was available`,
    );
    this.timeoutMs = timeoutMs;
  }
}
