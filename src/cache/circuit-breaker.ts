/**
 * The Redis circuit breaker. Closed: every call may use Redis. It opens after `threshold`
 * consecutive errors, at the first timeout (a Redis that does not answer is not a passing error:
 * waiting for more timeouts would make each of the next calls pay one), or at once when the
 * connection is known to be down. While it is open calls skip Redis without waiting and go on with
 * memory alone.
 *
 * Callers never probe: the breaker sends its own probe (one at a time, the `probe` callback) as it
 * opens and again each `durationMs` while it stays open; a probe is never bounded by a timer, so on
 * a hung server exactly one waits. It closes when the connection reports ready, and when a probe
 * answers within `slowMs`: at once if it opened on a timeout (a hung server answers again: it
 * resumed), else once `durationMs` has passed since opening (a server that answered with errors).
 * A probe answered later than `slowMs` is followed at once by another, which must be quick: a
 * server that is merely slow keeps the circuit open. So after a hang coherence returns about one
 * round trip after Redis resumes, not a breaker period later.
 */
import { monotonicNow } from './clock.ts';

/** Breaker states, as reported in statistics (`half_open`: open past its period, probe pending). */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** How a Redis call failed. */
export type FailureKind = 'error' | 'timeout';

/** Why the circuit opened: a failure, or the connection known to be down. */
export type TripReason = FailureKind | 'down';

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive errors that open the circuit. */
  readonly threshold: number;
  /** Shortest time open, and the pause between probes that failed, ms. */
  readonly durationMs: number;
  /** A probe answered within this (ms) shows a healthy server; a later answer is checked again. */
  readonly slowMs: number;
  /** Sends one probe; resolves when Redis answered it. Never called while one is pending. */
  readonly probe: () => Promise<unknown>;
  /** Called when it opens (from closed). */
  readonly onOpen: () => void;
  /** Called when it closes again. */
  readonly onClose: () => void;
}

/** See the module comment. */
export class CircuitBreaker {
  #state: 'closed' | 'open' = 'closed';
  #reason: TripReason = 'error';
  #failures = 0;
  #openUntil = 0;
  #probing = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #opened = 0;
  readonly #o: CircuitBreakerOptions;

  constructor(options: CircuitBreakerOptions) {
    this.#o = options;
  }

  /** Current state. */
  get state(): BreakerState {
    if (this.#state === 'open' && monotonicNow() >= this.#openUntil) return 'half_open';
    return this.#state;
  }

  /** Times the circuit opened since creation. */
  get opened(): number {
    return this.#opened;
  }

  /** Whether a call may use Redis now: only while closed (probes are the breaker's own). */
  allow(): boolean {
    return this.#state === 'closed';
  }

  /** A Redis call succeeded. */
  success(): void {
    this.#failures = 0;
    if (this.#state !== 'closed') this.#close();
  }

  /** A Redis call failed: a timeout opens at once, errors after `threshold` in a row. */
  failure(kind: FailureKind): void {
    this.#failures++;
    if (this.#state === 'closed' && (kind === 'timeout' || this.#failures >= this.#o.threshold))
      this.trip(kind);
  }

  /** Opens the circuit now (`down`: the connection is known to be down). */
  trip(reason: TripReason = 'down'): void {
    if (this.#stopped) return;
    this.#openUntil = monotonicNow() + this.#o.durationMs;
    if (this.#state === 'closed') {
      this.#reason = reason;
      this.#opened++;
      this.#state = 'open';
      this.#o.onOpen();
      this.#probe();
    }
  }

  /** The connection reports ready: Redis answers again, so close. */
  reconnected(): void {
    this.success();
  }

  /** Stops probing for good (the cache is closing). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#state = 'closed';
    this.#failures = 0;
    this.#o.onClose();
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#probe(), Math.max(1, ms));
    // A probe must never keep a process alive.
    this.#timer.unref();
  }

  #probe(): void {
    this.#timer = undefined;
    if (this.#stopped || this.#state === 'closed' || this.#probing) return;
    this.#probing = true;
    const sent = monotonicNow();
    let probe: Promise<unknown>;
    try {
      probe = this.#o.probe();
    } catch (error) {
      probe = Promise.reject(error);
    }
    probe.then(
      () => {
        this.#probing = false;
        if (this.#stopped || this.#state === 'closed') return;
        const now = monotonicNow();
        if (now - sent > this.#o.slowMs) this.#probe();
        else if (this.#reason === 'timeout' || now >= this.#openUntil) this.#close();
        else this.#schedule(this.#openUntil - now);
      },
      () => {
        this.#probing = false;
        if (this.#stopped || this.#state === 'closed') return;
        this.#schedule(this.#o.durationMs);
      },
    );
  }
}
