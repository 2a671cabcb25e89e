/**
 * Minutes of folded metric data and the bounded list that holds them: what the in-process windows
 * keep for reports and what the rollup exporter keeps until Redis has it. Each minute holds the
 * own service's figures and, apart, those of every other service that exports to the sidecar.
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

/** What one service did in a set of minutes, merged. */
export interface ServiceTotals {
  /** Per operation name. */
  readonly operations: Map<string, DurationAggregate>;
  /** Per user id, then operation name. */
  readonly users: Map<string, Map<string, DurationAggregate>>;
  /** Per `METHOD route`. */
  readonly http: Map<string, DurationAggregate>;
}

/**
 * What happened in a set of minutes, merged: the own service's figures at the top (where they
 * have always been), every other service's under {@link services}.
 */
export interface WindowTotals extends ServiceTotals {
  /** Per service other than the own one, by the name the service registry records it under. */
  readonly services: Map<string, ServiceTotals>;
  /** Alerts raised per type (before deduplication). */
  readonly alerts: Map<string, number>;
}

/** One service's operation data of a minute (what the rollups store; requests stay in memory). */
export interface PendingService {
  readonly operations: Map<string, DurationAggregate>;
  readonly users: Map<string, Map<string, DurationAggregate>>;
}

/** One minute's operation data, as the rollup exporter queues it and a rollup writer writes it. */
export interface PendingMinute extends PendingService {
  readonly minute: Minute;
  /** Services other than the own one (absent: none). */
  readonly services?: ReadonlyMap<string, PendingService>;
}

/** What can be added to totals: any part of them, other services' requests optional. */
export interface TotalsPart extends Partial<Omit<WindowTotals, 'services'>> {
  readonly services?: ReadonlyMap<string, PendingService | ServiceTotals>;
}

/** A minute of a {@link MinuteSlots} list: its data and how many (series) entries it holds. */
export interface MinuteSlot extends WindowTotals {
  readonly minute: Minute;
  points: number;
}

/** New, empty figures of one service. */
export function emptyServiceTotals(): ServiceTotals {
  return { operations: new Map(), users: new Map(), http: new Map() };
}

/** New, empty totals. */
export function emptyTotals(): WindowTotals {
  return { ...emptyServiceTotals(), services: new Map(), alerts: new Map() };
}

/**
 * The figures of `service` in `totals`: the top ones for the own service (`undefined`), else the
 * service's (empty when it has none).
 */
export function serviceTotalsOf(totals: WindowTotals, service: string | undefined): ServiceTotals {
  if (service === undefined) return totals;
  return totals.services.get(service) ?? emptyServiceTotals();
}

/** Adds `from` into `into`, without any cap (for merged copies handed to a report). */
export function addTotals(into: WindowTotals, from: TotalsPart): void {
  addServiceTotals(into, from);
  for (const [service, part] of from.services ?? []) {
    let target = into.services.get(service);
    if (!target) {
      target = emptyServiceTotals();
      into.services.set(service, target);
    }
    addServiceTotals(target, part);
  }
  for (const [type, n] of from.alerts ?? []) into.alerts.set(type, (into.alerts.get(type) ?? 0) + n);
}

function addServiceTotals(into: ServiceTotals, from: Partial<ServiceTotals>): void {
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

function countServicePoints(part: ServiceTotals): number {
  let n = part.operations.size + part.http.size;
  for (const ops of part.users.values()) n += ops.size;
  return n;
}

function countPoints(slot: WindowTotals): number {
  let n = countServicePoints(slot);
  for (const part of slot.services.values()) n += countServicePoints(part);
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
  add(minute: Minute, from: TotalsPart): number {
    if (isEmpty(from)) return 0;
    const slot = this.#slotFor(minute);
    let folded = this.#addService(slot, slot, from);
    for (const [service, part] of from.services ?? []) {
      let into = slot.services.get(service);
      if (!into) {
        into = emptyServiceTotals();
        slot.services.set(service, into);
      }
      folded += this.#addService(slot, into, part);
    }
    for (const [type, n] of from.alerts ?? []) slot.alerts.set(type, (slot.alerts.get(type) ?? 0) + n);
    return folded;
  }

  /** Adds one service's part of a collection to its figures in `slot`; returns the series folded. */
  #addService(slot: MinuteSlot, into: ServiceTotals, from: Partial<ServiceTotals>): number {
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
    for (const [op, agg] of from.operations ?? []) mergeAggregate(entry(into.operations, op, true), agg);
    for (const [user, ops] of from.users ?? []) {
      // Past the cap, new users of the minute fold into `_other` as a whole.
      const key = into.users.has(user) || this.#points < this.#maxPoints ? user : OTHER_OPERATION;
      let target = into.users.get(key);
      if (!target) {
        target = new Map();
        into.users.set(key, target);
      }
      for (const [op, agg] of ops) mergeAggregate(entry(target, op, false), agg);
    }
    for (const [key, agg] of from.http ?? []) mergeAggregate(entry(into.http, key, false), agg);
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

function isEmpty(from: TotalsPart): boolean {
  const none = (part: Partial<ServiceTotals>) =>
    (part.operations?.size ?? 0) === 0 && (part.users?.size ?? 0) === 0 && (part.http?.size ?? 0) === 0;
  if (!none(from) || (from.alerts?.size ?? 0) > 0) return false;
  for (const part of from.services?.values() ?? []) if (!none(part)) return false;
  return true;
}

function toSlot(minute: PendingMinute): MinuteSlot {
  const slot = newSlot(minute.minute);
  addTotals(slot, minute);
  slot.points = countPoints(slot);
  return slot;
}
