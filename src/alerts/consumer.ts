/**
 * A reliable reader of an alert list, for programs that act on alerts.
 *
 * The reliable-queue pattern: `BLMOVE` takes the oldest record from the list into a processing list
 * atomically; the record is removed from the processing list (`LREM`) only after the handler
 * succeeds. A record whose handler failed, or whose consumer died, stays in the processing list and
 * is moved back to the list by a reaper once it has been there longer than `visibilityTimeoutMs`.
 * After `maxDeliveries` attempts it is moved to a capped dead-letter list instead.
 */

import { z } from 'zod';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { accepts, callable, decimal, integer, parseOptions, withMethods } from '../shared/options.ts';
import { closeRedisClient, isCluster, type RedisClient } from '../shared/redis.ts';
import { untraced } from '../shared/tracing.ts';
import { type AlertRecord, alertRecordSchema } from './schema.ts';

/** Options of {@link consumeAlerts}: one schema holding each option's type, default and bounds. */
const consumeAlertsFields = {
  /**
   * A connection to the Redis holding the list. It is duplicated: blocking reads run on a
   * connection of their own, and the given one is left as it was.
   */
  redis: withMethods<RedisClient>(['duplicate'], 'an ioredis client'),
  /** Full name of the list to consume, for example `performance_alerts`. */
  list: accepts(z.string().min(1).max(256), 'a list name of 1 to 256 characters'),
  /** Called once per record, oldest first. Resolve to acknowledge; throw to have it redelivered. */
  handler: callable<(record: AlertRecord, raw: string) => void | Promise<void>>('a function'),
  /** Processing list. Default `<list>:processing`. */
  processingList: accepts(z.string().min(1).max(256), 'a list name of 1 to 256 characters').optional(),
  /** Dead-letter list for records that failed `maxDeliveries` times. Default `<list>:dead`. */
  deadLetterList: accepts(z.string().min(1).max(256), 'a list name of 1 to 256 characters').optional(),
  /** Entries kept in the dead-letter list. */
  deadLetterMax: integer(1, 1_000_000).default(1000),
  /** How long a record may sit unacknowledged before it is redelivered, ms. */
  visibilityTimeoutMs: decimal(0, 86_400_000, { minExclusive: true }).default(30_000),
  /** Deliveries before a record goes to the dead-letter list. */
  maxDeliveries: integer(1, 1000).default(5),
  /** Longest a blocking read waits before the loop checks for stop and runs the reaper, seconds. */
  blockSeconds: decimal(0, 60, { unit: 'seconds', minExclusive: true }).default(1),
  /** Stops the consumer when aborted. */
  signal: z.instanceof(AbortSignal).optional(),
};
const consumeAlertsSchema: z.ZodObject<typeof consumeAlertsFields, z.core.$strict> =
  z.strictObject(consumeAlertsFields);

/** Options of {@link consumeAlerts}. */
export type ConsumeAlertsOptions = z.input<typeof consumeAlertsSchema>;

/** A running consumer. */
export interface AlertConsumer {
  /** Records acknowledged so far. */
  readonly acknowledged: number;
  /** Stops taking records, waits for the current handler, closes the consumer's connection. */
  stop(): Promise<void>;
  /** Settles when the consumer has stopped. */
  readonly done: Promise<void>;
}

/**
 * Moves records that sat in the processing list longer than the visibility timeout back to the
 * list (oldest end, so they are taken next), or to the dead-letter list after too many deliveries.
 * Claim times and delivery counts live in two hashes keyed by the record text.
 */
const REAP = `
local now = tonumber(ARGV[1])
local timeout = tonumber(ARGV[2])
local maxDeliveries = tonumber(ARGV[3])
local deadMax = tonumber(ARGV[4])
local moved = 0
for _, item in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local claimed = tonumber(redis.call('HGET', KEYS[3], item))
  if not claimed then
    redis.call('HSET', KEYS[3], item, now)
  elseif now - claimed >= timeout then
    redis.call('LREM', KEYS[2], 1, item)
    redis.call('HDEL', KEYS[3], item)
    local deliveries = tonumber(redis.call('HGET', KEYS[4], item) or '0')
    if deliveries >= maxDeliveries then
      redis.call('HDEL', KEYS[4], item)
      redis.call('LPUSH', KEYS[5], item)
      redis.call('LTRIM', KEYS[5], 0, deadMax - 1)
    else
      redis.call('RPUSH', KEYS[1], item)
    end
    moved = moved + 1
  end
end
return moved
`;

