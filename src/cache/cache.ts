/**
 * The cache stack: an in-process LRU (L1) in front of Redis (L2), tag versions, the invalidation
 * bus, single-flight factories with grace, and the circuit breaker. It talks to the levels only
 * through their drivers; the drivers know nothing of policy.
 *
 * Reads go L1, then L2 (backfilling L1 with the remaining TTL), then the factory. Values are
 * serialized once on the way in; every value handed out is a deep-frozen decoded copy, the same
 * whether it came from memory or Redis, shared by all callers without copying.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { createRedisClient } from '../shared/redis.ts';
import { redactUrl } from '../shared/urls.ts';
import type { BusMessage } from './bus/messages.ts';
import { encodeKeysMessage } from './bus/messages.ts';
import { RedisBus } from './bus/redis-bus.ts';
import { type BreakerState, CircuitBreaker } from './circuit-breaker.ts';
import { MemoryDriver, type MemoryEntry } from './drivers/memory.ts';
import { RedisDriver } from './drivers/redis.ts';
import {
  ABSENT_FORMAT,
  absentPayload,
  absentValue,
  decodeEnvelope,
  ENVELOPE_FORMAT,
  encodeEnvelopeTail,
} from './envelope.ts';
import { CacheClosedError, CacheFactoryTimeoutError, withKey } from './errors.ts';
import {
  type CacheOptions,
  checkKey,
  checkTags,
  type GetOrSetOptions,
  type ResolvedCacheOptions,
  type ResolvedCallOptions,
  resolveCacheOptions,
  resolveCallOptions,
  type SetOptions,
} from './options.ts';
import { deepFreeze } from './serializer.ts';
import { type KnownVersion, TagVersions } from './tags.ts';
import { CacheTelemetry } from './telemetry.ts';
import { isTimeout, startupWaitMs } from './timeouts.ts';

/** What a `getOrSet` factory receives. */
export interface FactoryContext<T> {
  /** Aborted when the factory passes `factoryHardTimeoutMs` or the cache closes. */
  readonly signal: AbortSignal;
  /** The stale value within its grace period, when one exists (for example to diff against). */
  readonly staleValue: T | undefined;
}

/** Computes a value on a miss. */
export type Factory<T> = (context: FactoryContext<T>) => T | Promise<T>;

/** Per-level statistics (`memory_cache`, `redis_cache`, `factory`). */
export interface LevelStats {
  /** Lookups answered with a fresh value. */
  readonly hits: number;
  /** Lookups without a fresh value (absent, expired, or invalidated by a tag). */
  readonly misses: number;
  /** `hits / (hits + misses)`, 0 before any lookup. */
  readonly hit_rate: number;
  /** Stale values served within their grace period from this level. */
  readonly stale_serves: number;
  /** Hits on absent entries (a factory returned `undefined` or `null`); counted in `hits` too. */
  readonly absent_hits: number;
}

/** Statistics of the memory level. */
export interface MemoryCacheStats extends LevelStats {
  /** Entries held (expired ones kept for grace included, until evicted or read). */
  readonly items: number;
  /** Serialized bytes held. */
  readonly bytes: number;
  /** Entries evicted to stay within `maxItems` or `maxBytes`. */
  readonly evictions: number;
  /** The `maxItems` bound. */
  readonly max_items: number;
  /** The `maxBytes` bound. */
  readonly max_bytes: number;
}

/** Statistics of the Redis level. */
export interface RedisCacheStats extends LevelStats {
  /** Whether a Redis is configured (false: memory-only mode). */
  readonly enabled: boolean;
  /** Whether the command connection is ready now. */
  readonly connected: boolean;
  /** Round trips that failed or timed out. */
  readonly errors: number;
  /** Round trips not attempted because Redis was unreachable or the circuit open. */
  readonly skipped: number;
  /** Circuit breaker state (`disabled` in memory-only mode). */
  readonly breaker: BreakerState | 'disabled';
  /** Times the circuit opened. */
  readonly breaker_opens: number;
  /** Invalidation bus state. */
  readonly bus: 'connected' | 'disconnected' | 'disabled';
  /** Bus messages received from other instances. */
  readonly bus_messages: number;
  /** Times the memory level was cleared because bus messages may have been missed. */
  readonly bus_resets: number;
  /** Invalidations waiting for Redis to come back (a pending clear counts 1). */
  readonly pending_invalidations: number;
}

/** Statistics of factory runs. */
export interface FactoryStats {
  /** Factories started. */
  readonly runs: number;
  /** Factories that threw or rejected. */
  readonly errors: number;
  /** Times a stale value was served because the factory passed its soft timeout. */
  readonly soft_timeouts: number;
  /** Factories that passed their hard timeout. */
  readonly hard_timeouts: number;
  /** `getOrSet` calls that joined a factory already running for their key. */
  readonly coalesced: number;
  /** `getOrSet` calls that ran their own factory because the single-flight table was full. */
  readonly uncoalesced: number;
  /**
   * Results returned but not cached (too large for memory-only mode, invalidated meanwhile, or
   * absent with `absentTtlSeconds` 0).
   */
  readonly not_cached: number;
  /** Results cached as absent (the factory returned `undefined` or `null`). */
  readonly absent: number;
  /** Factories running now (foreground and background). */
  readonly in_flight: number;
}

