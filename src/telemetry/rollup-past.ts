/**
 * What a reader may keep of the rollups between reports, and when a write tells it to let go.
 *
 * A period (a tier hash, a day of summaries) that ended a while ago changes only through a late
 * write: a minute written long after it ended (a retry after Redis was away, a writer whose clock
 * is behind). Such a write bumps `rollup_past_version` in the same script as its data (see
 * rollup-fields.ts), and a reader keeps what it read of those periods only while that version
 * stays the same. A write that does not bump was made at most 15 minutes after its minute (by its
 * writer's clock), and a reader keeps only hours and minutes that ended over 45 minutes ago (by its
 * own): safe while clock skew plus the time a write is in flight stays under 30 minutes, as for
 * whole days (a write does not bump when its day ends over 15 minutes later by its writer's clock;
 * a reader reuses days that ended over 15 minutes ago by its own).
 *
 * During a rolling upgrade, instances of a version before this rule do not bump the past version
 * for a late minute within the current day: a reader of this version may miss such a minute in
 * an hour or minute it kept, until the next late write or the day's end.
 */
import { MINUTE_MS, type Minute } from './minutes.ts';
import type { TierTotals } from './rollup-tiers.ts';

const DAY = 1440;

/** The entry of `key` in `map`, moved last (the most recently used) when there is one. */
function recentlyUsed<T>(map: Map<string, T>, key: string): T | undefined {
  const hit = map.get(key);
  if (hit !== undefined) {
    map.delete(key);
    map.set(key, hit);
  }
  return hit;
}

/** Merges of whole past days kept for reuse: at most this many (windows and services differ). */
const PAST_DAYS_KEPT = 4;

/**
 * Merges of whole past days (of the tier hashes, or of the services' summaries), by service, range
 * of days and past version: a long window reads only its recent part again. At most
 * {@link PAST_DAYS_KEPT}.
 */
export class PastDays<T> {
  readonly #kept = new Map<string, T>();

  /** The merge kept under `key`, if any (then the most recently used). */
  get(key: string): T | undefined {
    return recentlyUsed(this.#kept, key);
  }

  /** Keeps a merge, forgetting the least recently used past the bound. */
  set(key: string, totals: T): void {
    this.#kept.delete(key);
    this.#kept.set(key, totals);
    for (const old of this.#kept.keys()) {
      if (this.#kept.size <= PAST_DAYS_KEPT) break;
      this.#kept.delete(old);
    }
  }
}

/**
 * Minutes after its end before a day's merge is reused, and before which a write into the day
 * counts as late: instances whose clocks are up to this far apart never reuse a merge that misses
 * a write.
 */
const PAST_DAY_MARGIN_MINUTES = 15;

/** Whether the day starting at `start` is wholly in `from`..`to` and ended a while ago. */
export function isPastDay(start: Minute, from: Minute, to: Minute): boolean {
  const end = start + DAY - 1;
  return start >= from && end <= to && end < Math.floor(Date.now() / MINUTE_MS) - PAST_DAY_MARGIN_MINUTES;
}

/** Whether a write of `minute` may reach a day that a reader already treats as past. */
function touchesPastDay(minute: Minute): boolean {
  const dayEnd = minute - (minute % DAY) + DAY - 1;
  return dayEnd < Math.floor(Date.now() / MINUTE_MS) + PAST_DAY_MARGIN_MINUTES;
}

/** Minutes after which a write of a minute is late, and bumps the past version whatever its day. */
const LATE_WRITE_MINUTES = 15;

/** Minutes after its end before a reader keeps a parsed hour or minute hash (see the module comment). */
const PAST_PERIOD_MARGIN_MINUTES = LATE_WRITE_MINUTES + 30;

/** Whether a hash whose last minute is `end` ended long enough ago to be kept (see the module comment). */
export function isPastPeriod(end: Minute): boolean {
  return end < Math.floor(Date.now() / MINUTE_MS) - PAST_PERIOD_MARGIN_MINUTES;
}

/**
 * Whether a write of `minute` must bump the past version: it may reach a day that a reader already
 * treats as past (see {@link isPastDay}), or it is late for any hour or minute hash a reader keeps.
 */
export function touchesPast(minute: Minute): boolean {
  return touchesPastDay(minute) || minute < Math.floor(Date.now() / MINUTE_MS) - LATE_WRITE_MINUTES;
}

/**
 * Most operation aggregates one store keeps of past periods (540 to 1,030 bytes each with 2 to 14
 * buckets, measured: some 13 to 25 MiB). A window of 1,000 operations that all run every minute
 * reads about 83,000 for 24 hours, so a window that long over that many keeps its newest periods
 * and reads the oldest again.
 */
export const PAST_PERIODS_MAX_AGGREGATES = 25_000;

/** Most operation aggregates one store keeps of recent periods (some 6 to 12 MiB). */
export const RECENT_PERIODS_MAX_AGGREGATES = 12_000;

/** Most hashes one {@link KeptPeriods} keeps, empty ones included (each counts as one aggregate). */
const KEPT_PERIODS_MAX_ENTRIES = 4096;

/**
 * Parsed tier hashes by Redis key, kept as long as the version they were read under stays the
 * same: for hours and minutes that ended a while ago the past version (they change only through
 * late writes), for the rest the store's version (any write). Reports whose windows overlap (a
 * dashboard's window that slides by a minute, the same day asked for 24 or 48 hours, the same
 * window asked again) parse each hash once. Bounded by the operation aggregates held, the least
 * recently used let go first.
 */
export class KeptPeriods {
  readonly #kept = new Map<string, TierTotals>();
  readonly #max: number;
  #version: string | null = null;
  #aggregates = 0;

  /** @param maxAggregates - most operation aggregates held. */
  constructor(maxAggregates: number) {
    this.#max = maxAggregates;
  }

  /**
   * Forgets every kept hash when the version moved. Call with a version read before the hashes
   * are: a hash read later may hold more writes than its version says, never fewer.
   */
  sync(version: string | null): void {
    if (version === this.#version) return;
    this.#kept.clear();
    this.#aggregates = 0;
    this.#version = version;
  }

  /** The parsed hash kept under `key`, if any (then the most recently used). */
  get(key: string): TierTotals | undefined {
    return recentlyUsed(this.#kept, key);
  }

  /**
   * Keeps a parsed hash read under `version` (the one given to the last {@link sync}, else it is
   * not kept: a read that overlapped a newer one must not leave older data under the newer
   * version). One larger than the whole bound is not kept.
   */
  set(key: string, totals: TierTotals, version: string | null): void {
    if (version !== this.#version) return;
    // An empty hash counts as one: the entries are bounded too.
    const size = Math.max(1, totals.operations.size);
    if (size > this.#max) return;
    const known = this.#kept.get(key);
    if (known) {
      this.#aggregates -= Math.max(1, known.operations.size);
      this.#kept.delete(key);
    }
    this.#kept.set(key, totals);
    this.#aggregates += size;
    for (const [old, kept] of this.#kept) {
      if (this.#aggregates <= this.#max && this.#kept.size <= KEPT_PERIODS_MAX_ENTRIES) break;
      this.#kept.delete(old);
      this.#aggregates -= Math.max(1, kept.operations.size);
    }
  }

  /** Operation aggregates held. */
  get aggregates(): number {
    return this.#aggregates;
  }
}
