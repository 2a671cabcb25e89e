/**
 * Reading the per-day hashes of the rollups (see `rollup.ts`): an operation's minutes
 * (`metrics:{operation}:{date}`, fields `HHMM|stat`), a user's (`user_metrics:{user}:{date}`,
 * fields `{operation}|HHMM|stat`) and a service's summary (`metrics_summary:{date}`).
 */
import type { RedisClient } from '../shared/redis.ts';
import type { ServiceActivity } from './activity.ts';
import { aggregateFor, type DurationAggregate, emptyAggregate } from './aggregate.ts';
import type { Minute } from './minutes.ts';
import { addField, dayStart, MinimumTracker, minuteOfDay } from './rollup-fields.ts';

/** What to read: a minute range and optional filters. */
export interface RollupQuery {
  readonly fromMinute: Minute;
  readonly toMinute: Minute;
  readonly operation?: string;
  readonly userId?: string;
  /** A service other than the own one (its recorded name); absent: the own service. */
  readonly service?: string;
}

/** What a read returns: operations (or one user's operations) merged over the range. */
export interface RollupTotals {
  readonly operations: Map<string, DurationAggregate>;
  /** Stored target per operation (from any writer). */
  readonly targets: Map<string, number>;
  /** First minute with data, if any. */
  readonly firstMinute: Minute | undefined;
}

/** What {@link RedisRollupStore.readMinutes} returns: one operation's stored minutes, each apart. */
export interface RollupMinutes {
  /** The aggregate of each stored minute of the range (minutes without data are absent). */
  readonly minutes: Map<Minute, DurationAggregate>;
  /** The stored target (from any writer), if any. */
  readonly target: number | undefined;
}

/** Operations merged from day hashes, while they are being read. */
export interface DayTotals {
  readonly operations: Map<string, DurationAggregate>;
  readonly targets: Map<string, number>;
  readonly minima: MinimumTracker;
  /** Whether the aggregates count breaches (the operations' do, the users' do not). */
  readonly countsBreaches: boolean;
  firstMinute: Minute | undefined;
}

/** What {@link finishDayTotals} returns. */
export interface DayResult {
  readonly operations: Map<string, DurationAggregate>;
  readonly targets: Map<string, number>;
  readonly firstMinute: Minute | undefined;
}

/** Empty {@link DayTotals}. */
export function emptyDayTotals(countsBreaches: boolean): DayTotals {
  return {
    operations: new Map(),
    targets: new Map(),
    minima: new MinimumTracker(),
    countsBreaches,
    firstMinute: undefined,
  };
}

/** Adds one minute's stat to `into` when the minute is from `from` to `to`. */
function addStat(
  into: DayTotals,
  op: string,
  date: string,
  minute: Minute,
  fieldMinute: string,
  stat: string,
  value: string,
  range: { readonly fromMinute: Minute; readonly toMinute: Minute },
): void {
  if (minute < range.fromMinute || minute > range.toMinute) return;
  if (into.firstMinute === undefined || minute < into.firstMinute) into.firstMinute = minute;
  const agg = aggregateFor(into.operations, op, into.countsBreaches);
  into.minima.saw(agg, `${date}|${fieldMinute}`, stat);
  addField(agg, stat, Number(value));
}

/** Adds the minutes from `from` to `to` of one operation's day hash (as `HGETALL` returned it). */
export function addOperationDay(
  into: DayTotals,
  op: string,
  date: string,
  hash: Record<string, string>,
  fromMinute: Minute,
  toMinute: Minute,
): void {
  const start = dayStart(date);
  const range = { fromMinute, toMinute };
  for (const field in hash) {
    const value = hash[field] as string;
    if (field === 'target') {
      const target = Number(value);
      if (Number.isFinite(target) && target > 0) into.targets.set(op, target);
      continue;
    }
    const stat = field.indexOf('|');
    const ofDay = stat < 0 ? undefined : minuteOfDay(field, 0, stat);
    if (ofDay === undefined) continue;
    addStat(into, op, date, start + ofDay, field.slice(0, stat), field.slice(stat + 1), value, range);
  }
}

/**
 * Adds each minute of a range of one operation's day hash to `minutes`, apart (what a series is
 * drawn from); returns the stored target, if any.
 */
export function addMinutesDay(
  minutes: Map<Minute, DurationAggregate>,
  minima: MinimumTracker,
  date: string,
  hash: Record<string, string>,
  range: { readonly fromMinute: Minute; readonly toMinute: Minute },
): number | undefined {
  const start = dayStart(date);
  let target: number | undefined;
  for (const field in hash) {
    const value = Number(hash[field]);
    if (field === 'target') {
      if (Number.isFinite(value) && value > 0) target = value;
      continue;
    }
    const stat = field.indexOf('|');
    const ofDay = stat < 0 ? undefined : minuteOfDay(field, 0, stat);
    if (ofDay === undefined) continue;
    const minute = start + ofDay;
    if (minute < range.fromMinute || minute > range.toMinute) continue;
    let agg = minutes.get(minute);
    if (!agg) {
      agg = emptyAggregate(true);
      minutes.set(minute, agg);
    }
    minima.saw(agg, `${date}|${field.slice(0, stat)}`, field.slice(stat + 1));
    addField(agg, field.slice(stat + 1), value);
  }
  return target;
}

