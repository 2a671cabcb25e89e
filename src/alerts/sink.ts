/**
 * The alert sink: deduplication, a bounded buffer, ordered delivery to a store.
 *
 * `emit()` is synchronous and never throws or waits: it folds the alert into its fingerprint's
 * window or queues a new record, and schedules a flush. The buffer and the writes are writer.ts's:
 * batches go out in order, several in flight when the store applies writes in call order; past
 * `bufferMax` the oldest records are dropped and counted, whether the store is unavailable or
 * alerts arrive faster than they are written; a failed write puts its records back in order.
 *
 * Deduplication: the first alert of a fingerprint opens a window of `repeatSeconds` and is written as
 * a record with `repeats: 1`. Identical alerts inside the window are folded into that record: its
 * `repeats` and `lastSeenAt` are updated in place in the list (one write per batch, however many
 * repeats arrived), so a window yields exactly one record. A record a consumer already took is
 * pushed again with the same `id` and the higher count; consumers should treat `id` as the key.
 */
import { type Attributes, type Meter, metrics } from '@opentelemetry/api';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { SCOPE_NAME } from '../shared/scope.ts';
import { type AlertListener, AlertListeners } from './listeners.ts';
import { type RecentAlerts, type RecentAlertsQuery, scanAlertLists } from './read.ts';
import {
  ALERT_LISTS,
  ALERT_TYPES,
  type AlertInput,
  type AlertListName,
  type AlertRecord,
  type AlertType,
  alertLabels,
  buildAlert,
  fingerprintOf,
  listForType,
} from './schema.ts';
import {
  ATTR_ALERT_SKIP_REASON,
  ATTR_ALERT_TYPE,
  METRIC_ALERTS_BUFFERED,
  METRIC_ALERTS_DROPPED,
  METRIC_ALERTS_EMITTED,
  METRIC_ALERTS_READ_SKIPPED,
} from './semconv.ts';
import type { AlertStore } from './store.ts';
import { type QueuedRecord, RecordWriter } from './writer.ts';

export {
  MAX_ALERT_ENTRY_BYTES,
  MAX_ALERT_READ_BYTES_PER_LIST,
  MAX_ALERT_SCAN_PER_LIST,
  type RecentAlerts,
  type RecentAlertsQuery,
} from './read.ts';

/** Metric attributes per alert type, built once (the emit path allocates none for them). */
const TYPE_ATTRIBUTES: Readonly<Record<AlertType, Attributes>> = Object.freeze({
  target_exceeded: Object.freeze({ [ATTR_ALERT_TYPE]: 'target_exceeded' }),
  slow_request: Object.freeze({ [ATTR_ALERT_TYPE]: 'slow_request' }),
  slow_query: Object.freeze({ [ATTR_ALERT_TYPE]: 'slow_query' }),
  high_memory: Object.freeze({ [ATTR_ALERT_TYPE]: 'high_memory' }),
  high_cpu: Object.freeze({ [ATTR_ALERT_TYPE]: 'high_cpu' }),
  slo_burn_rate: Object.freeze({ [ATTR_ALERT_TYPE]: 'slo_burn_rate' }),
});

/** Options of {@link AlertSink}. Every bound is required: nothing here grows without one. */
export interface AlertSinkOptions {
  /** Destination of the records. */
  readonly store: AlertStore;
  /** Dedup window per fingerprint, seconds. 0 writes every alert as its own record. */
  readonly repeatSeconds: number;
  /**
   * Records (new or updated) waiting for the store, whether it is unavailable or behind; the oldest
   * are dropped past it.
   */
  readonly bufferMax: number;
  /** Prefix of the list names (`ALERT_KEY_PREFIX`). */
  readonly keyPrefix: string;
  /** Records per store write. Default 500. */
  readonly batchSize?: number;
  /**
   * Most writes in flight at once when the store applies writes in call order
   * (`AlertStore.writesInCallOrder`); one otherwise. Default 4: with the default batch size, at most
   * 2,000 records sent and not yet acknowledged, next to the `bufferMax` waiting.
   */
  readonly maxWritesInFlight?: number;
  /** Longest wait between retries of a failed write, ms (backoff doubles up to it). Default 5000. */
  readonly maxRetryDelayMs?: number;
  /** Meter for the sink's own metrics. Default: the global meter provider's. */
  readonly meter?: Meter;
}

