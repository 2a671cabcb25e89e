/**
 * Distributed single flight: one Redis lock per key (`<prefix>l:<key>`), so that a cold key asked
 * for at once by many processes runs its factory once in total. Within a process the factory
 * runner's own single flight already lets one caller per key through; that caller is the one that
 * contends here.
 *
 * - Taking: `SET <lock> <token> NX PX <holdMs>` with a random token. `holdMs` is the holder's
 *   factory hard timeout plus the Redis round trips around it (the checks before the factory, its
 *   write and its release): a holder that dies holds the key no longer than a live one could.
 * - Releasing: compare-and-delete by token (a holder whose lock expired and was taken by another
 *   must not delete the new holder's lock), and a bus message naming the key, so that waiters stop
 *   waiting at once when the holder failed or did not cache its result; waiters in the holder's own
 *   process are woken directly (the bus skips a process's own messages). A closing cache gives up
 *   the locks it holds. Only the release is fenced: a holder whose lock expired still writes its
 *   late result (last write wins).
 * - Waiting: no polling. A waiter listens for the bus messages about its key (the keys message the
 *   holder's write publishes, or the release message), reads Redis again when one arrives, and also
 *   wakes when the holder's lock expires (its remaining time is returned when taking fails). It
 *   looks at Redis once more right after it starts listening, in case the value was stored in
 *   between. Past its deadline (`lockTimeoutMs`) it gives up and the caller goes on alone.
 *
 * The lock is used only while Redis is reachable (circuit closed) and the bus is subscribed:
 * without the bus a waiter could not be woken. Waiters are bounded (`maxWaiters`); past the bound a
 * caller goes on without the lock rather than wait.
 */
import { randomUUID } from 'node:crypto';
import { encodeReleaseMessage } from './bus/messages.ts';
import { FAILED, type RedisLink } from './redis-link.ts';

/** Options of {@link DistributedLock}. */
export interface DistributedLockOptions {
  /** The Redis link every lock round trip goes through (the circuit breaker's rules apply). */
  readonly link: Pick<RedisLink, 'attempt' | 'reachable'>;
  /** The bus that wakes waiters: the lock is used only while it is subscribed. */
  readonly bus: { readonly connected: boolean };
  /** This instance's bus id (release messages carry it). */
  readonly sender: string;
  /** How long a lock lives, ms: the holder's factory hard timeout and its write and release. */
  readonly holdMs: number;
  /** Most callers waiting at once in this process. */
  readonly maxWaiters: number;
}

/** A lock this process holds: release it with {@link DistributedLock.release}. */
export interface HeldLock {
  readonly key: string;
  readonly token: string;
}

/** How {@link DistributedLock.claim} ended. */
export type LockClaim<T> =
  /** This caller holds the lock and the value was still not there: run the factory. */
  | { readonly kind: 'held'; readonly lock: HeldLock }
  /** Another holder stored the value: `value` is what `check` found. */
  | { readonly kind: 'found'; readonly value: T }
  /** The holder did not store the value within the wait. */
  | { readonly kind: 'timeout' }
  /** The lock cannot be used now (Redis or the bus away, too many waiters): go on alone. */
  | { readonly kind: 'unavailable' }
  /** The cache closed while waiting. */
  | { readonly kind: 'stopped'; readonly reason: unknown };

const UNAVAILABLE = { kind: 'unavailable' } as const;
const TIMEOUT = { kind: 'timeout' } as const;

/** One caller waiting for a key: woken by a bus message, the lock's expiry or its deadline. */
class Waiter {
  /** A wake-up arrived while the caller was not waiting (during a round trip): it must not be lost. */
  #woken = false;
  #resolve: (() => void) | undefined;

