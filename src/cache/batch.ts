/**
 * Batch lookups: `getMany`, `setMany` and `getOrSetMany`. A batch costs what one call costs, not
 * what N calls cost: memory first, then one Redis round trip for every key memory could not answer
 * (a pipeline of the per-key reads, each returning its envelope with the versions it is judged
 * against), one factory call for every key still missing, and one round trip for all the writes.
 *
 * Each key keeps the single-key rules: it is judged, kept and counted exactly as `get`/`getOrSet`
 * would judge, keep and count it (two-level.ts does both), and it takes part in the same
 * single-flight table as `getOrSet` (factory-runner.ts): a key some other call is already fetching
 * is awaited, not fetched again, and the keys a batch fetches are the flights that later `getOrSet`
 * or `getOrSetMany` calls join.
 */
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import type { CacheParts } from './assemble.ts';
import { checkEntries, checkKeys } from './batch-arguments.ts';
import {
  checkTags,
  type GetOrSetOptions,
  NO_TAGS,
  type ResolvedCallOptions,
  resolveCallOptions,
  type SetOptions,
} from './call-options.ts';
import type { L2Write } from './drivers/l2.ts';
import { CacheFactoryTimeoutError } from './errors.ts';
import type { Outcome } from './factory-runner.ts';
import { type Raced, race } from './race.ts';
import type { Snapshot } from './tags.ts';
import { type Encoded, isStale, type L2Result, MISS, type Stale } from './two-level.ts';

export { MAX_BATCH_KEYS } from './batch-arguments.ts';

/** Tags of a batch: one list for every key, or a function giving each key its own. */
export type BatchTags = readonly string[] | ((key: string) => readonly string[]);

/** Options of `setMany`: those of `set`, with `tags` a list for all keys or a function of the key. */
export interface SetManyOptions extends Omit<SetOptions, 'tags'> {
  /** Tags of every entry, or a function `(key) => tags`; each list is checked as `set` checks one. */
  readonly tags?: BatchTags;
}

/** Options of `getOrSetMany`: those of `getOrSet`, with `tags` a list for all keys or a function of the key. */
export interface GetOrSetManyOptions
  extends Omit<GetOrSetOptions, 'tags' | 'lockTimeoutMs' | 'eagerRefresh'> {
  /** Tags of every entry, or a function `(key) => tags`; each list is checked as `getOrSet` checks one. */
  readonly tags?: BatchTags;
}

/** What a `getOrSetMany` factory receives besides the keys. */
export interface BatchFactoryContext<T> {
  /** Aborted when the factory passes `factoryHardTimeoutMs` or the cache closes. */
  readonly signal: AbortSignal;
  /** Stale values within their grace period of the keys asked for, when they exist. */
  readonly staleValues: ReadonlyMap<string, T>;
}

/**
 * Computes the values of the keys missing from both levels, all at once. Returns a `Map` of key to
 * value: a key left out (or mapped to `undefined` or `null`) is cached as absent, like a `getOrSet`
 * factory returning `undefined`; keys it was not asked for are ignored.
 */
export type BatchFactory<T> = (
  keys: readonly string[],
  context: BatchFactoryContext<T>,
) => ReadonlyMap<string, T> | Promise<ReadonlyMap<string, T>>;

/** A key this batch fetches itself: its flight in the single-flight table settles through `done`. */
interface OwnKey {
  readonly key: string;
  readonly call: ResolvedCallOptions;
  /** A stale copy memory had (served as the memory level's). */
  readonly l1Stale: Stale | undefined;
  /** Settles the key's flight (later calls are no-ops: the first outcome stands). */
  readonly done: (outcome: Outcome) => void;
  readonly outcome: Promise<Outcome>;
}

/** A key whose value the factory must compute. */
interface Missing {
  readonly own: OwnKey;
  readonly stale: Stale | undefined;
  readonly snapshot: Snapshot;
}

/** See the module comment. One per cache, built by the facade from the cache's collaborators. */
export class BatchLookups {
  readonly #p: CacheParts;
  readonly #controllers = new Set<AbortController>();

  constructor(parts: CacheParts) {
    this.#p = parts;
  }

  /** Batch factories running now. */
  get inFlight(): number {
    return this.#controllers.size;
  }

