/**
 * Multi-resolution rollups: every operation's minute is also added to three hashes shared by all the
 * operations of a service, one per minute, per hour and per UTC day:
 *
 * - `metrics_by_minute:{YYYY-MM-DD}T{HHMM}`, `metrics_by_hour:{YYYY-MM-DD}T{HH}`,
 *   `metrics_by_day:{YYYY-MM-DD}` (under `svc:{length}:{service}:` for a service other than the own);
 * - one field per operation, its aggregate packed in one value (see {@link packTier}), merged in Lua:
 *   a report reads one value per operation and period, not one per statistic and bucket (reading
 *   is what costs: Redis' replies are parsed field by field).
 *
 * A report's window is then read as a bounded number of hashes whatever its length: the minutes up
 * to the first whole hour, the hours up to the first whole day, whole days, then hours and minutes
 * again up to the end. A window that ends now takes the current hour or day whole (nothing is stored
 * after now), so a window of whole hours ending now reads at most 59 minute hashes, 23 hour hashes
 * and one hash per day: 113 for 30 days instead of one hash per operation and day.
 *
 * `rollup_tiers_since` holds the first minute written this way: older minutes are read from the
 * per-operation day hashes, which are still written (they hold what series and filters read).
 */

import type { RedisClient } from '../shared/redis.ts';
import { aggregateFor, type DurationAggregate, emptyAggregate, mergeAggregate } from './aggregate.ts';
import { MINUTE_MS, type Minute } from './minutes.ts';
import { hgetallFlatInChunks } from './rollup-days.ts';
import { isPastDay, isPastPeriod, type KeptPeriods, type PastDays } from './rollup-past.ts';

const HOUR = 60;
const DAY = 1440;

/** The resolution of a tier hash: a minute, an hour or a UTC day. */
export type TierLevel = 'minute' | 'hour' | 'day';

/** One hash to read: its resolution and its first and last minute. */
export interface TierPeriod {
  readonly level: TierLevel;
  readonly start: Minute;
  readonly end: Minute;
}

const LENGTH: Record<TierLevel, number> = { minute: 1, hour: HOUR, day: DAY };

/** The key name part of the hash of `level` holding `minute` (`metrics_by_hour:2026-11-27T10`). */
export function tierKeyName(level: TierLevel, minute: Minute): string {
  const iso = new Date(minute * MINUTE_MS).toISOString();
  const date = iso.slice(0, 10);
  if (level === 'day') return `metrics_by_day:${date}`;
  if (level === 'hour') return `metrics_by_hour:${date}T${iso.slice(11, 13)}`;
  return `metrics_by_minute:${date}T${iso.slice(11, 13)}${iso.slice(14, 16)}`;
}

/**
 * The hashes that hold exactly the minutes `from` to `to`, coarsest first where they fit. With
 * `open` (nothing is stored after `to`, as when `to` is the current minute), the last one may
 * reach past `to`.
 */
export function planTiers(from: Minute, to: Minute, open: boolean): TierPeriod[] {
  const out: TierPeriod[] = [];
  let at = from;
  while (at <= to) {
    let level: TierLevel = 'minute';
    for (const candidate of ['day', 'hour'] as const) {
      const length = LENGTH[candidate];
      if (at % length === 0 && (at + length - 1 <= to || open)) {
        level = candidate;
        break;
      }
    }
    const end = at + LENGTH[level] - 1;
    out.push({ level, start: at, end });
    at = end + 1;
  }
  return out;
}

/**
 * One minute of an operation as a tier hash stores it: `c,e,b,f,s,m,n,u,a,t;bound=count,...`
 * (count, errors, breaches, over 4x target, sum, max, min, runs without a known minimum, first
 * minute, target; an unknown value is empty; `+Inf` is the overflow bucket's bound). The write
 * script merges it into what is stored (MERGE_TIER in rollup-fields.ts).
 */
export function packTier(agg: DurationAggregate, target: number | undefined, minute: Minute): string {
  const known = agg.min !== undefined && agg.count > 0;
  const head = [
    agg.count,
    agg.errors,
    agg.breaches ?? 0,
    agg.frustrated ?? 0,
    agg.sum,
    agg.max,
    known ? agg.min : '',
    known ? 0 : agg.count,
    minute,
    target ?? '',
  ].join(',');
  let buckets = '';
  for (const [bound, n] of agg.buckets) {
    buckets += `${buckets === '' ? '' : ','}${Number.isFinite(bound) ? bound : '+Inf'}=${n}`;
  }
  return `${head};${buckets}`;
}

/** What {@link addTierHash} gathers from the tier hashes of a window. */
export interface TierTotals {
  readonly operations: Map<string, DurationAggregate>;
  readonly targets: Map<string, number>;
  /** The last minute of the period each target was read from: a later period's target wins. */
  readonly targetAt: Map<string, Minute>;
  /** First minute with data, if any. */
  firstMinute: Minute | undefined;
  /** Operations whose minimum is not known (a period without one): their `min` is cleared at the end. */
  readonly unknownMin: Set<string>;
}

