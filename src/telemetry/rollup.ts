/**
 * Per-minute operation data in Redis hashes, so that performance reports span restarts and every
 * instance sharing the Redis:
 *
 * - `metrics:{operation}:{YYYY-MM-DD}`: fields `HHMM|c` (count), `HHMM|e` (errors), `HHMM|b`
 *   (breaches), `HHMM|f` (over 4x target), `HHMM|s` (sum, s), `HHMM|m` (max, s), `HHMM|n` (min, s), `HHMM|le=<bound>`
 *   (bucket counts, only non-empty ones), and `target`.
 * - `user_metrics:{user_id}:{YYYY-MM-DD}`: the same per operation, fields `<operation>|HHMM|...`.
 * - `metrics_index:{YYYY-MM-DD}`: the set of operation names seen that day.
 *
 * Counts are added with `HINCRBYFLOAT` and maxima and minima compared in Lua, so writers never overwrite each
 * other. Every key expires `retentionDays` after its last write. Keys carry the `ALERT_KEY_PREFIX`.
 * Dates and minutes are UTC.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { accepts, integer, parseOptions } from '../shared/options.ts';
import { untraced } from '../shared/tracing.ts';
import { aggregateFor, type DurationAggregate } from './aggregate.ts';
import { MINUTE_MS, type Minute, type PendingMinute } from './minutes.ts';
import type { RollupWriter } from './rollup-exporter.ts';

/**
 * ARGV[1] = expiry seconds, ARGV[2] = index member ('' for none), then triples (mode, field, value):
 * mode `i` adds, `m` keeps the larger, `n` keeps the smaller, `s` sets. KEYS[1] = hash, KEYS[2] (optional) = index set.
 */
const WRITE_MINUTE = `
local ttl = tonumber(ARGV[1])
for i = 3, #ARGV, 3 do
  local mode, field, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if mode == 'i' then
    redis.call('HINCRBYFLOAT', KEYS[1], field, value)
  elseif mode == 'm' then
    local current = tonumber(redis.call('HGET', KEYS[1], field))
    if (not current) or tonumber(value) > current then redis.call('HSET', KEYS[1], field, value) end
  elseif mode == 'n' then
    local current = tonumber(redis.call('HGET', KEYS[1], field))
    if (not current) or tonumber(value) < current then redis.call('HSET', KEYS[1], field, value) end
  else
    redis.call('HSET', KEYS[1], field, value)
  end
end
redis.call('EXPIRE', KEYS[1], ttl)
if #KEYS > 1 then
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ttl)
end
return 1
`;

/** An ioredis client, or a promise of one (the connection made while the preload waits). */
function isClientOrPromise(value: unknown): value is Redis | Promise<Redis> {
  if (value instanceof Promise) return true;
  return value !== null && typeof value === 'object' && typeof (value as Redis).pipeline === 'function';
}

/** Schema of the {@link RedisRollupStore} options: their one description, type and bounds. */
export const redisRollupStoreOptionsSchema = z.strictObject({
  /** The connection (or its promise). Not closed by the store. */
  client: accepts(
    z.custom<Redis | Promise<Redis>>(isClientOrPromise),
    'an ioredis client or a promise of one',
  ),
  /** Key prefix (`ALERT_KEY_PREFIX`). */
  keyPrefix: accepts(z.string().max(256), 'a string of at most 256 characters'),
  /** Days a key lives after its last write. */
  retentionDays: integer(1, 3660, 'days'),
  /** Most operation names read from one day's index. */
  maxOperations: integer(1, 10_000_000),
});

/** Options of {@link RedisRollupStore}. */
export type RedisRollupStoreOptions = z.input<typeof redisRollupStoreOptionsSchema>;

/** What to read: a minute range and optional filters. */
export interface RollupQuery {
  readonly fromMinute: Minute;
  readonly toMinute: Minute;
  readonly operation?: string;
  readonly userId?: string;
}

/** What a read returns: operations (or one user's operations) merged over the range. */
export interface RollupTotals {
  readonly operations: Map<string, DurationAggregate>;
  /** Stored target per operation (from any writer). */
  readonly targets: Map<string, number>;
  /** First minute with data, if any. */
  readonly firstMinute: Minute | undefined;
}

/** The UTC date `YYYY-MM-DD` and `HHMM` of a minute. */
export function minuteParts(minute: Minute): { readonly date: string; readonly hhmm: string } {
  const iso = new Date(minute * MINUTE_MS).toISOString();
  return { date: iso.slice(0, 10), hhmm: `${iso.slice(11, 13)}${iso.slice(14, 16)}` };
}

function bucketField(bound: number): string {
  return Number.isFinite(bound) ? `le=${bound}` : 'le=+Inf';
}

/** See the module comment. */
export class RedisRollupStore implements RollupWriter {
  readonly #client: Promise<Redis>;
  readonly #options: z.output<typeof redisRollupStoreOptionsSchema>;

