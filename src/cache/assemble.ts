/**
 * Builds one cache's collaborators from its options and wires them together: the memory driver,
 * the Redis link and bus (Redis mode), the invalidation log, the tag versions, the two-level
 * handler, the factory runner, the counters and the telemetry. The facade (`Cache`) only checks
 * arguments and delegates to what this returns.
 *
 * {@link CacheSeams} are how fault-injection tests put a wrapper around the Redis driver or the bus;
 * they are not part of the public API.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { getLogger } from '../shared/logger.ts';
import { assertPeerInstalled } from '../shared/peers.ts';
import { createClusterClient, createRedisClient, isCluster, type RedisClient } from '../shared/redis.ts';
import { withTimeout } from '../shared/timeout.ts';
import { redactUrl } from '../shared/urls.ts';
import type { BusMessage } from './bus/messages.ts';
import { type CacheBus, RedisBus, type RedisBusOptions } from './bus/redis-bus.ts';
import { DistributedLock } from './distributed-lock.ts';
import type { L2Driver } from './drivers/l2.ts';
import { MemoryDriver } from './drivers/memory.ts';
import { RedisDriver } from './drivers/redis.ts';
import { FactoryRunner } from './factory-runner.ts';
import { InvalidationLog, type ReplayTarget } from './invalidation-log.ts';
import { type CacheOptions, onCluster, type ResolvedCacheOptions, resolveCacheOptions } from './options.ts';
import { RedisLink } from './redis-link.ts';
import { CacheCounters, counterSnapshotOf } from './stats.ts';
import { TagVersions } from './tags.ts';
import { CacheTelemetry } from './telemetry.ts';
import { TwoLevelHandler } from './two-level.ts';

/** Test seams: how the cache builds its L2 driver and its bus. Not public API. */
export interface CacheSeams {
  /** Wraps the Redis driver the cache made (a fault-injecting driver, for example). */
  readonly l2?: (driver: RedisDriver) => L2Driver;
  /** Builds the bus from the options the cache would give {@link RedisBus}. */
  readonly bus?: (options: RedisBusOptions) => CacheBus;
}

/** One cache's collaborators. */
export interface CacheParts {
  readonly options: ResolvedCacheOptions;
  /** The `logger` option, else `getLogger()` at creation. */
  readonly logger: Logger;
  readonly counters: CacheCounters;
  readonly telemetry: CacheTelemetry;
  readonly l1: MemoryDriver;
  /** Absent in memory-only mode. */
  readonly link: RedisLink | undefined;
  /** Absent in memory-only mode. */
  readonly bus: CacheBus | undefined;
  readonly log: InvalidationLog;
  readonly tags: TagVersions;
  readonly levels: TwoLevelHandler;
  readonly runner: FactoryRunner;
  /** The distributed single-flight lock; absent in memory-only mode. */
  readonly lock: DistributedLock | undefined;
  /** Set once by `close()`; read by collaborators that must not act after it. */
  readonly lifecycle: { closed: boolean };
}

/**
 * Resolves `options` and builds the collaborators.
 *
 * @throws {InvalidArgumentError} naming the first invalid option.
 */