  /** Aborts every running batch factory's signal (the cache is closing). */
  abortAll(reason: unknown): void {
    for (const controller of this.#controllers) controller.abort(reason);
  }

  /**
   * The fresh values of `keys`, in their order: memory first, then one Redis round trip for the
   * rest (at most one more for versions of tags this process does not know). A key whose value
   * `get` would give as `undefined` (not found, expired, invalidated, or an absent result of
   * `undefined`) is left out, so `result.get(key)` is always what `get(key)` would return.
   */
  async getMany(keys: Iterable<string>): Promise<Map<string, unknown>> {
    const list = checkKeys(keys, this.#p.options.maxKeyLength);
    const levels = this.#p.levels;
    const found = new Map<string, unknown>();
    const misses: string[] = [];
    for (const key of list) {
      const hit = levels.memoryGet(key);
      if (hit === MISS) misses.push(key);
      else found.set(key, hit);
    }
    if (misses.length > 0) {
      // The values go to this caller only: with `freeze: 'shared'` those not kept in memory stay unfrozen.
      const reads = await levels.readL2Many(
        misses,
        misses.map(() => NO_TAGS),
        true,
      );
      reads?.forEach((read, i) => {
        if (read.found) found.set(misses[i] as string, read.value);
      });
    }
    const result = new Map<string, unknown>();
    for (const key of list) {
      const value = found.get(key);
      if (value !== undefined) result.set(key, value);
    }
    return result;
  }

  /**
   * Stores every entry as `set` would, with one Redis round trip for all of them. Every key, option
   * and value is checked first: when one is refused nothing is stored. A key given twice keeps its
   * last value.
   */
  async setMany(
    entries: Iterable<readonly [string, unknown]> | ReadonlyMap<string, unknown>,
    options: SetManyOptions | undefined,
  ): Promise<void> {
    const o = this.#p.options;
    const pairs = checkEntries(entries, o.maxKeyLength);
    const { base, tagsOf } = resolveBatchOptions(options, o);
    const calls = [...pairs.keys()].map((key) => withTags(base, tagsOf(key)));
    await this.#p.log.settled();
    const snapshots = await this.#snapshots(calls);
    const levels = this.#p.levels;
    let i = 0;
    const encoded: Encoded[] = [];
    for (const [key, value] of pairs)
      encoded.push(levels.encode(key, value, calls[i++] as ResolvedCallOptions, undefined));
    const writes: L2Write[] = [];
    encoded.forEach((e, j) => {
      const write = levels.keep(e, snapshots[j] as Snapshot, undefined);
      if (write !== undefined) writes.push(write);
    });
    await levels.writeL2(writes);
  }

  /**
   * The value of every key: memory first, then one Redis round trip for the rest, then one factory
   * call for the keys still missing, whose results are stored with one Redis round trip. Keys other
   * calls are already fetching are awaited instead; the keys this call fetches are awaited by other
   * calls. Resolves to a `Map` in the order of `keys` (absent results as `undefined` or `null`).
   *
   * When the factory throws or passes its hard timeout, keys with a stale value within grace get it
   * (kept for `graceBackoffSeconds`), and the call rejects with the factory's error unless every key
   * it was computing had one. With `factorySoftTimeoutMs` and a stale value for every such key, the
   * stale values are served past the soft timeout while the factory finishes in the background.
   */
  async getOrSetMany<T>(
    keys: Iterable<string>,
    factory: BatchFactory<T>,
    options: GetOrSetManyOptions | undefined,
  ): Promise<Map<string, T | undefined>> {
    const o = this.#p.options;
    const list = checkKeys(keys, o.maxKeyLength);
    if (typeof factory !== 'function') {
      throw new InvalidArgumentError(
        'factory',
        `is ${describeValue(factory)}`,
        'a function of the missing keys that returns a Map of key to value',
      );
    }
    const { base, tagsOf } = resolveBatchOptions(options, o);
    const { levels, runner } = this.#p;
    const values = new Map<string, unknown>();
    const misses: { key: string; found: Stale | undefined; call: ResolvedCallOptions }[] = [];
    for (const key of list) {
      const found = levels.memoryLookup(key, base.graceMs, runner.refreshing);
      if (found !== undefined && !isStale(found)) values.set(key, found.value);
      // Tags are resolved (and a bad tag function throws) before any flight is registered.
      else misses.push({ key, found, call: withTags(base, tagsOf(key)) });
    }
    // From here to the registrations nothing awaits: no other call can start fetching these keys
    // between this call's memory lookup and its claim on them.
    const joined: { key: string; value: Promise<Outcome> }[] = [];
    const own: OwnKey[] = [];
    for (const { key, found, call } of misses) {
      const running = runner.join(key);
      if (running !== undefined) {
        // Settled into an outcome at once: a flight that fails while this batch's own factory
        // runs must not be an unhandled rejection until the batch gets to it.
        joined.push({
          key,
          value: running.then(
            (value): Outcome => ({ ok: true, value }),
            (error: unknown): Outcome => ({ ok: false, error }),
          ),
        });
        continue;
      }
      let done: (outcome: Outcome) => void = () => {};
      const outcome = new Promise<Outcome>((resolve) => {
        done = resolve;
      });
      runner.share(key, outcome);
      own.push({ key, call, l1Stale: found, done, outcome });
    }
    if (own.length > 0) await this.#fetch(own, factory as BatchFactory<unknown>);
    let failure: { error: unknown } | undefined;
    const c = this.#p.counters;
    for (const { key, outcome } of own) {
      const settled = await outcome;
      if (!settled.ok) failure ??= { error: settled.error };
      else {
        values.set(key, settled.value);
        if (settled.stale === 'memory') c.l1Stale++;
        else if (settled.stale === 'redis') c.l2Stale++;
      }
    }
    for (const { key, value } of joined) {
      const settled = await value;
      if (settled.ok) values.set(key, settled.value);
      else failure ??= { error: settled.error };
    }
    if (failure !== undefined) throw failure.error;
    const result = new Map<string, T | undefined>();
    for (const key of list) result.set(key, values.get(key) as T | undefined);
    return result;
  }

  /** Fetches this batch's own keys: one Redis read for all, one factory call for what is missing. Never throws. */
  async #fetch(own: readonly OwnKey[], factory: BatchFactory<unknown>): Promise<void> {
    try {
      const { levels, log } = this.#p;
      await log.settled();
      const issued = log.seq;
      const reads = await levels.readL2Many(
        own.map((k) => k.key),
        own.map((k) => k.call.tags),
      );
      const snapshots = reads === undefined ? await this.#snapshots(own.map((k) => k.call)) : undefined;
      const missing: Missing[] = [];
      own.forEach((k, i) => {
        const read: L2Result | undefined = reads?.[i];
        if (read?.found) {
          k.done({ ok: true, value: read.value });
          return;
        }
        // A stale copy in memory is served as the memory level's; otherwise the one Redis returned.
        const candidate = read?.stale;
        const stale =
          k.l1Stale ??
          (candidate !== undefined && performance.now() - candidate.entry.freshUntil < k.call.graceMs
            ? candidate
            : undefined);
        missing.push({ own: k, stale, snapshot: read?.snapshot ?? (snapshots?.[i] as Snapshot) });
      });
      if (missing.length > 0) await this.#run(missing, factory, issued);
    } catch (error) {
      for (const k of own) k.done({ ok: false, error });
    }
  }

  /** Runs the factory once for `missing`, against the soft and hard timeouts, and finishes each key. */
  async #run(missing: readonly Missing[], factory: BatchFactory<unknown>, issued: number): Promise<void> {
    const o = this.#p.options;
    const c = this.#p.counters;
    const controller = new AbortController();
    this.#controllers.add(controller);
    c.runs++;
    const staleValues = new Map<string, unknown>();
    for (const m of missing) if (m.stale !== undefined) staleValues.set(m.own.key, m.stale.value);
    const keys = missing.map((m) => m.own.key);
    const result = this.#p.telemetry.factory(() => factory(keys, { signal: controller.signal, staleValues }));
    const started = performance.now();
    // Serving stale values early is only possible when every key has one.
    const soft = staleValues.size === missing.length ? o.factorySoftTimeoutMs : undefined;
    const raced = await race(result, soft, o.factoryHardTimeoutMs);
    if (raced.kind !== 'soft') {
      await this.#finish(missing, raced, issued, controller);
      return;
    }
    c.softTimeouts++;
    const refreshing = this.#p.runner.refreshing;
    for (const m of missing) {
      refreshing.add(m.own.key);
      const stale = m.stale as Stale;
      m.own.done({ ok: true, value: stale.value, stale: stale.level });
    }
    const rest = Math.max(1, o.factoryHardTimeoutMs - (performance.now() - started));
    void race(result, undefined, rest)
      // Without a soft timeout this race cannot end 'soft'.
      .then((late) =>
        this.#finish(missing, late.kind === 'soft' ? { kind: 'hard' } : late, issued, controller),
      )
      // Nobody awaits this run any more: a failure of its writes is not anyone's error.
      .catch(() => undefined)
      .finally(() => {
        for (const key of keys) refreshing.delete(key);
      });
  }