/** Counters of what the sink has done since it was created. */
export interface AlertSinkStats {
  /** Alerts handed to `emit()`. */
  readonly emitted: number;
  /** Alerts folded into an existing record of the same fingerprint. */
  readonly folded: number;
  /** Successful record writes (new records and in-place updates). */
  readonly written: number;
  /** Records waiting for the store right now (at most `bufferMax`). */
  readonly buffered: number;
  /** Records in writes the store has not answered yet (at most `maxWritesInFlight × batchSize`). */
  readonly writing: number;
  /** Records dropped because the buffer was full (store unavailable, or alerts outran the writes). */
  readonly dropped: number;
  /** Store writes that failed and were retried. */
  readonly failedWrites: number;
}

/** A record of the sink and its dedup window. */
interface Window extends QueuedRecord {
  /** Time of the latest folded occurrence, ms (`QueuedRecord` only reads it). */
  lastSeenMs: number;
  /** Alerts arriving before this time fold into `record`. */
  readonly endsAtMs: number;
}

/** See the module comment. */
export class AlertSink {
  readonly #store: AlertStore;
  readonly #repeatMs: number;
  readonly #bufferMax: number;
  readonly #keyPrefix: string;
  readonly #listNames: Readonly<Record<AlertListName, string>>;
  readonly #windows = new Map<string, Window>();
  readonly #listeners = new AlertListeners();
  readonly #writer: RecordWriter;
  #closed = false;
  #emitted = 0;
  #folded = 0;
  readonly #droppedCounter;
  readonly #emittedCounter;
  readonly #skippedCounter;

