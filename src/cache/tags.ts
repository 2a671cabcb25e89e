/**
 * What this process knows of tag versions, and the rules for trusting it. A tag's version changes
 * on every `deleteByTags`; an entry remembers the versions of its tags (and of the whole prefix,
 * which `clear()` changes) from before its value was computed and is valid only while they are all
 * unchanged. So invalidating a tag is one write, whatever the number of entries.
 *
 * Knowledge comes from Redis reads (each L2 read returns the current versions it needs), from bus
 * messages and from this process's own invalidations; it is bounded (least recently used tags
 * forgotten) and stamped with the bus epoch it was learnt in, the time, and the invalidation
 * sequence number, so that a Redis reply that left before a bus message but arrived after it cannot
 * overwrite the newer version. It is trusted while the bus that would announce a change is
 * connected and has not reconnected since; while the bus is down, for `tagCheckIntervalMs`. In
 * memory-only mode this process is the only one, so what it knows is the truth.
 */
import { LRUCache } from 'lru-cache';
import type { CacheBus } from './bus/redis-bus.ts';
import { monotonicNow } from './clock.ts';
import type { RedisRead } from './drivers/l2.ts';
import type { MemoryEntry } from './drivers/memory.ts';
import type { InvalidationLog } from './invalidation-log.ts';
import { FAILED, type RedisLink } from './redis-link.ts';

/** One remembered version. */
export interface KnownVersion {
  /** The version. */
  readonly version: number;
  /** Bus epoch it was learnt in. */
  readonly epoch: number;
  /** When it was learnt, `performance.now()` ms. */
  readonly at: number;
  /** Invalidation sequence number when it was learnt (or changed). */
  readonly seq: number;
}

/** Versions a write carries: of the whole prefix, then of each of its tags. */
export interface Snapshot {
  /** Version of the whole prefix. */
  readonly global: number;
  /** Version of each tag, in the entry's tag order. */
  readonly versions: readonly number[];
}

/** An entry's versions are current. */
export const VALID = 0;
/** An entry's versions are outdated: never serve it. */
export const INVALID = 1;
/** Whether an entry's versions are current cannot be told without asking Redis. */
export const UNKNOWN = 2;
/** {@link VALID}, {@link INVALID} or {@link UNKNOWN}. */
export type Validity = typeof VALID | typeof INVALID | typeof UNKNOWN;

/** Options of {@link TagVersions}. */
export interface TagVersionsOptions {
  /** Tags remembered (`maxTrackedTags`). */
  readonly maxTracked: number;
  /** While the bus is down, how long a version learnt from Redis is trusted, ms. */
  readonly tagCheckIntervalMs: number;
  /** Sequence numbers of invalidations, and where failed ones are kept for replay. */
  readonly log: InvalidationLog;
  /** Redis mode: the link, the bus, this instance's bus id, and how long version keys live, ms. */
  readonly redis?: {
    readonly link: RedisLink;
    readonly bus: CacheBus;
    readonly sender: string;
    readonly retentionMs: number;
  };
}

/** See the module comment. The empty tag is the version of the whole prefix (`clear()`). */
export class TagVersions {
  readonly #tags: LRUCache<string, KnownVersion>;
  readonly #o: TagVersionsOptions;
  readonly #log: InvalidationLog;
  #global: KnownVersion | undefined;
  /** Redis mode: versions of invalidations made while Redis was away (negative: no server version equals one). */
  #localVersion = 0;
  /** Memory-only mode: source of versions, so a forgotten and re-learnt tag never repeats one. */
  #memoryVersion = 0;

  constructor(options: TagVersionsOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#tags = new LRUCache({ max: options.maxTracked });
    // Memory-only: this process is the only one, so it knows the prefix version from the start.
    this.#global = options.redis === undefined ? { version: 0, epoch: 0, at: 0, seq: 0 } : undefined;
  }

  /** What is known of `tag` (the empty tag: the prefix), if anything. */
  get(tag: string): KnownVersion | undefined {
    return tag === '' ? this.#global : this.#tags.get(tag);
  }