  /** Stores the factory's results (one Redis round trip) or, on failure, serves stale values where there are some. */
  async #finish(
    missing: readonly Missing[],
    raced: Exclude<Raced, { kind: 'soft' }>,
    issued: number,
    controller: AbortController,
  ): Promise<void> {
    this.#controllers.delete(controller);
    const { levels, counters: c, options: o } = this.#p;
    if (raced.kind === 'value') {
      const map = raced.value;
      if (!(map instanceof Map)) {
        const error = new InvalidArgumentError(
          'factory result (getOrSetMany)',
          `is ${describeResult(map)}`,
          'a Map of each key asked for to its value (keys left out are cached as absent)',
        );
        for (const m of missing) m.own.done({ ok: false, error });
        return;
      }
      const writes: L2Write[] = [];
      const kept: { own: OwnKey; value: unknown }[] = [];
      for (const m of missing) {
        try {
          const encoded = levels.encode(m.own.key, map.get(m.own.key), m.own.call, issued);
          const write = levels.keep(encoded, m.snapshot, issued);
          if (write !== undefined) writes.push(write);
          kept.push({ own: m.own, value: encoded.value });
        } catch (error) {
          m.own.done({ ok: false, error });
        }
      }
      try {
        await levels.writeL2(writes);
      } finally {
        for (const { own, value } of kept) own.done({ ok: true, value });
      }
      return;
    }
    let error: unknown;
    if (raced.kind === 'hard') {
      c.hardTimeouts++;
      error = new CacheFactoryTimeoutError(o.factoryHardTimeoutMs);
      controller.abort(error);
    } else {
      c.factoryErrors++;
      error = raced.error;
    }
    for (const m of missing) {
      const stale = m.stale;
      if (stale === undefined) {
        m.own.done({ ok: false, error });
        continue;
      }
      // Serve the stale value and keep serving it without calling the factory for the backoff.
      const retryAt = Math.min(performance.now() + o.graceBackoffMs, stale.entry.staleUntil);
      levels.keepStale(m.own.key, stale, retryAt, issued);
      m.own.done({ ok: true, value: stale.value, stale: stale.level });
    }
  }

  /**
   * The versions each call's write must carry, from one lookup of every tag involved (at most one
   * Redis round trip, whatever the number of keys and tag lists).
   */
  async #snapshots(calls: readonly ResolvedCallOptions[]): Promise<Snapshot[]> {
    const union = [...new Set(calls.flatMap((call) => call.tags))];
    const current = await this.#p.tags.current(union);
    const index = new Map(union.map((tag, i) => [tag, i]));
    return calls.map((call) => ({
      global: current.global,
      versions: call.tags.map((tag) => current.versions[index.get(tag) ?? -1] ?? 0),
    }));
  }
}

