/**
 * The alert sink: deduplication, a bounded buffer, ordered delivery to a store.
 *
 * `emit()` is synchronous and never throws or waits: it folds the alert into its fingerprint's
 * window or queues a new record, and schedules a flush. Flushes run one at a time; while the store is
 * unavailable records wait in the buffer (oldest dropped past `bufferMax`, counted) and go out in
 * order when it comes back.
 *
 * Deduplication: the first alert of a fingerprint opens a window of `repeatSeconds` and is written as
 * a record with `repeats: 1`. Identical alerts inside the window are folded into that record: its
 * `repeats` and `lastSeenAt` are updated in place in the list (one write per flush, however many
 * repeats arrived), so a window yields exactly one record. A record a consumer already took is
 * pushed again with the same `id` and the higher count; consumers should treat `id` as the key.
 */
import { type Attributes, type Meter, metrics } from '@opentelemetry/api';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { SCOPE_NAME } from '../shared/scope.ts';
import { type AlertListener, AlertListeners } from './listeners.ts';
import {
  ALERT_TYPES,
  type AlertInput,
  type AlertListName,
  type AlertRecord,
  type AlertType,
  alertLabels,
  alertRecordSchema,
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
import type { AlertStore, ScannedEntry, StoreWrite } from './store.ts';

/**
 * Longest list entry a read transfers, bytes; a longer one is reported by its size only. An
 * `alert.v1` record perf-sidecar writes is well under 4 KiB.
 */
export const MAX_ALERT_ENTRY_BYTES = 64 * 1024;
/** Most entries one read looks at per list, valid or not: the bound on looking past junk. */
export const MAX_ALERT_SCAN_PER_LIST = 5000;
/** Most bytes of entries one read transfers per list (two lists: 4 MiB per read in all). */
export const MAX_ALERT_READ_BYTES_PER_LIST = 2 * 1024 * 1024;
/** Entries fetched per round trip. */
const SCAN_PAGE = 100;

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
  /** Records (new or updated) held while the store is unavailable; the oldest are dropped past it. */
  readonly bufferMax: number;
  /** Prefix of the list names (`ALERT_KEY_PREFIX`). */
  readonly keyPrefix: string;
  /** Records per store write. Default 500. */
  readonly batchSize?: number;
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
  /** Records waiting for the store right now. */
  readonly buffered: number;
  /** Records dropped because the buffer was full. */
  readonly dropped: number;
  /** Store writes that failed and were retried. */
  readonly failedWrites: number;
}

/** Options of {@link AlertSink.recent}. */
export interface RecentAlertsQuery {
  /** Only this type. */
  readonly type?: AlertType;
  /** At most this many records (newest first). */
  readonly limit: number;
}

/** What {@link AlertSink.scanRecent} found. */
export interface RecentAlerts {
  /** Valid records, newest first, at most `limit`. */
  readonly alerts: AlertRecord[];
  /** Entries looked past: `invalid` (not `alert.v1`) and `oversized` (not transferred). */
  readonly skipped: { readonly invalid: number; readonly oversized: number };
  /**
   * True when a list was not read to its end although fewer than `limit` records were found: the
   * scan stopped at {@link MAX_ALERT_SCAN_PER_LIST} entries or {@link MAX_ALERT_READ_BYTES_PER_LIST}.
   */
  readonly truncated: boolean;
}

interface Window {
  record: MutableRecord;
  /** Time of the latest folded occurrence, ms; turned into `lastSeenAt` when the record is written. */
  lastSeenMs: number;
  readonly list: string;
  /** Alerts arriving before this time fold into `record`. */
  readonly endsAtMs: number;
  /** Serialisation last written to the store, for in-place updates. */
  writtenJson: string | undefined;
  /** Whether the window is in the queue waiting for a write. */
  queued: boolean;
}

type MutableRecord = { -readonly [K in keyof AlertRecord]: AlertRecord[K] };

/** See the module comment. */
export class AlertSink {
  readonly #store: AlertStore;
  readonly #repeatMs: number;
  readonly #bufferMax: number;
  readonly #keyPrefix: string;
  readonly #batchSize: number;
  readonly #maxRetryDelayMs: number;
  readonly #windows = new Map<string, Window>();
  readonly #listeners = new AlertListeners();
  #queue: Window[] = [];
  #flushing: Promise<void> | undefined;
  #scheduled = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs = 0;
  #closed = false;
  #emitted = 0;
  #folded = 0;
  #written = 0;
  #dropped = 0;
  #failedWrites = 0;
  readonly #droppedCounter;
  readonly #emittedCounter;
  readonly #skippedCounter;