/** What `getStats()` returns. */
export interface CacheStats {
  /** The `name` option. */
  readonly name: string;
  /** L1. */
  readonly memory_cache: MemoryCacheStats;
  /** L2. */
  readonly redis_cache: RedisCacheStats;
  /** Factories. */
  readonly factory: FactoryStats;
}

type Outcome =
  | { readonly ok: true; readonly value: unknown; readonly stale?: 'memory' | 'redis' }
  | { readonly ok: false; readonly error: unknown };

interface Stale {
  readonly value: unknown;
  readonly level: 'memory' | 'redis';
  /** The L1 entry to keep serving (with a backoff) if the factory fails. */
  readonly entry: MemoryEntry;
}

interface L2Result {
  readonly found: boolean;
  readonly value?: unknown;
  readonly stale?: Stale;
  /** Versions for a write: the prefix, then each requested tag. */
  readonly snapshot: Snapshot;
}

interface Snapshot {
  readonly global: number;
  readonly versions: readonly number[];
}

type Raced =
  | { kind: 'value'; value: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'soft' }
  | { kind: 'hard' };

const VALID = 0;
const INVALID = 1;
const UNKNOWN = 2;
/** Returned by {@link Cache.#attempt} when Redis was not used or failed. */
const FAILED: unique symbol = Symbol('failed');
/** Invalidated keys remembered to stop an older L2 read from backfilling L1 over them. */
const RECENT_INVALIDATIONS = 1024;
const NO_TAGS: readonly string[] = Object.freeze([]);