/** Describes a factory result that is not a Map, naming its kind (a plain object, an array, ...). */
function describeResult(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return describeValue(value);
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor
    ?.name;
  return name === undefined || name === 'Object' ? 'a plain object' : `a ${name}`;
}

/** Per-call options with a key's tags. */
function withTags(base: ResolvedCallOptions, tags: readonly string[]): ResolvedCallOptions {
  return tags.length === 0 ? base : { ...base, tags };
}

/** Checks batch options like `set`/`getOrSet` options, `tags` being a list or a function of the key. */
function resolveBatchOptions(
  options: GetOrSetManyOptions | undefined,
  o: CacheParts['options'],
): { base: ResolvedCallOptions; tagsOf: (key: string) => readonly string[] } {
  if (options === undefined) return { base: resolveCallOptions(undefined, o), tagsOf: () => NO_TAGS };
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `is ${describeValue(options)}`, 'an object or undefined');
  }
  const { tags, ...rest } = options;
  const base = resolveCallOptions(rest, o);
  if (typeof tags !== 'function') {
    const list = checkTags(tags, 'options.tags', o);
    return { base, tagsOf: () => list };
  }
  return { base, tagsOf: (key) => checkTags(tags(key), `options.tags(${describeValue(key)})`, o) };
}

/** The bound every batch call states in its errors. */