/** Adds the minutes of a range of one user's day hash, of one operation when the range names one. */
export function addUserDay(
  into: DayTotals,
  date: string,
  hash: Record<string, string>,
  range: { readonly fromMinute: Minute; readonly toMinute: Minute; readonly operation?: string },
): void {
  const start = dayStart(date);
  for (const field in hash) {
    const stat = field.lastIndexOf('|');
    const at = field.lastIndexOf('|', stat - 1);
    if (stat < 0 || at < 0) continue;
    const op = field.slice(0, at);
    if (range.operation !== undefined && op !== range.operation) continue;
    const ofDay = minuteOfDay(field, at + 1, stat);
    if (ofDay === undefined) continue;
    const value = hash[field] as string;
    addStat(into, op, date, start + ofDay, field.slice(0, stat), field.slice(stat + 1), value, range);
  }
}

/** The merged operations, minima settled (unknown where a merged minute had none). */
export function finishDayTotals(totals: DayTotals): DayResult {
  totals.minima.finish();
  return { operations: totals.operations, targets: totals.targets, firstMinute: totals.firstMinute };
}

/**
 * Adds one day of a service's summary (flat fields and values, `HHMM|c|e|b` and `o|{operation}`, the operation's last
 * minute of the day) to its activity: the runs of the minutes from `fromMinute` to `toMinute`, and
 * the operations whose last minute is at or after `fromMinute` (at most `maxOperations`).
 */
export function addSummaryDay(
  into: ServiceActivity,
  fields: readonly string[],
  start: Minute,
  fromMinute: Minute,
  toMinute: Minute,
  maxOperations: number,
): void {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const field = fields[i] as string;
    const n = Number(fields[i + 1]);
    if (!Number.isFinite(n)) continue;
    if (field.startsWith('o|')) {
      // Capped like an operations index: a summary shared by many instances can hold more.
      if (start + n >= fromMinute && into.operations.size < maxOperations) {
        into.operations.add(field.slice(2));
      }
      continue;
    }
    const stat = field.indexOf('|');
    const ofDay = stat < 0 ? undefined : minuteOfDay(field, 0, stat);
    if (ofDay === undefined || start + ofDay < fromMinute || start + ofDay > toMinute) continue;
    const kind = field.slice(stat + 1);
    if (kind === 'c') into.count += n;
    else if (kind === 'e') into.errors += n;
    else if (kind === 'b') into.breaches += n;
  }
}

/** The distinct members of the sets a pipeline read, at most `max` of them. */
export function capped(results: [Error | null, unknown][], max: number): string[] {
  const seen = new Set<string>();
  for (const [error, members] of results) {
    if (error) throw error;
    // Capped: an index shared by many instances can hold more names than one process's cap.
    for (const m of members as string[]) if (seen.size < max) seen.add(m);
  }
  return [...seen];
}

/**
 * `HGETALL` of every key as a flat `[field, value, field, value, ...]` array, `size` to a pipeline
 * and one pipeline after the other (see {@link hgetallInChunks}).
 *
 * Why flat: ioredis turns an `hgetall` reply into an object field by field, an `in` check and a
 * store into a dictionary-mode object each, which cost more than parsing the values of a hash of
 * 1,000 operations; iterating that object again costs as much. Its reply transformers are looked
 * up by the command's name as it is given, so `call('HGETALL', key)` returns the array Redis sent.
 * Were a later ioredis to hand back an object all the same, it is flattened here.
 *
 * @throws the first command's error.
 */
export async function hgetallFlatInChunks(
  client: RedisClient,
  keys: readonly string[],
  size = 16,
): Promise<string[][]> {
  const out: string[][] = [];
  for (let i = 0; i < keys.length; i += size) {
    const pipeline = client.pipeline();
    for (const key of keys.slice(i, i + size)) pipeline.call('HGETALL', key);
    for (const [error, reply] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      out.push(Array.isArray(reply) ? (reply as string[]) : Object.entries(reply as object).flat());
    }
  }
  return out;
}

/**
 * `HGETALL` of every key, `size` to a pipeline and one pipeline after the other: Redis answers a
 * pipeline's commands in turn, so with many large hashes in one the last replies would wait past
 * the command timeout.
 *
 * @throws the first command's error.
 */
export async function hgetallInChunks(
  client: RedisClient,
  keys: readonly string[],
  size = 16,
): Promise<Record<string, string>[]> {
  const out: Record<string, string>[] = [];
  for (let i = 0; i < keys.length; i += size) {
    const pipeline = client.pipeline();
    for (const key of keys.slice(i, i + size)) pipeline.hgetall(key);
    for (const [error, hash] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      out.push(hash as Record<string, string>);
    }
  }
  return out;
}
