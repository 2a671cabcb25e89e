/**
 * Minutes of folded metric data and the bounded list that holds them: what the in-process windows
 * keep for reports and what the rollup exporter keeps until Redis has it.
 *
 * Both lists are bounded by the same rule: at most `maxPoints` (minute, series) entries; a new series
 * past the cap is folded into `_other` (so the current minute cannot grow without bound either),
 * and the oldest minutes are dropped first when the cap is exceeded.
 */
import { type DurationAggregate, emptyAggregate, mergeAggregate } from './aggregate.ts';
import { OTHER_OPERATION } from './semconv.ts';

/** One minute: epoch milliseconds / 60000, floored. */
export type Minute = number;

/** Milliseconds per minute. */
export const MINUTE_MS = 60_000;

/** What happened in a set of minutes, merged. */
export interface WindowTotals {
  /** Per operation name. */
  readonly operations: Map<string, DurationAggregate>;
  /** Per user id, then operation name. */
  readonly users: Map<string, Map<string, DurationAggregate>>;
  /** Per `METHOD route`. */
  readonly http: Map<string, DurationAggregate>;
  /** Alerts raised per type (before deduplication). */
  readonly alerts: Map<string, number>;
}

/** One minute's operation data, as the rollup exporter queues it and a rollup writer writes it. */
export interface PendingMinute {
  readonly minute: Minute;
  readonly operations: Map<string, DurationAggregate>;
  readonly users: Map<string, Map<string, DurationAggregate>>;
}

/** A minute of a {@link MinuteSlots} list: its data and how many (series) entries it holds. */
export interface MinuteSlot extends WindowTotals {
  readonly minute: Minute;
  points: number;
}

/** New, empty totals. */
export function emptyTotals(): WindowTotals {
  return { operations: new Map(), users: new Map(), http: new Map(), alerts: new Map() };
}

/** Adds `from` into `into`, without any cap (for merged copies handed to a report). */
export function addTotals(into: WindowTotals, from: Partial<WindowTotals>): void {
  if (from.operations) mergeMaps(into.operations, from.operations, true);
  if (from.http) mergeMaps(into.http, from.http, false);
  for (const [user, ops] of from.users ?? []) {
    let target = into.users.get(user);
    if (!target) {
      target = new Map();
      into.users.set(user, target);
    }
    mergeMaps(target, ops, false);
  }
  for (const [type, n] of from.alerts ?? []) into.alerts.set(type, (into.alerts.get(type) ?? 0) + n);
}

function mergeMaps(
  into: Map<string, DurationAggregate>,
  from: ReadonlyMap<string, DurationAggregate>,
  countsBreaches: boolean,
): void {
  for (const [key, agg] of from) {
    let target = into.get(key);
    if (!target) {
      target = emptyAggregate(countsBreaches && agg.breaches !== undefined);
      into.set(key, target);
    }
    mergeAggregate(target, agg);
  }
}

function newSlot(minute: Minute): MinuteSlot {
  return { minute, ...emptyTotals(), points: 0 };
}

function countPoints(slot: WindowTotals): number {
  let n = slot.operations.size + slot.http.size;
  for (const ops of slot.users.values()) n += ops.size;
  return n;
}

/**
 * Minutes, oldest first, holding at most `maxPoints` (minute, series) entries: see the module
 * comment. Not a cache of anything: the owner decides what to add, prune and take out.
 */
export class MinuteSlots {
  readonly #maxPoints: number;
  #slots: MinuteSlot[] = [];
  #points = 0;

  /** @param maxPoints most (minute, series) entries held. */
  constructor(maxPoints: number) {
    this.#maxPoints = maxPoints;
  }

  /** The minutes held, oldest first. */
  get slots(): readonly MinuteSlot[] {
    return this.#slots;
  }

  /** (minute, series) entries held. */
  get points(): number {
    return this.#points;
  }