/** Empty {@link TierTotals}. */
export function emptyTierTotals(): TierTotals {
  return {
    operations: new Map(),
    targets: new Map(),
    targetAt: new Map(),
    firstMinute: undefined,
    unknownMin: new Set(),
  };
}

/** Keeps `target` for `op` unless a target from a later period is already kept. */
function setTarget(into: TierTotals, op: string, target: number, at: Minute): void {
  if ((into.targetAt.get(op) ?? Number.NEGATIVE_INFINITY) > at) return;
  into.targets.set(op, target);
  into.targetAt.set(op, at);
}

/** A packed number in `text` from `from` to `to`: NaN when empty or not a finite number. */
function packedNumber(text: string, from: number, to: number): number {
  if (to <= from) return Number.NaN;
  const n = Number(text.slice(from, to));
  return Number.isFinite(n) ? n : Number.NaN;
}

/** The ten numbers of the value being parsed (NaN: empty or not a number); one array, reused. */
const head = new Float64Array(10);

/** Parses `text` up to `end` into {@link head}; false unless it holds exactly ten fields. */
function parseHead(text: string, end: number): boolean {
  let field = 0;
  let from = 0;
  for (let i = 0; i <= end; i++) {
    if (i < end && text.charCodeAt(i) !== COMMA) continue;
    if (field === 10) return false;
    head[field++] = packedNumber(text, from, i);
    from = i + 1;
  }
  return field === 10;
}

const COMMA = 44;

/** The number `head[i]`, 0 when it is NaN. */
function orZero(i: number): number {
  const n = head[i] as number;
  return Number.isNaN(n) ? 0 : n;
}

/**
 * Adds one tier hash (`period`'s, as a flat `HGETALL` reply: field, value, field, value...) to
 * `into`, keeping at most `maxOperations` operations (a hash shared by many instances can hold more
 * names than one process's cap). A value that is not a packed aggregate is skipped.
 *
 * The values are scanned in place, not split: at 1,000 operations a report parses thousands of
 * them, and the arrays `split` allocates were most of the parsing's cost.
 */
export function addTierHash(
  into: TierTotals,
  period: TierPeriod,
  fields: readonly string[],
  maxOperations: number,
): void {
  for (let f = 0; f + 1 < fields.length; f += 2) {
    const op = fields[f] as string;
    const text = fields[f + 1] as string;
    const cut = text.indexOf(';');
    if (!parseHead(text, cut < 0 ? text.length : cut)) continue;
    const count = head[0] as number;
    if (!(count > 0)) continue;
    let agg = into.operations.get(op);
    if (!agg) {
      if (into.operations.size >= maxOperations) continue;
      agg = aggregateFor(into.operations, op, true);
    }
    const min = head[6] as number;
    if (Number.isNaN(min) || (head[7] as number) > 0) into.unknownMin.add(op);
    else agg.min = agg.min === undefined ? min : Math.min(agg.min, min);
    agg.count += count;
    agg.errors += orZero(1);
    agg.breaches = (agg.breaches ?? 0) + orZero(2);
    agg.frustrated = (agg.frustrated ?? 0) + orZero(3);
    agg.sum += orZero(4);
    agg.max = Math.max(agg.max, orZero(5));
    const target = head[9] as number;
    if (target > 0) setTarget(into, op, target, period.end);
    const stamped = head[8] as number;
    const first = Math.max(period.start, Number.isNaN(stamped) ? period.start : stamped);
    if (into.firstMinute === undefined || first < into.firstMinute) into.firstMinute = first;
    if (cut >= 0) addBuckets(agg, text, cut + 1);
  }
}

/** Adds the packed buckets of `text` from `from` (`bound=count,...`, `+Inf` the overflow) to `agg`. */
function addBuckets(agg: DurationAggregate, text: string, from: number): void {
  const end = text.length;
  let pair = from;
  for (let i = from; i <= end; i++) {
    if (i < end && text.charCodeAt(i) !== COMMA) continue;
    const eq = text.indexOf('=', pair);
    if (eq > pair && eq < i) {
      const bound = text.startsWith('+Inf', pair) ? Number.POSITIVE_INFINITY : Number(text.slice(pair, eq));
      const n = packedNumber(text, eq + 1, i);
      if (!Number.isNaN(bound) && !Number.isNaN(n)) agg.buckets.set(bound, (agg.buckets.get(bound) ?? 0) + n);
    }
    pair = i + 1;
  }
}

/** Clears the minimum of the operations that had a period without one; returns the totals. */
export function finishTierTotals(totals: TierTotals): TierTotals {
  for (const op of totals.unknownMin) {
    const agg = totals.operations.get(op);
    if (agg) agg.min = undefined;
  }
  return totals;
}

