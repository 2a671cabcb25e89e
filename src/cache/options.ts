/**
 * Cache options: one zod schema, {@link cacheOptionsSchema}, holds each option's documentation,
 * type, default and bounds. {@link CacheOptions} is its input type, {@link CACHE_DEFAULTS} its
 * defaults, and {@link resolveCacheOptions} turns a parse into the frozen, ms-based options the
 * cache reads (it never reads the caller's object again).
 *
 * A leaf: apart from zod, the schema helpers and the JSON serializer it imports types only (no
 * ioredis, pino or OpenTelemetry at run time), so the configuration can import one field's schema
 * (`cacheOptionsSchema.shape.redisCommandTimeoutMs`) without loading the cache.
 *
 * Per-call arguments (keys, `set`/`getOrSet` options, tag lists) are checked by hand in
 * call-options.ts: they are on the hot path.
 */
import type { Meter } from '@opentelemetry/api';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import { hasHashTag, isCluster } from '../shared/cluster.ts';
import {
  accepts,
  decimal,
  defaultOf,
  flag,
  type IssueParams,
  integer,
  matching,
  oneOf,
  parseOptions,
  withMethods,
} from '../shared/options.ts';
import { type CacheSerializer, jsonSerializer } from './serializer.ts';

const MIB = 1024 * 1024;
const DAY_SECONDS = 86_400;
/** Upper bound of `maxTtlSeconds`, hence of every TTL and grace period before the cross-field rule. */
const YEAR_SECONDS = 365 * DAY_SECONDS;
const REDIS_URL = /^rediss?:\/\/[^/]/;

/** The accepted form of `prefix` on a Redis Cluster. */
export const CACHE_HASH_TAG_FORM =
  'a prefix with a hash tag, such as {shop}: (on a Redis Cluster every key of one cache must share one hash slot)';

/**
 * A client (anything with `duplicate()`: a `Redis` or a `Cluster`) or a redis URL; a string is never
 * echoed (it may hold a password).
 */
const redisSchema = accepts(
  z.custom<Redis | Cluster | string>().superRefine((value, ctx) => {
    if (typeof value === 'string') {
      if (REDIS_URL.test(value)) return;
      const params: IssueParams = { problem: 'is a string that is not a redis:// or rediss:// URL' };
      ctx.addIssue({ code: 'custom', message: 'not a redis URL', params });
    } else if (typeof (value as { duplicate?: unknown } | null)?.duplicate !== 'function') {
      ctx.addIssue({ code: 'custom', message: 'not an ioredis client' });
    }
  }),
  'an ioredis client or a redis:// URL',
  true,
);

/**
 * The options of `createCache`, one field per option. Every one is optional; every bound has a
 * default, so no unbounded cache can be built. All processes that share a Redis `prefix` must use
 * the same `prefix`, `maxTtlSeconds` and serializer.
 */