  /**
   * Adds one collection's data to the slot of `minute` (created, in order, when missing). Series
   * that would take the list past its cap go to `_other`.
   *
   * @returns how many series were folded into `_other` because of the cap.
   */
  add(minute: Minute, from: Partial<WindowTotals>): number {
    if (isEmpty(from)) return 0;
    const slot = this.#slotFor(minute);
    let folded = 0;
    const entry = (map: Map<string, DurationAggregate>, key: string, countsBreaches: boolean) => {
      let agg = map.get(key);
      if (agg) return agg;
      if (this.#points >= this.#maxPoints) {
        folded++;
        agg = map.get(OTHER_OPERATION);
        if (agg) return agg;
        key = OTHER_OPERATION;
      }
      agg = emptyAggregate(countsBreaches);
      map.set(key, agg);
      slot.points++;
      this.#points++;
      return agg;
    };
    for (const [op, agg] of from.operations ?? []) mergeAggregate(entry(slot.operations, op, true), agg);
    for (const [user, ops] of from.users ?? []) {
      // Past the cap, new users of the minute fold into `_other` as a whole.
      const key = slot.users.has(user) || this.#points < this.#maxPoints ? user : OTHER_OPERATION;
      let into = slot.users.get(key);
      if (!into) {
        into = new Map();
        slot.users.set(key, into);
      }
      for (const [op, agg] of ops) mergeAggregate(entry(into, op, false), agg);
    }
    for (const [key, agg] of from.http ?? []) mergeAggregate(entry(slot.http, key, false), agg);
    for (const [type, n] of from.alerts ?? []) slot.alerts.set(type, (slot.alerts.get(type) ?? 0) + n);
    return folded;
  }

  /** Forgets the minutes up to and including `oldest`, always keeping the newest one. */
  forgetThrough(oldest: Minute): void {
    while (this.#slots.length > 1 && (this.#slots[0] as MinuteSlot).minute <= oldest) {
      this.#points -= (this.#slots.shift() as MinuteSlot).points;
    }
  }

  /**
   * Drops the oldest minutes while more than `maxPoints` entries are held, always keeping the
   * newest one.
   *
   * @returns the entries dropped.
   */
  dropOverCap(): number {
    let dropped = 0;
    while (this.#slots.length > 1 && this.#points > this.#maxPoints) {
      const slot = this.#slots.shift() as MinuteSlot;
      this.#points -= slot.points;
      dropped += slot.points;
    }
    return dropped;
  }

  /** Takes every minute out of the list (for writing), leaving it empty. */
  takeAll(): MinuteSlot[] {
    const taken = this.#slots;
    this.#slots = [];
    this.#points = 0;
    return taken;
  }

  /**
   * Puts minutes back in front of what the list holds now, merging a minute held on both sides.
   * The cap is not applied here: call {@link dropOverCap} after.
   */
  putBack(older: readonly PendingMinute[]): void {
    const byMinute = new Map<Minute, MinuteSlot>();
    const merged = [...older.map(toSlot), ...this.#slots];
    for (const slot of merged) {
      const known = byMinute.get(slot.minute);
      if (!known) {
        byMinute.set(slot.minute, slot);
        continue;
      }
      addTotals(known, slot);
      known.points = countPoints(known);
    }
    this.#slots = [...byMinute.values()].sort((a, b) => a.minute - b.minute);
    this.#points = this.#slots.reduce((n, slot) => n + slot.points, 0);
  }

  /** Merged data of the minutes from `fromMinute` to `toMinute` (inclusive), and the first with data. */
  totals(fromMinute: Minute, toMinute: Minute): WindowTotals & { readonly firstMinute: Minute | undefined } {
    const out = emptyTotals();
    let firstMinute: Minute | undefined;
    for (const slot of this.#slots) {
      if (slot.minute < fromMinute || slot.minute > toMinute) continue;
      if (slot.points > 0) firstMinute ??= slot.minute;
      addTotals(out, slot);
    }
    return { ...out, firstMinute };
  }

  /** The slot of `minute`, appended (or inserted in order) when missing. */
  #slotFor(minute: Minute): MinuteSlot {
    const slots = this.#slots;
    const last = slots.at(-1);
    if (last && last.minute === minute) return last;
    const known = last && last.minute > minute ? slots.find((slot) => slot.minute === minute) : undefined;
    if (known) return known;
    const slot = newSlot(minute);
    slots.push(slot);
    if (last && last.minute > minute) slots.sort((a, b) => a.minute - b.minute);
    return slot;
  }
}

function isEmpty(from: Partial<WindowTotals>): boolean {
  return (
    (from.operations?.size ?? 0) === 0 &&
    (from.users?.size ?? 0) === 0 &&
    (from.http?.size ?? 0) === 0 &&
    (from.alerts?.size ?? 0) === 0
  );
}

function toSlot(minute: PendingMinute): MinuteSlot {
  const slot = newSlot(minute.minute);
  addTotals(slot, minute);
  slot.points = countPoints(slot);
  return slot;
}
