/**
 * The budget book: per operation, its runs, runs over target and runs failed within target, in
 * three rings of buckets: minutes (the last 6 h and a little), hours (the last 3 d and a little)
 * and days (the longest period and a little). Windows up to 6 h are summed from minutes, up to 3 d
 * from hours, periods from days, so an evaluation reads a few hundred numbers per operation,
 * whatever the traffic.
 *
 * Buckets are filled either by adding (memory-only mode: each collected minute goes to its minute,
 * hour and day) or by setting (with Redis: the counts every instance wrote, read back per level),
 * and a bucket holds the id of the minute, hour or day it counts, so a stale slot reads as empty.
 * Memory is bounded: at most `maxOperations` operations, each about 17 KiB (542 buckets of three
 * counts and an id); an operation without a run in the kept days is forgotten.
 */
import { MAX_PERIOD_DAYS } from './objectives.ts';

/** Minute buckets kept: 6 h and 15 minutes (late writes are re-read for the last few minutes). */
export const MINUTE_SLOTS = 375;
/** Hour buckets kept: 3 d and 3 h. */
export const HOUR_SLOTS = 75;
/** Day buckets kept: the longest period and two days. */
export const DAY_SLOTS = MAX_PERIOD_DAYS + 2;

/** A bucket level. */
export type Level = 'minute' | 'hour' | 'day';

/** Minutes per bucket of each level. */
export const LEVEL_MINUTES: Readonly<Record<Level, number>> = { minute: 1, hour: 60, day: 1440 };

/** Counts of runs: all, over their target, failed within their target. */
export interface RunCounts {
  runs: number;
  over: number;
  failed: number;
}

class Ring {
  readonly #ids: Float64Array;
  /** runs, over, failed per slot. */
  readonly #counts: Float64Array;

  readonly size: number;

  constructor(size: number) {
    this.size = size;
    this.#ids = new Float64Array(size).fill(-1);
    this.#counts = new Float64Array(size * 3);
  }

  write(id: number, runs: number, over: number, failed: number, add: boolean): void {
    const slot = id % this.size;
    const at = slot * 3;
    if (this.#ids[slot] !== id || !add) {
      this.#ids[slot] = id;
      this.#counts[at] = 0;
      this.#counts[at + 1] = 0;
      this.#counts[at + 2] = 0;
    }
    this.#counts[at] = (this.#counts[at] as number) + runs;
    this.#counts[at + 1] = (this.#counts[at + 1] as number) + over;
    this.#counts[at + 2] = (this.#counts[at + 2] as number) + failed;
  }

  /** Adds the buckets `from` to `to` (ids, inclusive) into `into`. */
  sum(from: number, to: number, into: RunCounts): void {
    for (let id = Math.max(from, to - this.size + 1); id <= to; id++) {
      const slot = id % this.size;
      if (this.#ids[slot] !== id) continue;
      into.runs += this.#counts[slot * 3] as number;
      into.over += this.#counts[slot * 3 + 1] as number;
      into.failed += this.#counts[slot * 3 + 2] as number;
    }
  }

  /** The smallest id from `since` on held with runs, or `undefined`. */
  firstId(since: number): number | undefined {
    let first: number | undefined;
    for (let slot = 0; slot < this.size; slot++) {
      const id = this.#ids[slot] as number;
      if (id >= since && (this.#counts[slot * 3] as number) > 0 && (first === undefined || id < first)) {
        first = id;
      }
    }
    return first;
  }
}

/** One operation's buckets. */
export class OperationBook {
  readonly #levels: Record<Level, Ring> = {
    minute: new Ring(MINUTE_SLOTS),
    hour: new Ring(HOUR_SLOTS),
    day: new Ring(DAY_SLOTS),
  };

  /**
   * @param service the service (`undefined`: the own one).
   * @param operation the operation name.
   */
  constructor(service: string | undefined, operation: string) {
    this.service = service;
    this.operation = operation;
  }

  /** The service (`undefined`: the own one). */
  readonly service: string | undefined;
  /** The operation name. */
  readonly operation: string;

  /** Adds a minute's counts to its minute, hour and day. */
  addMinute(minute: number, counts: RunCounts): void {
    for (const level of ['minute', 'hour', 'day'] as const) {
      const id = Math.floor(minute / LEVEL_MINUTES[level]);
      this.#levels[level].write(id, counts.runs, counts.over, counts.failed, true);
    }
  }

  /** Sets one bucket (`id` counted in buckets of `level` since the epoch) to `counts`. */
  set(level: Level, id: number, counts: RunCounts): void {
    this.#levels[level].write(id, counts.runs, counts.over, counts.failed, false);
  }

  /** The counts of the buckets of `level` from `from` to `to` (ids, inclusive). */
  sum(level: Level, from: number, to: number): RunCounts {
    const out = { runs: 0, over: 0, failed: 0 };
    this.#levels[level].sum(from, to, out);
    return out;
  }

  /**
   * The first minute up to `last` the book has runs for, as exact as its levels allow (a day bucket
   * only says "that day", an hour bucket "that hour"); `undefined` when none.
   */
  firstMinute(last: number): number | undefined {
    const day = this.#levels.day.firstId(Math.floor(last / 1440) - DAY_SLOTS + 1);
    const hour = this.#levels.hour.firstId(Math.floor(last / 60) - HOUR_SLOTS + 1);
    const minute = this.#levels.minute.firstId(last - MINUTE_SLOTS + 1);
    let first = day === undefined ? undefined : day * 1440;
    if (hour !== undefined && (first === undefined || Math.floor(hour / 24) * 1440 === first))
      first = hour * 60;
    if (minute !== undefined && (first === undefined || Math.floor(minute / 60) * 60 === first))
      first = minute;
    return first;
  }
}

/** All operations' buckets, bounded (see the module comment). */
export class BudgetBook {
  readonly #operations = new Map<string, OperationBook>();
  #refused = 0;

  /** Most operations kept; later ones are not counted. */
  readonly maxOperations: number;

  /** @param maxOperations most operations kept; later ones are not counted. */
  constructor(maxOperations: number) {
    this.maxOperations = maxOperations;
  }

  /** Operations refused because the book was full, since start. */
  get refused(): number {
    return this.#refused;
  }

  /** The operations, by budget field name. */
  get operations(): ReadonlyMap<string, OperationBook> {
    return this.#operations;
  }

  /**
   * Forgets the operations without a run in the days the book keeps, up to minute `last`: their
   * places go to new operations.
   */
  prune(last: number): void {
    for (const [field, book] of this.#operations) {
      if (book.firstMinute(last) === undefined) this.#operations.delete(field);
    }
  }

  /** The book of an operation (made on first use), or `undefined` when the book is full. */
  entry(field: string, service: string | undefined, operation: string): OperationBook | undefined {
    let book = this.#operations.get(field);
    if (book) return book;
    if (this.#operations.size >= this.maxOperations) {
      this.#refused++;
      return undefined;
    }
    book = new OperationBook(service, operation);
    this.#operations.set(field, book);
    return book;
  }
}
