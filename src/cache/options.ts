/**
 * Cache options: what a caller may pass to `createCache`, their defaults and bounds, and the
 * checks of per-call arguments (keys, TTLs, tags). Options are resolved once into a frozen object;
 * the cache never reads an option from the caller's object again.
 */
import type { Meter } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import { type CacheSerializer, jsonSerializer } from './serializer.ts';

const MIB = 1024 * 1024;
const DAY_SECONDS = 86_400;

/** Defaults of {@link CacheOptions}, in the options' own units. */
export const CACHE_DEFAULTS = Object.freeze({
  name: 'default',
  prefix: 'perf-cache:',
  maxItems: 10_000,
  maxBytes: 64 * MIB,
  maxEntryBytes: 64 * 1024,
  maxValueBytes: 4 * MIB,
  maxKeyLength: 1024,
  maxTagsPerEntry: 32,
  maxTagLength: 256,
  maxTrackedTags: 10_000,
  defaultTtlSeconds: 300,
  absentTtlSeconds: 30,
  maxTtlSeconds: 30 * DAY_SECONDS,
  ttlJitter: 0,
  graceSeconds: 0,
  graceBackoffSeconds: 5,
  factorySoftTimeoutMs: undefined as number | undefined,
  factoryHardTimeoutMs: 30_000,
  maxPendingFactories: 10_000,
  redisCommandTimeoutMs: 250,
  circuitBreakerThreshold: 3,
  circuitBreakerDurationMs: 5000,
  tagCheckIntervalMs: 10_000,
  maxBusMessageBytes: 64 * 1024,
  maxPendingInvalidations: 10_000,
});

/**
 * Options of `createCache`. Every one is optional; every bound has a default, so no unbounded cache
 * can be built. All processes that share a Redis `prefix` must use the same `prefix`,
 * `maxTtlSeconds` and serializer.
 */