export const cacheOptionsSchema = z
  .strictObject({
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
     * An ioredis `Cluster` client (or a URL with `redisCluster`) runs the cache on a Redis Cluster:
     * `prefix` must then hold a hash tag (`{shop}:`), so that every key of the cache shares one slot.
     */
    redis: redisSchema.optional(),
    /**
     * Whether a `redis` URL is one seed node of a Redis Cluster (the other nodes are discovered; its
     * user, password and TLS apply to every node). `prefix` must then hold a hash tag. A `Cluster`
     * client is recognised as one without this. Default false.
     */
    redisCluster: flag().default(false),
    /**
     * Name of this cache: the `cache.name` attribute of its metrics and spans, and part of its Redis
     * connection names. 1 to 64 letters, digits or `_ . : -`. Default `default`. Give caches of one
     * process distinct names, or their metrics add up under one name.
     */
    name: matching(/^[A-Za-z0-9_.:-]{1,64}$/, '1 to 64 letters, digits or _ . : -').default('default'),
    /**
     * Prefix of every Redis key and of the bus channel: values live at `<prefix>v:<key>`, tag
     * versions at `<prefix>t:<tag>`, distributed locks at `<prefix>l:<key>`. Up to 64 letters,
     * digits or `: _ . { } -`. Default `perf-cache:`. Caches with different prefixes share nothing.
     */
    prefix: matching(/^[A-Za-z0-9:_.{}-]{0,64}$/, 'up to 64 letters, digits or : _ . { } -').default(
      'perf-cache:',
    ),
    /** Most entries held in memory (L1); the least recently used go first. Default 10000. */
    maxItems: integer(1, 100_000_000).default(10_000),
    /**
     * Most bytes held in memory (L1), counted as the UTF-8 size of each entry's serialized value
     * (a proxy: the parsed object takes more heap). Whichever of `maxItems` and `maxBytes` is reached
     * first evicts. Default 64 MiB.
     */
    maxBytes: integer(1, 2 ** 40).default(64 * MIB),
    /**
     * Largest serialized value kept in memory, bytes. Larger values go to Redis only (smart level
     * selection: memory for small hot values, Redis for large ones); 0 keeps nothing in memory. In
     * memory-only mode a larger value cannot be cached at all: `set` refuses it and `getOrSet`
     * returns it uncached. At most `maxBytes`. Default 64 KiB.
     */
    maxEntryBytes: integer(0, 2 ** 40).default(64 * 1024),
    /** Largest serialized value accepted at all, bytes (Redis included). Default 4 MiB. */
    maxValueBytes: integer(1, 512 * MIB).default(4 * MIB),
    /** Longest key, in characters (the Redis key adds the prefix). Default 1024. */
    maxKeyLength: integer(1, 65_536).default(1024),
    /** Most tags on one entry, and in one `deleteByTags` call. Default 32. */
    maxTagsPerEntry: integer(1, 1000).default(32),
    /** Longest tag, in characters. Tags are 1 to this many printable characters. Default 256. */
    maxTagLength: integer(1, 4096).default(256),
    /**
     * Tag versions remembered per process (least recently used forgotten first). A forgotten tag is
     * fetched again from Redis on the next read that needs it. Default 10000.
     */
    maxTrackedTags: integer(1, 10_000_000).default(10_000),
    /** TTL of entries written without `ttlSeconds`, seconds; at most `maxTtlSeconds`. Default 300. */
    defaultTtlSeconds: decimal(0.001, YEAR_SECONDS).default(300),
    /**
     * TTL of an absent result, seconds: a `getOrSet` factory (or `cached` function) that returns
     * `undefined` or `null` (a row not found) has that result cached, at both levels, for this long,
     * so a missing row is not fetched again on every call. `getOrSet` and `get` then give back what
     * the factory returned (`undefined` or `null`). 0 caches no absent result. `getOrSet` may
     * override it per call. At most `maxTtlSeconds`. Default 30.
     */
    absentTtlSeconds: decimal(0, YEAR_SECONDS).default(30),
    /**
     * Longest TTL and longest grace period accepted, seconds. Tag version keys in Redis live twice
     * this long after their last invalidation, which is what makes their expiry safe. Default 30 days.
     */
    maxTtlSeconds: decimal(1, YEAR_SECONDS).default(30 * DAY_SECONDS),
    /**
     * Random extra TTL, as a fraction of the TTL: each write lives `ttl * (1 + random * ttlJitter)`.
     * Spreads the expiry of entries written together. 0 to 1. Default 0 (exact TTLs).
     */
    ttlJitter: decimal(0, 1).default(0),
    /**
     * Grace period, seconds: how long past its TTL an entry is kept so that `getOrSet` can serve it
     * when the factory fails or passes its soft timeout (stale-if-error). Extends how long entries
     * stay in memory and Redis. `getOrSet` may override it per call. At most `maxTtlSeconds`.
     * Default 0 (off).
     */
    graceSeconds: decimal(0, YEAR_SECONDS).default(0),
    /**
     * After a factory failed and a stale value was served instead, how long that stale value is
     * served without calling the factory again, seconds. Keeps a failing backend from being hammered.
     * Default 5.
     */
    graceBackoffSeconds: decimal(0, DAY_SECONDS).default(5),
    /**
     * When a stale value within its grace period exists, how long `getOrSet` waits for the factory
     * before serving the stale value, ms; the factory goes on in the background and its result is
     * cached when it arrives. Without a stale value the caller waits up to `factoryHardTimeoutMs`.
     * Below `factoryHardTimeoutMs`. Default: unset (wait for the factory).
     */
    factorySoftTimeoutMs: integer(0, 3_600_000).optional(),
    /**
     * Longest wait for a factory, ms. Past it the factory's `signal` is aborted, callers get the stale
     * value if one is within grace, otherwise a `CacheFactoryTimeoutError`; a late result is dropped.
     * Also bounds how long a single-flight slot can be held. Default 30000.
     */
    factoryHardTimeoutMs: integer(1, 3_600_000).default(30_000),
    /**
     * Keys with a factory running at once in this process (the single-flight table). Past it, calls
     * run their factory without coalescing rather than wait. Default 10000.
     */
    maxPendingFactories: integer(1, 10_000_000).default(10_000),
    /**
     * Distributed single flight: the longest a `getOrSet` caller waits for another process that
     * holds the Redis lock of its key (`<prefix>l:<key>`, taken with `SET NX PX` and a random token)
     * to store the value, ms. The waiter is woken by the bus message of that store (or of the lock's
     * release), reads Redis again and returns what the holder stored; past this wait it serves its
     * stale value within grace, or runs its own factory. The lock expires `factoryHardTimeoutMs + 2 ×
     * redisCommandTimeoutMs` after it was taken, so a holder that dies stalls no one for longer.
     * Off while Redis is unreachable or the bus is down (single flight per process still applies).
     * `getOrSet` may override it per call (0: off for that call). Default: unset (off).
     */
    lockTimeoutMs: integer(0, 3_600_000).optional(),
    /**
     * Eager refresh, as a fraction of the TTL: a `getOrSet` hit on an entry past this fraction of its
     * fresh life returns the cached value at once and starts one background refresh of the key (one
     * per key at a time in a process; across processes too when `lockTimeoutMs` is on), so a hot key
     * never expires under load. A failed refresh keeps the old value until its TTL, then grace
     * applies. `getOrSet` may override it per call (0: off for that call). Greater than 0, below 1.
     * Default: unset (off).
     */
    eagerRefresh: accepts(z.number().gt(0).lt(1), 'a number greater than 0 and below 1').optional(),
    /**
     * Longest any cache Redis command may take, ms; past it the command counts as failed, the circuit
     * opens at once (a Redis that does not answer is not a passing error) and the call goes on without
     * Redis. This is the worst latency a hung Redis adds to a call. (Calls made while the first
     * connection opens wait for it instead of skipping Redis: until it is ready or its attempt fails,
     * at most `max(2 × this, 1000)` ms, the connect timeout.) Default 250.
     */
    redisCommandTimeoutMs: integer(10, 60_000, 'milliseconds').default(250),
    /** Consecutive Redis errors that open the circuit breaker (one timeout opens it at once). Default 3. */
    circuitBreakerThreshold: integer(1, 1000).default(3),
    /**
     * How long the circuit stays open at least, ms. While it is open the cache probes Redis itself
     * with one `PING` at a time (callers never wait on a probe); the circuit closes when a probe
     * answers after this time, at once when a probe that waited on a hung Redis is answered (Redis
     * resumed), and as soon as the connection reports ready again. Default 5000.
     */
    circuitBreakerDurationMs: integer(10, 3_600_000).default(5000),
    /**
     * While the invalidation bus is disconnected, how long a tag version learnt from Redis is trusted
     * before it is read again, ms. While the bus is connected, versions are pushed and never re-read.
     * Default 10000.
     */
    tagCheckIntervalMs: integer(0, 3_600_000).default(10_000),
    /**
     * Largest bus message accepted, characters. A larger or malformed incoming message clears the
     * process's memory cache (an invalidation that cannot be read must not be ignored); an outgoing
     * invalidation that would be larger is sent as a clear. Default 64 KiB.
     */
    maxBusMessageBytes: integer(1024, 64 * MIB).default(64 * 1024),
    /**
     * Invalidations (keys, tags, clears) remembered while Redis is unreachable, replayed when it is
     * back so no process serves a value that was deleted meanwhile. Past the bound they collapse into
     * one clear of the whole prefix. Default 10000.
     */
    maxPendingInvalidations: integer(1, 10_000_000).default(10_000),
    /**
     * How values become text for sizes and Redis. Default: `jsonSerializer`, which refuses what
     * JSON cannot round-trip (undefined, functions, symbols, BigInt, NaN and Infinity, Dates, Maps,
     * Sets, class instances, cycles).
     */
    serializer: withMethods<CacheSerializer>(
      ['serialize', 'deserialize'],
      'an object with serialize(value): string and deserialize(text): unknown',
    ).default(() => jsonSerializer),
    /**
     * Which values the cache hands out deep-frozen, so that a caller cannot change one for the
     * others (a change throws a `TypeError`; `structuredClone` a value to change it).
     *
     * - `'all'` (default): every value, wherever it came from.
     * - `'shared'`: the values other callers may get too: those kept in memory (frozen once, when
     *   they enter it, never per hit) and those one read or factory run hands to several waiting
     *   `getOrSet` callers. A value `get` or `getMany` reads from Redis without keeping it in memory
     *   (larger than `maxEntryBytes`, or written meanwhile) is then that caller's own copy, not
     *   frozen: its changes reach no one else. That read skips the freeze, which costs about a third
     *   of `JSON.parse`'s time for a value made of many small objects.
     */
    freeze: oneOf(['all', 'shared']).default('all'),
    /**
     * Meter for the cache's metrics. Default: the global meter provider's at creation time, so
     * create caches after `startTelemetry()` or pass this.
     */
    meter: withMethods<Meter>(
      ['createHistogram', 'createObservableCounter', 'createObservableGauge', 'addBatchObservableCallback'],
      'an OpenTelemetry Meter',
    ).optional(),
    /**
     * Logger for every cache log line (circuit opened and closed, replays, uncached results, Redis
     * connection trouble). Default: perf-sidecar's `getLogger()` at creation time.
     */
    logger: withMethods<Logger>(['debug', 'info', 'warn', 'error'], 'a pino Logger').optional(),
  })
  .superRefine((o, ctx) => {
    // The value judged may be a default the caller never wrote: the problem names it either way.
    const refuse = (option: keyof typeof o, expected: string) => {
      const params: IssueParams = { problem: `is ${String(o[option])}`, expected };
      ctx.addIssue({ code: 'custom', path: [option], message: expected, params });
    };
    if (o.maxEntryBytes > o.maxBytes)
      refuse('maxEntryBytes', `an integer from 0 to maxBytes (${o.maxBytes})`);
    if (o.factorySoftTimeoutMs !== undefined && o.factorySoftTimeoutMs >= o.factoryHardTimeoutMs) {
      refuse(
        'factorySoftTimeoutMs',
        `an integer number of ms from 0 to below factoryHardTimeoutMs (${o.factoryHardTimeoutMs})`,
      );
    }
    for (const option of ['defaultTtlSeconds', 'absentTtlSeconds', 'graceSeconds'] as const) {
      if (o[option] > o.maxTtlSeconds)
        refuse(option, `a number of seconds no more than maxTtlSeconds (${o.maxTtlSeconds})`);
    }
    // A client says what it is: a flag claiming otherwise is a mistake worth naming.
    if (o.redisCluster && o.redis !== undefined && typeof o.redis !== 'string' && !isCluster(o.redis)) {
      const params: IssueParams = {
        problem: 'is true with a single-node Redis client',
        expected: 'false with a Redis client (pass an ioredis Cluster, or a URL with redisCluster: true)',
      };
      ctx.addIssue({ code: 'custom', path: ['redisCluster'], message: 'not a cluster client', params });
    }
    // Scripts, MGET and pipelines may touch keys of one slot only: a hash tag puts them all there.
    if (onCluster(o) && !hasHashTag(o.prefix)) {
      const params: IssueParams = {
        problem: `is ${JSON.stringify(o.prefix)}, without a hash tag, on a Redis Cluster`,
        expected: CACHE_HASH_TAG_FORM,
      };
      ctx.addIssue({ code: 'custom', path: ['prefix'], message: CACHE_HASH_TAG_FORM, params });
    }
  });