  /** Resolves on the next wake-up (at once if one arrived since the last wait) or after `ms`. */
  wait(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      // Unref'd: a wait must never keep the process alive.
      const timer = setTimeout(() => this.#done(), ms).unref();
      this.#resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Wakes the caller (or remembers the wake-up for its next wait). */
  wake(): void {
    if (this.#resolve === undefined) this.#woken = true;
    else this.#done();
  }

  #done(): void {
    const resolve = this.#resolve;
    this.#resolve = undefined;
    this.#woken = false;
    resolve?.();
  }
}

/** See the module comment. */
export class DistributedLock {
  readonly #o: DistributedLockOptions;
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** Locks this process holds now, so that `close()` can give them up (at most one per flight). */
  readonly #held = new Set<HeldLock>();
  #waiting = 0;
  #stopped: { reason: unknown } | undefined;

  constructor(options: DistributedLockOptions) {
    this.#o = options;
  }

  /** Whether the lock can be used now: Redis reachable (circuit closed) and the bus subscribed. */
  get available(): boolean {
    return this.#stopped === undefined && this.#o.link.reachable && this.#o.bus.connected;
  }

  /** Callers waiting for another process's lock now. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Takes the lock of `key`, or waits up to `waitMs` for its holder to store the value. `check`
   * reads the value from Redis (`undefined`: not there); it runs after the lock is taken (the value
   * may have been stored just before), right after this caller starts listening, and after each
   * wake-up. Never throws (Redis failures end as `unavailable`).
   */
  async claim<T>(key: string, waitMs: number, check: () => Promise<T | undefined>): Promise<LockClaim<T>> {
    if (!this.available) return UNAVAILABLE;
    const deadline = performance.now() + waitMs;
    let waiter: Waiter | undefined;
    try {
      for (;;) {
        const stopped = this.#stoppedClaim();
        if (stopped !== undefined) return stopped;
        const token = randomUUID();
        const held = await this.#o.link.attempt((d) => d.acquireLock(key, token, this.#o.holdMs));
        if (held === FAILED) return UNAVAILABLE;
        if (held === 0) {
          const lock = { key, token };
          this.#held.add(lock);
          // A holder may have stored the value and released its lock just before this one was taken.
          let found: T | undefined;
          try {
            found = await check();
          } catch (error) {
            void this.release(lock);
            throw error;
          }
          if (found === undefined) return { kind: 'held', lock };
          void this.release(lock);
          return { kind: 'found', value: found };
        }
        if (waiter === undefined) {
          if (this.#waiting >= this.#o.maxWaiters) return UNAVAILABLE;
          waiter = this.#listen(key);
          // The holder may have stored the value before this caller listened: look once more.
          const found = await check();
          if (found !== undefined) return { kind: 'found', value: found };
        }
        const left = deadline - performance.now();
        if (left <= 0) return TIMEOUT;
        // Wake when the lock expires too (a holder that died sends nothing): then try to take it.
        await waiter.wait(held > 0 ? Math.min(left, held) : left);
        const ended = this.#stoppedClaim();
        if (ended !== undefined) return ended;
        const found = await check();
        if (found !== undefined) return { kind: 'found', value: found };
        if (performance.now() >= deadline) return TIMEOUT;
      }
    } finally {
      if (waiter !== undefined) this.#unlisten(key, waiter);
    }
  }

  /**
   * Takes the lock of `key` if it is free, without waiting (an eager refresh: when another process
   * holds the lock, it is refreshing the key). `undefined` when another holds it; `unavailable`
   * when the lock cannot be used now.
   */
  async tryAcquire(key: string): Promise<HeldLock | 'unavailable' | undefined> {
    if (!this.available) return 'unavailable';
    const token = randomUUID();
    const held = await this.#o.link.attempt((d) => d.acquireLock(key, token, this.#o.holdMs));
    if (held === FAILED) return 'unavailable';
    if (held !== 0) return undefined;
    const lock = { key, token };
    this.#held.add(lock);
    return lock;
  }

  /**
   * Releases a lock this process holds, only if it still holds it (compare-and-delete by token),
   * and wakes the waiters of every process with a bus message. Never throws: a release that fails
   * leaves the lock to expire.
   */
  async release(lock: HeldLock): Promise<void> {
    if (!this.#held.delete(lock)) return;
    const message = encodeReleaseMessage(this.#o.sender, lock.key);
    try {
      await this.#o.link.attempt((d) => d.releaseLock(lock.key, lock.token, message));
    } finally {
      // The bus does not hand a process its own messages: its own waiters for the key (callers
      // past the single-flight table, a miss during this process's eager refresh) are woken here.
      this.wake(lock.key);
    }
  }

  /**
   * Gives up every lock this process holds (the cache is closing), so that other processes do not
   * wait for their expiry. Call before the Redis link stops. Never rejects.
   */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.#held].map((lock) => this.release(lock).catch(() => undefined)));
  }

  /** A bus message about `key` (a write, a delete, a released lock): its waiters look again. */
  wake(key: string): void {
    const waiters = this.#waiters.get(key);
    if (waiters !== undefined) for (const waiter of waiters) waiter.wake();
  }

  /** Wakes every waiter (bus messages may have been missed: a resubscription). */
  wakeAll(): void {
    for (const waiters of this.#waiters.values()) for (const waiter of waiters) waiter.wake();
  }

  /** Ends every wait with `stopped` (the cache is closing); later claims are `unavailable`. */
  stop(reason: unknown): void {
    this.#stopped = { reason };
    this.wakeAll();
  }

  /** The claim of a cache that closed (read after every await: `stop` may have run meanwhile). */
  #stoppedClaim(): LockClaim<never> | undefined {
    return this.#stopped === undefined ? undefined : { kind: 'stopped', reason: this.#stopped.reason };
  }

  #listen(key: string): Waiter {
    const waiter = new Waiter();
    let waiters = this.#waiters.get(key);
    if (waiters === undefined) {
      waiters = new Set();
      this.#waiters.set(key, waiters);
    }
    waiters.add(waiter);
    this.#waiting++;
    return waiter;
  }

  #unlisten(key: string, waiter: Waiter): void {
    const waiters = this.#waiters.get(key);
    if (waiters?.delete(waiter) !== true) return;
    this.#waiting--;
    if (waiters.size === 0) this.#waiters.delete(key);
  }
}