  /** @throws {InvalidArgumentError} naming the first bad option. */
  constructor(options: RedisRollupStoreOptions) {
    this.#options = parseOptions(redisRollupStoreOptionsSchema, options, { what: 'a rollup store option' });
    this.#client = Promise.resolve(this.#options.client);
    // A failed client promise is reported by whoever made it; reads and writes then reject.
    this.#client.catch(() => undefined);
  }

  #key(kind: 'metrics' | 'user_metrics' | 'metrics_index', name: string | undefined, date: string): string {
    return name === undefined
      ? `${this.#options.keyPrefix}${kind}:${date}`
      : `${this.#options.keyPrefix}${kind}:${name}:${date}`;
  }

  async write(
    minutes: readonly PendingMinute[],
    targetOf: (operation: string) => number | undefined,
  ): Promise<PendingMinute[]> {
    const client = await this.#client;
    if (client.status !== 'ready') throw new Error('the rollup store has no Redis connection');
    const ttl = String(this.#options.retentionDays * 86_400);
    return untraced(async () => {
      const pipeline = client.pipeline();
      // What each command carries, so that only the parts whose command failed are tried again.
      const parts: { minute: number; operation?: string; user?: string }[] = [];
      for (const { minute, operations, users } of minutes) {
        const { date, hhmm } = minuteParts(minute);
        const index = this.#key('metrics_index', undefined, date);
        for (const [op, agg] of operations) {
          const target = targetOf(op);
          const args = fieldArgs(`${hhmm}|`, agg);
          if (target !== undefined && Number.isFinite(target) && target > 0)
            args.push('s', 'target', String(target));
          pipeline.eval(WRITE_MINUTE, 2, this.#key('metrics', op, date), index, ttl, op, ...args);
          parts.push({ minute, operation: op });
        }
        for (const [user, ops] of users) {
          const args: string[] = [];
          for (const [op, agg] of ops) args.push(...fieldArgs(`${op}|${hhmm}|`, agg));
          if (args.length === 0) continue;
          pipeline.eval(WRITE_MINUTE, 1, this.#key('user_metrics', user, date), ttl, '', ...args);
          parts.push({ minute, user });
        }
      }
      const results = (await pipeline.exec()) ?? [];
      const failed = new Map<number, PendingMinute>();
      const source = new Map(minutes.map((m) => [m.minute, m]));
      for (const [i, part] of parts.entries()) {
        const result = results[i];
        if (result && !result[0]) continue;
        const from = source.get(part.minute) as PendingMinute;
        let out = failed.get(part.minute);
        if (!out) {
          out = { minute: part.minute, operations: new Map(), users: new Map() };
          failed.set(part.minute, out);
        }
        if (part.operation !== undefined) {
          out.operations.set(part.operation, from.operations.get(part.operation) as DurationAggregate);
        } else if (part.user !== undefined) {
          out.users.set(part.user, from.users.get(part.user) as Map<string, DurationAggregate>);
        }
      }
      return [...failed.values()];
    });
  }

  /** Reads and merges the stored minutes of the query's range. */
  async read(query: RollupQuery): Promise<RollupTotals> {
    const client = await this.#client;
    if (client.status !== 'ready') throw new Error('the rollup store has no Redis connection');
    return untraced(async () => {
      const dates = datesBetween(query.fromMinute, query.toMinute);
      const operations = new Map<string, DurationAggregate>();
      const targets = new Map<string, number>();
      const minima = new MinimumTracker();
      let firstMinute: Minute | undefined;
      const keep = (minute: Minute): boolean => {
        if (minute < query.fromMinute || minute > query.toMinute) return false;
        if (firstMinute === undefined || minute < firstMinute) firstMinute = minute;
        return true;
      };

      if (query.userId !== undefined) {
        const pipeline = client.pipeline();
        for (const date of dates) pipeline.hgetall(this.#key('user_metrics', query.userId, date));
        for (const [i, [error, hash]] of ((await pipeline.exec()) ?? []).entries()) {
          if (error) throw error;
          const start = dayStart(dates[i] as string);
          for (const [field, value] of Object.entries(hash as Record<string, string>)) {
            const stat = field.lastIndexOf('|');
            const at = field.lastIndexOf('|', stat - 1);
            if (stat < 0 || at < 0) continue;
            const op = field.slice(0, at);
            if (query.operation !== undefined && op !== query.operation) continue;
            const ofDay = minuteOfDay(field, at + 1, stat);
            if (ofDay === undefined || !keep(start + ofDay)) continue;
            const agg = aggregateFor(operations, op, false);
            minima.saw(agg, `${dates[i]}|${field.slice(0, stat)}`, field.slice(stat + 1));
            addField(agg, field.slice(stat + 1), Number(value));
          }
        }
        minima.finish();
        return { operations, targets, firstMinute };
      }

      let names: string[];
      if (query.operation !== undefined) names = [query.operation];
      else {
        const pipeline = client.pipeline();
        for (const date of dates) pipeline.smembers(this.#key('metrics_index', undefined, date));
        const seen = new Set<string>();
        for (const [error, members] of (await pipeline.exec()) ?? []) {
          if (error) throw error;
          // Capped: an index shared by many instances can hold more names than one process's cap.
          for (const m of members as string[]) if (seen.size < this.#options.maxOperations) seen.add(m);
        }
        names = [...seen];
      }
      const pipeline = client.pipeline();
      const keys: [string, string][] = [];
      for (const op of names) {
        for (const date of dates) {
          pipeline.hgetall(this.#key('metrics', op, date));
          keys.push([op, date]);
        }
      }
      for (const [i, [error, hash]] of ((await pipeline.exec()) ?? []).entries()) {
        if (error) throw error;
        const [op, date] = keys[i] as [string, string];
        const start = dayStart(date);
        for (const [field, value] of Object.entries(hash as Record<string, string>)) {
          if (field === 'target') {
            const target = Number(value);
            if (Number.isFinite(target) && target > 0) targets.set(op, target);
            continue;
          }
          const stat = field.indexOf('|');
          if (stat < 0) continue;
          const ofDay = minuteOfDay(field, 0, stat);
          if (ofDay === undefined || !keep(start + ofDay)) continue;
          const agg = aggregateFor(operations, op, true);
          minima.saw(agg, `${date}|${field.slice(0, stat)}`, field.slice(stat + 1));
          addField(agg, field.slice(stat + 1), Number(value));
        }
      }
      minima.finish();
      return { operations, targets, firstMinute };
    });
  }
}

function fieldArgs(prefix: string, agg: DurationAggregate): string[] {
  const args = ['i', `${prefix}c`, String(agg.count), 'i', `${prefix}s`, String(agg.sum)];
  if (agg.errors > 0) args.push('i', `${prefix}e`, String(agg.errors));
  if (agg.breaches) args.push('i', `${prefix}b`, String(agg.breaches));
  if (agg.frustrated) args.push('i', `${prefix}f`, String(agg.frustrated));
  if (agg.max > 0) args.push('m', `${prefix}m`, String(agg.max));
  // Only a known minimum: a minute without one reads back as "minimum unknown".
  if (agg.min !== undefined && agg.count > 0) args.push('n', `${prefix}n`, String(agg.min));
  // Empty entries too: they carry the lower edges of the non-empty buckets.
  for (const [bound, n] of agg.buckets) args.push('i', `${prefix}${bucketField(bound)}`, String(n));
  return args;
}

/**
 * Minutes written before minima were stored have a count but no `n` field: an aggregate that
 * merges such a minute has no known minimum (a minimum from the other minutes could be too high).
 */
class MinimumTracker {
  readonly #counted = new Map<DurationAggregate, Set<string>>();
  readonly #withMin = new Set<string>();

  /** Notes that the minute `minute` (date and field prefix) of `agg` has the field `stat`. */
  saw(agg: DurationAggregate, minute: string, stat: string): void {
    if (stat === 'n') this.#withMin.add(minute);
    else if (stat === 'c') {
      let minutes = this.#counted.get(agg);
      if (!minutes) {
        minutes = new Set();
        this.#counted.set(agg, minutes);
      }
      minutes.add(minute);
    }
  }

  /** Forgets the minimum of every aggregate that merged a minute without one. */
  finish(): void {
    for (const [agg, minutes] of this.#counted) {
      for (const minute of minutes) {
        if (!this.#withMin.has(minute)) {
          agg.min = undefined;
          break;
        }
      }
    }
  }
}

function addField(agg: DurationAggregate, stat: string, value: number): void {
  if (!Number.isFinite(value)) return;
  switch (stat) {
    case 'c':
      agg.count += value;
      return;
    case 'e':
      agg.errors += value;
      return;
    case 'b':
      agg.breaches = (agg.breaches ?? 0) + value;
      return;
    case 'f':
      agg.frustrated = (agg.frustrated ?? 0) + value;
      return;
    case 's':
      agg.sum += value;
      return;
    case 'm':
      if (value > agg.max) agg.max = value;
      return;
    case 'n':
      agg.min = agg.min === undefined ? value : Math.min(agg.min, value);
      return;
    default:
      if (stat.startsWith('le=')) {
        const bound = stat === 'le=+Inf' ? Number.POSITIVE_INFINITY : Number(stat.slice(3));
        if (!Number.isNaN(bound)) agg.buckets.set(bound, (agg.buckets.get(bound) ?? 0) + value);
      }
  }
}

/** Minute of the day of an `HHMM` field part, or `undefined` when it is not one. */
function minuteOfDay(text: string, from: number, to: number): number | undefined {
  if (to - from !== 4) return undefined;
  let hh = 0;
  let mm = 0;
  for (let i = from; i < to; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    if (i < from + 2) hh = hh * 10 + digit;
    else mm = mm * 10 + digit;
  }
  return hh < 24 && mm < 60 ? hh * 60 + mm : undefined;
}

/** First minute of a `YYYY-MM-DD` day (UTC). */
function dayStart(date: string): Minute {
  return Date.parse(`${date}T00:00:00Z`) / MINUTE_MS;
}

function datesBetween(fromMinute: Minute, toMinute: Minute): string[] {
  const dates: string[] = [];
  const day = 1440;
  for (let m = fromMinute - (fromMinute % day); m <= toMinute; m += day) dates.push(minuteParts(m).date);
  return dates;
}
