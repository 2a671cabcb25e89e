/**
 * The first level (L1): lru-cache, bounded by entry count and by bytes. It holds decoded, frozen
 * values with their freshness and tag versions; it knows nothing of Redis, tags or the bus.
 */
import { LRUCache } from 'lru-cache';

/** One L1 entry. Times are `performance.now()` ms: monotonic, local to this process. */
export interface MemoryEntry {
  /** The frozen value handed to callers. */
  readonly value: unknown;
  /** Fresh before this time. */
  readonly freshUntil: number;
  /** Kept (for grace) until this time; equal to `freshUntil` without grace. */
  readonly staleUntil: number;
  /** Version of the whole prefix when the value was computed. */
  readonly globalVersion: number;
  /** Tags of the entry. */
  readonly tags: readonly string[];
  /** Version of each tag when the value was computed. */
  readonly versions: readonly number[];
  /** Serialized size, bytes (what `maxBytes` counts). */
  readonly bytes: number;
  /**
   * After a factory failure served this stale entry: until this time it is served again without
   * calling the factory (grace backoff). 0 otherwise.
   */
  readonly retryAt: number;
  /** Whether the entry is an absent result (the factory returned `undefined` or `null`). */
  readonly absent?: boolean;
}

/** Bounds of {@link MemoryDriver}. */
export interface MemoryDriverOptions {
  /** Most entries. */
  readonly maxItems: number;
  /** Most bytes (sum of `MemoryEntry.bytes`). */
  readonly maxBytes: number;
  /** Largest entry accepted, bytes; 0 accepts none. */
  readonly maxEntryBytes: number;
}

/** See the module comment. */
export class MemoryDriver {
  readonly #lru: LRUCache<string, MemoryEntry>;
  readonly #maxEntryBytes: number;
  #evictions = 0;

  constructor(options: MemoryDriverOptions) {
    this.#maxEntryBytes = options.maxEntryBytes;
    this.#lru = new LRUCache<string, MemoryEntry>({
      max: options.maxItems,
      maxSize: options.maxBytes,
      maxEntrySize: Math.max(1, options.maxEntryBytes),
      // Only capacity evictions are news; replacements and deletes are the caller's own doing.
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.#evictions++;
      },
    });
  }

  /** The entry (and marks it recently used), or `undefined`. */
  get(key: string): MemoryEntry | undefined {
    return this.#lru.get(key);
  }

  /**
   * The size L1 counts for a serialized value: its UTF-8 length in bytes, exact whenever the value
   * could be held. A text with more characters than `maxEntryBytes` cannot be (UTF-8 takes at least
   * a byte per character), so its length in characters stands in: already over the bound, and it
   * spares reading a large value that memory will not hold.
   */
  sizeOf(text: string): number {
    return text.length > this.#maxEntryBytes ? text.length : Buffer.byteLength(text);
  }

  /** Whether an entry of `bytes` may be held in memory at all (smart level selection). */
  accepts(bytes: number): boolean {
    return bytes <= this.#maxEntryBytes;
  }

  /** Stores an entry; returns false (and stores nothing) when it is larger than `maxEntryBytes`. */
  set(key: string, entry: MemoryEntry): boolean {
    if (!this.accepts(entry.bytes)) {
      this.#lru.delete(key);
      return false;
    }
    this.#lru.set(key, entry, { size: Math.max(1, entry.bytes) });
    return true;
  }

  /** Removes one entry. */
  delete(key: string): void {
    this.#lru.delete(key);
  }

  /** Removes every entry. */
  clear(): void {
    this.#lru.clear();
  }

  /** Entries held. */
  get items(): number {
    return this.#lru.size;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  /** Entries evicted to stay within `maxItems` / `maxBytes` since creation. */
  get evictions(): number {
    return this.#evictions;
  }
}