/** Whether parsed options put the cache on a Redis Cluster: a `Cluster` client, or a URL with `redisCluster`. */
export function onCluster(o: { readonly redis?: unknown; readonly redisCluster: boolean }): boolean {
  return isCluster(o.redis) || (typeof o.redis === 'string' && o.redisCluster);
}

/**
 * Options of `createCache`; see each field (documented once, on {@link cacheOptionsSchema}).
 *
 * @example
 * const options: CacheOptions = { redis: process.env.REDIS_URL, prefix: 'myapp:', graceSeconds: 300 };
 */
export type CacheOptions = z.input<typeof cacheOptionsSchema>;

/** Options the caller brings as objects: they have no default value. */
const OBJECT_OPTIONS = ['redis', 'serializer', 'meter', 'logger'] as const;
type ObjectOption = (typeof OBJECT_OPTIONS)[number];

/** Defaults of {@link CacheOptions}, in the options' own units, read from {@link cacheOptionsSchema}. */
export const CACHE_DEFAULTS: Readonly<Omit<z.output<typeof cacheOptionsSchema>, ObjectOption>> =
  Object.freeze(
    Object.fromEntries(
      Object.entries(cacheOptionsSchema.shape)
        .filter(([name]) => !(OBJECT_OPTIONS as readonly string[]).includes(name))
        .map(([name, schema]) => [name, defaultOf(schema)]),
    ) as Omit<z.output<typeof cacheOptionsSchema>, ObjectOption>,
  );

