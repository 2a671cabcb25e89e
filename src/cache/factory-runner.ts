/**
 * Runs `getOrSet` factories: one per key at a time in this process (single flight, bounded by
 * `maxPendingFactories`), raced against a soft timeout (when a stale value can be served instead:
 * the factory goes on in the background) and a hard one (its signal aborts); on failure or timeout
 * a stale value within grace is served and kept for `graceBackoffMs` without calling the factory
 * again.
 *
 * Versions are taken before the factory runs, so a tag invalidated while it runs makes its result
 * invalid on arrival; a set or delete of the key seen meanwhile means the result is returned to its
 * callers but not cached.
 *
 * With `lockTimeoutMs` (distributed-lock.ts) the one caller per key that runs a flight also takes
 * the key's Redis lock before running the factory, or waits for the process holding it to store the
 * value. With `eagerRefresh`, a hit late in its entry's fresh life starts one background refresh
 * (see {@link FactoryRunner.refreshEarly}).
 */
import type { ResolvedCallOptions } from './call-options.ts';
import type { DistributedLock, HeldLock } from './distributed-lock.ts';
import type { MemoryEntry } from './drivers/memory.ts';
import { CacheFactoryTimeoutError } from './errors.ts';
import type { InvalidationLog } from './invalidation-log.ts';
import type { ResolvedCacheOptions } from './options.ts';
import { type Raced, race } from './race.ts';
import { RefreshMarks } from './refresh-marks.ts';
import type { CacheCounters } from './stats.ts';
import type { Snapshot, TagVersions } from './tags.ts';
import type { CacheTelemetry } from './telemetry.ts';
import type { L2Result, Stale, TwoLevelHandler } from './two-level.ts';

/** What a `getOrSet` factory receives. */
export interface FactoryContext<T> {
  /** Aborted when the factory passes `factoryHardTimeoutMs` or the cache closes. */
  readonly signal: AbortSignal;
  /** The stale value within its grace period, when one exists (for example to diff against). */
  readonly staleValue: T | undefined;
}

/** Computes a value on a miss. */
export type Factory<T> = (context: FactoryContext<T>) => T | Promise<T>;

/** How one flight ended: a value (possibly a stale one, counted at its level) or an error. */
export type Outcome =
  | { readonly ok: true; readonly value: unknown; readonly stale?: 'memory' | 'redis' }
  | { readonly ok: false; readonly error: unknown };

/** One factory run: everything finishing it needs. */
interface Run {
  readonly key: string;
  readonly call: ResolvedCallOptions;
  /** The stale value to fall back on, if any. */
  readonly stale: Stale | undefined;
  /** Versions from before the factory started: its result carries them. */
  readonly snapshot: Snapshot;
  /** Invalidation sequence number from before the factory started. */
  readonly issued: number;
  readonly controller: AbortController;
  /** The key's distributed lock, when this run holds it: released once the run is over. */
  readonly lock?: HeldLock;
}

/** Options of {@link FactoryRunner}. */
export interface FactoryRunnerOptions {
  readonly options: Pick<
    ResolvedCacheOptions,
    'factorySoftTimeoutMs' | 'factoryHardTimeoutMs' | 'graceBackoffMs' | 'maxPendingFactories'
  >;
  readonly levels: TwoLevelHandler;
  readonly tags: TagVersions;
  readonly log: InvalidationLog;
  readonly counters: CacheCounters;
  /** Wraps each run in its span and histogram. */
  readonly telemetry: Pick<CacheTelemetry, 'factory'>;
  /** The distributed single-flight lock (Redis mode); absent in memory-only mode. */
  readonly lock?: DistributedLock;
}

/** See the module comment. */
export class FactoryRunner {
  readonly #o: FactoryRunnerOptions['options'];
  readonly #levels: TwoLevelHandler;
  readonly #tags: TagVersions;
  readonly #log: InvalidationLog;
  readonly #c: CacheCounters;
  readonly #telemetry: Pick<CacheTelemetry, 'factory'>;
  readonly #lock: DistributedLock | undefined;
  readonly #flights = new Map<string, Promise<Outcome>>();
  readonly #controllers = new Set<AbortController>();
  /**
   * Keys recomputed in the background (an eager refresh, a run past its soft timeout, a batch's),
   * counted per mark, so that one of them ending does not unmark a key another still works on.
   */
  readonly refreshing = new RefreshMarks();