function hitRate(hits: number, misses: number): number {
  return hits + misses === 0 ? 0 : hits / (hits + misses);
}

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
  readonly #o: ResolvedCacheOptions;
  readonly #l1: MemoryDriver;
  readonly #l2: RedisDriver | undefined;
  readonly #bus: RedisBus | undefined;
  readonly #breaker: CircuitBreaker;
  readonly #telemetry: CacheTelemetry;
  readonly #tags: TagVersions;
  readonly #id = randomUUID();
  readonly #redisLabel: string;
  readonly #flights = new Map<string, Promise<Outcome>>();
  readonly #refreshing = new Set<string>();
  readonly #controllers = new Set<AbortController>();
  #closed = false;
  #everConnected = false;
  // Invalidation sequence: every invalidation seen (own or from the bus) gets a number, so that a
  // read or factory that started before it can tell its result is older.
  #seq = 0;
  #globalSeq = 0;
  #recentFloor = 0;
  readonly #recent = new Map<string, number>();
  // Invalidations made while Redis was unreachable, replayed when it is back.
  readonly #pendingKeys = new Set<string>();
  readonly #pendingTags = new Set<string>();
  #pendingClear = false;
  /** Whether something pending was recorded before Redis ever connected (start-up, not an outage). */
  #pendingFromStart = false;
  #replaying = false;
  /** Settles when the replay running now ends; writes wait for it, so none is erased by it. */
  #replayDone: Promise<void> | undefined;
  /** Settles when the first connection is ready or {@link startupWaitMs} passed; then unset. */
  #startup: Promise<void> | undefined;
  /** Redis mode: versions of invalidations made while Redis was away (negative: no server version equals one). */
  #localVersion = 0;
  /** Memory-only mode: source of versions, so a forgotten and re-learnt tag never repeats one. */
  #memoryVersion = 0;
  #lastNotCachedLog = 0;
  readonly #c = {
    l1Hits: 0,
    l1Misses: 0,
    l1Stale: 0,
    l1Absent: 0,
    l2Hits: 0,
    l2Misses: 0,
    l2Stale: 0,
    l2Absent: 0,
    l2Errors: 0,
    l2Skipped: 0,
    runs: 0,
    factoryErrors: 0,
    softTimeouts: 0,
    hardTimeouts: 0,
    coalesced: 0,
    uncoalesced: 0,
    notCached: 0,
    factoryAbsent: 0,
    busResets: 0,
  };

  /** Use `createCache(options)`. */
  constructor(options: CacheOptions = {}) {
    const o = resolveCacheOptions(options);
    this.#o = o;
    this.name = o.name;
    this.#l1 = new MemoryDriver(o);
    this.#telemetry = new CacheTelemetry(o.name, o.meter, () => ({
      memory: { hits: this.#c.l1Hits, misses: this.#c.l1Misses, stale: this.#c.l1Stale },
      redis: { hits: this.#c.l2Hits, misses: this.#c.l2Misses, stale: this.#c.l2Stale },
      evictions: this.#l1.evictions,
      items: this.#l1.items,
      bytes: this.#l1.bytes,
      breakerOpen: this.#l2 !== undefined && this.#breaker.state !== 'closed',
    }));
    this.#breaker = new CircuitBreaker({
      threshold: o.circuitBreakerThreshold,
      durationMs: o.circuitBreakerDurationMs,
      slowMs: o.redisCommandTimeoutMs,
      probe: () => (this.#l2 === undefined ? Promise.reject(new Error('no Redis')) : this.#l2.ping()),
      onOpen: () =>
        getLogger().warn(
          { cache: o.name, redis: this.#redisLabel },
          'cache Redis circuit opened; continuing on memory alone',
        ),
      onClose: () => {
        getLogger().info({ cache: o.name, redis: this.#redisLabel }, 'cache Redis circuit closed');
        void this.#replay();
      },
    });
    const redis = o.redis;
    this.#redisLabel = redis === undefined ? 'none' : typeof redis === 'string' ? redactUrl(redis) : 'client';
    if (redis === undefined) {
      // Memory-only: this process is the only one, so what it knows of versions is the truth.
      this.#tags = new TagVersions(o.maxTrackedTags, { version: 0, epoch: 0, at: 0, seq: 0 });
      return;
    }
    this.#tags = new TagVersions(o.maxTrackedTags, undefined);
    const connect = (role: string): Promise<Redis> =>
      typeof redis === 'string'
        ? createRedisClient({
            url: redis,
            commandTimeoutMs: o.redisCommandTimeoutMs,
            // The driver bounds every round trip with its own timer, which is far cheaper.
            perCommandTimeout: false,
            connectionName: `perf-sidecar:cache:${o.name}${role}`,
          })
        : Promise.resolve(this.#duplicate(redis, role));
    const l2 = new RedisDriver({
      client: typeof redis === 'string' ? connect('') : redis,
      ownsClient: typeof redis === 'string',
      prefix: o.prefix,
      commandTimeoutMs: o.redisCommandTimeoutMs,
      telemetry: this.#telemetry,
    });
    this.#l2 = l2;
    l2.onReady(() => {
      this.#everConnected = true;
      this.#breaker.reconnected();
      void this.#replay();
    });
    // Calls made while the first connection opens wait for it, in the order they were made, instead
    // of skipping Redis: a write made right after createCache must reach Redis. Bounded by the
    // first connection attempt's own timeout (loading ioredis included), after which calls go on
    // without Redis as in an outage.
    this.#startup = l2.waitReady(startupWaitMs(o.redisCommandTimeoutMs)).then(() => {
      this.#startup = undefined;
    });
    this.#bus = new RedisBus({
      client: connect(':bus'),
      channel: l2.channel,
      sender: this.#id,
      maxMessageBytes: o.maxBusMessageBytes,
      handler: {
        onSubscribed: () => this.#forget(),
        onMessage: (message) => this.#onBusMessage(message),
        onUnreadable: () => this.#forget(),
      },
    });
  }

  #duplicate(client: Redis, role: string): Redis {
    // The bus needs a connection of its own (a subscribed connection can send nothing else); it
    // keeps the caller's settings but must never queue commands while disconnected.
    const duplicate = client.duplicate({
      connectionName: `perf-sidecar:cache:${this.#o.name}${role}`,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    duplicate.on('error', (error: Error) =>
      getLogger().debug({ cache: this.#o.name, err: error.message }, 'cache bus connection error'),
    );
    return duplicate;
  }

  /**
   * Resolves once Redis and the bus are connected (at once in memory-only mode), with `true`; with
   * `false` if that has not happened within `timeoutMs` (default 10000). Never rejects. Until then
   * the cache works on memory alone.
   */
  async ready(timeoutMs = 10_000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    const isReady = () => this.#l2 === undefined || (this.#l2.connected && this.#bus?.connected === true);
    while (!isReady()) {
      if (this.#closed || performance.now() > deadline) return false;
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
  async get<T = unknown>(key: string): Promise<T | undefined> {
    this.#assertOpen();
    checkKey(key, this.#o.maxKeyLength);
    const entry = this.#l1.get(key);
    if (entry !== undefined) {
      const now = performance.now();
      const validity = this.#validity(entry, now);
      if (now < entry.freshUntil && this.#trustworthy(validity)) {
        this.#c.l1Hits++;
        if (entry.absent) this.#c.l1Absent++;
        return entry.value as T;
      }
      if (validity === INVALID) this.#l1.delete(key);
    }
    this.#c.l1Misses++;
    const read = await this.#readL2(key, NO_TAGS);
    return read?.found ? (read.value as T) : undefined;
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
    await this.#settled();
    const snapshot = await this.#currentVersions(call.tags);
    await this.#store(key, value, call, snapshot, undefined);
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
  async getOrSet<T>(key: string, factory: Factory<T>, options?: GetOrSetOptions): Promise<T> {
    this.#assertOpen();
    checkKey(key, this.#o.maxKeyLength);
    if (typeof factory !== 'function') {
      throw new InvalidArgumentError(
        'factory',
        `is ${describeValue(factory)}`,
        'a function that returns the value',
      );
    }
    const call = resolveCallOptions(options, this.#o);
    const entry = this.#l1.get(key);
    let stale: Stale | undefined;
    if (entry !== undefined) {
      const now = performance.now();
      const validity = this.#validity(entry, now);
      const trusted = this.#trustworthy(validity);
      if (now < entry.freshUntil) {
        if (trusted) {
          this.#c.l1Hits++;
          if (entry.absent) this.#c.l1Absent++;
          return entry.value as T;
        }
      } else if (trusted && now < entry.staleUntil && now - entry.freshUntil < call.graceMs) {
        stale = { value: entry.value, level: 'memory', entry };
        // Backing off after a failure, or a background refresh is already on its way.
        if (now < entry.retryAt || this.#refreshing.has(key)) {
          this.#c.l1Stale++;
          return entry.value as T;
        }
      }
      if (validity === INVALID) this.#l1.delete(key);
    }
    this.#c.l1Misses++;
    const running = this.#flights.get(key);
    if (running !== undefined) {
      this.#c.coalesced++;
      return this.#settle(await running) as T;
    }
    if (this.#flights.size + this.#refreshing.size >= this.#o.maxPendingFactories) {
      this.#c.uncoalesced++;
      return this.#settle(await this.#flight(key, factory as Factory<unknown>, call, stale)) as T;
    }
    const flight = this.#flight(key, factory as Factory<unknown>, call, stale);
    this.#flights.set(key, flight);
    try {
      return this.#settle(await flight) as T;
    } finally {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    }
  }

  /**
   * Deletes `key` from memory and Redis and tells other instances to drop it. While Redis is
   * unreachable the deletion is remembered and applied when it is back.
   */
  async delete(key: string): Promise<void> {
    this.#assertOpen();
    checkKey(key, this.#o.maxKeyLength);
    this.#noteInvalidation(key);
    this.#l1.delete(key);
    if (this.#l2 === undefined) return;
    const l2 = this.#l2;
    await this.#settled();
    // This delete supersedes a pending one: a replay must not repeat it after a later write.
    this.#pendingKeys.delete(key);
    const done = await this.#attempt(() =>
      l2.deleteKeys([key], (chunk) => encodeKeysMessage(this.#id, chunk)),
    );
    if (done === FAILED) this.#pend('key', key);
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
    if (list.length > 0) await this.#invalidate(list);
  }

  /**
   * Invalidates every entry of this cache's prefix, in all instances (O(1): the prefix's version
   * changes; entries in Redis stay until their TTL but are never served again).
   */
  async clear(): Promise<void> {
    this.#assertOpen();
    this.#l1.clear();
    await this.#invalidate(['']);
  }

  /** Statistics since creation, in `getStats()`'s documented shape. */
  getStats(): CacheStats {
    const c = this.#c;
    const l2 = this.#l2;
    const bus = this.#bus;
    return {
      name: this.name,
      memory_cache: {
        hits: c.l1Hits,
        misses: c.l1Misses,
        hit_rate: hitRate(c.l1Hits, c.l1Misses),
        stale_serves: c.l1Stale,
        absent_hits: c.l1Absent,
        items: this.#l1.items,
        bytes: this.#l1.bytes,
        evictions: this.#l1.evictions,
        max_items: this.#o.maxItems,
        max_bytes: this.#o.maxBytes,
      },
      redis_cache: {
        enabled: l2 !== undefined,
        connected: l2?.connected ?? false,
        hits: c.l2Hits,
        misses: c.l2Misses,
        hit_rate: hitRate(c.l2Hits, c.l2Misses),
        stale_serves: c.l2Stale,
        absent_hits: c.l2Absent,
        errors: c.l2Errors,
        skipped: c.l2Skipped,
        breaker: l2 === undefined ? 'disabled' : this.#breaker.state,
        breaker_opens: this.#breaker.opened,
        bus: bus === undefined ? 'disabled' : bus.connected ? 'connected' : 'disconnected',
        bus_messages: bus?.received ?? 0,
        bus_resets: c.busResets,
        pending_invalidations: this.#pendingKeys.size + this.#pendingTags.size + (this.#pendingClear ? 1 : 0),
      },
      factory: {
        runs: c.runs,
        errors: c.factoryErrors,
        soft_timeouts: c.softTimeouts,
        hard_timeouts: c.hardTimeouts,
        coalesced: c.coalesced,
        uncoalesced: c.uncoalesced,
        not_cached: c.notCached,
        absent: c.factoryAbsent,
        in_flight: this.#controllers.size,
      },
    };
  }

  /**
   * Stops the cache: aborts running factories' signals, stops its metrics, closes the connections
   * it opened (a client passed in stays open; its bus duplicate is closed). Later calls reject with
   * `CacheClosedError`. Invalidations still waiting for Redis are dropped (and logged).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#breaker.stop();
    for (const controller of this.#controllers) controller.abort(new CacheClosedError(this.name));
    this.#telemetry.close();
    const pending = this.#pendingKeys.size + this.#pendingTags.size + (this.#pendingClear ? 1 : 0);
    if (pending > 0) {
      getLogger().warn(
        { cache: this.name, pending },
        'cache closed with invalidations still waiting for Redis',
      );
    }
    await Promise.all([this.#bus?.close(), this.#l2?.close()]);
    this.#l1.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new CacheClosedError(this.name);
  }

  #settle(outcome: Outcome): unknown {
    if (!outcome.ok) throw outcome.error;
    if (outcome.stale === 'memory') this.#c.l1Stale++;
    else if (outcome.stale === 'redis') this.#c.l2Stale++;
    return outcome.value;
  }

  // ---- tag versions ------------------------------------------------------------------------

  /** Whether remembered knowledge of a version can be trusted without asking Redis. */
  #trusted(known: KnownVersion | undefined, now: number): known is KnownVersion {
    if (known === undefined) return false;
    const bus = this.#bus;
    if (bus === undefined) return true;
    if (bus.connected) return known.epoch === bus.epoch;
    return now - known.at < this.#o.tagCheckIntervalMs;
  }

  /** Whether an entry's versions are current (VALID), outdated (INVALID), or cannot be told (UNKNOWN). */
  #validity(entry: MemoryEntry, now: number): number {
    const global = this.#tags.get('');
    if (!this.#trusted(global, now)) return this.#bus === undefined ? INVALID : UNKNOWN;
    if (global.version !== entry.globalVersion) return INVALID;
    const tags = entry.tags;
    for (let i = 0; i < tags.length; i++) {
      const known = this.#tags.get(tags[i] as string);
      // In memory-only mode a forgotten tag's version is lost for good: the entry cannot be trusted.
      if (!this.#trusted(known, now)) return this.#bus === undefined ? INVALID : UNKNOWN;
      if (known.version !== entry.versions[i]) return INVALID;
    }
    return VALID;
  }

  /**
   * Whether a memory entry of this validity may be served: valid, or of unknown validity while
   * Redis cannot be asked (then memory is all there is).
   */
  #trustworthy(validity: number): boolean {
    return validity === VALID || (validity === UNKNOWN && !this.#redisReachable());
  }

  /** Current versions of the prefix and `tags`, from memory when trusted, else from Redis. */
  async #currentVersions(tags: readonly string[]): Promise<Snapshot> {
    const now = performance.now();
    const names = ['', ...tags];
    const known = names.map((t) => this.#tags.get(t));
    if (known.every((k) => this.#trusted(k, now))) return this.#snapshotOf(known);
    const l2 = this.#l2;
    if (l2 === undefined) {
      // Memory-only: a tag never seen starts at 0 and is remembered from now on.
      const versions = names.map((tag, i) => {
        const k = known[i] ?? { version: ++this.#memoryVersion, epoch: 0, at: now, seq: this.#seq };
        this.#tags.set(tag, k);
        return k;
      });
      return this.#snapshotOf(versions);
    }
    const issued = this.#seq;
    const epoch = this.#bus?.epoch ?? 0;
    const fetched = await this.#attempt(() => l2.versions(names));
    if (fetched === FAILED) return this.#snapshotOf(known);
    const at = performance.now();
    this.#tags.learnAll(names, fetched, issued, epoch, at);
    return { global: fetched[0] ?? 0, versions: fetched.slice(1) };
  }

  #snapshotOf(known: readonly (KnownVersion | undefined)[]): Snapshot {
    return { global: known[0]?.version ?? 0, versions: known.slice(1).map((k) => k?.version ?? 0) };
  }

  async #invalidate(tags: readonly string[]): Promise<void> {
    const l2 = this.#l2;
    if (l2 !== undefined) await this.#settled();
    if (l2 === undefined) {
      const now = performance.now();
      for (const tag of tags) {
        const seq = this.#bumpSeq(tag === '');
        this.#tags.set(tag, { version: ++this.#memoryVersion, epoch: 0, at: now, seq });
      }
      return;
    }
    const epoch = this.#bus?.epoch ?? 0;
    const versions = await this.#attempt(() => l2.invalidate(tags, this.#id, this.#o.maxTtlMs * 2));
    const now = performance.now();
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i] as string;
      const seq = this.#bumpSeq(tag === '');
      if (versions === FAILED) {
        // Unreachable: a local version no server version can equal invalidates local entries now;
        // Redis gets the real invalidation when it is back.
        this.#tags.set(tag, { version: --this.#localVersion, epoch, at: now, seq });
        this.#pend(tag === '' ? 'clear' : 'tag', tag);
      } else {
        this.#tags.set(tag, { version: versions[i] ?? 0, epoch, at: now, seq });
      }
    }
  }

  // ---- invalidation bookkeeping -------------------------------------------------------------

  #bumpSeq(global: boolean): number {
    this.#seq++;
    if (global) this.#globalSeq = this.#seq;
    return this.#seq;
  }

  #noteInvalidation(key: string): void {
    const seq = this.#bumpSeq(false);
    this.#recent.delete(key);
    this.#recent.set(key, seq);
    if (this.#recent.size > RECENT_INVALIDATIONS) {
      const oldest = this.#recent.entries().next().value;
      if (oldest) {
        this.#recent.delete(oldest[0]);
        this.#recentFloor = oldest[1];
      }
    }
  }

  /** Whether `key` may have been invalidated after sequence number `seq`. */
  #invalidatedSince(key: string, seq: number): boolean {
    if (seq < this.#recentFloor || this.#globalSeq > seq) return true;
    return (this.#recent.get(key) ?? -1) > seq;
  }

  #onBusMessage(message: BusMessage): void {
    for (const key of message.keys) {
      this.#noteInvalidation(key);
      this.#l1.delete(key);
    }
    if (message.tags.length === 0) return;
    const epoch = this.#bus?.epoch ?? 0;
    const now = performance.now();
    for (const [tag, version] of message.tags) {
      const seq = this.#bumpSeq(tag === '');
      this.#tags.set(tag, { version, epoch, at: now, seq });
      if (tag === '') this.#l1.clear();
    }
  }

  /** Forgets everything learnt so far: bus messages may have been missed. */
  #forget(): void {
    this.#c.busResets++;
    this.#bumpSeq(true);
    this.#l1.clear();
    this.#tags.clear();
  }

  #pend(kind: 'key' | 'tag' | 'clear', name: string): void {
    if (!this.#everConnected) this.#pendingFromStart = true;
    if (kind === 'clear') this.#pendingClear = true;
    if (this.#pendingClear) {
      // A clear supersedes every key and tag invalidation.
      this.#pendingKeys.clear();
      this.#pendingTags.clear();
      return;
    }
    (kind === 'key' ? this.#pendingKeys : this.#pendingTags).add(name);
    if (this.#pendingKeys.size + this.#pendingTags.size > this.#o.maxPendingInvalidations)
      this.#pend('clear', '');
  }

  async #replay(): Promise<void> {
    const l2 = this.#l2;
    if (this.#replaying || this.#closed || l2 === undefined) return;
    if (!this.#pendingClear && this.#pendingKeys.size === 0 && this.#pendingTags.size === 0) return;
    this.#replaying = true;
    let finished = () => {};
    this.#replayDone = new Promise<void>((resolve) => {
      finished = resolve;
    });
    try {
      if (this.#pendingClear) {
        if (!(await this.#replayInvalidation(l2, ['']))) return;
        this.#pendingClear = false;
      }
      while (this.#pendingTags.size > 0) {
        const chunk = [...this.#pendingTags].slice(0, this.#o.maxTagsPerEntry);
        if (!(await this.#replayInvalidation(l2, chunk))) return;
        for (const tag of chunk) this.#pendingTags.delete(tag);
      }
      while (this.#pendingKeys.size > 0) {
        const chunk = [...this.#pendingKeys].slice(0, 100);
        const done = await this.#attempt(() => l2.deleteKeys(chunk, (c) => encodeKeysMessage(this.#id, c)));
        if (done === FAILED) return;
        for (const key of chunk) this.#pendingKeys.delete(key);
      }
      getLogger().info(
        { cache: this.name },
        this.#pendingFromStart
          ? 'cache sent the invalidations made before Redis first connected'
          : 'cache replayed the invalidations made while Redis was away',
      );
      this.#pendingFromStart = false;
    } finally {
      this.#replaying = false;
      this.#replayDone = undefined;
      finished();
    }
  }

  /**
   * Sends pending tag invalidations and adopts the versions Redis gave them, so that this process's
   * next writes carry them (its own bus messages never come back to it). False when Redis failed.
   */
  async #replayInvalidation(l2: RedisDriver, tags: readonly string[]): Promise<boolean> {
    const epoch = this.#bus?.epoch ?? 0;
    const versions = await this.#attempt(() => l2.invalidate(tags, this.#id, this.#o.maxTtlMs * 2));
    if (versions === FAILED) return false;
    const now = performance.now();
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i] as string;
      this.#tags.set(tag, { version: versions[i] ?? 0, epoch, at: now, seq: this.#bumpSeq(tag === '') });
    }
    return true;
  }

  /**
   * While a replay runs, writes and invalidations wait for it (at most `redisCommandTimeoutMs`), so
   * that a replayed invalidation is applied before them and never erases them.
   */
  #settled(): Promise<void> | undefined {
    const replay = this.#replayDone;
    if (replay === undefined) return undefined;
    return Promise.race([
      replay,
      new Promise<void>((resolve) => setTimeout(resolve, this.#o.redisCommandTimeoutMs).unref()),
    ]);
  }

  // ---- Redis ------------------------------------------------------------------------------

  /** Whether Redis can be asked now (without taking the half-open probe slot). */
  #redisReachable(): boolean {
    return this.#l2?.connected === true && this.#breaker.state === 'closed';
  }

  /**
   * Runs one Redis round trip if Redis may be used now, feeding the breaker. Returns FAILED when
   * Redis was not used (unreachable, circuit open) or failed; never throws.
   */
  async #attempt<T>(fn: () => Promise<T>): Promise<T | typeof FAILED> {
    const l2 = this.#l2;
    if (l2 === undefined || this.#closed) return FAILED;
    if (!l2.connected && this.#startup !== undefined) await this.#startup;
    if (!l2.connected) {
      // Known to be down: open at once, do not wait for timeouts to pile up.
      if (this.#everConnected) this.#breaker.trip();
      this.#c.l2Skipped++;
      return FAILED;
    }
    if (!this.#breaker.allow()) {
      this.#c.l2Skipped++;
      return FAILED;
    }
    try {
      const result = await fn();
      this.#breaker.success();
      return result;
    } catch (error) {
      this.#c.l2Errors++;
      this.#breaker.failure(isTimeout(error) ? 'timeout' : 'error');
      return FAILED;
    }
  }

  /** Looks a key up in Redis; also returns the versions a write of `tags` must carry. */
  async #readL2(key: string, tags: readonly string[]): Promise<L2Result | undefined> {
    const l2 = this.#l2;
    if (l2 === undefined) return undefined;
    if (l2.clockStale) {
      // Freshness is judged on Redis's clock: the first read must know it; later ones refresh the
      // measurement in the background.
      if (l2.serverNow() === undefined) await this.#attempt(() => l2.syncClock());
      else void this.#attempt(() => l2.syncClock());
      if (l2.serverNow() === undefined) return undefined;
    }
    const issued = this.#seq;
    const epoch = this.#bus?.epoch ?? 0;
    const read = await this.#attempt(() => l2.read(key, tags));
    if (read === FAILED) return undefined;
    const at = performance.now();
    this.#tags.learn('', read.globalVersion, issued, epoch, at);
    this.#tags.learnAll(tags, read.requestedVersions, issued, epoch, at);
    const snapshot = { global: read.globalVersion, versions: read.requestedVersions };
    const envelope = read.text === undefined ? undefined : decodeEnvelope(read.text);
    const serverNow = l2.serverNow() ?? 0;
    const freshMs = envelope === undefined ? 0 : envelope.freshUntilMs - serverNow;
    // Kept past its grace by Redis only for as long as the clock offset is off: treat as absent.
    if (envelope === undefined || freshMs + envelope.graceMs <= 0) {
      this.#c.l2Misses++;
      return { found: false, snapshot };
    }
    const current = await this.#versionsOf(envelope.tags, tags, read.requestedVersions);
    let valid = current !== undefined && envelope.globalVersion === read.globalVersion;
    for (let i = 0; valid && i < envelope.versions.length; i++) valid = envelope.versions[i] === current?.[i];
    let value: unknown;
    try {
      if (envelope.absent) value = absentValue(envelope.payload);
      else value = valid ? deepFreeze(this.#o.serializer.deserialize(envelope.payload)) : undefined;
    } catch {
      valid = false;
    }
    if (!valid) {
      this.#c.l2Misses++;
      return { found: false, snapshot };
    }
    const entry: MemoryEntry = {
      value,
      freshUntil: at + freshMs,
      staleUntil: at + freshMs + envelope.graceMs,
      globalVersion: envelope.globalVersion,
      tags: envelope.tags,
      versions: envelope.versions,
      bytes: Buffer.byteLength(envelope.payload),
      retryAt: 0,
      absent: envelope.absent,
    };
    // A set or delete of this key seen since the read left means the reply may be older: serve it,
    // but do not keep it.
    if (!this.#invalidatedSince(key, issued)) this.#l1.set(key, entry);
    if (freshMs > 0) {
      this.#c.l2Hits++;
      if (envelope.absent) this.#c.l2Absent++;
      return { found: true, value, snapshot };
    }
    this.#c.l2Misses++;
    return { found: false, stale: { value, level: 'redis', entry }, snapshot };
  }

  /**
   * Current versions of an entry's tags: those just read with the value, else trusted knowledge,
   * else one more round trip for the rest. `undefined` when they cannot be had (Redis failed).
   */
  async #versionsOf(
    entryTags: readonly string[],
    readTags: readonly string[],
    readVersions: readonly number[],
  ): Promise<number[] | undefined> {
    const now = performance.now();
    const versions: number[] = [];
    const missing: string[] = [];
    for (const tag of entryTags) {
      const i = readTags.indexOf(tag);
      const known = this.#tags.get(tag);
      if (i >= 0) versions.push(readVersions[i] ?? 0);
      else if (this.#trusted(known, now)) versions.push(known.version);
      else {
        missing.push(tag);
        versions.push(Number.NaN);
      }
    }
    if (missing.length === 0) return versions;
    const l2 = this.#l2;
    if (l2 === undefined) return undefined;
    const issued = this.#seq;
    const epoch = this.#bus?.epoch ?? 0;
    const fetched = await this.#attempt(() => l2.versions(missing));
    if (fetched === FAILED) return undefined;
    this.#tags.learnAll(missing, fetched, issued, epoch, performance.now());
    let next = 0;
    return versions.map((v) => (Number.isNaN(v) ? (fetched[next++] ?? 0) : v));
  }

  // ---- factories ----------------------------------------------------------------------------

  async #flight(
    key: string,
    factory: Factory<unknown>,
    call: ResolvedCallOptions,
    l1Stale: Stale | undefined,
  ): Promise<Outcome> {
    try {
      await this.#settled();
      const issued = this.#seq;
      const read = await this.#readL2(key, call.tags);
      if (read?.found) return { ok: true, value: read.value };
      // A stale copy in memory is served as the memory level's; otherwise the one Redis returned.
      let stale = l1Stale;
      const candidate = read?.stale;
      if (
        stale === undefined &&
        candidate !== undefined &&
        performance.now() - candidate.entry.freshUntil < call.graceMs
      ) {
        stale = candidate;
      }
      // Versions are taken before the factory runs: a tag invalidated while it runs makes its
      // result invalid on arrival, because its entry carries the older version.
      const snapshot = read?.snapshot ?? (await this.#currentVersions(call.tags));
      return await this.#runFactory(key, factory, call, stale, snapshot, issued);
    } catch (error) {
      return { ok: false, error };
    }
  }

  async #runFactory(
    key: string,
    factory: Factory<unknown>,
    call: ResolvedCallOptions,
    stale: Stale | undefined,
    snapshot: Snapshot,
    issued: number,
  ): Promise<Outcome> {
    const controller = new AbortController();
    this.#controllers.add(controller);
    this.#c.runs++;
    const run = this.#telemetry.factory(() =>
      factory({ signal: controller.signal, staleValue: stale?.value }),
    );
    const started = performance.now();
    const soft = stale === undefined ? undefined : this.#o.factorySoftTimeoutMs;
    const raced = await race(run, soft, this.#o.factoryHardTimeoutMs);
    if (raced.kind === 'soft' && stale !== undefined) {
      this.#c.softTimeouts++;
      this.#refreshing.add(key);
      const rest = this.#o.factoryHardTimeoutMs - (performance.now() - started);
      void race(run, undefined, Math.max(1, rest))
        .then((late) => this.#finishFactory(key, late, call, stale, snapshot, issued, controller))
        .finally(() => this.#refreshing.delete(key));
      return { ok: true, value: stale.value, stale: stale.level };
    }
    return this.#finishFactory(key, raced, call, stale, snapshot, issued, controller);
  }

  async #finishFactory(
    key: string,
    raced: Raced,
    call: ResolvedCallOptions,
    stale: Stale | undefined,
    snapshot: Snapshot,
    issued: number,
    controller: AbortController,
  ): Promise<Outcome> {
    this.#controllers.delete(controller);
    if (raced.kind === 'value') {
      try {
        return { ok: true, value: await this.#store(key, raced.value, call, snapshot, issued) };
      } catch (error) {
        return { ok: false, error };
      }
    }
    let error: unknown;
    if (raced.kind === 'hard') {
      this.#c.hardTimeouts++;
      error = new CacheFactoryTimeoutError(this.#o.factoryHardTimeoutMs, key);
      controller.abort(error);
    } else {
      this.#c.factoryErrors++;
      error = raced.kind === 'error' ? raced.error : new Error('factory did not settle');
    }
    if (stale === undefined) return { ok: false, error };
    // Serve the stale value and keep serving it without calling the factory for the backoff.
    const now = performance.now();
    const retryAt = Math.min(now + this.#o.graceBackoffMs, stale.entry.staleUntil);
    if (!this.#invalidatedSince(key, issued)) this.#l1.set(key, { ...stale.entry, retryAt });
    return { ok: true, value: stale.value, stale: stale.level };
  }

  /**
   * Serializes, checks and stores a value; returns the frozen decoded copy callers get. With
   * `issued` (a factory result), nothing is stored if the key was invalidated since then, and an
   * `undefined` or `null` result is stored as absent, for `absentTtlMs`.
   */
  async #store(
    key: string,
    value: unknown,
    call: ResolvedCallOptions,
    snapshot: Snapshot,
    issued: number | undefined,
  ): Promise<unknown> {
    const absent = issued !== undefined && (value === undefined || value === null);
    if (absent && call.absentTtlMs === 0) {
      this.#notCached(undefined);
      return value;
    }
    let text: string;
    let frozen: unknown;
    try {
      text = absent ? absentPayload(value as null | undefined) : this.#serialize(value);
      frozen = absent ? value : deepFreeze(this.#o.serializer.deserialize(text));
    } catch (error) {
      throw withKey(error, key);
    }
    const bytes = Buffer.byteLength(text);
    const inMemory = this.#l1.accepts(bytes);
    const l2 = this.#l2;
    if (l2 === undefined && !inMemory) {
      if (issued === undefined) {
        throw withKey(
          new InvalidArgumentError(
            'value',
            `is ${bytes} bytes serialized, over maxEntryBytes (${this.#o.maxEntryBytes}), and there is no Redis to hold it`,
            'a smaller value, a larger maxEntryBytes, or a cache with Redis',
          ),
          key,
        );
      }
      this.#notCached('it is over maxEntryBytes and there is no Redis');
      return frozen;
    }
    if (issued !== undefined && this.#invalidatedSince(key, issued)) {
      this.#notCached(undefined);
      return frozen;
    }
    if (this.#closed) return frozen;
    if (absent) this.#c.factoryAbsent++;
    // Own writes count as invalidations too: an L2 read already on its way must not put the older
    // value back in memory over this one.
    this.#noteInvalidation(key);
    const baseTtlMs = absent ? call.absentTtlMs : call.ttlMs;
    const ttlMs =
      this.#o.ttlJitter === 0 ? baseTtlMs : Math.round(baseTtlMs * (1 + Math.random() * this.#o.ttlJitter));
    const now = performance.now();
    const entry: MemoryEntry = {
      value: frozen,
      freshUntil: now + ttlMs,
      staleUntil: now + ttlMs + call.graceMs,
      globalVersion: snapshot.global,
      tags: call.tags,
      versions: snapshot.versions,
      bytes,
      retryAt: 0,
      absent,
    };
    this.#l1.set(key, entry);
    if (l2 !== undefined) {
      await this.#settled();
      const tail = encodeEnvelopeTail(call.graceMs, snapshot.global, call.tags, snapshot.versions, text);
      const message = encodeKeysMessage(this.#id, [key]);
      const format = absent ? ABSENT_FORMAT : ENVELOPE_FORMAT;
      // This write supersedes a pending delete of the key: a replay must not repeat it afterwards.
      this.#pendingKeys.delete(key);
      const done = await this.#attempt(() => l2.write(key, format, tail, ttlMs, call.graceMs, message));
      if (done === FAILED) this.#pend('key', key);
    }
    return frozen;
  }

  /** The value as text, checked to be a string within `maxValueBytes`. */
  #serialize(value: unknown): string {
    const text = this.#o.serializer.serialize(value);
    if (typeof text !== 'string') {
      throw new InvalidArgumentError(
        'options.serializer',
        `serialize() returned ${describeValue(text)}`,
        'a serializer whose serialize() returns a string',
      );
    }
    const bytes = Buffer.byteLength(text);
    if (bytes > this.#o.maxValueBytes) {
      throw new InvalidArgumentError(
        'value',
        `is ${bytes} bytes serialized, over maxValueBytes (${this.#o.maxValueBytes})`,
        'a smaller value, or a larger maxValueBytes',
      );
    }
    return text;
  }

  #notCached(reason: string | undefined): void {
    this.#c.notCached++;
    const now = performance.now();
    if (reason === undefined || now - this.#lastNotCachedLog < 30_000) return;
    this.#lastNotCachedLog = now;
    getLogger().warn(
      { cache: this.name, reason },
      'cache returned a factory result without caching it (repeats silenced for 30 s)',
    );
  }
}

/** Waits for `run`, a soft timeout (when given) or the hard timeout, whichever comes first. */
function race(run: Promise<unknown>, softMs: number | undefined, hardMs: number): Promise<Raced> {
  return new Promise((resolve) => {
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (result: Raced) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      resolve(result);
    };
    // Timers must not keep a process alive for a factory nobody waits on any more.
    timers.push(setTimeout(() => finish({ kind: 'hard' }), hardMs).unref());
    if (softMs !== undefined) timers.push(setTimeout(() => finish({ kind: 'soft' }), softMs).unref());
    run.then(
      (value) => finish({ kind: 'value', value }),
      (error: unknown) => finish({ kind: 'error', error }),
    );
  });
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
