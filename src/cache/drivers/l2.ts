/**
 * The second level as the cache sees it: the surface of {@link RedisDriver} the cache talks to, so
 * that something else (a fault-injecting wrapper in tests) can stand in for it. Drivers know keys
 * and text, never values or policies: freshness, tag validity and what to do on failure are the
 * cache's.
 */
import type { EnvelopeTail } from '../envelope.ts';

/** What one L2 read returns. */
export interface RedisRead {
  /** The stored envelope, or `undefined` when the key is absent. */
  readonly text: string | undefined;
  /** Current version of the whole prefix. */
  readonly globalVersion: number;
  /** Current version of each tag asked for in `read(key, tags)`, in that order. */
  readonly requestedVersions: readonly number[];
}

/**
 * One L2 store and its invalidation channel. Every method that talks to the server is one round
 * trip and rejects when it fails or when the connection is not ready; none queues while
 * disconnected.
 */
export interface L2Driver {
  /** Whether commands may be sent now. */
  readonly connected: boolean;
  /** Channel of the invalidation bus (its scripts publish there). */
  readonly channel: string;
  /** Whether the server clock offset was never measured, or not recently. */
  readonly clockStale: boolean;
  /**
   * Resolves `true` once the connection is ready, `false` when it is not within `ms` or its attempt
   * failed. Never rejects.
   */
  waitReady(ms: number): Promise<boolean>;
  /** Calls `listener` whenever the connection becomes ready. */
  onReady(listener: () => void): void;
  /** One probe round trip (the circuit breaker's), not bounded by the command timeout. */
  ping(): Promise<void>;
  /** Now on the server's clock, ms, or `undefined` before the offset was first measured. */
  serverNow(): number | undefined;
  /** Measures the server clock offset (one measurement at a time). */
  syncClock(): Promise<void>;
  /** Reads a value, the prefix version and the versions of `requestedTags`, in one round trip. */
  read(key: string, requestedTags: readonly string[]): Promise<RedisRead>;
  /**
   * Reads several keys, each as {@link read} would (key `i` with the tags `requestedTags[i]`), in one
   * round trip: a pipeline of per-key reads, so that each key's value and versions come from one
   * atomic command and a cluster driver could split it by node. Replies are in `keys` order.
   */
  readMany(keys: readonly string[], requestedTags: readonly (readonly string[])[]): Promise<RedisRead[]>;
  /**
   * Writes several entries, each as {@link write} would, in one round trip, and publishes
   * `message(chunk)` for each chunk of their keys atomically with that chunk's writes (chunks are
   * bounded in count and key bytes, so a bus message stays small).
   */
  writeMany(entries: readonly L2Write[], message: (chunk: readonly string[]) => string): Promise<void>;
  /**
   * Writes an entry of envelope `format`, fresh for `ttlMs` on the server's clock and kept `graceMs`
   * longer, and publishes `message`, atomically.
   */
  write(
    key: string,
    format: string,
    tail: EnvelopeTail,
    ttlMs: number,
    graceMs: number,
    message: string,
  ): Promise<void>;
  /** Deletes keys and publishes `message(chunk)` for each chunk of them, atomically per chunk. */
  deleteKeys(keys: readonly string[], message: (chunk: readonly string[]) => string): Promise<void>;
  /**
   * Gives each tag a new version (the empty tag: the whole prefix), kept `retentionMs`, and
   * publishes the new versions with `sender`. Returns the new versions in `tags` order.
   */
  invalidate(tags: readonly string[], sender: string, retentionMs: number): Promise<number[]>;
  /** Current versions of tags (the empty tag: the whole prefix). */
  versions(tags: readonly string[]): Promise<number[]>;
  /** Closes the connection when the driver owns it. */
  close(): Promise<void>;
  /**
   * Takes the distributed single-flight lock of `key` for `ttlMs` with `token`. Returns 0 when
   * taken, else the remaining ms of the current holder's lock (at least 1), or -1 for one without
   * expiry.
   */
  acquireLock(key: string, token: string, ttlMs: number): Promise<number>;
  /** Deletes the lock of `key` only if it holds `token`, then publishes `message`; whether it did. */
  releaseLock(key: string, token: string, message: string): Promise<boolean>;
}

/** One entry of {@link L2Driver.writeMany}: the arguments {@link L2Driver.write} takes for one key. */
export interface L2Write {
  /** The cache key. */
  readonly key: string;
  /** Envelope format marker. */
  readonly format: string;
  /** The envelope after its format and end of freshness. */
  readonly tail: EnvelopeTail;
  /** Freshness on the server's clock, ms. */
  readonly ttlMs: number;
  /** How much longer Redis keeps it, ms. */
  readonly graceMs: number;
}