  constructor(options: FactoryRunnerOptions) {
    this.#o = options.options;
    this.#levels = options.levels;
    this.#tags = options.tags;
    this.#log = options.log;
    this.#c = options.counters;
    this.#telemetry = options.telemetry;
    this.#lock = options.lock;
  }

  /** Factories running now (foreground and background). */
  get inFlight(): number {
    return this.#controllers.size;
  }

  /**
   * The value for `key` after a memory miss: joins the factory already running for it, or runs
   * `factory` (falling back on `stale`). Throws what the factory threw when nothing stale exists.
   */
  async run(key: string, factory: Factory<unknown>, call: ResolvedCallOptions, stale: Stale | undefined) {
    const running = this.#flights.get(key);
    if (running !== undefined) {
      this.#c.coalesced++;
      return this.#settle(await running);
    }
    if (this.#flights.size + this.refreshing.size >= this.#o.maxPendingFactories) {
      this.#c.uncoalesced++;
      return this.#settle(await this.#flight(key, factory, call, stale));
    }
    const flight = this.#flight(key, factory, call, stale);
    this.#flights.set(key, flight);
    try {
      return this.#settle(await flight);
    } finally {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    }
  }

  /**
   * For batch lookups (batch.ts), which share this single-flight table: the result of the flight
   * running for `key` (the caller joins it, counted as coalesced), or `undefined` when none runs.
   */
  join(key: string): Promise<unknown> | undefined {
    const running = this.#flights.get(key);
    if (running === undefined) return undefined;
    this.#c.coalesced++;
    return running.then((outcome) => this.#settle(outcome));
  }

  /**
   * For batch lookups: makes `flight` (a batch fetching `key`) the one `getOrSet` callers join until
   * it settles. False, and counted as uncoalesced, when the table is full (`maxPendingFactories`).
   */
  share(key: string, flight: Promise<Outcome>): boolean {
    if (this.#flights.size + this.refreshing.size >= this.#o.maxPendingFactories) {
      this.#c.uncoalesced++;
      return false;
    }
    this.#flights.set(key, flight);
    void flight.then(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    });
    return true;
  }

  /** Aborts every running factory's signal (the cache is closing). */
  abortAll(reason: unknown): void {
    for (const controller of this.#controllers) controller.abort(reason);
  }

  #settle(outcome: Outcome): unknown {
    if (!outcome.ok) throw outcome.error;
    if (outcome.stale === 'memory') this.#c.l1Stale++;
    else if (outcome.stale === 'redis') this.#c.l2Stale++;
    return outcome.value;
  }

