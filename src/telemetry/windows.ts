/**
 * Per-minute windows over the metric readers: what the performance summary is computed from.
 *
 * A delta-temporality reader is collected at every minute boundary (and whenever a report is asked
 * for); each collection is folded into the slot of the current minute. Slots are kept for
 * `retentionMinutes` and at most `maxPoints` (minute, series) entries, oldest dropped first, so the
 * memory used does not grow with traffic. With a rollup store (Redis), the same deltas are also
 * queued and written every minute, so reports span restarts and instances.
 */
import type { Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type HistogramMetricData,
  type MetricData,
  type MetricReader,
} from '@opentelemetry/sdk-metrics';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { addHistogramPoint, type DurationAggregate, emptyAggregate, mergeAggregate } from './aggregate.ts';
import { ATTR_TARGET_FRUSTRATED, METRIC_OPERATION_TAIL_DURATION } from './processor.ts';
import { InProcessMetricReader } from './reader.ts';
import {
  ATTR_PERF_OPERATION,
  ATTR_PERF_OUTCOME,
  ATTR_PERF_TARGET_EXCEEDED,
  ATTR_USER_ID,
  METRIC_OPERATION_DURATION,
  METRIC_TARGET_FRUSTRATED,
  METRIC_USER_OPERATION_DURATION,
  NO_ROUTE,
  OTHER_OPERATION,
  OUTCOME_ERROR,
} from './semconv.ts';

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

/** One minute's operation data queued for the rollup store. */
export interface PendingMinute {
  readonly minute: Minute;
  readonly operations: Map<string, DurationAggregate>;
  readonly users: Map<string, Map<string, DurationAggregate>>;
}

/** Where per-minute operation data is persisted (Redis hashes). */
export interface RollupWriter {
  /**
   * Writes the minutes (additively: counts add up across writers) and resolves with the parts that
   * were not written (empty when all were), so that only those are tried again. Rejects when
   * nothing could be sent.
   */
  write(
    minutes: readonly PendingMinute[],
    targetOf: (operation: string) => number | undefined,
  ): Promise<PendingMinute[]>;
}

/** Options of {@link MinuteWindows}. */
export interface MinuteWindowsOptions {
  /** Minutes of history kept in memory. */
  readonly retentionMinutes: number;
  /** Most (minute, series) entries kept in memory, and queued for the rollup store; oldest dropped. */
  readonly maxPoints: number;
  /** Rollup store; without one, reports cover this process's memory only. */
  readonly rollups?: RollupWriter;
  /** Target of an operation, written with its rollups. */
  readonly targetOf: (operation: string) => number | undefined;
  /** Clock, ms. Default `Date.now`. */
  readonly now?: () => number;
}

const HTTP_DURATION = 'http.server.request.duration';
const ALERTS_EMITTED = 'perf.alerts.emitted';
const OVERFLOW = 'otel.metric.overflow';

interface Slot extends WindowTotals {
  readonly minute: Minute;
  points: number;
}

function newSlot(minute: Minute): Slot {
  return { minute, operations: new Map(), users: new Map(), http: new Map(), alerts: new Map(), points: 0 };
}

/** See the module comment. */
export class MinuteWindows {
  /** Register this reader with the meter provider. */
  readonly reader: MetricReader = new InProcessMetricReader({
    // Delta: each collection hands out only what changed since the previous one.
    aggregationTemporalitySelector: () => AggregationTemporality.DELTA,
  });
  readonly #options: MinuteWindowsOptions;
  readonly #now: () => number;
  /** Oldest first. */
  #slots: Slot[] = [];
  #points = 0;
  /** Oldest first; only with a rollup store. */
  #pending: Slot[] = [];
  #pendingPoints = 0;
  #droppedPoints = 0;
  /** Rollup writes started since creation. */
  #writesStarted = 0;
  /** Serialises rollup writes: each flush writes what is queued when its turn comes. */
  #chain: Promise<void> = Promise.resolve();
  /** The batch being written, until the write has finished. */
  #inflight: readonly Slot[] = [];
  #timer: NodeJS.Timeout | undefined;
  #collecting: Promise<void> | undefined;

