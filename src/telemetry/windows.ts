/**
 * The in-process windows reader: per-minute windows over the metric readers, what the performance
 * summary is computed from.
 *
 * A delta-temporality reader is collected at every minute boundary (and whenever a report is asked
 * for); each collection is folded into the slot of the current minute. Slots are kept for
 * `retentionMinutes` and at most `maxPoints` (minute, series) entries, oldest dropped first, so the
 * memory used does not grow with traffic.
 *
 * Like the SDK's `PeriodicExportingMetricReader`, the reader owns the timing and the collection and
 * hands what it collected to an injected exporter: with Redis, the rollup exporter, which queues
 * each minute's operation data and writes it (see `rollup-exporter.ts`).
 *
 * Figures are kept per service (`service.name` of the points): the own service's as they always
 * were, every other service's apart (see `minutes.ts`).
 */
import { AggregationTemporality, type MetricReader } from '@opentelemetry/sdk-metrics';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { foldMetrics } from './fold.ts';
import {
  MINUTE_MS,
  type Minute,
  type MinuteSlot,
  MinuteSlots,
  type PendingMinute,
  type PendingService,
  type WindowTotals,
} from './minutes.ts';
import { InProcessMetricReader } from './reader.ts';

/** Receives the operation data of each collected minute (the rollup exporter). */
export interface MinuteExporter {
  /** Takes one collection's operation data; synchronous and never throws (it queues). */
  export(minute: PendingMinute): void;
  /** Writes what is queued; rejects when some of it could not be written (it stays queued). */
  forceFlush(): Promise<void>;
  /** Writes what is queued, a last time (best effort: rejects as `forceFlush` does). */
  shutdown(): Promise<void>;
}

/** Options of {@link MinuteWindows}. */
export interface MinuteWindowsOptions {
  /** Minutes of history kept in memory. */
  readonly retentionMinutes: number;
  /** Most (minute, series) entries kept in memory; oldest dropped. */
  readonly maxPoints: number;
  /** Where each minute's operation data goes as well (the rollup exporter); none by default. */
  readonly exporter?: MinuteExporter;
  /**
   * The metric reader collected, to register with the meter provider. Default: a new
   * {@link windowsMetricReader}. Given when the provider must exist before the windows do.
   */
  readonly reader?: MetricReader;
  /**
   * The own `service.name`: points carrying it (or none) are the own service's figures, others are
   * kept per service. Default: none (every point with a `service.name` is another service's).
   */
  readonly service?: string;
  /** Clock, ms. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Told every collection, with the minute it was folded into (the error budgets' memory-only
   * feed). Synchronous; must not throw. Default: none.
   */
  readonly listener?: (minute: Minute, totals: WindowTotals) => void;
}

/** A new pull reader in delta temporality: each collection hands out only what changed since the last. */
export function windowsMetricReader(): MetricReader {
  return new InProcessMetricReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
}

/** See the module comment. */
export class MinuteWindows {
  /** The reader collected: register it with the meter provider. */
  readonly reader: MetricReader;
  readonly #retentionMinutes: number;
  readonly #exporter: MinuteExporter | undefined;
  readonly #now: () => number;
  readonly #service: string | undefined;
  readonly #memory: MinuteSlots;
  readonly #listener: MinuteWindowsOptions['listener'];
  #droppedPoints = 0;
  #timer: NodeJS.Timeout | undefined;
  #collecting: Promise<void> | undefined;

  constructor(options: MinuteWindowsOptions) {
    this.reader = options.reader ?? windowsMetricReader();
    this.#retentionMinutes = options.retentionMinutes;
    this.#exporter = options.exporter;
    this.#now = options.now ?? Date.now;
    this.#service = options.service;
    this.#memory = new MinuteSlots(options.maxPoints);
    this.#listener = options.listener;
  }

  /** (minute, series) entries dropped from memory because `maxPoints` was reached, since start. */
  get droppedPoints(): number {
    return this.#droppedPoints;
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
      await this.#exporter?.forceFlush();
    } catch (error) {
      getLogger().warn({ err: errorText(error) }, 'minute rollup failed');
    }
    if (this.#timer) this.#schedule();
  }

  /** Stops the timer, collects what is left and hands it to the exporter for a last write. */
  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.collect();
    await this.#exporter?.shutdown();
  }

  /** Collects now and has the exporter write what it holds (rejects when some was not written). */
  async flush(): Promise<void> {
    await this.collect();
    await this.#exporter?.forceFlush();
  }

  /**
   * Folds what the SDK recorded since the previous collection into the current minute (or
   * `stampMinute`) and hands its operation data to the exporter. Concurrent callers share one
   * collection.
   */
  collect(stampMinute?: Minute): Promise<void> {
    this.#collecting ??= this.#collect(stampMinute).finally(() => {
      this.#collecting = undefined;
    });
    return this.#collecting;
  }

  async #collect(stampMinute: Minute | undefined): Promise<void> {
    let collected: Awaited<ReturnType<MetricReader['collect']>>;
    try {
      collected = await this.reader.collect();
    } catch {
      // Not registered (monitoring disabled) or already shut down: nothing to fold in.
      return;
    }
    const current = Math.floor(this.#now() / MINUTE_MS);
    const minute = stampMinute ?? current;
    const totals = foldMetrics(collected.resourceMetrics, this.#service);
    this.#droppedPoints += this.#memory.add(minute, totals);
    try {
      this.#listener?.(minute, totals);
    } catch (error) {
      getLogger().warn({ err: errorText(error) }, 'a minute listener failed');
    }
    if (this.#exporter && hasOperationData(totals)) {
      // Requests stay in memory: the rollups store operations only.
      const services = new Map<string, PendingService>();
      for (const [name, { operations, users }] of totals.services) services.set(name, { operations, users });
      this.#exporter.export({ minute, operations: totals.operations, users: totals.users, services });
    }
    this.#memory.forgetThrough(current - this.#retentionMinutes);
    this.#droppedPoints += this.#memory.dropOverCap();
  }

  /**
   * The in-memory minutes from `fromMinute` to `toMinute` (inclusive), oldest first, each apart
   * (what a series is drawn from). The slots themselves, not copies: read them, never change them.
   */
  minutes(fromMinute: Minute, toMinute: Minute): readonly MinuteSlot[] {
    return this.#memory.slots.filter((slot) => slot.minute >= fromMinute && slot.minute <= toMinute);
  }

  /** Merged in-memory data of the minutes from `fromMinute` to `toMinute` (inclusive). */
  totals(fromMinute: Minute, toMinute: Minute): WindowTotals & { readonly firstMinute: Minute | undefined } {
    return this.#memory.totals(fromMinute, toMinute);
  }
}

/** Whether a collection holds what the rollups store (operations, per-user operations) for any service. */
function hasOperationData(totals: WindowTotals): boolean {
  if (totals.operations.size > 0 || totals.users.size > 0) return true;
  for (const part of totals.services.values())
    if (part.operations.size > 0 || part.users.size > 0) return true;
  return false;
}
