/**
 * Invalidation bookkeeping: what this process knows about invalidations, so that no older value
 * ever wins over a newer change.
 *
 * - Sequence numbers: every invalidation seen (own or from the bus, of a key, a tag or the whole
 *   prefix) gets the next number. A read or factory notes the number when it starts; if its key was
 *   invalidated after that ({@link InvalidationLog.invalidatedSince}), its result is older than the
 *   change and is served but not kept. The last {@link RECENT_INVALIDATIONS} keys are remembered;
 *   anything that started before the oldest remembered one is treated as invalidated.
 * - Pending invalidations: keys, tags and clears made while Redis was unreachable, replayed in that
 *   order when it is back, so no process serves a value that was deleted meanwhile. Past
 *   `maxPending` they collapse into one clear.
 * - The settle gate: while a replay runs, writes and invalidations wait for it (bounded), so that a
 *   replayed invalidation lands before them and never erases them.
 */
import type { Logger } from 'pino';

/** Invalidated keys remembered to stop an older L2 read from backfilling L1 over them. */
export const RECENT_INVALIDATIONS = 1024;
/** Most keys deleted by one replay round trip. */
const KEY_CHUNK = 100;

/** Where a replay sends what is pending. Each call is one attempt: `false` when Redis failed. */
export interface ReplayTarget {
  /** Invalidates tags (the empty tag: the whole prefix) and adopts the versions Redis gives them. */
  invalidate(tags: readonly string[]): Promise<boolean>;
  /** Deletes keys from Redis and tells the other instances. */
  deleteKeys(keys: readonly string[]): Promise<boolean>;
}

/** Options of {@link InvalidationLog}. */
export interface InvalidationLogOptions {
  /** Pending keys and tags kept before they collapse into one clear (`maxPendingInvalidations`). */
  readonly maxPending: number;
  /** Most tags replayed per round trip (`maxTagsPerEntry`, what one invalidation accepts). */
  readonly tagChunk: number;
  /** Longest a write waits for a replay at the settle gate, ms (`redisCommandTimeoutMs`). */
  readonly settleTimeoutMs: number;
  /** Whether Redis was ever connected: what is pending before that is owed since start-up. */
  readonly everConnected: () => boolean;
  /** Where the end of a replay is logged. */
  readonly logger: Logger;
  /** Fields of every log line. */
  readonly logFields: Readonly<Record<string, string>>;
}

/** See the module comment. */
export class InvalidationLog {
  readonly #o: InvalidationLogOptions;
  #seq = 0;
  #globalSeq = 0;
  #recentFloor = 0;
  readonly #recent = new Map<string, number>();
  readonly #pendingKeys = new Set<string>();
  readonly #pendingTags = new Set<string>();
  #pendingClear = false;
  /** Whether something pending was recorded before Redis ever connected (start-up, not an outage). */
  #pendingFromStart = false;
  #replaying = false;
  /** Settles when the replay running now ends; writes wait for it, so none is erased by it. */
  #replayDone: Promise<void> | undefined;

  constructor(options: InvalidationLogOptions) {
    this.#o = options;
  }

  /** The sequence number of the latest invalidation seen: note it before a read or factory starts. */
  get seq(): number {
    return this.#seq;
  }

  /** Numbers one more invalidation (`global`: of the whole prefix, or knowledge was lost) and returns it. */
  bump(global: boolean): number {
    this.#seq++;
    if (global) this.#globalSeq = this.#seq;
    return this.#seq;
  }

  /** Records that `key` was set or deleted (here or elsewhere): an older read must not backfill it. */
  note(key: string): void {
    const seq = this.bump(false);
    this.#recent.delete(key);
    this.#recent.set(key, seq);
    if (this.#recent.size > RECENT_INVALIDATIONS) {
      const oldest = this.#recent.entries().next().value;
      if (oldest) {
        this.#recent.delete(oldest[0]);
        this.#recentFloor = oldest[1];
      }
    }
  }

  /** Whether `key` may have been invalidated after sequence number `seq`. */
  invalidatedSince(key: string, seq: number): boolean {
    if (seq < this.#recentFloor || this.#globalSeq > seq) return true;
    return (this.#recent.get(key) ?? -1) > seq;
  }

  /** Remembers an invalidation Redis did not get (a clear supersedes every key and tag). */
  pend(kind: 'key' | 'tag' | 'clear', name: string): void {
    if (!this.#o.everConnected()) this.#pendingFromStart = true;
    if (kind === 'clear') this.#pendingClear = true;
    if (this.#pendingClear) {
      this.#pendingKeys.clear();
      this.#pendingTags.clear();
      return;
    }
    (kind === 'key' ? this.#pendingKeys : this.#pendingTags).add(name);
    if (this.#pendingKeys.size + this.#pendingTags.size > this.#o.maxPending) this.pend('clear', '');
  }

  /** A write or delete of `key` is on its way: a replay must not repeat an older pending delete after it. */
  supersede(key: string): void {
    this.#pendingKeys.delete(key);
  }

  /** Invalidations waiting for Redis (a pending clear counts 1). */
  get pending(): number {
    return this.#pendingKeys.size + this.#pendingTags.size + (this.#pendingClear ? 1 : 0);
  }

  /**
   * While a replay runs, writes and invalidations wait for it (at most `settleTimeoutMs`), so that
   * a replayed invalidation is applied before them and never erases them. `undefined`: no replay.
   */
  settled(): Promise<void> | undefined {
    const replay = this.#replayDone;
    if (replay === undefined) return undefined;
    return Promise.race([
      replay,
      new Promise<void>((resolve) => setTimeout(resolve, this.#o.settleTimeoutMs).unref()),
    ]);
  }

  /**
   * Sends what is pending (the clear, then tags, then keys), each removed once Redis took it; stops
   * at the first failure, keeping the rest for the next replay. One replay runs at a time.
   */
  async replay(target: ReplayTarget): Promise<void> {
    if (this.#replaying || this.pending === 0) return;
    this.#replaying = true;
    let finished = () => {};
    this.#replayDone = new Promise<void>((resolve) => {
      finished = resolve;
    });
    try {
      if (this.#pendingClear) {
        if (!(await target.invalidate(['']))) return;
        this.#pendingClear = false;
      }
      while (this.#pendingTags.size > 0) {
        const chunk = [...this.#pendingTags].slice(0, this.#o.tagChunk);
        if (!(await target.invalidate(chunk))) return;
        for (const tag of chunk) this.#pendingTags.delete(tag);
      }
      while (this.#pendingKeys.size > 0) {
        const chunk = [...this.#pendingKeys].slice(0, KEY_CHUNK);
        if (!(await target.deleteKeys(chunk))) return;
        for (const key of chunk) this.#pendingKeys.delete(key);
      }
      this.#o.logger.info(
        this.#o.logFields,
        this.#pendingFromStart
          ? 'cache sent the invalidations made before Redis first connected'
          : 'cache replayed the invalidations made while Redis was away',
      );
      this.#pendingFromStart = false;
    } finally {
      this.#replaying = false;
      this.#replayDone = undefined;
      finished();
    }
  }
}
