/**
 * Multi-resolution rollups: every operation's minute is also added to three hashes shared by all the
 * operations of a service, one per minute, per hour and per UTC day:
 *
 * - `metrics_by_minute:{YYYY-MM-DD}T{HHMM}`, `metrics_by_hour:{YYYY-MM-DD}T{HH}`,
 *   `metrics_by_day:{YYYY-MM-DD}` (under `svc:{length}:{service}:` for a service other than the own);
 * - fields `{operation}|{stat}`, the stats of the per-operation hashes (`c`, `e`, `b`, `f`, `s`, `m`,
 *   `n`, `le=<bound>`), plus `t` (target, seconds), `u` (runs whose minimum is not known) and, in
 *   the hour and day hashes, `a` (the first minute stored, minutes since the epoch).
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
import { aggregateFor, type DurationAggregate } from './aggregate.ts';
import { MINUTE_MS, type Minute } from './minutes.ts';
import { addField } from './rollup-fields.ts';

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

/** What {@link addTierHash} gathers from the tier hashes of a window. */
export interface TierTotals {
  readonly operations: Map<string, DurationAggregate>;
  readonly targets: Map<string, number>;
  /** First minute with data, if any. */
  firstMinute: Minute | undefined;
  /** Operations whose minimum is not known (a period without one): their `min` is cleared at the end. */
  readonly unknownMin: Set<string>;
}

/** Empty {@link TierTotals}. */
export function emptyTierTotals(): TierTotals {
  return { operations: new Map(), targets: new Map(), firstMinute: undefined, unknownMin: new Set() };
}

/**
 * Adds one tier hash (`period`'s, as `HGETALL` returned it) to `into`, keeping at most
 * `maxOperations` operations (a hash shared by many instances can hold more names than one
 * process's cap).
 */
export function addTierHash(
  into: TierTotals,
  period: TierPeriod,
  hash: Record<string, string>,
  maxOperations: number,
): void {
  // Fields come in any order: the per-operation facts of this hash are gathered before judging.
  const seen = new Map<
    string,
    { hasMin: boolean; count: number; unknown: number; first: number | undefined }
  >();
  for (const field in hash) {
    const cut = field.lastIndexOf('|');
    if (cut <= 0) continue;
    const op = field.slice(0, cut);
    const stat = field.slice(cut + 1);
    let agg = into.operations.get(op);
    if (!agg) {
      if (into.operations.size >= maxOperations) continue;
      agg = aggregateFor(into.operations, op, true);
    }
    const value = Number(hash[field]);
    let facts = seen.get(op);
    if (!facts) {
      facts = { hasMin: false, count: 0, unknown: 0, first: undefined };
      seen.set(op, facts);
    }
    if (stat === 't') {
      if (Number.isFinite(value) && value > 0) into.targets.set(op, value);
    } else if (stat === 'a') {
      if (Number.isFinite(value)) facts.first = value;
    } else if (stat === 'u') {
      if (Number.isFinite(value)) facts.unknown += value;
    } else {
      if (stat === 'n') facts.hasMin = true;
      else if (stat === 'c' && Number.isFinite(value)) facts.count += value;
      addField(agg, stat, value);
    }
  }
  for (const [op, facts] of seen) {
    if (facts.count <= 0) continue;
    if (!facts.hasMin || facts.unknown > 0) into.unknownMin.add(op);
    const first = Math.max(period.start, facts.first ?? period.start);
    if (into.firstMinute === undefined || first < into.firstMinute) into.firstMinute = first;
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
