/**
 * The cache stack's facade: an in-process LRU (L1) in front of Redis (L2), tag versions, the
 * invalidation bus, single-flight factories with grace, and the circuit breaker. `Cache` checks
 * arguments and delegates; the work is done by the collaborators assemble.ts builds:
 *
 * - two-level.ts: reads (L1, then L2 with backfill) and stores;
 * - factory-runner.ts: single flight, soft and hard timeouts, grace and its backoff;
 * - tags.ts: tag versions and when they can be trusted;
 * - invalidation-log.ts: sequence numbers, invalidations pending while Redis is away, replay;
 * - redis-link.ts: the driver behind the circuit breaker;
 * - stats.ts: counters and the `getStats()` shape.
 */
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import { assembleCache, type CacheParts, type CacheSeams, closeCacheParts } from './assemble.ts';
import { type BatchFactory, BatchLookups, type GetOrSetManyOptions, type SetManyOptions } from './batch.ts';
import {
  checkKey,
  checkTags,
  type GetOrSetOptions,
  type ResolvedCallOptions,
  resolveCallOptions,
  type SetOptions,
} from './call-options.ts';
import { CacheClosedError } from './errors.ts';
import type { Factory } from './factory-runner.ts';
import type { CacheOptions, ResolvedCacheOptions } from './options.ts';
import { type CacheStats, statsOf } from './stats.ts';
import { isStale, MISS, type TwoLevelHandler } from './two-level.ts';

export type {
  BatchFactory,
  BatchFactoryContext,
  BatchTags,
  GetOrSetManyOptions,
  SetManyOptions,
} from './batch.ts';
export { MAX_BATCH_KEYS } from './batch.ts';
export type { Factory, FactoryContext } from './factory-runner.ts';
export type { CacheStats, FactoryStats, LevelStats, MemoryCacheStats, RedisCacheStats } from './stats.ts';

/**
 * A multi-level cache. Create it with `createCache(options)`; see {@link CacheOptions}.
 *
 * @example
 * const cache = createCache({ redis: process.env.REDIS_URL, graceSeconds: 300 });
 * const user = await cache.getOrSet(`user:${id}`, () => db.findUser(id), { ttlSeconds: 60, tags: [`user:${id}`] });
 * await cache.deleteByTags([`user:${id}`]);
 */
export class Cache {
  /** The `name` option. */
  readonly name: string;
  readonly #p: CacheParts;
  readonly #o: ResolvedCacheOptions;
  readonly #levels: TwoLevelHandler;
  readonly #batch: BatchLookups;
  /** `getOrSet`'s options when it is given none. */
  readonly #defaultCall: ResolvedCallOptions;

  /** Use `createCache(options)`. */
  constructor(options?: CacheOptions);
  /**
   * @internal Fault-injection tests wrap the Redis driver or the bus through `seams`; stripped from
   *   the published declarations.
   */
  constructor(options: CacheOptions, seams: CacheSeams | undefined);
  constructor(options: CacheOptions = {}, seams?: CacheSeams) {
    this.#p = assembleCache(options, seams);
    this.#o = this.#p.options;
    this.#levels = this.#p.levels;
    this.#batch = new BatchLookups(this.#p);
    this.#defaultCall = Object.freeze(resolveCallOptions(undefined, this.#o));
    this.name = this.#o.name;
  }