  async #flight(
    key: string,
    factory: Factory<unknown>,
    call: ResolvedCallOptions,
    l1Stale: Stale | undefined,
  ): Promise<Outcome> {
    try {
      await this.#log.settled();
      const issued = this.#log.seq;
      const read = await this.#levels.readL2(key, call.tags);
      if (read?.found) return { ok: true, value: read.value };
      // A stale copy in memory is served as the memory level's; otherwise the one Redis returned.
      let stale = l1Stale;
      const candidate = read?.stale;
      if (
        stale === undefined &&
        candidate !== undefined &&
        performance.now() - candidate.entry.freshUntil < call.graceMs
      ) {
        stale = candidate;
      }
      const waitMs = call.lockTimeoutMs ?? 0;
      if (waitMs > 0 && this.#lock?.available === true) {
        return await this.#locked(key, factory, call, stale, waitMs);
      }
      const snapshot = read?.snapshot ?? (await this.#tags.current(call.tags));
      return await this.#start(factory, {
        key,
        call,
        stale,
        snapshot,
        issued,
        controller: new AbortController(),
      });
    } catch (error) {
      return { ok: false, error };
    }
  }

  /**
   * A miss with the distributed lock on: takes the key's Redis lock and runs the factory, or waits
   * for the process holding it to store the value; past `waitMs` serves `stale`, else runs the
   * factory without the lock.
   */
  async #locked(
    key: string,
    factory: Factory<unknown>,
    call: ResolvedCallOptions,
    stale: Stale | undefined,
    waitMs: number,
  ): Promise<Outcome> {
    const lock = this.#lock as DistributedLock;
    const claim = await lock.claim(key, waitMs, async () => {
      const again = await this.#levels.readL2(key, call.tags);
      return again?.found ? again : undefined;
    });
    if (claim.kind === 'found') return { ok: true, value: claim.value.value };
    if (claim.kind === 'stopped') return { ok: false, error: claim.reason };
    if (claim.kind === 'timeout' && stale !== undefined) {
      return { ok: true, value: stale.value, stale: stale.level };
    }
    const held = claim.kind === 'held' ? claim.lock : undefined;
    // The wait may have been long: the result carries what is current now, not before the wait.
    let issued: number;
    let snapshot: Snapshot;
    try {
      await this.#log.settled();
      issued = this.#log.seq;
      snapshot = await this.#tags.current(call.tags);
    } catch (error) {
      // Never leave a lock behind that no factory run will release.
      if (held !== undefined) void lock.release(held);
      throw error;
    }
    return this.#start(factory, {
      key,
      call,
      stale,
      snapshot,
      issued,
      controller: new AbortController(),
      ...(held === undefined ? {} : { lock: held }),
    });
  }

  /**
   * A fresh memory hit with eager refresh on (`call.eagerRefresh`): when `entry` is past that
   * fraction of its fresh life (its remaining freshness is below `(1 - eagerRefresh) × TTL`, the
   * TTL being the call's, or its absent TTL for an absent entry), starts one background refresh of
   * `key`, unless one (or any factory for the key) is already running, the entry is backing off
   * after a failed refresh, or the single-flight table is full. Returns at once; never throws.
   */
  refreshEarly(key: string, factory: Factory<unknown>, call: ResolvedCallOptions, entry: MemoryEntry): void {
    const fraction = call.eagerRefresh ?? 0;
    if (fraction <= 0) return;
    const now = performance.now();
    const windowMs = (entry.absent === true ? call.absentTtlMs : call.ttlMs) * (1 - fraction);
    if (now >= entry.freshUntil || entry.freshUntil - now > windowMs || now < entry.retryAt) return;
    if (this.refreshing.has(key) || this.#flights.has(key)) return;
    if (this.#flights.size + this.refreshing.size >= this.#o.maxPendingFactories) return;
    // In `refreshing`, an entry that expires during the refresh is served stale within grace
    // (memoryLookup) rather than starting a second factory.
    this.refreshing.add(key);
    void this.#refresh(key, factory, call, entry, windowMs).finally(() => this.refreshing.delete(key));
  }

  async #refresh(
    key: string,
    factory: Factory<unknown>,
    call: ResolvedCallOptions,
    entry: MemoryEntry,
    windowMs: number,
  ): Promise<void> {
    // Refreshed by someone else already (another process): readL2 has put it in memory.
    const recent = (read: L2Result | undefined) =>
      read?.found === true &&
      read.entry !== undefined &&
      read.entry.freshUntil - performance.now() > windowMs;
    let current = entry;
    let issued = this.#log.seq;
    try {
      await this.#log.settled();
      issued = this.#log.seq;
      let read = await this.#levels.readL2(key, call.tags);
      if (recent(read)) return;
      if (read?.found === true && read.entry !== undefined) current = read.entry;
      let lock: HeldLock | undefined;
      if ((call.lockTimeoutMs ?? 0) > 0 && this.#lock !== undefined) {
        const taken = await this.#lock.tryAcquire(key);
        // Another process holds the key's lock: it is refreshing (or filling) it, and its write
        // reaches this process on the bus. Back off as after a failure, not try again on every hit.
        if (taken === undefined) {
          this.#backOff(key, current, issued);
          return;
        }
        if (taken !== 'unavailable') {
          lock = taken;
          try {
            read = await this.#levels.readL2(key, call.tags);
          } catch (error) {
            void this.#lock.release(lock);
            throw error;
          }
          if (recent(read)) {
            void this.#lock.release(lock);
            return;
          }
        }
      }
      let snapshot: Snapshot;
      try {
        snapshot = read?.snapshot ?? (await this.#tags.current(call.tags));
      } catch (error) {
        if (lock !== undefined) void this.#lock?.release(lock);
        throw error;
      }
      const outcome = await this.#start(factory, {
        key,
        call,
        stale: undefined,
        snapshot,
        issued,
        controller: new AbortController(),
        ...(lock === undefined ? {} : { lock }),
      });
      if (outcome.ok) return;
    } catch {
      // Falls through to the backoff below: a refresh that failed is not the caller's error.
    }
    this.#backOff(key, current, issued);
  }

  /**
   * After a refresh that failed (or found another process refreshing): the old value is served
   * until its TTL (then grace applies), and no new refresh is tried for `graceBackoffSeconds`, so a
   * failing backend is not called on every hit. Never past the TTL: the backoff must not make an
   * expired entry be served without its factory.
   */
  #backOff(key: string, entry: MemoryEntry, issued: number): void {
    const retryAt = Math.min(performance.now() + this.#o.graceBackoffMs, entry.freshUntil);
    this.#levels.keepStale(key, { value: entry.value, level: 'memory', entry }, retryAt, issued);
  }

  async #start(factory: Factory<unknown>, run: Run): Promise<Outcome> {
    const { stale, controller } = run;
    this.#controllers.add(controller);
    this.#c.runs++;
    const result = this.#telemetry.factory(() =>
      factory({ signal: controller.signal, staleValue: stale?.value }),
    );
    const started = performance.now();
    const soft = stale === undefined ? undefined : this.#o.factorySoftTimeoutMs;
    const raced = await race(result, soft, this.#o.factoryHardTimeoutMs);
    if (raced.kind === 'soft' && stale !== undefined) {
      this.#c.softTimeouts++;
      this.refreshing.add(run.key);
      const rest = this.#o.factoryHardTimeoutMs - (performance.now() - started);
      void race(result, undefined, Math.max(1, rest))
        .then((late) => this.#finish(run, late))
        // Nobody awaits this run any more: a failure of its write is not anyone's error.
        .catch(() => undefined)
        .finally(() => this.refreshing.delete(run.key));
      return { ok: true, value: stale.value, stale: stale.level };
    }
    return this.#finish(run, raced);
  }

  async #finish(run: Run, raced: Raced): Promise<Outcome> {
    try {
      return await this.#conclude(run, raced);
    } finally {
      // After the write (which published the value on the bus): waiters elsewhere find it in Redis.
      if (run.lock !== undefined) void this.#lock?.release(run.lock);
    }
  }

  async #conclude(run: Run, raced: Raced): Promise<Outcome> {
    const { key, stale, controller } = run;
    this.#controllers.delete(controller);
    if (raced.kind === 'value') {
      try {
        return {
          ok: true,
          value: await this.#levels.store(key, raced.value, run.call, run.snapshot, run.issued),
        };
      } catch (error) {
        return { ok: false, error };
      }
    }
    let error: unknown;
    if (raced.kind === 'hard') {
      this.#c.hardTimeouts++;
      error = new CacheFactoryTimeoutError(this.#o.factoryHardTimeoutMs, key);
      controller.abort(error);
    } else {
      this.#c.factoryErrors++;
      error = raced.kind === 'error' ? raced.error : new Error('factory did not settle');
    }
    if (stale === undefined) return { ok: false, error };
    // Serve the stale value and keep serving it without calling the factory for the backoff.
    const retryAt = Math.min(performance.now() + this.#o.graceBackoffMs, stale.entry.staleUntil);
    this.#levels.keepStale(key, stale, retryAt, run.issued);
    return { ok: true, value: stale.value, stale: stale.level };
  }
}
