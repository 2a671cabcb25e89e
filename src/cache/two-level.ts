/**
 * Reads and stores across the two levels: L1 (memory) first, then L2 (Redis), backfilling L1 with
 * what Redis had for the rest of its freshness; stores go to both. Values are serialized once on
 * the way in; every value handed out is a deep-frozen decoded copy, the same whether it came from
 * memory or Redis, shared by all callers without copying. It is frozen once, as it is decoded, never
 * per memory hit; with `freeze: 'shared'` a Redis read for one caller that memory does not keep is
 * that caller's own copy and is not frozen.
 *
 * Whether a value may be served is the tag versions' call; whether an older result may be kept is
 * the invalidation log's (a set or delete seen since a read or factory started wins over it).
 */
import type { Logger } from 'pino';
import { InvalidArgumentError } from '../shared/errors.ts';
import { encodeKeysMessage } from './bus/messages.ts';
import { NO_TAGS, type ResolvedCallOptions } from './call-options.ts';
import { monotonicNow } from './clock.ts';
import type { L2Write, RedisRead } from './drivers/l2.ts';
import type { MemoryDriver, MemoryEntry } from './drivers/memory.ts';
import {
  ABSENT_FORMAT,
  absentPayload,
  absentValue,
  decodeEnvelope,
  ENVELOPE_FORMAT,
  type Envelope,
  encodeEnvelopeTail,
  memoryEntryOf,
} from './envelope.ts';
import { withKey } from './errors.ts';
import type { InvalidationLog } from './invalidation-log.ts';
import type { ResolvedCacheOptions } from './options.ts';
import { FAILED, type RedisLink } from './redis-link.ts';
import { decodeValue, serializeWithin } from './serializer.ts';
import type { CacheCounters } from './stats.ts';
import { INVALID, type Snapshot, type TagVersions } from './tags.ts';

/** A stale value within its grace period that `getOrSet` may serve if the factory fails or is slow. */
export interface Stale {
  readonly value: unknown;
  /** The level it came from (counted as that level's stale serve). */
  readonly level: 'memory' | 'redis';
  /** The L1 entry to keep serving (with a backoff) if the factory fails. */
  readonly entry: MemoryEntry;
}

/** What an L2 read found: a fresh `value`, or a `stale` copy within grace, and the versions a write needs. */
export interface L2Result {
  readonly found: boolean;
  readonly value?: unknown;
  readonly stale?: Stale;
  readonly snapshot: Snapshot;
  /** With `found`: the entry read (its freshness tells an eager refresh whether it is recent). */
  readonly entry?: MemoryEntry;
}

/** A value {@link TwoLevelHandler.encode} checked and serialized, for {@link TwoLevelHandler.keep}. */
export interface Encoded {
  readonly key: string;
  /** The frozen decoded copy callers get (or the absent result itself). */
  readonly value: unknown;
  readonly call: ResolvedCallOptions;
  /** The serialized value; `undefined` for an absent result that is not cached (`absentTtlMs` 0). */
  readonly text: string | undefined;
  /** Whether it is an absent result (a factory gave `undefined` or `null`). */
  readonly absent: boolean;
  /** Present when it is returned but not cached: why (logged), or `undefined` (counted only). */
  readonly skip?: string | undefined;
}

/**
 * An L2 read's circumstances: the invalidation sequence number and bus epoch when it left, when its
 * reply arrived (`performance.now()` ms), and whether its value goes to this one caller only (`get`,
 * `getMany`: see the `freeze` option).
 */
interface ReadContext {
  readonly issued: number;
  readonly epoch: number;
  readonly at: number;
  readonly own: boolean;
}

/** Returned by {@link TwoLevelHandler.memoryGet} when memory has no fresh, trustworthy value. */
export const MISS: unique symbol = Symbol('miss');

/** The versions of an untagged entry's tags. */
const NO_VERSIONS: readonly number[] = Object.freeze([]);

/** The value an L2 read found fresh, or `undefined`. */
function foundValue(read: L2Result | undefined): unknown {
  return read?.found ? read.value : undefined;
}