  /** Records a version that is known to be the newest (from the bus or an own invalidation). */
  set(tag: string, known: KnownVersion): void {
    if (tag === '') this.#global = known;
    else this.#tags.set(tag, known);
  }

  /**
   * Records a version read from Redis by a request issued at sequence `issuedSeq`, unless the tag
   * changed through an invalidation seen after that request left.
   */
  learn(tag: string, version: number, issuedSeq: number, epoch: number, at: number): void {
    const current = this.get(tag);
    if (current !== undefined && current.seq > issuedSeq) return;
    this.set(tag, { version, epoch, at, seq: issuedSeq });
  }

  /** {@link learn} for each of `tags`, with `versions` in the same order (missing ones are 0). */
  learnAll(
    tags: readonly string[],
    versions: readonly number[],
    issuedSeq: number,
    epoch: number,
    at: number,
  ) {
    for (let i = 0; i < tags.length; i++)
      this.learn(tags[i] as string, versions[i] ?? 0, issuedSeq, epoch, at);
  }

  /**
   * Learns the versions an L2 read returned (issued at `issuedSeq`, in bus `epoch`, received at
   * `at`, `performance.now()` ms); returns them.
   */
  learnRead(
    tags: readonly string[],
    read: RedisRead,
    issuedSeq: number,
    epoch: number,
    at: number,
  ): Snapshot {
    this.learn('', read.globalVersion, issuedSeq, epoch, at);
    this.learnAll(tags, read.requestedVersions, issuedSeq, epoch, at);
    return { global: read.globalVersion, versions: read.requestedVersions };
  }

  /** Forgets everything (the prefix version too): bus messages may have been missed. */
  clear(): void {
    this.#tags.clear();
    this.#global = undefined;
  }

  /** The bus epoch now (0 in memory-only mode): note it with a request, as {@link learn} wants. */
  get epoch(): number {
    return this.#o.redis?.bus.epoch ?? 0;
  }

  /** Whether remembered knowledge of a version can be trusted without asking Redis. */
  trusted(known: KnownVersion | undefined, now: number): known is KnownVersion {
    if (known === undefined) return false;
    const bus = this.#o.redis?.bus;
    if (bus === undefined) return true;
    if (bus.connected) return known.epoch === bus.epoch;
    return now - known.at < this.#o.tagCheckIntervalMs;
  }

  /** Whether an entry's versions are current ({@link VALID}), outdated, or cannot be told. */
  validity(entry: MemoryEntry, now: number): Validity {
    // In memory-only mode a forgotten version is lost for good: the entry cannot be trusted.
    const unknown = this.#o.redis === undefined ? INVALID : UNKNOWN;
    const global = this.#global;
    if (!this.trusted(global, now)) return unknown;
    if (global.version !== entry.globalVersion) return INVALID;
    const tags = entry.tags;
    for (let i = 0; i < tags.length; i++) {
      const known = this.#tags.get(tags[i] as string);
      if (!this.trusted(known, now)) return unknown;
      if (known.version !== entry.versions[i]) return INVALID;
    }
    return VALID;
  }