  constructor(options: AlertSinkOptions) {
    this.#store = options.store;
    this.#repeatMs = options.repeatSeconds * 1000;
    this.#bufferMax = options.bufferMax;
    this.#keyPrefix = options.keyPrefix;
    this.#batchSize = options.batchSize ?? 500;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 5000;
    const meter = options.meter ?? metrics.getMeter(SCOPE_NAME);
    this.#emittedCounter = meter.createCounter(METRIC_ALERTS_EMITTED, {
      description: 'Alerts raised, before deduplication',
      unit: '{alert}',
    });
    this.#droppedCounter = meter.createCounter(METRIC_ALERTS_DROPPED, {
      description: 'Alert records dropped because the buffer was full while the store was unavailable',
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
      .addCallback((result) => result.observe(this.#queue.length));
    this.#store.onAvailable(() => this.#kick());
  }

  /** Whether the store accepts writes now (Redis connected, or memory). */
  get available(): boolean {
    return this.#store.available;
  }

  /** The full name of a list, prefix included. */
  listName(list: AlertListName): string {
    return `${this.#keyPrefix}${list}`;
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
    // A lifecycle record (a burn-rate episode's firing or resolved record) is one record by itself.
    const existing = input.status === undefined ? this.#windows.get(fingerprint) : undefined;
    if (existing && nowMs < existing.endsAtMs) {
      // A repeat: count it, nothing else (no record is built for it).
      existing.record.repeats++;
      if (nowMs > existing.lastSeenMs) existing.lastSeenMs = nowMs;
      this.#folded++;
      if (!existing.queued) this.#enqueue(existing);
      this.#listeners.notify(existing.record, existing.lastSeenMs);
    } else {
      const record = buildAlert(
        input.timeMs === undefined ? { ...input, timeMs: nowMs } : input,
        labels,
        fingerprint,
      );
      const window: Window = {
        record: record as MutableRecord,
        lastSeenMs: nowMs,
        list: this.listName(listForType(record.type)),
        endsAtMs: nowMs + this.#repeatMs,
        writtenJson: undefined,
        queued: false,
      };
      if (input.status === undefined) {
        // Delete first so that Map order stays oldest-window-first, which pruning relies on.
        this.#windows.delete(fingerprint);
        this.#windows.set(fingerprint, window);
        this.#pruneWindows();
      }
      this.#enqueue(window);
      this.#listeners.notify(record);
    }
    this.#schedule();
  }

  #enqueue(window: Window): void {
    window.queued = true;
    this.#queue.push(window);
    this.#trimQueue();
  }

  /** Drops the oldest queued records past `bufferMax`, counting each. */
  #trimQueue(): void {
    while (this.#queue.length > this.#bufferMax) {
      const dropped = this.#queue.shift();
      if (dropped) {
        dropped.queued = false;
        this.#dropped++;
        this.#droppedCounter.add(1, TYPE_ATTRIBUTES[dropped.record.type]);
      }
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

  #schedule(): void {
    if (this.#scheduled || this.#retryTimer) return;
    this.#scheduled = true;
    // setImmediate batches a burst of alerts from one turn of the event loop into one write. It
    // stays referenced: an unreferenced immediate does not wake a loop waiting for I/O, so the write
    // would wait for the next timer (about 8 ms later in the sidecar); a referenced one keeps the
    // process alive for one turn at most.
    setImmediate(() => {
      this.#scheduled = false;
      void this.flush();
    });
  }

  #kick(): void {
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    this.#retryDelayMs = 0;
    void this.flush();
  }

  /**
   * Writes everything buffered, in order. Resolves when the buffer is empty, or as soon as the store
   * is unavailable or a write fails (a retry is scheduled). Never rejects.
   */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      if (!this.#store.available) return;
      const batch = this.#queue.splice(0, this.#batchSize);
      const writes: StoreWrite[] = [];
      for (const window of batch) {
        window.queued = false;
        if (window.record.repeats > 1) window.record.lastSeenAt = new Date(window.lastSeenMs).toISOString();
        const json = JSON.stringify(window.record);
        writes.push(
          window.writtenJson === undefined
            ? { list: window.list, json }
            : { list: window.list, json, previousJson: window.writtenJson },
        );
      }
      try {
        await this.#store.write(writes);
      } catch (error) {
        this.#failedWrites++;
        // Put back what was not re-queued meanwhile, at the front, so order is kept.
        const back = batch.filter((w) => !w.queued);
        for (const w of back) w.queued = true;
        this.#queue = back.concat(this.#queue);
        this.#trimQueue();
        this.#scheduleRetry(error);
        return;
      }
      for (let i = 0; i < batch.length; i++) {
        const window = batch[i];
        const write = writes[i];
        if (window && write) window.writtenJson = write.json;
      }
      this.#written += batch.length;
      this.#retryDelayMs = 0;
    }
  }

  #scheduleRetry(error: unknown): void {
    if (this.#closed || this.#retryTimer) return;
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
    return {
      emitted: this.#emitted,
      folded: this.#folded,
      written: this.#written,
      buffered: this.#queue.length,
      dropped: this.#dropped,
      failedWrites: this.#failedWrites,
    };
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
   * {@link MAX_ALERT_SCAN_PER_LIST} entries or {@link MAX_ALERT_READ_BYTES_PER_LIST} bytes. Entries
   * over {@link MAX_ALERT_ENTRY_BYTES} are counted by size, never transferred.
   */
  async scanRecent(query: RecentAlertsQuery): Promise<RecentAlerts> {
    const lists =
      query.type === undefined ? [...new Set(ALERT_TYPES.map(listForType))] : [listForType(query.type)];
    const out: AlertRecord[] = [];
    let invalid = 0;
    let oversized = 0;
    let truncated = false;
    for (const list of lists) {
      const name = this.listName(list);
      let found = 0;
      let scanned = 0;
      let bytes = 0;
      for (;;) {
        if (found >= query.limit) break;
        const budget = MAX_ALERT_READ_BYTES_PER_LIST - bytes;
        if (scanned >= MAX_ALERT_SCAN_PER_LIST || budget <= 0) {
          truncated = true;
          break;
        }
        // Small pages once the byte budget runs low, so that a page cannot overshoot it by much.
        const count = Math.max(
          1,
          Math.min(SCAN_PAGE, MAX_ALERT_SCAN_PER_LIST - scanned, Math.floor(budget / MAX_ALERT_ENTRY_BYTES)),
        );
        const page: ScannedEntry[] = await this.#store.scan(name, scanned, count, MAX_ALERT_ENTRY_BYTES);
        for (const entry of page) {
          scanned++;
          if (typeof entry === 'number') {
            oversized++;
            continue;
          }
          bytes += entry.length;
          const record = parseRecord(entry);
          if (!record) invalid++;
          else if (query.type === undefined || record.type === query.type) {
            out.push(record);
            found++;
          }
        }
        if (page.length < count) break;
      }
    }
    if (invalid > 0) this.#skippedCounter.add(invalid, { [ATTR_ALERT_SKIP_REASON]: 'invalid' });
    if (oversized > 0) this.#skippedCounter.add(oversized, { [ATTR_ALERT_SKIP_REASON]: 'oversized' });
    out.sort((a, b) => (a.lastSeenAt < b.lastSeenAt ? 1 : a.lastSeenAt > b.lastSeenAt ? -1 : 0));
    return { alerts: out.slice(0, query.limit), skipped: { invalid, oversized }, truncated };
  }

  /**
   * Flushes what it can within `timeoutMs` (default 2000), then stops accepting alerts and closes
   * the store. Records still buffered at the deadline are reported in the log and lost.
   */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.#closed) return;
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length > 0 && Date.now() < deadline) {
      if (this.#retryTimer) {
        clearTimeout(this.#retryTimer);
        this.#retryTimer = undefined;
      }
      await this.flush();
      if (this.#queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#queue.length > 0) {
      getLogger().error(
        { lost: this.#queue.length },
        'alert records still buffered at shutdown were not written',
      );
    }
    await this.#store.close();
  }
}

function parseRecord(text: string): AlertRecord | undefined {
  try {
    const parsed = alertRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as AlertRecord) : undefined;
  } catch {
    return undefined;
  }
}