export function assembleCache(options: CacheOptions = {}, seams: CacheSeams = {}): CacheParts {
  const o = resolveCacheOptions(options);
  // A Redis URL needs the optional peer ioredis: said here, not as a failed connection later.
  if (typeof o.redis === 'string') assertPeerInstalled('ioredis');
  const logger = o.logger ?? getLogger();
  const lifecycle = { closed: false };
  const counters = new CacheCounters();
  const l1 = new MemoryDriver(o);
  const id = randomUUID();
  const redisLabel =
    o.redis === undefined
      ? 'none'
      : typeof o.redis === 'string'
        ? `${onCluster(o) ? 'cluster ' : ''}${redactUrl(o.redis)}`
        : isCluster(o.redis)
          ? 'cluster client'
          : 'client';
  // Bound late: the telemetry, the link and the log refer to collaborators built after them.
  let parts: CacheParts | undefined;
  const telemetry = new CacheTelemetry(o.name, o.meter, () => counterSnapshotOf(parts as CacheParts));
  const link = linkOf(o, seams, {
    logger,
    counters,
    telemetry,
    label: redisLabel,
    onBack: () => {
      if (!lifecycle.closed && parts !== undefined) void parts.log.replay(replayTarget(parts));
    },
  });
  const log = new InvalidationLog({
    maxPending: o.maxPendingInvalidations,
    tagChunk: o.maxTagsPerEntry,
    settleTimeoutMs: o.redisCommandTimeoutMs,
    everConnected: () => link?.everConnected === true,
    logger,
    logFields: { cache: o.name },
  });
  const bus =
    link === undefined || o.redis === undefined
      ? undefined
      : (seams.bus ?? ((b: RedisBusOptions) => new RedisBus(b)))({
          client: connection(o, o.redis, ':bus', logger),
          channel: link.driver.channel,
          sender: id,
          maxMessageBytes: o.maxBusMessageBytes,
          logger,
          handler: {
            onSubscribed: () => forget(parts as CacheParts),
            onMessage: (message) => applyBusMessage(parts as CacheParts, message),
            onUnreadable: () => forget(parts as CacheParts),
          },
        });
  const redis = link === undefined || bus === undefined ? undefined : { link, bus, sender: id };
  const tags = new TagVersions({
    maxTracked: o.maxTrackedTags,
    tagCheckIntervalMs: o.tagCheckIntervalMs,
    log,
    redis: redis && { ...redis, retentionMs: o.maxTtlMs * 2 },
  });
  const closed = () => lifecycle.closed;
  const levels = new TwoLevelHandler({ options: o, l1, redis, tags, log, counters, logger, closed });
  const lock =
    redis === undefined
      ? undefined
      : new DistributedLock({
          link: redis.link,
          bus: redis.bus,
          sender: id,
          // A lock outlives its holder's longest factory run and the round trips around it, no more:
          // before the factory, the check of Redis (a clock sync, a read, tag versions), the settle
          // gate and the current tag versions; after it, the settle gate, the write and the
          // release. Eight command timeouts bound them all. A holder that dies stalls the key for
          // at most that long.
          holdMs: o.factoryHardTimeoutMs + 8 * o.redisCommandTimeoutMs,
          // One waiter per key per flight: never more than the single-flight table holds.
          maxWaiters: o.maxPendingFactories,
        });
  const runner = new FactoryRunner({ options: o, levels, tags, log, counters, telemetry, lock });
  parts = {
    options: o,
    logger,
    counters,
    telemetry,
    l1,
    link,
    bus,
    log,
    tags,
    levels,
    runner,
    lock,
    lifecycle,
  };
  return parts;
}

/** What the Redis link is built with besides the options. */
interface LinkContext {
  readonly logger: Logger;
  readonly counters: CacheCounters;
  readonly telemetry: CacheTelemetry;
  /** The Redis, redacted, for log lines. */
  readonly label: string;
  /** Redis is usable again: replay what is owed. */
  readonly onBack: () => void;
}

/** The Redis driver (wrapped by the seam, if any) behind its link; `undefined` in memory-only mode. */
function linkOf(o: ResolvedCacheOptions, seams: CacheSeams, context: LinkContext): RedisLink | undefined {
  const redis = o.redis;
  if (redis === undefined) return undefined;
  const { logger, counters, telemetry, label, onBack } = context;
  const driver = new RedisDriver({
    client: typeof redis === 'string' ? connection(o, redis, '', logger) : redis,
    ownsClient: typeof redis === 'string',
    prefix: o.prefix,
    commandTimeoutMs: o.redisCommandTimeoutMs,
    telemetry,
    logger,
  });
  return new RedisLink({
    driver: seams.l2?.(driver) ?? driver,
    threshold: o.circuitBreakerThreshold,
    durationMs: o.circuitBreakerDurationMs,
    commandTimeoutMs: o.redisCommandTimeoutMs,
    counters,
    logger,
    logFields: { cache: o.name, redis: label },
    onBack,
  });
}