  constructor(options: MinuteWindowsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** (minute, series) entries dropped because `maxPoints` was reached, since start. */
  get droppedPoints(): number {
    return this.#droppedPoints;
  }

  /**
   * Rollup writes started since creation: a Redis read made while this stays the same saw none of
   * this process's unsaved minutes, so the two can be added without counting anything twice.
   */
  get writeEpoch(): number {
    return this.#writesStarted;
  }

  /** Whether a rollup write is in progress. */
  get writing(): boolean {
    return this.#inflight.length > 0;
  }

  /** Starts the minute timer (aligned to minute boundaries). Idempotent. */
  start(): void {
    if (this.#timer) return;
    this.#schedule();
  }

  #schedule(): void {
    const now = this.#now();
    // A little past the boundary, so the collection lands in the minute that just began.
    const delay = MINUTE_MS - (now % MINUTE_MS) + 50;
    this.#timer = setTimeout(() => {
      void this.#tick();
    }, delay);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    try {
      // The tick runs just after a boundary: what it collects happened in the minute that ended
      // (unless the timer was more than half a minute late).
      await this.collect(Math.floor((this.#now() - MINUTE_MS / 2) / MINUTE_MS));
      await this.flush();
    } catch (error) {
      getLogger().warn({ err: errorText(error) }, 'minute rollup failed');
    }
    if (this.#timer) this.#schedule();
  }

  /** Stops the timer, collects what is left and writes it to the rollup store (best effort). */
  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.collect();
    await this.flush();
  }

  /**
   * Folds what the SDK recorded since the previous collection into the current minute. Concurrent
   * callers share one collection.
   */
  collect(stampMinute?: Minute): Promise<void> {
    this.#collecting ??= this.#collect(stampMinute).finally(() => {
      this.#collecting = undefined;
    });
    return this.#collecting;
  }

  async #collect(stampMinute: Minute | undefined): Promise<void> {
    let result: Awaited<ReturnType<MetricReader['collect']>>;
    try {
      result = await this.reader.collect();
    } catch {
      // Not registered (monitoring disabled) or already shut down: nothing to fold in.
      return;
    }
    const current = Math.floor(this.#now() / MINUTE_MS);
    const minute = stampMinute ?? current;
    const slot = this.#slotFor(minute);
    const pending = this.#options.rollups ? this.#pendingFor(minute) : undefined;
    // Operation data goes to the memory slot and, with a rollup store, to the queue as well.
    const into: readonly Slot[] = pending ? [slot, pending] : [slot];
    for (const scope of result.resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) this.#fold(metric, slot, into);
    }
    // Minutes without data take no room.
    dropIfEmpty(this.#slots, slot);
    if (pending) dropIfEmpty(this.#pending, pending);
    this.#prune(current);
  }

  #slotFor(minute: Minute): Slot {
    return slotIn(this.#slots, minute);
  }

  #pendingFor(minute: Minute): Slot {
    return slotIn(this.#pending, minute);
  }

  #fold(metric: MetricData, slot: Slot, into: readonly Slot[]): void {
    const name = metric.descriptor.name;
    if (metric.dataPointType === DataPointType.HISTOGRAM) {
      if (name === METRIC_OPERATION_DURATION) this.#foldOperations(metric, slot, into, false);
      else if (name === METRIC_OPERATION_TAIL_DURATION) this.#foldOperations(metric, slot, into, true);
      else if (name === METRIC_USER_OPERATION_DURATION) this.#foldUsers(metric, slot, into);
      else if (name === HTTP_DURATION) this.#foldHttp(metric, slot);
      return;
    }
    if (metric.dataPointType !== DataPointType.SUM) return;
    if (name === METRIC_TARGET_FRUSTRATED) {
      for (const point of metric.dataPoints) {
        if (point.value === 0) continue;
        const op = operationOf(point.attributes);
        // `_other` here also holds the operations exported as `_other`: the tail histogram has
        // their frustrated figures by name.
        if (op === OTHER_OPERATION) continue;
        for (const target of into) {
          const agg = this.#entry(target, target.operations, op, true, target === slot);
          agg.frustrated = (agg.frustrated ?? 0) + point.value;
        }
      }
    } else if (name === ALERTS_EMITTED) {
      for (const point of metric.dataPoints) {
        const type = String(point.attributes['alert.type'] ?? 'unknown');
        slot.alerts.set(type, (slot.alerts.get(type) ?? 0) + point.value);
      }
    }
  }

