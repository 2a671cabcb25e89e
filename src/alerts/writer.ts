/**
 * The write side of the alert sink: the bounded buffer of records waiting for the store and the
 * drain that sends them, in batches, up to a bounded number of writes in flight.
 *
 * Records leave the buffer oldest first, `batchSize` to a write. A store that applies writes in the
 * order they were called (`AlertStore.writesInCallOrder`: one Redis connection) gets up to
 * `maxWritesInFlight` writes at once, so that one round trip at a time no longer caps the rate (at
 * 50,000 alerts/s the sink fell behind and dropped records while raw ioredis kept up); a part batch
 * waits while a write is in flight, so a busy sink sends full batches and a quiet one sends at once.
 * The buffer holds at most `bufferMax` records: past it the oldest are dropped and counted, whether
 * the store is unavailable or alerts arrive faster than they are written.
 *
 * A failed write stops new ones; once the writes in flight have settled, the records of each failed
 * one go back to the head of the buffer in their order (dropped past `bufferMax` like any other) and
 * a retry is scheduled. Order within a list therefore holds whenever the writes behind a failed one
 * fail too, as they all do when the connection is lost; only an error reply to one batch while a
 * later one succeeds lets the later batch land first.
 */
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { RingQueue } from './queue.ts';
import { type AlertRecord, isoTimeOf } from './schema.ts';
import type { AlertStore, StoreWrite } from './store.ts';

/** A record as the writer tracks it (the sink's dedup window adds its own fields). */
export interface QueuedRecord {
  /** The record; the sink updates `repeats` in place, the writer sets `lastSeenAt` when it writes. */
  readonly record: { -readonly [K in keyof AlertRecord]: AlertRecord[K] };
  /** Time of the latest folded occurrence, ms; turned into `lastSeenAt` when the record is written. */
  readonly lastSeenMs: number;
  /** Full name of its list. */
  readonly list: string;
  /** Serialisation the list holds as far as the writer knows (the last write the store answered). */
  writtenJson: string | undefined;
  /** Serialisation of the latest write of this record still in flight; `undefined` when none is. */
  sentJson: string | undefined;
  /** Sequence number of that write. */
  sentIn: number;
  /** Whether the record is in the buffer waiting for a write. */
  queued: boolean;
}

/** Options of {@link RecordWriter}. */
export interface RecordWriterOptions {
  /** Where the records go. */
  readonly store: AlertStore;
  /** Most records waiting in the buffer; the oldest are dropped past it. */
  readonly bufferMax: number;
  /** Records per store write. */
  readonly batchSize: number;
  /** Most writes in flight when the store applies writes in call order (one otherwise). */
  readonly maxWritesInFlight: number;
  /** Longest wait between retries of a failed write, ms. */
  readonly maxRetryDelayMs: number;
  /** Called for each record dropped because the buffer was full (the sink counts it by type). */
  readonly onDrop: (record: QueuedRecord) => void;
}

/** The write side of `AlertSinkStats`, same meanings. */
export interface WriterCounts {
  /** Records the store acknowledged. */
  readonly written: number;
  /** Records waiting in the buffer. */
  readonly buffered: number;
  /** Records in writes not settled yet. */
  readonly writing: number;
  /** Records dropped because the buffer was full. */
  readonly dropped: number;
  /** Writes that failed. */
  readonly failedWrites: number;
}

/** What a failed write rejected with. */
interface Failure {
  readonly error: unknown;
}

/** A store write in flight. */
interface Write {
  /** Sequence number, increasing in the order writes are sent. */
  readonly seq: number;
  /** The records written, each with its `StoreWrite` at the same index. */
  readonly records: readonly QueuedRecord[];
  readonly writes: readonly StoreWrite[];
  /** Settles when the store answers: `undefined` on success. Never rejects. */
  readonly outcome: Promise<Failure | undefined>;
}

/** See the module comment. */
export class RecordWriter {
  readonly #store: AlertStore;
  readonly #bufferMax: number;
  readonly #batchSize: number;
  readonly #maxWritesInFlight: number;
  readonly #maxRetryDelayMs: number;
  readonly #onDrop: (record: QueuedRecord) => void;
  readonly #queue = new RingQueue<QueuedRecord>();
  /** Writes sent and not yet settled by the drain, in the order sent. */
  readonly #inFlight: Write[] = [];
  /** Records of failed writes, in order, waiting for the writes still in flight to settle. */
  #failed: QueuedRecord[] = [];
  /** Set when a write of the current drain failed: no write is sent after that. */
  #halted = false;
  #writeSeq = 0;
  #flushing: Promise<void> | undefined;
  #draining = false;
  #scheduled = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs = 0;
  #stopped = false;
  #writing = 0;
  #written = 0;
  #dropped = 0;
  #failedWrites = 0;

