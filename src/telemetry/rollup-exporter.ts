/**
 * The rollup exporter: takes each collected minute's operation data from the windows reader,
 * queues it, and writes it through a {@link RollupWriter} (the Redis rollup store), so that reports
 * span restarts and instances.
 *
 * The queue is bounded like the windows (at most `maxPoints` (minute, series) entries, new series
 * past it folded into `_other`, oldest minutes dropped first). Writes run one at a time; what a
 * write could not store goes back to the front of the queue and is tried again at the next flush.
 */
import { getLogger } from '../shared/logger.ts';
import { type Minute, type MinuteSlot, MinuteSlots, type PendingMinute } from './minutes.ts';
import type { MinuteExporter } from './windows.ts';

/** The target written with an operation of a service (`undefined`: the own service). */
export type TargetOf = (operation: string, service: string | undefined) => number | undefined;

/** Where per-minute operation data is persisted (Redis hashes). */
export interface RollupWriter {
  /**
   * Writes the minutes (additively: counts add up across writers) and resolves with the parts that
   * were not written (empty when all were), so that only those are tried again. Rejects when
   * nothing could be sent.
   */
  write(minutes: readonly PendingMinute[], targetOf: TargetOf): Promise<PendingMinute[]>;
}

/** Options of {@link RollupExporter}. */
export interface RollupExporterOptions {
  /** Where the minutes are written. */
  readonly writer: RollupWriter;
  /** Most (minute, series) entries queued; past it the oldest unsaved minutes are dropped. */
  readonly maxPoints: number;
  /** Target of an operation, written with its rollups. */
  readonly targetOf: TargetOf;
}

/** See the module comment. */
export class RollupExporter implements MinuteExporter {
  readonly #writer: RollupWriter;
  readonly #targetOf: TargetOf;
  /** Oldest first. */
  readonly #queue: MinuteSlots;
  #droppedPoints = 0;
  /** Writes started since creation. */
  #writesStarted = 0;
  /** Serialises writes: each flush writes what is queued when its turn comes. */
  #chain: Promise<void> = Promise.resolve();
  /** The batch being written, until the write has finished. */
  #inflight: readonly MinuteSlot[] = [];

  constructor(options: RollupExporterOptions) {
    this.#writer = options.writer;
    this.#targetOf = options.targetOf;
    this.#queue = new MinuteSlots(options.maxPoints);
  }

  /** (minute, series) entries folded into `_other` or dropped because the queue was full, since start. */
  get droppedPoints(): number {
    return this.#droppedPoints;
  }

  /**
   * Writes started since creation: a Redis read made while this stays the same saw none of this
   * process's unsaved minutes, so the two can be added without counting anything twice.
   */
  get writeEpoch(): number {
    return this.#writesStarted;
  }

  /** Whether a write is in progress. */
  get writing(): boolean {
    return this.#inflight.length > 0;
  }

  /** Queues one collection's operation data (merged into its minute when that is still queued). */
  export(minute: PendingMinute): void {
    this.#droppedPoints += this.#queue.add(minute.minute, minute);
    this.#dropOverCap();
  }

  #dropOverCap(): void {
    const lost = this.#queue.dropOverCap();
    if (lost === 0) return;
    this.#droppedPoints += lost;
    getLogger().warn({ lost }, 'rollup store unreachable for long; oldest unsaved minutes dropped');
  }

  /**
   * Writes the queued minutes. A flush called while a write runs writes, after it, whatever is
   * queued by then (so a final flush never misses the last collection). What could not be written
   * stays queued (bounded) for the next attempt, and the returned promise rejects.
   */
  forceFlush(): Promise<void> {
    const run = this.#chain.then(() => this.#write());
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** A last {@link forceFlush}; the writer's connection is not the exporter's to close. */
  shutdown(): Promise<void> {
    return this.forceFlush();
  }

  async #write(): Promise<void> {
    if (this.#queue.slots.length === 0) return;
    const batch = this.#queue.takeAll();
    this.#inflight = batch;
    this.#writesStarted++;
    let failed: PendingMinute[] = [];
    let error: unknown;
    try {
      failed = await this.#writer.write(batch, this.#targetOf);
    } catch (e) {
      failed = batch;
      error = e;
    } finally {
      this.#inflight = [];
    }
    if (failed.length === 0) return;
    // Only what failed goes back, in front of anything queued meanwhile; the cap still applies.
    this.#queue.putBack(failed);
    this.#dropOverCap();
    throw error ?? new Error(`${failed.length} minute(s) of rollups were not written; they stay queued`);
  }

  /** Waits until no write is running (failures included), so reports see a settled state. */
  async settled(): Promise<void> {
    await this.#chain;
  }

  /** Minutes not yet in the rollup store (queued or being written), from `fromMinute` on. */
  pending(fromMinute: Minute): readonly PendingMinute[] {
    return [...this.#inflight, ...this.#queue.slots].filter((slot) => slot.minute >= fromMinute);
  }
}
