/**
 * Faults without stopping a server, in BentoCache's chaos style: a driver that wraps a real
 * `RedisDriver` and a bus that wraps a real `RedisBus`, passing everything through until a test
 * arms a fault. Faults are deterministic and per operation: fail the next call, hold a call (before
 * it is sent, or its reply) until the test releases it, delay it, or report the connection down.
 */
import type { BusHandler, CacheBus, RedisBusOptions } from '../../src/cache/bus/redis-bus.ts';
import { RedisBus } from '../../src/cache/bus/redis-bus.ts';
import type { L2Driver, L2Write, RedisRead } from '../../src/cache/drivers/l2.ts';
import { type RedisDriver, RedisNotReadyError } from '../../src/cache/drivers/redis.ts';
import type { EnvelopeTail } from '../../src/cache/envelope.ts';

/** The driver calls a fault can be armed on. */
export type ChaosOperation =
  | 'read'
  | 'write'
  | 'deleteKeys'
  | 'invalidate'
  | 'versions'
  | 'syncClock'
  | 'ping'
  | 'readMany'
  | 'writeMany'
  | 'acquireLock'
  | 'releaseLock';

/** A call held by {@link ChaosDriver.holdNext}. */
export interface Hold {
  /** Resolves when the held call got there (before sending, or with its reply in hand). */
  readonly reached: Promise<void>;
  /** Lets the held call go on. */
  release(): void;
}

type Fault =
  | { readonly kind: 'fail'; readonly error: Error }
  | { readonly kind: 'delay'; readonly ms: number }
  | {
      readonly kind: 'hold';
      readonly at: 'request' | 'reply';
      readonly reach: () => void;
      readonly gate: Promise<void>;
    };

/** A promise and the function that resolves it. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** See the module comment. Pass-through until a fault is armed. */
export class ChaosDriver implements L2Driver {
  readonly #inner: RedisDriver;
  readonly #faults = new Map<ChaosOperation, Fault[]>();
  readonly #readyListeners: (() => void)[] = [];
  #down = false;
  /** Operations sent to Redis, in the order they were sent (a held request is sent on release). */
  readonly sent: ChaosOperation[] = [];

  constructor(inner: RedisDriver) {
    this.#inner = inner;
  }

  /** Makes the next call of `op` reject with `error` without reaching Redis. */
  failNext(op: ChaosOperation, error: Error = new Error(`chaos: ${op} failed`)): this {
    return this.#arm(op, { kind: 'fail', error });
  }

  /** Delays the next call of `op` by `ms` before sending it. */
  delayNext(op: ChaosOperation, ms: number): this {
    return this.#arm(op, { kind: 'delay', ms });
  }

  /**
   * Holds the next call of `op` until {@link Hold.release}: at `reply` (default) it is sent and
   * its reply is held, as on a slow way back; at `request` it is held before it is sent.
   */
  holdNext(op: ChaosOperation, at: 'request' | 'reply' = 'reply'): Hold {
    const reached = latch();
    const gate = latch();
    this.#arm(op, { kind: 'hold', at, reach: reached.open, gate: gate.promise });
    return { reached: reached.promise, release: gate.open };
  }

  /** Reports the connection down: `connected` is false and every call rejects as the real driver's would. */
  disconnect(): void {
    this.#down = true;
  }

  /** Reports the connection ready again, as the real driver does on a reconnect. */
  reconnect(): void {
    this.#down = false;
    for (const listener of this.#readyListeners) listener();
  }

  #arm(op: ChaosOperation, fault: Fault): this {
    const queue = this.#faults.get(op) ?? [];
    queue.push(fault);
    this.#faults.set(op, queue);
    return this;
  }

  async #call<T>(op: ChaosOperation, send: () => Promise<T>): Promise<T> {
    if (this.#down) throw new RedisNotReadyError();
    const fault = this.#faults.get(op)?.shift();
    if (fault?.kind === 'fail') throw fault.error;
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    if (fault?.kind === 'hold' && fault.at === 'request') {
      fault.reach();
      await fault.gate;
    }
    this.sent.push(op);
    const result = await send();
    if (fault?.kind === 'hold' && fault.at === 'reply') {
      fault.reach();
      await fault.gate;
    }
    return result;
  }

