/**
 * The cache's link to Redis (L2): the driver, the circuit breaker in front of it, and the wait for
 * the first connection. Every round trip goes through {@link RedisLink.attempt}, which never
 * throws: a call that may not use Redis now, or whose round trip failed, gets {@link FAILED} and
 * goes on with memory alone. That is the one place where Redis failures feed the breaker and the
 * `errors`/`skipped` statistics.
 */
import type { Logger } from 'pino';
import { type BreakerState, CircuitBreaker } from './circuit-breaker.ts';
import type { L2Driver } from './drivers/l2.ts';
import type { CacheCounters } from './stats.ts';
import { isTimeout, startupWaitMs } from './timeouts.ts';

/** What {@link RedisLink.attempt} returns when Redis was not used or failed. */
export const FAILED: unique symbol = Symbol('failed');

/** Options of {@link RedisLink}. */
export interface RedisLinkOptions {
  /** The L2 driver. */
  readonly driver: L2Driver;
  /** Consecutive errors that open the circuit (`circuitBreakerThreshold`). */
  readonly threshold: number;
  /** Shortest time open (`circuitBreakerDurationMs`). */
  readonly durationMs: number;
  /** The command timeout (`redisCommandTimeoutMs`): a slower probe answer keeps the circuit open. */
  readonly commandTimeoutMs: number;
  /** Counts `l2Errors` and `l2Skipped`. */
  readonly counters: CacheCounters;
  /** Where circuit changes are logged. */
  readonly logger: Logger;
  /** Fields of every log line (the cache's name, the redacted Redis). */
  readonly logFields: Readonly<Record<string, string>>;
  /** Called whenever Redis is usable again (connection ready, circuit closed): replay what is owed. */
  readonly onBack: () => void;
}

/** See the module comment. */
export class RedisLink {
  /** The driver every round trip uses. */
  readonly driver: L2Driver;
  readonly #breaker: CircuitBreaker;
  readonly #counters: CacheCounters;
  #everConnected = false;
  #stopped = false;
  /** Settles when the first connection is ready or {@link startupWaitMs} passed; then unset. */
  #startup: Promise<void> | undefined;

  constructor(options: RedisLinkOptions) {
    const { driver, logger, logFields } = options;
    this.driver = driver;
    this.#counters = options.counters;
    this.#breaker = new CircuitBreaker({
      threshold: options.threshold,
      durationMs: options.durationMs,
      slowMs: options.commandTimeoutMs,
      probe: () => driver.ping(),
      onOpen: () => logger.warn(logFields, 'cache Redis circuit opened; continuing on memory alone'),
      onClose: () => {
        logger.info(logFields, 'cache Redis circuit closed');
        options.onBack();
      },
    });
    driver.onReady(() => {
      this.#everConnected = true;
      this.#breaker.reconnected();
      options.onBack();
    });
    // Calls made while the first connection opens wait for it, in the order they were made, instead
    // of skipping Redis: a write made right after createCache must reach Redis. Bounded by the
    // first connection attempt's own timeout (loading ioredis included), after which calls go on
    // without Redis as in an outage.
    this.#startup = driver.waitReady(startupWaitMs(options.commandTimeoutMs)).then(() => {
      this.#startup = undefined;
    });
  }

  /** Whether the command connection is ready now. */
  get connected(): boolean {
    return this.driver.connected;
  }

  /** Whether the connection was ever ready (before that, what is owed is start-up, not an outage). */
  get everConnected(): boolean {
    return this.#everConnected;
  }

  /** Whether Redis can be asked now (without taking the half-open probe slot). */
  get reachable(): boolean {
    return this.driver.connected && this.#breaker.state === 'closed';
  }

  /** The circuit breaker's state. */
  get breakerState(): BreakerState {
    return this.#breaker.state;
  }

  /** Times the circuit opened. */
  get breakerOpens(): number {
    return this.#breaker.opened;
  }

  /**
   * Runs one round trip if Redis may be used now, feeding the breaker. Returns {@link FAILED} when
   * Redis was not used (unreachable, circuit open, link stopped) or failed; never throws.
   */
  async attempt<T>(fn: (driver: L2Driver) => Promise<T>): Promise<T | typeof FAILED> {
    if (this.#stopped) return FAILED;
    const driver = this.driver;
    if (!driver.connected && this.#startup !== undefined) await this.#startup;
    if (!driver.connected) {
      // Known to be down: open at once, do not wait for timeouts to pile up.
      if (this.#everConnected) this.#breaker.trip();
      this.#counters.l2Skipped++;
      return FAILED;
    }
    if (!this.#breaker.allow()) {
      this.#counters.l2Skipped++;
      return FAILED;
    }
    try {
      const result = await fn(driver);
      this.#breaker.success();
      return result;
    } catch (error) {
      this.#counters.l2Errors++;
      this.#breaker.failure(isTimeout(error) ? 'timeout' : 'error');
      return FAILED;
    }
  }

  /**
   * Whether the Redis clock is known, on which freshness is judged: measured first when it never
   * was (a promise then), refreshed in the background when it is old. Not async: every read but the
   * first and one per resync period goes on without awaiting.
   */
  clockKnown(): boolean | Promise<boolean> {
    const l2 = this.driver;
    if (!l2.clockStale) return true;
    if (l2.serverNow() === undefined) {
      return this.attempt((d) => d.syncClock()).then(() => l2.serverNow() !== undefined);
    }
    void this.attempt((d) => d.syncClock());
    return true;
  }

  /** Stops using Redis (the cache is closing): later attempts get {@link FAILED}, probing ends. */
  stop(): void {
    this.#stopped = true;
    this.#breaker.stop();
  }

  /** Closes the driver's connection (when it owns it). */
  async close(): Promise<void> {
    this.stop();
    await this.driver.close();
  }
}