/** Whether a {@link TwoLevelHandler.memoryLookup} result is a stale candidate (not a value to serve). */
export function isStale(found: MemoryEntry | Stale): found is Stale {
  return 'level' in found;
}

/** Options of {@link TwoLevelHandler}. */
export interface TwoLevelOptions {
  readonly options: ResolvedCacheOptions;
  readonly l1: MemoryDriver;
  /** Redis mode: the link and this instance's bus id. */
  readonly redis?: { readonly link: RedisLink; readonly sender: string };
  readonly tags: TagVersions;
  readonly log: InvalidationLog;
  readonly counters: CacheCounters;
  readonly logger: Logger;
  /** Whether the cache is closed: a result arriving after `close()` is not stored. */
  readonly closed: () => boolean;
}

/** See the module comment. */
export class TwoLevelHandler {
  readonly #o: ResolvedCacheOptions;
  readonly #l1: MemoryDriver;
  readonly #redis: TwoLevelOptions['redis'];
  readonly #tags: TagVersions;
  readonly #log: InvalidationLog;
  readonly #c: CacheCounters;
  readonly #closed: () => boolean;
  readonly #logger: Logger;
  #lastNotCachedLog = 0;

  constructor(options: TwoLevelOptions) {
    this.#o = options.options;
    this.#l1 = options.l1;
    this.#redis = options.redis;
    this.#tags = options.tags;
    this.#log = options.log;
    this.#c = options.counters;
    this.#closed = options.closed;
    this.#logger = options.logger;
  }

  /** `get`'s memory step: the fresh, trustworthy value of `key`, or {@link MISS} (counted either way). */
  memoryGet(key: string): unknown {
    const entry = this.#l1.get(key);
    if (entry !== undefined) {
      const at = monotonicNow();
      const validity = this.#tags.validity(entry, at);
      if (at < entry.freshUntil && this.#tags.trustworthy(validity)) {
        this.#c.l1Hits++;
        if (entry.absent) this.#c.l1Absent++;
        return entry.value;
      }
      if (validity === INVALID) this.#l1.delete(key);
    }
    this.#c.l1Misses++;
    return MISS;
  }

  /** `get`'s Redis step: the fresh value Redis has, or `undefined`. */
  redisGet(key: string): Promise<unknown> {
    return this.readL2(key, NO_TAGS, true).then(foundValue);
  }

  /**
   * `getOrSet`'s memory step: the entry whose value answers the call now (fresh, or stale while
   * backing off after a failure or while `refreshing` it), a stale candidate within `graceMs`, or
   * `undefined`. Counted as a hit, a stale serve or a miss.
   */
  memoryLookup(
    key: string,
    graceMs: number,
    refreshing: { has(key: string): boolean },
  ): MemoryEntry | Stale | undefined {
    const entry = this.#l1.get(key);
    let stale: Stale | undefined;
    if (entry !== undefined) {
      const at = monotonicNow();
      const validity = this.#tags.validity(entry, at);
      const trusted = this.#tags.trustworthy(validity);
      if (at < entry.freshUntil) {
        if (trusted) {
          this.#c.l1Hits++;
          if (entry.absent) this.#c.l1Absent++;
          return entry;
        }
      } else if (trusted && at < entry.staleUntil && at - entry.freshUntil < graceMs) {
        stale = { value: entry.value, level: 'memory', entry };
        if (at < entry.retryAt || refreshing.has(key)) {
          this.#c.l1Stale++;
          return entry;
        }
      }
      if (validity === INVALID) this.#l1.delete(key);
    }
    this.#c.l1Misses++;
    return stale;
  }

  /**
   * Looks a key up in Redis; also returns the versions a write of `tags` must carry. `own`: the value
   * goes to this one caller only (`get`), so with `freeze: 'shared'` it is frozen only if kept in memory.
   */
  async readL2(key: string, tags: readonly string[], own = false): Promise<L2Result | undefined> {
    const redis = this.#redis;
    if (redis === undefined) return undefined;
    const clock = redis.link.clockKnown();
    if (clock !== true && !(await clock)) return undefined;
    const issued = this.#log.seq;
    const epoch = this.#tags.epoch;
    const read = await redis.link.attempt((d) => d.read(key, tags));
    if (read === FAILED) return undefined;
    const at = monotonicNow();
    const envelope = read.text === undefined ? undefined : decodeEnvelope(read.text);
    return this.#accept(key, tags, read, envelope, { issued, epoch, at, own });
  }