export interface CacheOptions {
  /**
   * Redis for the second level (L2) and the invalidation bus: an ioredis client or a `redis://` /
   * `rediss://` URL. Absent: memory-only mode (L1 alone, tags and invalidation in process).
   *
   * A URL gets two fail-fast connections of the cache's own (commands and bus), closed by
   * `close()`. A client is used as given and never closed by the cache; the bus uses
   * `client.duplicate()`. Whatever the client's settings, the cache bounds every round trip with
   * its own `redisCommandTimeoutMs` timer and never sends a command while the client is not
   * connected, so an offline queue is never used by the cache.
   *
   * Redis Cluster is not supported: scripts touch tag keys they do not declare.
   */
  readonly redis?: Redis | string;
  /**
   * Name of this cache: the `cache.name` attribute of its metrics and spans, and part of its Redis
   * connection names. 1 to 64 letters, digits or `_ . : -`. Default `default`. Give caches of one
   * process distinct names, or their metrics add up under one name.
   */
  readonly name?: string;
  /**
   * Prefix of every Redis key and of the bus channel: values live at `<prefix>v:<key>`, tag
   * versions at `<prefix>t:<tag>`. Up to 64 letters, digits or `: _ . { } -`. Default `perf-cache:`.
   * Caches with different prefixes share nothing.
   */
  readonly prefix?: string;
  /** Most entries held in memory (L1); the least recently used go first. Default 10000. */
  readonly maxItems?: number;
  /**
   * Most bytes held in memory (L1), counted as the UTF-8 size of each entry's serialized value
   * (a proxy: the parsed object takes more heap). Whichever of `maxItems` and `maxBytes` is reached
   * first evicts. Default 64 MiB.
   */
  readonly maxBytes?: number;
  /**
   * Largest serialized value kept in memory, bytes. Larger values go to Redis only (smart level
   * selection: memory for small hot values, Redis for large ones); 0 keeps nothing in memory. In
   * memory-only mode a larger value cannot be cached at all: `set` refuses it and `getOrSet`
   * returns it uncached. At most `maxBytes`. Default 64 KiB.
   */
  readonly maxEntryBytes?: number;
  /** Largest serialized value accepted at all, bytes (Redis included). Default 4 MiB. */
  readonly maxValueBytes?: number;
  /** Longest key, in characters (the Redis key adds the prefix). Default 1024. */
  readonly maxKeyLength?: number;
  /** Most tags on one entry, and in one `deleteByTags` call. Default 32. */
  readonly maxTagsPerEntry?: number;
  /** Longest tag, in characters. Tags are 1 to this many printable characters. Default 256. */
  readonly maxTagLength?: number;
  /**
   * Tag versions remembered per process (least recently used forgotten first). A forgotten tag is
   * fetched again from Redis on the next read that needs it. Default 10000.
   */
  readonly maxTrackedTags?: number;
  /** TTL of entries written without `ttlSeconds`, seconds. Default 300. */
  readonly defaultTtlSeconds?: number;
  /**
   * TTL of an absent result, seconds: a `getOrSet` factory (or `cached` function) that returns
   * `undefined` or `null` (a row not found) has that result cached, at both levels, for this long,
   * so a missing row is not fetched again on every call. `getOrSet` and `get` then give back what
   * the factory returned (`undefined` or `null`). 0 caches no absent result. `getOrSet` may
   * override it per call. Default 30.
   */
  readonly absentTtlSeconds?: number;
  /**
   * Longest TTL and longest grace period accepted, seconds. Tag version keys in Redis live twice
   * this long after their last invalidation, which is what makes their expiry safe. Default 30 days.
   */
  readonly maxTtlSeconds?: number;
  /**
   * Random extra TTL, as a fraction of the TTL: each write lives `ttl * (1 + random * ttlJitter)`.
   * Spreads the expiry of entries written together. 0 to 1. Default 0 (exact TTLs).
   */
  readonly ttlJitter?: number;
  /**
   * Grace period, seconds: how long past its TTL an entry is kept so that `getOrSet` can serve it
   * when the factory fails or passes its soft timeout (stale-if-error). Extends how long entries
   * stay in memory and Redis. `getOrSet` may override it per call. Default 0 (off).
   */
  readonly graceSeconds?: number;
  /**
   * After a factory failed and a stale value was served instead, how long that stale value is
   * served without calling the factory again, seconds. Keeps a failing backend from being hammered.
   * Default 5.
   */
  readonly graceBackoffSeconds?: number;
  /**
   * When a stale value within its grace period exists, how long `getOrSet` waits for the factory
   * before serving the stale value, ms; the factory goes on in the background and its result is
   * cached when it arrives. Without a stale value the caller waits up to `factoryHardTimeoutMs`.
   * Default: unset (wait for the factory).
   */
  readonly factorySoftTimeoutMs?: number;
  /**
   * Longest wait for a factory, ms. Past it the factory's `signal` is aborted, callers get the stale
   * value if one is within grace, otherwise a `CacheFactoryTimeoutError`; a late result is dropped.
   * Also bounds how long a single-flight slot can be held. Default 30000.
   */
  readonly factoryHardTimeoutMs?: number;
  /**
   * Keys with a factory running at once in this process (the single-flight table). Past it, calls
   * run their factory without coalescing rather than wait. Default 10000.
   */
  readonly maxPendingFactories?: number;
  /**
   * Longest any cache Redis command may take, ms; past it the command counts as failed, the circuit
   * opens at once (a Redis that does not answer is not a passing error) and the call goes on without
   * Redis. This is the worst latency a hung Redis adds to a call. (Calls made while the first
   * connection opens wait for it instead of skipping Redis: until it is ready or its attempt fails,
   * at most `max(2 × this, 1000)` ms, the connect timeout.) Default 250.
   */
  readonly redisCommandTimeoutMs?: number;
  /** Consecutive Redis errors that open the circuit breaker (one timeout opens it at once). Default 3. */
  readonly circuitBreakerThreshold?: number;
  /**
   * How long the circuit stays open at least, ms. While it is open the cache probes Redis itself
   * with one `PING` at a time (callers never wait on a probe); the circuit closes when a probe
   * answers after this time, at once when a probe that waited on a hung Redis is answered (Redis
   * resumed), and as soon as the connection reports ready again. Default 5000.
   */
  readonly circuitBreakerDurationMs?: number;
  /**
   * While the invalidation bus is disconnected, how long a tag version learnt from Redis is trusted
   * before it is read again, ms. While the bus is connected, versions are pushed and never re-read.
   * Default 10000.
   */
  readonly tagCheckIntervalMs?: number;
  /**
   * Largest bus message accepted, characters. A larger or malformed incoming message clears the
   * process's memory cache (an invalidation that cannot be read must not be ignored); an outgoing
   * invalidation that would be larger is sent as a clear. Default 64 KiB.
   */
  readonly maxBusMessageBytes?: number;
  /**
   * Invalidations (keys, tags, clears) remembered while Redis is unreachable, replayed when it is
   * back so no process serves a value that was deleted meanwhile. Past the bound they collapse into
   * one clear of the whole prefix. Default 10000.
   */
  readonly maxPendingInvalidations?: number;
  /**
   * How values become text for sizes and Redis. Default: {@link jsonSerializer}, which refuses what
   * JSON cannot round-trip (undefined, functions, symbols, BigInt, NaN and Infinity, Dates, Maps,
   * Sets, class instances, cycles).
   */
  readonly serializer?: CacheSerializer;
  /**
   * Meter for the cache's metrics. Default: the global meter provider's at creation time, so
   * create caches after `startTelemetry()` or pass this.
   */
  readonly meter?: Meter;
}