/** Adds `from` (left as it is) into `into`, keeping at most `maxOperations` operations. */
export function addTierTotals(into: TierTotals, from: TierTotals, maxOperations: number): void {
  for (const [op, agg] of from.operations) {
    let target = into.operations.get(op);
    if (!target) {
      if (into.operations.size >= maxOperations) continue;
      target = emptyAggregate(true);
      into.operations.set(op, target);
    }
    mergeAggregate(target, agg);
    if (from.unknownMin.has(op)) into.unknownMin.add(op);
  }
  for (const [op, value] of from.targets) {
    // Not for an operation the cap left out.
    if (into.operations.has(op)) setTarget(into, op, value, from.targetAt.get(op) ?? 0);
  }
  if (
    from.firstMinute !== undefined &&
    (into.firstMinute === undefined || from.firstMinute < into.firstMinute)
  ) {
    into.firstMinute = from.firstMinute;
  }
}

/** What {@link readTiers} reads. */
export interface TierRead {
  readonly client: RedisClient;
  readonly from: Minute;
  readonly to: Minute;
  /** The key of the hash of `level` starting at `start`. */
  readonly keyOf: (level: TierLevel, start: Minute) => string;
  /** The key counting every write (the store's version). */
  readonly versionKey: string;
  /** The key counting late writes. */
  readonly pastVersionKey: string;
  /** What tells the reused merges of this read apart from other services'. */
  readonly pastKey: string;
  readonly pastDays: PastDays<TierTotals>;
  /** Parsed hour and minute hashes that ended a while ago. */
  readonly pastPeriods: KeptPeriods;
  /** Parsed hashes of periods still open or just ended. */
  readonly recentPeriods: KeptPeriods;
  readonly maxOperations: number;
}

/** Operations merged from the tier hashes of a window. */
export interface TierResult {
  readonly operations: Map<string, DurationAggregate>;
  readonly targets: Map<string, number>;
  readonly firstMinute: Minute | undefined;
}

/**
 * The minutes `from` to `to` of every operation, from the tier hashes: one pipeline of at most
 * about 113 `HGETALL`s for 30 days, fewer when some were read before.
 *
 * Reuse, after one `MGET` of the store's two versions (see rollup-past.ts): the merge of the
 * window's whole past days while the past version and the range of days stay the same; every
 * hour and minute hash that ended a while ago, parsed once, while the past version stays the same;
 * the rest (the open day or hour, the last half hour's minutes) while no instance writes.
 *
 * @throws when Redis cannot be read.
 */
export async function readTiers(read: TierRead): Promise<TierResult> {
  const { client, maxOperations } = read;
  const now = Math.floor(Date.now() / MINUTE_MS);
  const periods = planTiers(read.from, read.to, read.to >= now);
  const past = periods.filter((p) => p.level === 'day' && isPastDay(p.start, read.from, read.to));
  const old = new Set(periods.filter((p) => p.level !== 'day' && isPastPeriod(p.end)));
  // Read before the hashes: a kept hash may then hold more writes than its version, never fewer.
  const [version, pastVersion] = await client.mget(read.versionKey, read.pastVersionKey);
  read.pastPeriods.sync(pastVersion ?? null);
  read.recentPeriods.sync(version ?? null);
  const keptFor = (p: TierPeriod) => (old.has(p) ? read.pastPeriods : read.recentPeriods);
  const pastKey = `${read.pastKey}|${past[0]?.start}|${past.at(-1)?.start}|${pastVersion ?? 0}`;
  const reused = past.length > 0 ? read.pastDays.get(pastKey) : undefined;
  const parsed = new Map<TierPeriod, TierTotals>();
  for (const period of periods) {
    if (past.includes(period)) continue;
    const hit = keptFor(period).get(read.keyOf(period.level, period.start));
    if (hit) parsed.set(period, hit);
  }
  const fresh = periods.filter((p) => !(reused && past.includes(p)) && !parsed.has(p));
  const hashes = await hgetallFlatInChunks(
    client,
    fresh.map((period) => read.keyOf(period.level, period.start)),
  );
  let days = reused;
  if (past.length > 0 && !days) {
    days = emptyTierTotals();
    for (const [i, period] of fresh.entries()) {
      if (past.includes(period)) addTierHash(days, period, hashes[i] ?? [], maxOperations);
    }
    read.pastDays.set(pastKey, days);
  }
  for (const [i, period] of fresh.entries()) {
    if (past.includes(period)) continue;
    const one = emptyTierTotals();
    addTierHash(one, period, hashes[i] ?? [], maxOperations);
    keptFor(period).set(
      read.keyOf(period.level, period.start),
      one,
      (old.has(period) ? pastVersion : version) ?? null,
    );
    parsed.set(period, one);
  }
  const totals = emptyTierTotals();
  if (days) addTierTotals(totals, days, maxOperations);
  // In the plan's order, whatever was kept: which operations the cap keeps must not depend on it.
  for (const period of periods) {
    const one = parsed.get(period);
    if (one) addTierTotals(totals, one, maxOperations);
  }
  const { operations, targets, firstMinute } = finishTierTotals(totals);
  return { operations, targets, firstMinute };
}
