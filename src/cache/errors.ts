/**
 * Errors of the cache part. Bad arguments and values the serializer refuses are
 * `InvalidArgumentError`s (shared with the rest of perf-sidecar); these two are the cache's own.
 */
import { describeValue, PerfSidecarError } from '../shared/errors.ts';

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

  /** @param key the key whose factory timed out (named in the message, shortened when long). */
  constructor(timeoutMs: number, key?: string) {
    super(
      'PERF_CACHE_FACTORY_TIMEOUT',
      `cache factory${key === undefined ? '' : ` of key ${describeValue(key)}`} did not settle within factoryHardTimeoutMs (${timeoutMs} ms) and no stale value was available`,
    );
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Names the cache key in an error the cache raises about a value (`value: contains undefined at
 * $.a` becomes `value (key "user:7"): contains ...`), message and stack alike, keeping its class,
 * code and argument. Other errors (a factory's own) are returned unchanged.
 */
export function withKey(error: unknown, key: string): unknown {
  if (!(error instanceof PerfSidecarError)) return error;
  const named = `key ${describeValue(key)}`;
  if (error.message.includes(named)) return error;
  const argument = (error as { argument?: unknown }).argument;
  const old = error.message;
  error.message =
    typeof argument === 'string' && old.startsWith(`${argument}: `)
      ? `${argument} (${named}): ${old.slice(argument.length + 2)}`
      : `${old} (${named})`;
  if (error.stack?.includes(old)) error.stack = error.stack.replace(old, error.message);
  return error;
}