/** {@link CacheOptions} after defaults and checks: frozen, every bound present, times in ms. */
export interface ResolvedCacheOptions {
  readonly redis: Redis | string | undefined;
  readonly name: string;
  readonly prefix: string;
  readonly maxItems: number;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  readonly maxValueBytes: number;
  readonly maxKeyLength: number;
  readonly maxTagsPerEntry: number;
  readonly maxTagLength: number;
  readonly maxTrackedTags: number;
  readonly defaultTtlMs: number;
  readonly absentTtlMs: number;
  readonly maxTtlMs: number;
  readonly ttlJitter: number;
  readonly graceMs: number;
  readonly graceBackoffMs: number;
  readonly factorySoftTimeoutMs: number | undefined;
  readonly factoryHardTimeoutMs: number;
  readonly maxPendingFactories: number;
  readonly redisCommandTimeoutMs: number;
  readonly circuitBreakerThreshold: number;
  readonly circuitBreakerDurationMs: number;
  readonly tagCheckIntervalMs: number;
  readonly maxBusMessageBytes: number;
  readonly maxPendingInvalidations: number;
  readonly serializer: CacheSerializer;
  readonly meter: Meter | undefined;
}

const OPTION_NAMES = new Set<string>([...Object.keys(CACHE_DEFAULTS), 'redis', 'serializer', 'meter']);

/** A numeric option (its default when absent), checked to be within [min, max] (and whole when `whole`). */
function numericOption(
  options: CacheOptions,
  name: keyof typeof CACHE_DEFAULTS,
  min: number,
  max: number,
  whole: boolean,
): number {
  const value = (options as Record<string, unknown>)[name] ?? CACHE_DEFAULTS[name];
  const ok = typeof value === 'number' && (whole ? Number.isInteger(value) : Number.isFinite(value));
  if (!ok || value < min || value > max) {
    throw new InvalidArgumentError(
      `options.${name}`,
      `is ${describeValue(value)}`,
      `${whole ? 'an integer' : 'a number'} from ${min} to ${max}`,
    );
  }
  return value;
}

function integerOption(options: CacheOptions, name: keyof typeof CACHE_DEFAULTS, min: number, max: number) {
  return numericOption(options, name, min, max, true);
}

function numberOption(options: CacheOptions, name: keyof typeof CACHE_DEFAULTS, min: number, max: number) {
  return numericOption(options, name, min, max, false);
}

function patternOption(options: CacheOptions, name: 'name' | 'prefix', pattern: RegExp, expected: string) {
  const value = options[name] ?? CACHE_DEFAULTS[name];
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new InvalidArgumentError(`options.${name}`, `is ${describeValue(value)}`, expected);
  }
  return value;
}

/**
 * Checks options and fills defaults.
 *
 * @throws {InvalidArgumentError} naming the first bad option, its value and the accepted form.
 */