  constructor(options: RecordWriterOptions) {
    this.#store = options.store;
    this.#bufferMax = options.bufferMax;
    this.#batchSize = options.batchSize;
    this.#maxWritesInFlight = Math.max(1, options.maxWritesInFlight);
    this.#maxRetryDelayMs = options.maxRetryDelayMs;
    this.#onDrop = options.onDrop;
    options.store.onAvailable(() => this.#kick());
  }

  /** Records waiting in the buffer. */
  get buffered(): number {
    return this.#queue.length;
  }

  /** The write side of `AlertSink.stats`. */
  counts(): WriterCounts {
    return {
      written: this.#written,
      buffered: this.#queue.length,
      writing: this.#writing,
      dropped: this.#dropped,
      failedWrites: this.#failedWrites,
    };
  }

  /** Queues `record` at the tail (dropping the oldest past `bufferMax`) and schedules a flush. */
  enqueue(record: QueuedRecord): void {
    record.queued = true;
    this.#queue.push(record);
    this.#trim();
    this.#schedule();
  }

  /** Drops the oldest queued records past `bufferMax`, counting each. */
  #trim(): void {
    while (this.#queue.length > this.#bufferMax) {
      const dropped = this.#queue.shift();
      if (dropped) {
        dropped.queued = false;
        this.#dropped++;
        this.#onDrop(dropped);
      }
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#retryTimer) return;
    this.#scheduled = true;
    // setImmediate batches a burst of alerts from one turn of the event loop into one write. It
    // stays referenced: an unreferenced immediate does not wake a loop waiting for I/O, so the write
    // would wait for the next timer (about 8 ms later in the sidecar); a referenced one keeps the
    // process alive for one turn at most.
    setImmediate(() => {
      this.#scheduled = false;
      // A drain in progress waits on its oldest write; a full batch may go out before that returns.
      if (this.#draining) this.#pump();
      else void this.flush();
    });
  }

  #kick(): void {
    this.#clearRetry();
    this.#retryDelayMs = 0;
    void this.flush();
  }

  /** Cancels a scheduled retry (the caller flushes at once instead). */
  #clearRetry(): void {
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
  }

  /** See `AlertSink.flush`. */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Flushes now, a scheduled retry cancelled (shutdown). */
  flushNow(): Promise<void> {
    this.#clearRetry();
    return this.flush();
  }

  /** No retry is scheduled from now on (shutdown). */
  stop(): void {
    this.#stopped = true;
    this.#clearRetry();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    this.#halted = false;
    let firstFailure: Failure | undefined;
    for (;;) {
      this.#pump();
      const write = this.#inFlight[0];
      if (write === undefined) break;
      // Settled in the order sent (a Redis connection answers in that order anyway), so that the
      // successive writes of one record are accounted for in their order.
      const failure = await write.outcome;
      this.#inFlight.shift();
      this.#settle(write, failure);
      firstFailure ??= failure;
    }
    this.#draining = false;
    if (firstFailure !== undefined) {
      this.#requeueFailed();
      this.#scheduleRetry(firstFailure.error);
    }
  }

  /**
   * Sends writes while there is room: a full batch whenever a slot is free, a part batch only when
   * nothing is in flight. Sends nothing after a failure in this drain or while the store is away.
   */
  #pump(): void {
    if (this.#halted) return;
    const slots = this.#store.writesInCallOrder === true ? this.#maxWritesInFlight : 1;
    while (this.#inFlight.length < slots && this.#store.available) {
      const queued = this.#queue.length;
      if (queued === 0 || (queued < this.#batchSize && this.#inFlight.length > 0)) return;
      this.#send(this.#queue.take(this.#batchSize));
    }
  }

  #send(records: QueuedRecord[]): void {
    const seq = ++this.#writeSeq;
    const writes: StoreWrite[] = [];
    for (const r of records) {
      r.queued = false;
      if (r.record.repeats > 1) r.record.lastSeenAt = isoTimeOf(r.lastSeenMs);
      const json = JSON.stringify(r.record);
      // An update of a record whose last write is still in flight replaces that write's text: the
      // store applies writes in call order, so the text is in the list by the time this one runs.
      const previousJson = r.sentJson ?? r.writtenJson;
      writes.push(previousJson === undefined ? { list: r.list, json } : { list: r.list, json, previousJson });
      r.sentJson = json;
      r.sentIn = seq;
    }
    let outcome: Promise<Failure | undefined>;
    try {
      outcome = this.#store.write(writes).then(
        () => undefined,
        (error: unknown) => {
          // At once, not when the drain reaches this write: nothing more goes out behind a failure.
          this.#halted = true;
          return { error };
        },
      );
    } catch (error) {
      // A store that throws instead of rejecting has failed all the same.
      this.#halted = true;
      outcome = Promise.resolve({ error });
    }
    this.#inFlight.push({ seq, records, writes, outcome });
    this.#writing += records.length;
  }

  #settle(write: Write, failure: Failure | undefined): void {
    this.#writing -= write.records.length;
    if (failure === undefined) {
      for (let i = 0; i < write.records.length; i++) {
        const r = write.records[i];
        const sent = write.writes[i];
        if (!r || !sent) continue;
        r.writtenJson = sent.json;
        if (r.sentIn === write.seq) r.sentJson = undefined;
      }
      this.#written += write.records.length;
      this.#retryDelayMs = 0;
      return;
    }
    this.#failedWrites++;
    for (const r of write.records) {
      // A later write in flight carries this record too, with more repeats: it stands for both.
      if (r.sentIn !== write.seq) continue;
      r.sentJson = undefined;
      this.#failed.push(r);
    }
  }

  /** Puts the records of failed writes back at the head of the buffer, in their order. */
  #requeueFailed(): void {
    const failed = this.#failed;
    this.#failed = [];
    for (let i = failed.length - 1; i >= 0; i--) {
      const r = failed[i];
      // One a repeat has queued again meanwhile keeps its new place, as before pipelining.
      if (!r || r.queued) continue;
      r.queued = true;
      this.#queue.unshift(r);
    }
    this.#trim();
  }

  #scheduleRetry(error: unknown): void {
    if (this.#stopped || this.#retryTimer) return;
    this.#retryDelayMs = Math.min(Math.max(this.#retryDelayMs * 2, 100), this.#maxRetryDelayMs);
    getLogger().warn(
      { err: errorText(error), retryInMs: this.#retryDelayMs },
      'alert write failed; records stay buffered',
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.flush();
    }, this.#retryDelayMs);
    this.#retryTimer.unref();
  }
}