  get connected(): boolean {
    return !this.#down && this.#inner.connected;
  }

  get channel(): string {
    return this.#inner.channel;
  }

  get clockStale(): boolean {
    return this.#inner.clockStale;
  }

  waitReady(ms: number): Promise<boolean> {
    return this.#inner.waitReady(ms);
  }

  onReady(listener: () => void): void {
    this.#readyListeners.push(listener);
    this.#inner.onReady(() => {
      if (!this.#down) listener();
    });
  }

  ping(): Promise<void> {
    return this.#call('ping', () => this.#inner.ping());
  }

  serverNow(): number | undefined {
    return this.#inner.serverNow();
  }

  syncClock(): Promise<void> {
    return this.#call('syncClock', () => this.#inner.syncClock());
  }

  read(key: string, requestedTags: readonly string[]): Promise<RedisRead> {
    return this.#call('read', () => this.#inner.read(key, requestedTags));
  }

  readMany(keys: readonly string[], requestedTags: readonly (readonly string[])[]): Promise<RedisRead[]> {
    return this.#call('readMany', () => this.#inner.readMany(keys, requestedTags));
  }

  writeMany(entries: readonly L2Write[], message: (chunk: readonly string[]) => string): Promise<void> {
    return this.#call('writeMany', () => this.#inner.writeMany(entries, message));
  }

  write(key: string, format: string, tail: EnvelopeTail, ttlMs: number, graceMs: number, message: string) {
    return this.#call('write', () => this.#inner.write(key, format, tail, ttlMs, graceMs, message));
  }

  deleteKeys(keys: readonly string[], message: (chunk: readonly string[]) => string): Promise<void> {
    return this.#call('deleteKeys', () => this.#inner.deleteKeys(keys, message));
  }

  invalidate(tags: readonly string[], sender: string, retentionMs: number): Promise<number[]> {
    return this.#call('invalidate', () => this.#inner.invalidate(tags, sender, retentionMs));
  }

  versions(tags: readonly string[]): Promise<number[]> {
    return this.#call('versions', () => this.#inner.versions(tags));
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  acquireLock(key: string, token: string, ttlMs: number): Promise<number> {
    return this.#call('acquireLock', () => this.#inner.acquireLock(key, token, ttlMs));
  }

  releaseLock(key: string, token: string, message: string): Promise<boolean> {
    return this.#call('releaseLock', () => this.#inner.releaseLock(key, token, message));
  }
}

/**
 * A real bus whose subscription a test can report lost: while "disconnected" it drops every message
 * (counting them in `missed`), as Redis pub/sub drops what is published to a subscriber that is not
 * connected; "reconnecting" starts a new epoch and tells the cache, as a real resubscription does.
 */
export class ChaosBus implements CacheBus {
  readonly #inner: RedisBus;
  readonly #handler: BusHandler;
  #down = false;
  #epochs = 0;
  /** Messages dropped while disconnected. */
  missed = 0;

  constructor(options: RedisBusOptions) {
    this.#handler = options.handler;
    this.#inner = new RedisBus({
      ...options,
      handler: {
        onSubscribed: () => {
          if (!this.#down) options.handler.onSubscribed();
        },
        onMessage: (message) => {
          if (this.#down) this.missed++;
          else options.handler.onMessage(message);
        },
        onUnreadable: () => options.handler.onUnreadable(),
      },
    });
  }

  /** Loses the subscription: messages are dropped from now on. */
  disconnect(): void {
    this.#down = true;
  }

  /** Subscribes again: a new epoch, and the cache is told that it may have missed messages. */
  reconnect(): void {
    this.#down = false;
    this.#epochs++;
    this.#handler.onSubscribed();
  }

  get connected(): boolean {
    return !this.#down && this.#inner.connected;
  }

  get epoch(): number {
    return this.#inner.epoch + this.#epochs;
  }

  get received(): number {
    return this.#inner.received;
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