export function resolveCacheOptions(options: CacheOptions = {}): ResolvedCacheOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `is ${describeValue(options)}`, 'an object of cache options');
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) {
      throw new InvalidArgumentError(
        `options.${key}`,
        'is not a cache option',
        `one of ${[...OPTION_NAMES].sort().join(', ')}`,
      );
    }
  }
  const redis = options.redis;
  if (
    redis !== undefined &&
    typeof redis !== 'string' &&
    (typeof redis !== 'object' || redis === null || typeof redis.duplicate !== 'function')
  ) {
    throw new InvalidArgumentError(
      'options.redis',
      `is ${describeValue(redis)}`,
      'an ioredis client or a redis:// URL',
    );
  }
  if (typeof redis === 'string' && !/^rediss?:\/\/[^/]/.test(redis)) {
    // The value may hold a password: never echoed.
    throw new InvalidArgumentError(
      'options.redis',
      'is a string that is not a redis:// or rediss:// URL',
      'an ioredis client or a redis:// URL',
    );
  }
  const serializer = options.serializer ?? jsonSerializer;
  if (
    typeof serializer !== 'object' ||
    serializer === null ||
    typeof serializer.serialize !== 'function' ||
    typeof serializer.deserialize !== 'function'
  ) {
    throw new InvalidArgumentError(
      'options.serializer',
      `is ${describeValue(serializer)}`,
      'an object with serialize(value): string and deserialize(text): unknown',
    );
  }
  const maxTtlSeconds = numberOption(options, 'maxTtlSeconds', 1, 365 * DAY_SECONDS);
  const maxBytes = integerOption(options, 'maxBytes', 1, 2 ** 40);
  const soft = options.factorySoftTimeoutMs;
  const factoryHardTimeoutMs = integerOption(options, 'factoryHardTimeoutMs', 1, 3_600_000);
  if (
    soft !== undefined &&
    (typeof soft !== 'number' || !Number.isInteger(soft) || soft < 0 || soft >= factoryHardTimeoutMs)
  ) {
    throw new InvalidArgumentError(
      'options.factorySoftTimeoutMs',
      `is ${describeValue(soft)}`,
      `an integer number of ms from 0 to below factoryHardTimeoutMs (${factoryHardTimeoutMs})`,
    );
  }
  const maxTrackedTags = integerOption(options, 'maxTrackedTags', 1, 10_000_000);
  return Object.freeze({
    redis,
    name: patternOption(options, 'name', /^[A-Za-z0-9_.:-]{1,64}$/, '1 to 64 letters, digits or _ . : -'),
    prefix: patternOption(
      options,
      'prefix',
      /^[A-Za-z0-9:_.{}-]{0,64}$/,
      'up to 64 letters, digits or : _ . { } -',
    ),
    maxItems: integerOption(options, 'maxItems', 1, 100_000_000),
    maxBytes,
    maxEntryBytes: integerOption(options, 'maxEntryBytes', 0, maxBytes),
    maxValueBytes: integerOption(options, 'maxValueBytes', 1, 512 * MIB),
    maxKeyLength: integerOption(options, 'maxKeyLength', 1, 65_536),
    maxTagsPerEntry: integerOption(options, 'maxTagsPerEntry', 1, 1000),
    maxTagLength: integerOption(options, 'maxTagLength', 1, 4096),
    maxTrackedTags,
    defaultTtlMs: Math.max(
      1,
      Math.round(numberOption(options, 'defaultTtlSeconds', 0.001, maxTtlSeconds) * 1000),
    ),
    maxTtlMs: maxTtlSeconds * 1000,
    absentTtlMs: Math.round(numberOption(options, 'absentTtlSeconds', 0, maxTtlSeconds) * 1000),
    ttlJitter: numberOption(options, 'ttlJitter', 0, 1),
    graceMs: Math.round(numberOption(options, 'graceSeconds', 0, maxTtlSeconds) * 1000),
    graceBackoffMs: Math.round(numberOption(options, 'graceBackoffSeconds', 0, 86_400) * 1000),
    factorySoftTimeoutMs: soft,
    factoryHardTimeoutMs,
    maxPendingFactories: integerOption(options, 'maxPendingFactories', 1, 10_000_000),
    redisCommandTimeoutMs: integerOption(options, 'redisCommandTimeoutMs', 10, 60_000),
    circuitBreakerThreshold: integerOption(options, 'circuitBreakerThreshold', 1, 1000),
    circuitBreakerDurationMs: integerOption(options, 'circuitBreakerDurationMs', 10, 3_600_000),
    tagCheckIntervalMs: integerOption(options, 'tagCheckIntervalMs', 0, 3_600_000),
    maxBusMessageBytes: integerOption(options, 'maxBusMessageBytes', 1024, 64 * MIB),
    maxPendingInvalidations: integerOption(options, 'maxPendingInvalidations', 1, 10_000_000),
    serializer,
    meter: options.meter,
  });
}

/** Options of `set`. */
export interface SetOptions {
  /** Time to live, seconds (fractions allowed; Redis keeps ms). Default: the cache's `defaultTtlSeconds`. */
  readonly ttlSeconds?: number;
  /** Tags for `deleteByTags`; at most `maxTagsPerEntry`, each 1 to `maxTagLength` printable characters. */
  readonly tags?: readonly string[];
  /** Grace period of this entry, seconds (see {@link CacheOptions.graceSeconds}). */
  readonly graceSeconds?: number;
}