  constructor(options: AlertSinkOptions) {
    this.#store = options.store;
    this.#repeatMs = options.repeatSeconds * 1000;
    this.#bufferMax = options.bufferMax;
    this.#keyPrefix = options.keyPrefix;
    // Built once: the emit path used to concatenate the prefix for every alert.
    this.#listNames = Object.freeze({
      [ALERT_LISTS.performance]: `${options.keyPrefix}${ALERT_LISTS.performance}`,
      [ALERT_LISTS.memory]: `${options.keyPrefix}${ALERT_LISTS.memory}`,
    });
    const meter = options.meter ?? metrics.getMeter(SCOPE_NAME);
    this.#emittedCounter = meter.createCounter(METRIC_ALERTS_EMITTED, {
      description: 'Alerts raised, before deduplication',
      unit: '{alert}',
    });
    this.#droppedCounter = meter.createCounter(METRIC_ALERTS_DROPPED, {
      description:
        'Alert records dropped because the buffer was full: the store was unavailable, or alerts were raised faster than they were written',
      unit: '{alert}',
    });
    this.#skippedCounter = meter.createCounter(METRIC_ALERTS_READ_SKIPPED, {
      description:
        'Alert list entries skipped by reads: not alert.v1 (invalid) or over the per-entry size cap (oversized)',
      unit: '{entry}',
    });
    meter
      .createObservableGauge(METRIC_ALERTS_BUFFERED, {
        description: 'Alert records waiting for the store',
        unit: '{alert}',
      })
      .addCallback((result) => result.observe(this.#writer.buffered));
    this.#writer = new RecordWriter({
      store: options.store,
      bufferMax: options.bufferMax,
      batchSize: options.batchSize ?? 500,
      maxWritesInFlight: options.maxWritesInFlight ?? 4,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 5000,
      onDrop: (dropped) => this.#droppedCounter.add(1, TYPE_ATTRIBUTES[dropped.record.type]),
    });
  }

  /** Whether the store accepts writes now (Redis connected, or memory). */
  get available(): boolean {
    return this.#store.available;
  }

  /** The full name of a list, prefix included. */
  listName(list: AlertListName): string {
    return this.#listNames[list] ?? `${this.#keyPrefix}${list}`;
  }

  /**
   * Raises an alert. Synchronous, never throws, never waits on I/O.
   */
  emit(input: AlertInput): void {
    try {
      this.#emit(input);
    } catch (error) {
      getLogger().error({ err: errorText(error) }, 'alert could not be raised');
    }
  }

  #emit(input: AlertInput): void {
    if (this.#closed) return;
    this.#emitted++;
    this.#emittedCounter.add(1, TYPE_ATTRIBUTES[input.type]);
    const nowMs = input.timeMs ?? Date.now();
    const labels = alertLabels(input);
    const fingerprint = fingerprintOf(labels);
    // A lifecycle record (a burn-rate episode's firing or resolved record) is one record by itself;
    // with a window of 0 nothing folds, so the table is not even kept.
    const folds = this.#repeatMs > 0 && input.status === undefined;
    const existing = folds ? this.#windows.get(fingerprint) : undefined;
    if (existing && nowMs < existing.endsAtMs) {
      // A repeat: count it, nothing else (no record is built for it).
      existing.record.repeats++;
      if (nowMs > existing.lastSeenMs) existing.lastSeenMs = nowMs;
      this.#folded++;
      if (!existing.queued) this.#writer.enqueue(existing);
      this.#listeners.notify(existing.record, existing.lastSeenMs);
    } else {
      const record = buildAlert(input, labels, fingerprint, nowMs);
      const window: Window = {
        record: record as Window['record'],
        lastSeenMs: nowMs,
        list: this.listName(listForType(record.type)),
        endsAtMs: nowMs + this.#repeatMs,
        writtenJson: undefined,
        sentJson: undefined,
        sentIn: 0,
        queued: false,
      };
      if (folds) {
        // Delete first so that Map order stays oldest-window-first, which pruning relies on.
        this.#windows.delete(fingerprint);
        this.#windows.set(fingerprint, window);
        this.#pruneWindows();
      }
      this.#writer.enqueue(window);
      this.#listeners.notify(record);
    }
  }

  /**
   * Keeps the fingerprint map bounded (at `bufferMax` entries) in O(1): Map order is window-start
   * order, so the first entry is the oldest window. Dropping it only ends deduplication for that
   * fingerprint early; a queued record stays in the queue and is still written.
   */
  #pruneWindows(): void {
    while (this.#windows.size > this.#bufferMax) {
      const oldest = this.#windows.keys().next();
      if (oldest.done) return;
      this.#windows.delete(oldest.value);
    }
  }

  /**
   * Writes everything buffered, in order. Resolves when the buffer is empty and every write has
   * been answered, or as soon as the store is unavailable, or once the writes in flight have settled
   * after one failed (a retry is scheduled). Never rejects.
   */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  /**
   * Calls `listener` synchronously with each record this sink creates or updates (a folded repeat:
   * same `id`, higher `repeats`) and each record given to {@link notify}; returns the unsubscribe
   * function. Listener errors are logged, never thrown into `emit()`. Throws
   * `AlertListenersFullError` past `MAX_ALERT_LISTENERS` (100) listeners.
   */
  subscribe(listener: AlertListener): () => void {
    return this.#listeners.add(listener);
  }

  /** Hands the listeners a record written past the sink (the burn-rate episodes' Redis script). */
  notify(record: AlertRecord): void {
    this.#listeners.notify(record);
  }

  /** Listeners subscribed now. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Counters since creation. */
  stats(): AlertSinkStats {
    return { emitted: this.#emitted, folded: this.#folded, ...this.#writer.counts() };
  }

  /**
   * Recent records, newest first, read from the store (records still buffered are not included).
   * Entries that are not valid `alert.v1` JSON (written by someone else) are skipped; see
   * {@link scanRecent} for how many.
   */
  async recent(query: RecentAlertsQuery): Promise<AlertRecord[]> {
    return (await this.scanRecent(query)).alerts;
  }

  /**
   * Recent records, newest first, with what was skipped. Each list is read from its newest entry
   * in pages until `limit` matching records are found, the list ends, or the scan reaches
   * `MAX_ALERT_SCAN_PER_LIST` entries or `MAX_ALERT_READ_BYTES_PER_LIST` bytes. Entries over
   * `MAX_ALERT_ENTRY_BYTES` are counted by size, never transferred.
   */
  async scanRecent(query: RecentAlertsQuery): Promise<RecentAlerts> {
    const lists =
      query.type === undefined ? [...new Set(ALERT_TYPES.map(listForType))] : [listForType(query.type)];
    const found = await scanAlertLists(
      this.#store,
      lists.map((list) => this.listName(list)),
      query,
    );
    const { invalid, oversized } = found.skipped;
    if (invalid > 0) this.#skippedCounter.add(invalid, { [ATTR_ALERT_SKIP_REASON]: 'invalid' });
    if (oversized > 0) this.#skippedCounter.add(oversized, { [ATTR_ALERT_SKIP_REASON]: 'oversized' });
    return found;
  }

  /**
   * Flushes what it can within `timeoutMs` (default 2000), then stops accepting alerts and closes
   * the store. Records still buffered at the deadline are reported in the log and lost.
   */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.#closed) return;
    const deadline = Date.now() + timeoutMs;
    while (this.#writer.buffered > 0 && Date.now() < deadline) {
      await this.#writer.flushNow();
      if (this.#writer.buffered > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.#closed = true;
    this.#writer.stop();
    if (this.#writer.buffered > 0) {
      getLogger().error(
        { lost: this.#writer.buffered },
        'alert records still buffered at shutdown were not written',
      );
    }
    await this.#store.close();
  }
}