  /**
   * Folds the operation histograms. The exported one's `_other` series holds every operation not
   * exported by name, which the tail histogram has by name (and true overflow as `_other`): it is
   * skipped so nothing is counted twice.
   */
  #foldOperations(metric: HistogramMetricData, slot: Slot, into: readonly Slot[], tail: boolean): void {
    for (const point of metric.dataPoints) {
      if (point.value.count === 0) continue;
      const op = operationOf(point.attributes);
      if (!tail && op === OTHER_OPERATION) continue;
      const error = point.attributes[ATTR_PERF_OUTCOME] === OUTCOME_ERROR;
      const exceeded = point.attributes[ATTR_PERF_TARGET_EXCEEDED] === true;
      const frustrated = tail && point.attributes[ATTR_TARGET_FRUSTRATED] === true;
      for (const target of into) {
        const agg = this.#entry(target, target.operations, op, true, target === slot);
        addHistogramPoint(agg, point.value);
        if (error) agg.errors += point.value.count;
        if (exceeded) agg.breaches = (agg.breaches ?? 0) + point.value.count;
        if (frustrated) agg.frustrated = (agg.frustrated ?? 0) + point.value.count;
      }
    }
  }

  #foldUsers(metric: HistogramMetricData, slot: Slot, into: readonly Slot[]): void {
    for (const point of metric.dataPoints) {
      if (point.value.count === 0) continue;
      const overflow = point.attributes[OVERFLOW] === true;
      const user = overflow ? OTHER_OPERATION : String(point.attributes[ATTR_USER_ID] ?? OTHER_OPERATION);
      const op = operationOf(point.attributes);
      const error = point.attributes[ATTR_PERF_OUTCOME] === OUTCOME_ERROR;
      for (const target of into) {
        const ops = this.#userOps(target, user, target === slot);
        const agg = this.#entry(target, ops, op, false, target === slot);
        addHistogramPoint(agg, point.value);
        if (error) agg.errors += point.value.count;
      }
    }
  }

  #foldHttp(metric: HistogramMetricData, slot: Slot): void {
    for (const point of metric.dataPoints) {
      if (point.value.count === 0) continue;
      const method = String(point.attributes['http.request.method'] ?? '_OTHER');
      const route = point.attributes['http.route'];
      const key = `${method} ${typeof route === 'string' ? route : NO_ROUTE}`;
      const agg = this.#entry(slot, slot.http, key, false, true);
      addHistogramPoint(agg, point.value);
      const status = Number(point.attributes['http.response.status_code'] ?? 0);
      if (status >= 500 || point.attributes['error.type'] !== undefined) agg.errors += point.value.count;
    }
  }

  #full(inMemory: boolean): boolean {
    return (inMemory ? this.#points : this.#pendingPoints) >= this.#options.maxPoints;
  }

  #userOps(slot: Slot, user: string, inMemory: boolean): Map<string, DurationAggregate> {
    // Past the point cap, new users of the minute fold into `_other` (the current minute is never
    // pruned, so it must not grow either).
    const key = slot.users.has(user) || !this.#full(inMemory) ? user : OTHER_OPERATION;
    let ops = slot.users.get(key);
    if (!ops) {
      ops = new Map();
      slot.users.set(key, ops);
    }
    return ops;
  }

  #entry(
    slot: Slot,
    map: Map<string, DurationAggregate>,
    key: string,
    countsBreaches: boolean,
    inMemory: boolean,
  ): DurationAggregate {
    let agg = map.get(key);
    if (agg) return agg;
    if (this.#full(inMemory)) {
      this.#droppedPoints++;
      key = OTHER_OPERATION;
      agg = map.get(key);
      if (agg) return agg;
    }
    agg = emptyAggregate(countsBreaches);
    map.set(key, agg);
    slot.points++;
    if (inMemory) this.#points++;
    else this.#pendingPoints++;
    return agg;
  }

  #prune(current: Minute): void {
    const oldest = current - this.#options.retentionMinutes;
    while (this.#slots.length > 1 && (this.#slots[0] as Slot).minute <= oldest) {
      this.#points -= (this.#slots.shift() as Slot).points;
    }
    while (this.#slots.length > 1 && this.#points > this.#options.maxPoints) {
      const dropped = this.#slots.shift() as Slot;
      this.#points -= dropped.points;
      this.#droppedPoints += dropped.points;
    }
    let lost = 0;
    while (this.#pending.length > 1 && this.#pendingPoints > this.#options.maxPoints) {
      const dropped = this.#pending.shift() as Slot;
      this.#pendingPoints -= dropped.points;
      lost += dropped.points;
    }
    if (lost > 0) {
      this.#droppedPoints += lost;
      getLogger().warn({ lost }, 'rollup store unreachable for long; oldest unsaved minutes dropped');
    }
  }

  /**
   * Writes queued minutes to the rollup store. Writes run one at a time; a flush called while one
   * runs writes, after it, whatever is queued by then (so a final flush never misses the last
   * collection). What could not be written stays queued (bounded) for the next attempt, and the
   * returned promise rejects.
   */
  flush(): Promise<void> {
    const rollups = this.#options.rollups;
    if (!rollups) return Promise.resolve();
    const run = this.#chain.then(() => this.#write(rollups));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #write(rollups: RollupWriter): Promise<void> {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#pendingPoints = 0;
    this.#inflight = batch;
    this.#writesStarted++;
    let failed: PendingMinute[] = [];
    let error: unknown;
    try {
      failed = await rollups.write(batch, this.#options.targetOf);
    } catch (e) {
      failed = batch;
      error = e;
    } finally {
      this.#inflight = [];
    }
    if (failed.length === 0) return;
    // Only what failed goes back, in front of anything queued meanwhile; the point cap still applies.
    this.#pending = mergeSlots(failed.map(toSlot), this.#pending);
    this.#pendingPoints = this.#pending.reduce((n, slot) => n + slot.points, 0);
    this.#prune(Math.floor(this.#now() / MINUTE_MS));
    throw error ?? new Error(`${failed.length} minute(s) of rollups were not written; they stay queued`);
  }

  /** Waits until no rollup write is running (failures included), so reports see a settled state. */
  async settled(): Promise<void> {
    await this.#chain;
  }

  /** Minutes not yet in the rollup store (queued or being written), from `fromMinute` on. */
  pending(fromMinute: Minute): readonly PendingMinute[] {
    return [...this.#inflight, ...this.#pending].filter((slot) => slot.minute >= fromMinute);
  }

  /** Merged in-memory data of the minutes from `fromMinute` to `toMinute` (inclusive). */
  totals(fromMinute: Minute, toMinute: Minute): WindowTotals & { readonly firstMinute: Minute | undefined } {
    const out: WindowTotals = { operations: new Map(), users: new Map(), http: new Map(), alerts: new Map() };
    let firstMinute: Minute | undefined;
    for (const slot of this.#slots) {
      if (slot.minute < fromMinute || slot.minute > toMinute) continue;
      if (slot.points > 0) firstMinute ??= slot.minute;
      addTotals(out, slot);
    }
    return { ...out, firstMinute };
  }
}

/** Adds `from` into `into`. */
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

/** The slot of `minute` in an oldest-first list, appended (or inserted in order) when missing. */
function slotIn(slots: Slot[], minute: Minute): Slot {
  const last = slots.at(-1);
  if (last && last.minute === minute) return last;
  if (!last || last.minute < minute) {
    const slot = newSlot(minute);
    slots.push(slot);
    return slot;
  }
  const known = slots.find((slot) => slot.minute === minute);
  if (known) return known;
  const slot = newSlot(minute);
  slots.push(slot);
  slots.sort((a, b) => a.minute - b.minute);
  return slot;
}

/** Removes `slot` from `slots` when nothing was recorded in it. */
function dropIfEmpty(slots: Slot[], slot: Slot): void {
  if (slot.points > 0 || slot.alerts.size > 0 || slot.http.size > 0) return;
  const at = slots.indexOf(slot);
  if (at >= 0) slots.splice(at, 1);
}

function countPoints(slot: WindowTotals): number {
  let n = slot.operations.size + slot.http.size;
  for (const ops of slot.users.values()) n += ops.size;
  return n;
}

function toSlot(minute: PendingMinute): Slot {
  const slot = newSlot(minute.minute);
  addTotals(slot, minute);
  slot.points = countPoints(slot);
  return slot;
}

function mergeSlots(older: readonly Slot[], newer: readonly Slot[]): Slot[] {
  const byMinute = new Map<Minute, Slot>();
  for (const slot of [...older, ...newer]) {
    const known = byMinute.get(slot.minute);
    if (!known) {
      byMinute.set(slot.minute, slot);
      continue;
    }
    addTotals(known, slot);
    known.points = countPoints(known);
  }
  return [...byMinute.values()].sort((a, b) => a.minute - b.minute);
}

function operationOf(attributes: Attributes): string {
  if (attributes[OVERFLOW] === true) return OTHER_OPERATION;
  const op = attributes[ATTR_PERF_OPERATION];
  return typeof op === 'string' ? op : OTHER_OPERATION;
}