/** Options of `getOrSet`. */
export interface GetOrSetOptions extends SetOptions {
  /** TTL of an absent result (`undefined` or `null`), seconds; 0: not cached. Default: the cache's `absentTtlSeconds`. */
  readonly absentTtlSeconds?: number;
}

/** Per-call options after checks: times in ms, tags deduplicated. */
export interface ResolvedCallOptions {
  readonly ttlMs: number;
  /** TTL of an absent factory result, ms; 0: not cached. */
  readonly absentTtlMs: number;
  readonly graceMs: number;
  readonly tags: readonly string[];
}

const NO_TAGS: readonly string[] = Object.freeze([]);
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Checks a key: a non-empty string of at most `maxKeyLength` characters. */
export function checkKey(key: unknown, maxKeyLength: number): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > maxKeyLength) {
    throw new InvalidArgumentError(
      'key',
      typeof key === 'string' && key.length > maxKeyLength
        ? `is ${key.length} characters long, over maxKeyLength ${maxKeyLength}`
        : `is ${describeValue(key)}`,
      `a non-empty string of at most ${maxKeyLength} characters`,
    );
  }
}

/** Checks a tag list (`argument` names it in errors) and returns it without duplicates. */
export function checkTags(
  tags: unknown,
  argument: string,
  resolved: ResolvedCacheOptions,
): readonly string[] {
  if (tags === undefined) return NO_TAGS;
  if (!Array.isArray(tags)) {
    throw new InvalidArgumentError(argument, `is ${describeValue(tags)}`, 'an array of tag strings');
  }
  if (tags.length > resolved.maxTagsPerEntry) {
    throw new InvalidArgumentError(
      argument,
      `has ${tags.length} tags`,
      `at most maxTagsPerEntry (${resolved.maxTagsPerEntry})`,
    );
  }
  for (let i = 0; i < tags.length; i++) {
    const tag: unknown = tags[i];
    if (
      typeof tag !== 'string' ||
      tag.length === 0 ||
      tag.length > resolved.maxTagLength ||
      CONTROL.test(tag)
    ) {
      throw new InvalidArgumentError(
        `${argument}[${i}]`,
        `is ${describeValue(tag)}`,
        `a string of 1 to ${resolved.maxTagLength} printable characters`,
      );
    }
  }
  return tags.length === 0 ? NO_TAGS : [...new Set(tags as string[])];
}

/** Checks a duration in seconds (`allowZero`: 0 accepted) and returns it in whole ms (at least 1 when not 0). */
function secondsToMs(value: unknown, argument: string, allowZero: boolean, maxMs: number): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (value === 0 && !allowZero) ||
    value * 1000 > maxMs
  ) {
    throw new InvalidArgumentError(
      argument,
      `is ${describeValue(value)}`,
      `a finite number of seconds ${allowZero ? 'from 0' : 'greater than 0'}, at most maxTtlSeconds (${maxMs / 1000})`,
    );
  }
  return value === 0 ? 0 : Math.max(1, Math.round(value * 1000));
}

/** Checks `set`/`getOrSet` options and resolves them against the cache's defaults. */
export function resolveCallOptions(
  options: GetOrSetOptions | undefined,
  resolved: ResolvedCacheOptions,
): ResolvedCallOptions {
  if (options === undefined) {
    return {
      ttlMs: resolved.defaultTtlMs,
      absentTtlMs: resolved.absentTtlMs,
      graceMs: resolved.graceMs,
      tags: NO_TAGS,
    };
  }
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `is ${describeValue(options)}`, 'an object or undefined');
  }
  const ttlMs =
    options.ttlSeconds === undefined
      ? resolved.defaultTtlMs
      : secondsToMs(options.ttlSeconds, 'options.ttlSeconds', false, resolved.maxTtlMs);
  const graceMs =
    options.graceSeconds === undefined
      ? resolved.graceMs
      : secondsToMs(options.graceSeconds, 'options.graceSeconds', true, resolved.maxTtlMs);
  const absentTtlMs =
    options.absentTtlSeconds === undefined
      ? resolved.absentTtlMs
      : secondsToMs(options.absentTtlSeconds, 'options.absentTtlSeconds', true, resolved.maxTtlMs);
  return { ttlMs, absentTtlMs, graceMs, tags: checkTags(options.tags, 'options.tags', resolved) };
}