/**
 * A connection of the cache's (`role`: '' for commands, ':bus' for the bus): its own for a URL (a
 * cluster client when `redisCluster` is set), else a duplicate of the caller's client.
 */
function connection(
  o: ResolvedCacheOptions,
  redis: RedisClient | string,
  role: string,
  logger: Logger,
): Promise<RedisClient> {
  const connectionName = `perf-sidecar:cache:${o.name}${role}`;
  if (typeof redis === 'string') {
    const settings = {
      url: redis,
      commandTimeoutMs: o.redisCommandTimeoutMs,
      // The driver bounds every round trip with its own timer, which is far cheaper.
      perCommandTimeout: false,
      connectionName,
      logger,
    };
    return o.redisCluster ? createClusterClient(settings) : createRedisClient(settings);
  }
  // The bus needs a connection of its own (a subscribed connection can send nothing else); it keeps
  // the caller's settings but must never queue commands while disconnected. A Cluster's duplicate
  // takes the seed nodes first and its node settings under redisOptions.
  const duplicate: RedisClient = isCluster(redis)
    ? redis.duplicate(undefined, {
        enableOfflineQueue: false,
        redisOptions: { ...redis.options.redisOptions, connectionName, maxRetriesPerRequest: 0 },
      })
    : redis.duplicate({ connectionName, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  duplicate.on('error', (error: Error) =>
    logger.debug({ cache: o.name, err: error.message }, 'cache bus connection error'),
  );
  return Promise.resolve(duplicate);
}

/** Where a replay sends what is pending: tag versions (adopting the new ones) and Redis deletes. */
function replayTarget(parts: CacheParts): ReplayTarget {
  return {
    invalidate: (tags) => parts.tags.replayInvalidation(tags),
    deleteKeys: (keys) => parts.levels.deleteFromRedis(keys),
  };
}

/** Applies another instance's invalidation: keys leave memory, tags get their new versions. */
function applyBusMessage(parts: CacheParts, message: BusMessage): void {
  for (const key of message.keys) {
    parts.levels.evict(key);
    // A write (or delete) of a key a caller waits for: it looks in Redis again.
    parts.lock?.wake(key);
  }
  // A lock released (its holder finished, failed or did not cache): its waiters try again.
  for (const key of message.released ?? []) parts.lock?.wake(key);
  if (message.tags.length === 0) return;
  parts.tags.adopt(message.tags);
  if (message.tags.some(([tag]) => tag === '')) parts.l1.clear();
}

/** Forgets everything learnt so far: bus messages may have been missed. */
function forget(parts: CacheParts): void {
  parts.counters.busResets++;
  parts.log.bump(true);
  parts.l1.clear();
  parts.tags.clear();
  // Waiters may have missed the message they wait for: they look in Redis again.
  parts.lock?.wakeAll();
}

/**
 * Stops the collaborators: aborts running factories' signals, stops the metrics, closes the
 * connections the cache opened, empties memory. Invalidations still waiting for Redis are dropped
 * (and logged).
 */
export async function closeCacheParts(parts: CacheParts, reason: unknown): Promise<void> {
  parts.lifecycle.closed = true;
  // Before the link stops: other processes must not wait for the expiry of this one's locks.
  if (parts.lock !== undefined) {
    await withTimeout(parts.lock.releaseAll(), parts.options.redisCommandTimeoutMs * 2, 'lock release').catch(
      () => undefined,
    );
  }
  parts.link?.stop();
  parts.runner.abortAll(reason);
  parts.lock?.stop(reason);
  parts.telemetry.close();
  const pending = parts.log.pending;
  if (pending > 0) {
    parts.logger.warn(
      { cache: parts.options.name, pending },
      'cache closed with invalidations still waiting for Redis',
    );
  }
  await Promise.all([parts.bus?.close(), parts.link?.close()]);
  parts.l1.clear();
}