/** Acknowledges: removes the record from the processing list and forgets its bookkeeping. */
const ACK = `
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`;

/**
 * Starts consuming an alert list with the reliable-queue pattern (see the module comment).
 *
 * @example
 * const consumer = consumeAlerts({ redis, list: 'performance_alerts', handler: async (a) => page(a) });
 * // ...
 * await consumer.stop();
 */
export function consumeAlerts(options: ConsumeAlertsOptions): AlertConsumer {
  const o = parseOptions(consumeAlertsSchema, options, { what: 'an option of consumeAlerts' });
  const processing = o.processingList ?? `${o.list}:processing`;
  const dead = o.deadLetterList ?? `${o.list}:dead`;
  const claims = `${processing}:claimed`;
  const deliveries = `${processing}:deliveries`;
  const visibilityMs = o.visibilityTimeoutMs;
  const { maxDeliveries, blockSeconds } = o;
  const deadMax = o.deadLetterMax;
  const log = getLogger();

  // A blocking command holds its connection; it must not be the caller's.
  const connection: RedisClient = isCluster(o.redis)
    ? o.redis.duplicate(undefined, {
        enableOfflineQueue: true,
        redisOptions: { ...o.redis.options.redisOptions, commandTimeout: undefined },
      })
    : o.redis.duplicate({ enableOfflineQueue: true, commandTimeout: undefined });
  connection.on('error', () => {
    // Reconnects are handled by ioredis; the loop below backs off on failed commands.
  });
  let stopping = false;
  let blocked = false;
  let acknowledged = 0;
  let lastReap = 0;

  const run = async () => {
    let backoffMs = 0;
    while (!stopping) {
      try {
        const now = Date.now();
        if (now - lastReap >= Math.min(visibilityMs / 2, 5000)) {
          lastReap = now;
          await connection.eval(
            REAP,
            5,
            o.list,
            processing,
            claims,
            deliveries,
            dead,
            now,
            visibilityMs,
            maxDeliveries,
            deadMax,
          );
        }
        if (stopping) break;
        blocked = true;
        const raw = await connection.blmove(o.list, processing, 'RIGHT', 'LEFT', blockSeconds).finally(() => {
          blocked = false;
        });
        backoffMs = 0;
        if (raw === null) continue;
        await connection.hset(claims, raw, Date.now());
        await connection.hincrby(deliveries, raw, 1);
        let record: AlertRecord;
        try {
          record = alertRecordSchema.parse(JSON.parse(raw)) as AlertRecord;
        } catch {
          // Not an alert.v1 record: no handler can succeed, straight to the dead letters.
          await connection
            .multi()
            .lrem(processing, 1, raw)
            .hdel(claims, raw)
            .hdel(deliveries, raw)
            .lpush(dead, raw)
            .ltrim(dead, 0, deadMax - 1)
            .exec();
          log.warn(
            { list: o.list },
            'alert consumer moved an entry that is not alert.v1 JSON to the dead letters',
          );
          continue;
        }
        try {
          await o.handler(record, raw);
        } catch (error) {
          log.warn(
            {
              list: o.list,
              alertId: record.id,
              err: errorText(error),
            },
            'alert handler failed; the record will be redelivered after the visibility timeout',
          );
          continue;
        }
        await connection.eval(ACK, 3, processing, claims, deliveries, raw);
        acknowledged++;
      } catch (error) {
        if (stopping) break;
        backoffMs = Math.min(Math.max(backoffMs * 2, 100), 5000);
        log.warn(
          {
            list: o.list,
            err: errorText(error),
            retryInMs: backoffMs,
          },
          'alert consumer error',
        );
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
      }
    }
  };

  const done = untraced(run).finally(async () => {
    await closeRedisClient(connection);
  });

  const stop = async () => {
    stopping = true;
    // A blocking read would return within blockSeconds anyway; disconnecting cuts it short. A record
    // it took at that instant stays in the processing list and is redelivered by the reaper.
    // A running handler is never cut short: the loop ends after it and its acknowledgement.
    if (blocked) connection.disconnect(false);
    await done.catch(() => undefined);
  };
  o.signal?.addEventListener('abort', () => void stop(), { once: true });

  return {
    get acknowledged() {
      return acknowledged;
    },
    stop,
    done,
  };
}