/** The options given in seconds, which the cache reads in ms. */
type SecondsOption =
  | 'defaultTtlSeconds'
  | 'absentTtlSeconds'
  | 'maxTtlSeconds'
  | 'graceSeconds'
  | 'graceBackoffSeconds';

/** {@link CacheOptions} after defaults and checks: frozen, every bound present, durations in ms. */
export type ResolvedCacheOptions = Readonly<
  Omit<z.output<typeof cacheOptionsSchema>, SecondsOption> & {
    /** `defaultTtlSeconds`, ms (at least 1). */
    defaultTtlMs: number;
    /** `absentTtlSeconds`, ms; 0: absent results are not cached. */
    absentTtlMs: number;
    /** `maxTtlSeconds`, ms. */
    maxTtlMs: number;
    /** `graceSeconds`, ms. */
    graceMs: number;
    /** `graceBackoffSeconds`, ms. */
    graceBackoffMs: number;
  }
>;

/**
 * Checks options and fills defaults: one parse of {@link cacheOptionsSchema}, then seconds to ms.
 *
 * @throws {InvalidArgumentError} naming the first bad option, its value and the accepted form.
 */
export function resolveCacheOptions(options: CacheOptions = {}): ResolvedCacheOptions {
  const parsed = parseOptions(cacheOptionsSchema, options, {
    what: 'a cache option',
    expected: 'an object of cache options',
  });
  const { defaultTtlSeconds, absentTtlSeconds, maxTtlSeconds, graceSeconds, graceBackoffSeconds, ...rest } =
    parsed;
  const ms = (seconds: number) => Math.round(seconds * 1000);
  return Object.freeze({
    ...rest,
    defaultTtlMs: Math.max(1, ms(defaultTtlSeconds)),
    absentTtlMs: ms(absentTtlSeconds),
    maxTtlMs: maxTtlSeconds * 1000,
    graceMs: ms(graceSeconds),
    graceBackoffMs: ms(graceBackoffSeconds),
  });
}
