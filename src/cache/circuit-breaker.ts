/**
 * The Redis circuit breaker. Closed: every call may use Redis. After `threshold` consecutive
 * failures, or at once when the connection is known to be down, it opens: calls skip Redis without
 * waiting and go on with memory alone. After `durationMs` (or as soon as the connection reports
 * ready) it is half-open: one call probes Redis; success closes it, failure opens it again.
 */

/** Breaker states, as reported in statistics. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** See the module comment. */
export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openUntil = 0;
  #probing = false;
  #opened = 0;
  readonly #threshold: number;
  readonly #durationMs: number;
  readonly #onOpen: () => void;
  readonly #onClose: () => void;

  /**
   * @param threshold consecutive failures that open the circuit.
   * @param durationMs how long it stays open before a probe, ms.
   * @param onOpen called when it opens (from closed).
   * @param onClose called when it closes again.
   */
  constructor(threshold: number, durationMs: number, onOpen: () => void, onClose: () => void) {
    this.#threshold = threshold;
    this.#durationMs = durationMs;
    this.#onOpen = onOpen;
    this.#onClose = onClose;
  }

  /** Current state. */
  get state(): BreakerState {
    if (this.#state === 'open' && performance.now() >= this.#openUntil) return 'half_open';
    return this.#state;
  }

  /** Times the circuit opened since creation. */
  get opened(): number {
    return this.#opened;
  }

  /** Whether a call may use Redis now. In half-open state only one call (the probe) may. */
  allow(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (performance.now() < this.#openUntil) return false;
      this.#state = 'half_open';
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  /** A Redis call succeeded. */
  success(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#state !== 'closed') {
      this.#state = 'closed';
      this.#onClose();
    }
  }

  /** A Redis call failed (error or timeout). */
  failure(): void {
    this.#failures++;
    const wasProbe = this.#probing;
    this.#probing = false;
    if (wasProbe || this.#state === 'half_open' || this.#failures >= this.#threshold) this.trip();
  }

  /** Opens the circuit now (the connection is known to be down). */
  trip(): void {
    this.#openUntil = performance.now() + this.#durationMs;
    if (this.#state === 'closed') {
      this.#opened++;
      this.#state = 'open';
      this.#onOpen();
      return;
    }
    this.#state = 'open';
  }

  /** The connection reports ready: Redis answers again, so close. */
  reconnected(): void {
    this.success();
  }
}
