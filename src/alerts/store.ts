/**
 * Where alert records end up. The sink (dedup, buffering, ordering) talks only to this interface;
 * the Redis and in-memory stores implement it.
 */

/** One write of a record to a list. */
export interface StoreWrite {
  /** Full list name (prefix included). */
  readonly list: string;
  /** The record, serialised. */
  readonly json: string;
  /**
   * The serialisation this record was last written with, when this write updates it (more
   * repeats). The store replaces that entry in place; if it has left the list (consumed or trimmed)
   * the new text is pushed as the newest entry instead, so the count is never lost.
   */
  readonly previousJson?: string;
}

/** One entry of {@link AlertStore.scan}: its text, or its size in bytes when over the cap. */
export type ScannedEntry = string | number;

/** A destination for alert records. */
export interface AlertStore {
  /** Whether a write may be attempted now (Redis: the connection is ready). */
  readonly available: boolean;
  /**
   * True when a write called before an earlier one has settled is still applied after it (one Redis
   * connection runs commands in the order sent), and an update may name the text of a write still
   * in flight as its `previousJson`. The sink then keeps several writes in flight
   * (`maxWritesInFlight`); when false or absent it waits for each write before the next.
   */
  readonly writesInCallOrder?: boolean;
  /**
   * Applies the writes in order, newest entry at the head of each list, each list trimmed to its
   * cap. Resolves when all are applied; rejects (without partial effect where the store can promise
   * that) when any fails.
   */
  write(writes: readonly StoreWrite[]): Promise<void>;
  /**
   * Entries `start` to `start + count - 1` of a list (0 is the newest), as stored text; an entry
   * longer than `maxEntryBytes` comes back as its length in bytes only, its text left unread.
   * Fewer than `count` entries means the list ends there.
   */
  scan(list: string, start: number, count: number, maxEntryBytes: number): Promise<ScannedEntry[]>;
  /** Registers a listener called whenever the store becomes available again. */
  onAvailable(listener: () => void): void;
  /** Releases connections the store owns. */
  close(): Promise<void>;
}

/**
 * Memory-only mode: bounded in-process lists with the same semantics as the Redis lists
 * (newest first, trimmed to `listMax`, in-place updates).
 */
export class MemoryAlertStore implements AlertStore {
  readonly available = true;
  /** Each write is applied when it is called. */
  readonly writesInCallOrder = true;
  readonly #lists = new Map<string, string[]>();
  readonly #listMax: number;

  /** @param listMax entries kept per list; older entries are dropped. */
  constructor(listMax: number) {
    this.#listMax = listMax;
  }

  async write(writes: readonly StoreWrite[]): Promise<void> {
    for (const w of writes) {
      let list = this.#lists.get(w.list);
      if (!list) {
        list = [];
        this.#lists.set(w.list, list);
      }
      const at = w.previousJson === undefined ? -1 : list.indexOf(w.previousJson);
      if (at >= 0) {
        list[at] = w.json;
      } else {
        list.unshift(w.json);
        if (list.length > this.#listMax) list.length = this.#listMax;
      }
    }
  }

  async scan(list: string, start: number, count: number, maxEntryBytes: number): Promise<ScannedEntry[]> {
    return (this.#lists.get(list) ?? []).slice(start, start + count).map((text) => {
      const bytes = Buffer.byteLength(text);
      return bytes > maxEntryBytes ? bytes : text;
    });
  }

  onAvailable(): void {
    // Always available: nothing to wait for.
  }

  async close(): Promise<void> {
    this.#lists.clear();
  }
}