  /**
   * Looks keys up in Redis in one round trip (key `i` with the tags `tags[i]` a write of it must
   * carry), as {@link readL2} does each; `undefined` when Redis was not used or failed. Versions of
   * entry tags neither asked for nor known are fetched for all keys at once (one more round trip at
   * most), not key by key. `own`: as for {@link readL2} (`getMany`).
   */
  async readL2Many(
    keys: readonly string[],
    tags: readonly (readonly string[])[],
    own = false,
  ): Promise<L2Result[] | undefined> {
    const redis = this.#redis;
    if (redis === undefined) return undefined;
    const clock = redis.link.clockKnown();
    if (clock !== true && !(await clock)) return undefined;
    const issued = this.#log.seq;
    const epoch = this.#tags.epoch;
    const reads = await redis.link.attempt((d) => d.readMany(keys, tags));
    if (reads === FAILED) return undefined;
    const at = monotonicNow();
    const envelopes = reads.map((r) => (r.text === undefined ? undefined : decodeEnvelope(r.text)));
    const other = new Set<string>();
    envelopes.forEach((envelope, i) => {
      for (const tag of envelope?.tags ?? []) if (!tags[i]?.includes(tag)) other.add(tag);
    });
    // Learnt here in one round trip, they are trusted when each key is judged below.
    if (other.size > 0) await this.#tags.of([...other], NO_TAGS, []);
    const context = { issued, epoch, at, own };
    return Promise.all(
      keys.map((key, i) =>
        this.#accept(key, tags[i] ?? NO_TAGS, reads[i] as RedisRead, envelopes[i], context),
      ),
    );
  }

