/**
 * What this process knows of tag versions. A tag's version changes on every `deleteByTags`; an
 * entry remembers the versions of its tags from before its value was computed and is valid only
 * while they are all unchanged. So invalidating a tag is one write, whatever the number of entries.
 *
 * Knowledge comes from Redis reads (each L2 read returns the current versions it needs) and from
 * bus messages; it is bounded (least recently used tags forgotten) and stamped with the bus epoch
 * it was learnt in, the time, and the invalidation sequence number, so that a Redis reply that left
 * before a bus message but arrived after it cannot overwrite the newer version.
 */
import { LRUCache } from 'lru-cache';

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

/** See the module comment. The empty tag is the version of the whole prefix (`clear()`). */
export class TagVersions {
  readonly #tags: LRUCache<string, KnownVersion>;
  #global: KnownVersion | undefined;

  /**
   * @param maxTracked tags remembered.
   * @param initialGlobal the prefix version to start from (memory-only mode starts knowing 0).
   */
  constructor(maxTracked: number, initialGlobal: KnownVersion | undefined) {
    this.#tags = new LRUCache({ max: maxTracked });
    this.#global = initialGlobal;
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
  ): void {
    for (let i = 0; i < tags.length; i++)
      this.learn(tags[i] as string, versions[i] ?? 0, issuedSeq, epoch, at);
  }

  /** Forgets everything (the prefix version too, unless `keepGlobal` gives a new one). */
  clear(keepGlobal?: KnownVersion): void {
    this.#tags.clear();
    this.#global = keepGlobal;
  }
}