  /**
   * Whether a memory entry of this validity may be served: valid, or of unknown validity while
   * Redis cannot be asked (then memory is all there is).
   */
  trustworthy(validity: Validity): boolean {
    return validity === VALID || (validity === UNKNOWN && this.#o.redis?.link.reachable !== true);
  }

  /** Current versions of the prefix and `tags`, from memory when trusted, else from Redis. */
  async current(tags: readonly string[]): Promise<Snapshot> {
    const now = monotonicNow();
    const names = ['', ...tags];
    const known = names.map((t) => this.get(t));
    if (known.every((k) => this.trusted(k, now))) return snapshotOf(known);
    const redis = this.#o.redis;
    if (redis === undefined) {
      // Memory-only: a tag never seen gets a version never used before and is remembered from now on.
      const versions = names.map((tag, i) => {
        const k = known[i] ?? { version: ++this.#memoryVersion, epoch: 0, at: now, seq: this.#log.seq };
        this.set(tag, k);
        return k;
      });
      return snapshotOf(versions);
    }
    const issued = this.#log.seq;
    const epoch = redis.bus.epoch;
    const fetched = await redis.link.attempt((d) => d.versions(names));
    if (fetched === FAILED) return snapshotOf(known);
    this.learnAll(names, fetched, issued, epoch, monotonicNow());
    return { global: fetched[0] ?? 0, versions: fetched.slice(1) };
  }

  /**
   * Current versions of an entry's tags: those just read with the value, else trusted knowledge,
   * else one more round trip for the rest. `undefined` when they cannot be had (Redis failed).
   */
  async of(
    entryTags: readonly string[],
    readTags: readonly string[],
    readVersions: readonly number[],
  ): Promise<number[] | undefined> {
    const now = monotonicNow();
    const versions: number[] = [];
    const missing: string[] = [];
    for (const tag of entryTags) {
      const i = readTags.indexOf(tag);
      const known = this.get(tag);
      if (i >= 0) versions.push(readVersions[i] ?? 0);
      else if (this.trusted(known, now)) versions.push(known.version);
      else {
        missing.push(tag);
        versions.push(Number.NaN);
      }
    }
    if (missing.length === 0) return versions;
    const redis = this.#o.redis;
    if (redis === undefined) return undefined;
    const issued = this.#log.seq;
    const epoch = redis.bus.epoch;
    const fetched = await redis.link.attempt((d) => d.versions(missing));
    if (fetched === FAILED) return undefined;
    this.learnAll(missing, fetched, issued, epoch, monotonicNow());
    let next = 0;
    return versions.map((v) => (Number.isNaN(v) ? (fetched[next++] ?? 0) : v));
  }

  /**
   * Gives each tag a new version (the empty tag: the prefix). With Redis unreachable, a local
   * version no server version can equal invalidates local entries now, and Redis gets the real
   * invalidation when it is back (through the log's replay).
   */
  async invalidate(tags: readonly string[]): Promise<void> {
    const redis = this.#o.redis;
    if (redis === undefined) {
      const now = monotonicNow();
      for (const tag of tags) {
        const seq = this.#log.bump(tag === '');
        this.set(tag, { version: ++this.#memoryVersion, epoch: 0, at: now, seq });
      }
      return;
    }
    await this.#log.settled();
    const epoch = redis.bus.epoch;
    const versions = await redis.link.attempt((d) => d.invalidate(tags, redis.sender, redis.retentionMs));
    const now = monotonicNow();
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i] as string;
      const seq = this.#log.bump(tag === '');
      if (versions === FAILED) {
        this.set(tag, { version: --this.#localVersion, epoch, at: now, seq });
        this.#log.pend(tag === '' ? 'clear' : 'tag', tag);
      } else {
        this.set(tag, { version: versions[i] ?? 0, epoch, at: now, seq });
      }
    }
  }

  /**
   * Sends a pending tag invalidation (a replay) and adopts the versions Redis gave, so that this
   * process's next writes carry them (its own bus messages never come back to it). False when
   * Redis failed.
   */
  async replayInvalidation(tags: readonly string[]): Promise<boolean> {
    const redis = this.#o.redis;
    if (redis === undefined) return false;
    const epoch = redis.bus.epoch;
    const versions = await redis.link.attempt((d) => d.invalidate(tags, redis.sender, redis.retentionMs));
    if (versions === FAILED) return false;
    const now = monotonicNow();
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i] as string;
      this.set(tag, { version: versions[i] ?? 0, epoch, at: now, seq: this.#log.bump(tag === '') });
    }
    return true;
  }

  /** Adopts the new versions another instance announced on the bus. */
  adopt(tags: readonly (readonly [tag: string, version: number])[]): void {
    const epoch = this.epoch;
    const now = monotonicNow();
    for (const [tag, version] of tags)
      this.set(tag, { version, epoch, at: now, seq: this.#log.bump(tag === '') });
  }
}

function snapshotOf(known: readonly (KnownVersion | undefined)[]): Snapshot {
  return { global: known[0]?.version ?? 0, versions: known.slice(1).map((k) => k?.version ?? 0) };
}