  /**
   * Judges what an L2 read of `key` returned (issued at `c.issued`, received at `c.at`); counts it.
   * A promise only when the entry has tags whose versions the read did not bring: an untagged read
   * is judged without another turn of the event loop.
   */
  #accept(
    key: string,
    tags: readonly string[],
    read: RedisRead,
    envelope: Envelope | undefined,
    c: ReadContext,
  ): L2Result | Promise<L2Result> {
    const snapshot = this.#tags.learnRead(tags, read, c.issued, c.epoch, c.at);
    const freshMs =
      envelope === undefined ? 0 : envelope.freshUntilMs - (this.#redis?.link.driver.serverNow() ?? 0);
    // Kept past its grace by Redis only for as long as the clock offset is off: treat as absent.
    if (envelope === undefined || freshMs + envelope.graceMs <= 0) {
      this.#c.l2Misses++;
      return { found: false, snapshot };
    }
    if (envelope.tags.length === 0)
      return this.#judge(key, read, envelope, NO_VERSIONS, snapshot, freshMs, c);
    return this.#tags
      .of(envelope.tags, tags, read.requestedVersions)
      .then((current) => this.#judge(key, read, envelope, current, snapshot, freshMs, c));
  }

  /** {@link #accept}'s second half, given the current versions of the entry's tags. */
  #judge(
    key: string,
    read: RedisRead,
    envelope: Envelope,
    current: readonly number[] | undefined,
    snapshot: Snapshot,
    freshMs: number,
    c: ReadContext,
  ): L2Result {
    let valid = current !== undefined && envelope.globalVersion === read.globalVersion;
    for (let i = 0; valid && i < envelope.versions.length; i++) valid = envelope.versions[i] === current?.[i];
    const bytes = this.#l1.sizeOf(envelope.payload);
    // A set or delete of this key seen since the read left means the reply may be older: serve it,
    // but do not keep it.
    const unchanged = !this.#log.invalidatedSince(key, c.issued);
    const kept = unchanged && this.#l1.accepts(bytes);
    // Frozen unless it is this caller's own copy (see the `freeze` option): kept in memory, it is shared.
    const freeze = this.#o.freeze === 'all' || !c.own || kept;
    let value: unknown;
    try {
      if (envelope.absent) value = absentValue(envelope.payload);
      else if (valid) value = decodeValue(this.#o.serializer, envelope.payload, freeze);
    } catch {
      valid = false;
    }
    if (!valid) {
      this.#c.l2Misses++;
      return { found: false, snapshot };
    }
    // An entry for memory, or for `getOrSet` (stale serving, eager refresh); `get` needs only the value.
    const entry = kept || !c.own ? memoryEntryOf(envelope, value, c.at + freshMs, bytes) : undefined;
    if (kept && entry !== undefined) this.#l1.set(key, entry);
    // Too large to keep: it still replaces what memory held.
    else if (unchanged) this.#l1.delete(key);
    if (freshMs > 0) {
      this.#c.l2Hits++;
      if (envelope.absent) this.#c.l2Absent++;
      return { found: true, value, snapshot, entry };
    }
    this.#c.l2Misses++;
    if (entry === undefined) return { found: false, snapshot };
    return { found: false, stale: { value, level: 'redis', entry }, snapshot };
  }

  /**
   * Serializes, checks and stores a value; returns the frozen decoded copy callers get. With
   * `issued` (a factory result), nothing is stored if the key was invalidated since then, and an
   * `undefined` or `null` result is stored as absent, for `absentTtlMs`.
   */
  async store(
    key: string,
    value: unknown,
    call: ResolvedCallOptions,
    snapshot: Snapshot,
    issued: number | undefined,
  ): Promise<unknown> {
    const encoded = this.encode(key, value, call, issued);
    const write = this.keep(encoded, snapshot, issued);
    if (write !== undefined) await this.writeL2([write]);
    return encoded.value;
  }

  /**
   * {@link store}'s first step, which stores nothing: serializes and checks a value (throwing, with
   * the key named, what `store` would throw) and returns what {@link keep} stores. A batch encodes
   * every value before it keeps any, so that a refused value stores nothing.
   */
  encode(key: string, value: unknown, call: ResolvedCallOptions, issued: number | undefined): Encoded {
    const absent = issued !== undefined && (value === undefined || value === null);
    if (absent && call.absentTtlMs === 0) {
      return { key, value, call, text: undefined, absent, skip: undefined };
    }
    let text: string;
    let frozen: unknown;
    try {
      text = absent
        ? absentPayload(value as null | undefined)
        : serializeWithin(this.#o.serializer, value, this.#o.maxValueBytes);
      frozen = absent ? value : decodeValue(this.#o.serializer, text, true);
    } catch (error) {
      throw withKey(error, key);
    }
    if (this.#redis === undefined && !this.#l1.accepts(Buffer.byteLength(text))) {
      if (issued === undefined) {
        throw withKey(
          new InvalidArgumentError(
            'value',
            `is ${Buffer.byteLength(text)} bytes serialized, over maxEntryBytes (${this.#o.maxEntryBytes}), and there is no Redis to hold it`,
            'a smaller value, a larger maxEntryBytes, or a cache with Redis',
          ),
          key,
        );
      }
      return {
        key,
        value: frozen,
        call,
        text,
        absent,
        skip: 'it is over maxEntryBytes and there is no Redis',
      };
    }
    return { key, value: frozen, call, text, absent };
  }

  /**
   * {@link store}'s second step: keeps an encoded value in memory (unless the key was invalidated
   * since `issued`) and returns the Redis write still to do, which {@link writeL2} sends.
   */
  keep(encoded: Encoded, snapshot: Snapshot, issued: number | undefined): L2Write | undefined {
    const { key, text, absent, call } = encoded;
    if (text === undefined || 'skip' in encoded) {
      this.#notCached(encoded.skip);
      return undefined;
    }
    if (issued !== undefined && this.#log.invalidatedSince(key, issued)) {
      this.#notCached(undefined);
      return undefined;
    }
    if (this.#closed()) return undefined;
    if (absent) this.#c.factoryAbsent++;
    // Own writes count as invalidations too: an L2 read already on its way must not put the older
    // value back in memory over this one.
    this.#log.note(key);
    const baseTtlMs = absent ? call.absentTtlMs : call.ttlMs;
    const jitter = this.#o.ttlJitter;
    const ttlMs = jitter === 0 ? baseTtlMs : Math.round(baseTtlMs * (1 + Math.random() * jitter));
    const at = monotonicNow();
    this.#l1.set(key, {
      value: encoded.value,
      freshUntil: at + ttlMs,
      staleUntil: at + ttlMs + call.graceMs,
      globalVersion: snapshot.global,
      tags: call.tags,
      versions: snapshot.versions,
      bytes: Buffer.byteLength(text),
      retryAt: 0,
      absent,
    });
    if (this.#redis === undefined) return undefined;
    return {
      key,
      format: absent ? ABSENT_FORMAT : ENVELOPE_FORMAT,
      tail: encodeEnvelopeTail(call.graceMs, snapshot.global, call.tags, snapshot.versions, text),
      ttlMs,
      graceMs: call.graceMs,
    };
  }

  /**
   * {@link store}'s last step: sends writes to Redis, one as a single write and several in one
   * round trip; while Redis is unreachable their keys become pending deletes.
   */
  async writeL2(writes: readonly L2Write[]): Promise<void> {
    const redis = this.#redis;
    if (redis === undefined || writes.length === 0) return;
    await this.#log.settled();
    // These writes supersede pending deletes of their keys: a replay must not repeat them afterwards.
    for (const w of writes) this.#log.supersede(w.key);
    const one = writes.length === 1 ? writes[0] : undefined;
    const done =
      one === undefined
        ? await redis.link.attempt((d) =>
            d.writeMany(writes, (chunk) => encodeKeysMessage(redis.sender, chunk)),
          )
        : await redis.link.attempt((d) =>
            d.write(
              one.key,
              one.format,
              one.tail,
              one.ttlMs,
              one.graceMs,
              encodeKeysMessage(redis.sender, [one.key]),
            ),
          );
    if (done === FAILED) for (const w of writes) this.#log.pend('key', w.key);
  }

  /**
   * After a factory failed with a stale value at hand: keep serving it without calling the factory
   * until `retryAt` (unless the key was invalidated since `issued`).
   */
  keepStale(key: string, stale: Stale, retryAt: number, issued: number): void {
    if (!this.#log.invalidatedSince(key, issued)) this.#l1.set(key, { ...stale.entry, retryAt });
  }

  /** Deletes `key` at both levels; while Redis is unreachable the deletion is kept for replay. */
  async delete(key: string): Promise<void> {
    this.#log.note(key);
    this.#l1.delete(key);
    if (this.#redis === undefined) return;
    await this.#log.settled();
    // This delete supersedes a pending one: a replay must not repeat it after a later write.
    this.#log.supersede(key);
    if (!(await this.deleteFromRedis([key]))) this.#log.pend('key', key);
  }

  /** Deletes keys from Redis and announces it; false when Redis was not used or failed. */
  async deleteFromRedis(keys: readonly string[]): Promise<boolean> {
    const redis = this.#redis;
    if (redis === undefined) return false;
    const message = (chunk: readonly string[]) => encodeKeysMessage(redis.sender, chunk);
    return (await redis.link.attempt((d) => d.deleteKeys(keys, message))) !== FAILED;
  }

  /** Drops a key another instance set or deleted (a bus message). */
  evict(key: string): void {
    this.#log.note(key);
    this.#l1.delete(key);
  }

  #notCached(reason: string | undefined): void {
    this.#c.notCached++;
    const at = monotonicNow();
    if (reason === undefined || at - this.#lastNotCachedLog < 30_000) return;
    this.#lastNotCachedLog = at;
    this.#logger.warn(
      { cache: this.#o.name, reason },
      'cache returned a factory result without caching it (repeats silenced for 30 s)',
    );
  }
}