  /**
   * Resolves once Redis and the bus are connected (at once in memory-only mode), with `true`; with
   * `false` if that has not happened within `timeoutMs` (default 10000). Never rejects. Until then
   * the cache works on memory alone.
   */
  async ready(timeoutMs = 10_000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    const { link, bus, lifecycle } = this.#p;
    const isReady = () => link === undefined || (link.connected && bus?.connected === true);
    while (!isReady()) {
      if (lifecycle.closed || performance.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  }

  /**
   * The fresh value of `key`, or `undefined`. Looks in memory, then in Redis (and keeps what it
   * finds there in memory for the rest of its TTL). Never serves stale values.
   *
   * @throws {InvalidArgumentError} for a key that is not a non-empty string within `maxKeyLength`.
   */
  get<T = unknown>(key: string): Promise<T | undefined> {
    // The L1 hit path, at lru-cache speed: not an async function, so that a hit is one promise
    // already resolved (no async frame, no extra turn); errors still reject, never throw.
    try {
      this.#assertOpen();
      // Checked by hand, not by a schema (see call-options.ts).
      checkKey(key, this.#o.maxKeyLength);
      const hit = this.#levels.memoryGet(key);
      if (hit !== MISS) return Promise.resolve(hit as T);
      return this.#levels.redisGet(key) as Promise<T | undefined>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Stores a value in memory (unless larger than `maxEntryBytes`) and in Redis, and tells other
   * instances to drop their copy. While Redis is unreachable the value stays in memory and the key
   * is deleted from Redis when it is back, so no instance serves the older value from there.
   *
   * @throws {InvalidArgumentError} for a bad key or option, a value the serializer refuses (naming
   *   where in the value), a value over `maxValueBytes`, or, in memory-only mode, over `maxEntryBytes`.
   */
  async set(key: string, value: unknown, options?: SetOptions): Promise<void> {
    this.#assertOpen();
    checkKey(key, this.#o.maxKeyLength);
    const call = resolveCallOptions(options, this.#o);
    await this.#p.log.settled();
    const snapshot = await this.#p.tags.current(call.tags);
    await this.#levels.store(key, value, call, snapshot, undefined);
  }

  /**
   * Returns the cached value of `key`, or runs `factory` once (per process, however many callers
   * ask at the same time), caches its result and returns it.
   *
   * With a grace period, an expired value is kept `graceSeconds` longer: if the factory throws, or
   * passes `factorySoftTimeoutMs`, or `factoryHardTimeoutMs`, that stale value is served instead
   * (and counted), and after a failure it is served without calling the factory again for
   * `graceBackoffSeconds`. A factory error is otherwise rethrown unchanged to every waiting caller.
   *
   * A `set`, `delete` or `clear()` seen while the factory runs wins: the factory's result is
   * returned to its callers but not cached. A tag invalidated while it runs makes the cached result
   * invalid at once (its entry carries the tag's version from before the factory ran).
   *
   * @throws {InvalidArgumentError} for a bad key, factory or option, or a result the serializer refuses.
   * @throws {CacheFactoryTimeoutError} when the factory passes its hard timeout and nothing stale exists.
   */
  getOrSet<T>(key: string, factory: Factory<T>, options?: GetOrSetOptions): Promise<T> {
    // Not async, as `get`: a hit is one promise already resolved; errors still reject.
    try {
      this.#assertOpen();
      checkKey(key, this.#o.maxKeyLength);
      if (typeof factory !== 'function') {
        throw new InvalidArgumentError(
          'factory',
          `is ${describeValue(factory)}`,
          'a function that returns the value',
        );
      }
      // Without options, the cache's defaults: resolved once, not per call.
      const call = options === undefined ? this.#defaultCall : resolveCallOptions(options, this.#o);
      const runner = this.#p.runner;
      const found = this.#levels.memoryLookup(key, call.graceMs, runner.refreshing);
      if (found !== undefined && !isStale(found)) {
        if (call.eagerRefresh) runner.refreshEarly(key, factory as Factory<unknown>, call, found);
        return Promise.resolve(found.value as T);
      }
      return runner.run(key, factory as Factory<unknown>, call, found) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The fresh values of up to {@link MAX_BATCH_KEYS} keys, in their order: memory first, then one
   * Redis round trip for all the others. Keys without a value (those `get` would give `undefined`
   * for) are left out, so `result.get(key)` is what `get(key)` would return. Never serves stale values.
   *
   * @throws {InvalidArgumentError} when `keys` is not an iterable of at most {@link MAX_BATCH_KEYS}
   *   valid keys (naming the first bad one, `keys[3]`).
   */
  async getMany<T = unknown>(keys: Iterable<string>): Promise<Map<string, T>> {
    this.#assertOpen();
    return (await this.#batch.getMany(keys)) as Map<string, T>;
  }

  /**
   * Stores up to {@link MAX_BATCH_KEYS} entries as `set` would, with one Redis round trip for all of
   * them; `options.tags` is a list for every entry or a function of the key. Everything is checked
   * first: when a key, option or value is refused, nothing is stored.
   *
   * @throws {InvalidArgumentError} as `set` does, naming the entry; for more than {@link MAX_BATCH_KEYS} entries.
   */
  async setMany(
    entries: Iterable<readonly [string, unknown]> | ReadonlyMap<string, unknown>,
    options?: SetManyOptions,
  ): Promise<void> {
    this.#assertOpen();
    await this.#batch.setMany(entries, options);
  }

  /**
   * `getOrSet` for up to {@link MAX_BATCH_KEYS} keys at once: memory first, one Redis round trip for
   * the rest, then one `factory(missingKeys, { signal, staleValues })` call for the keys still
   * missing, which returns a `Map` of key to value (keys it leaves out are cached as absent; keys it
   * was not asked for are ignored), and one Redis round trip to store them. Keys another call is
   * already fetching are awaited, and `getOrSet` calls for keys this call fetches wait for it.
   * Resolves to a `Map` of every key, in order. `options.tags` is a list for every key or a function
   * of the key.
   *
   * If the factory throws or passes `factoryHardTimeoutMs`, keys with a stale value within grace get
   * it; the call rejects with the factory's error (or `CacheFactoryTimeoutError`) unless every key
   * it computed had one.
   *
   * @throws {InvalidArgumentError} for bad keys, factory or options, a factory result that is not a
   *   `Map`, or a value the serializer refuses (naming the key; the other keys are still cached).
   */
  async getOrSetMany<T>(
    keys: Iterable<string>,
    factory: BatchFactory<T>,
    options?: GetOrSetManyOptions,
  ): Promise<Map<string, T | undefined>> {
    this.#assertOpen();
    return this.#batch.getOrSetMany(keys, factory, options);
  }

  /**
   * Deletes `key` from memory and Redis and tells other instances to drop it. While Redis is
   * unreachable the deletion is remembered and applied when it is back.
   */
  async delete(key: string): Promise<void> {
    this.#assertOpen();
    checkKey(key, this.#o.maxKeyLength);
    await this.#levels.delete(key);
  }

  /**
   * Invalidates every entry carrying any of `tags`, in this process and all others sharing the
   * Redis prefix, in O(1) per tag whatever the number of entries: each tag gets a new version, and
   * entries computed under an older one are treated as absent from then on.
   *
   * @throws {InvalidArgumentError} when `tags` is not an array of at most `maxTagsPerEntry` tags.
   */
  async deleteByTags(tags: readonly string[]): Promise<void> {
    this.#assertOpen();
    const list = checkTags(tags, 'tags', this.#o);
    if (list.length > 0) await this.#p.tags.invalidate(list);
  }

  /**
   * Invalidates every entry of this cache's prefix, in all instances (O(1): the prefix's version
   * changes; entries in Redis stay until their TTL but are never served again).
   */
  async clear(): Promise<void> {
    this.#assertOpen();
    this.#p.l1.clear();
    await this.#p.tags.invalidate(['']);
  }

  /** Statistics since creation, in `getStats()`'s documented shape. */
  getStats(): CacheStats {
    return statsOf(this.#p);
  }

  /**
   * Stops the cache: aborts running factories' signals, stops its metrics, closes the connections
   * it opened (a client passed in stays open; its bus duplicate is closed). Later calls reject with
   * `CacheClosedError`. Invalidations still waiting for Redis are dropped (and logged).
   */
  async close(): Promise<void> {
    if (this.#p.lifecycle.closed) return;
    this.#batch.abortAll(new CacheClosedError(this.name));
    await closeCacheParts(this.#p, new CacheClosedError(this.name));
  }

  #assertOpen(): void {
    if (this.#p.lifecycle.closed) throw new CacheClosedError(this.name);
  }
}

/**
 * Creates a cache. Without `redis` it runs in memory-only mode.
 *
 * @throws {InvalidArgumentError} naming the first invalid option.
 * @example
 * const cache = createCache({ redis: 'redis://127.0.0.1:6379', prefix: 'myapp:', maxItems: 50_000 });
 * await cache.ready();
 */
export function createCache(options: CacheOptions = {}): Cache {
  return new Cache(options);
}
